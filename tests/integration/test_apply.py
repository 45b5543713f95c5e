"""Configuration as code end to end: a real ucvd and a real central MediaMTX, simulated
cameras, driven by the real `ucvctl apply -f`, `diff -f` and `export`.

One site file, edited the way an operator's templating would: applied, applied again
(nothing restarts), one camera's URL changed (only its FFmpeg restarts), pruned (one camera
goes, the others keep their FFmpeg), refused (a bad file, a plan the daemon refuses, a
state that changed under a plan: nothing changes), exported and read back as the same
state. Secrets come from files and from a systemd-style credentials directory, and none
shows in any output or in the daemon's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cameras import Camera as SimCamera
from tests.harness.cameras import CameraFarm
from tests.harness.daemon import CtlResult, Ucvd, secrets_of_lab
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from ucvctl import siteconfig
from ucvctl.client import Client, RemoteError
from ucvd.api import protocol as p


@pytest.fixture
def ucvd(registry: ProcessRegistry, tmp_path: Path) -> Iterator[Ucvd]:
    yield Ucvd(registry, tmp_path / "ucvd").start()


class Site:
    """The site file and its secrets, the daemon, and everything ucvctl printed."""

    def __init__(self, d: Ucvd, central: Central, workdir: Path) -> None:
        self.d = d
        self.central = central
        self.file = workdir / "site.toml"
        secrets = workdir / "secrets"
        secrets.mkdir()
        (secrets / "publish").write_text(central.publisher.password + "\n")
        (secrets / "api").write_text(central.api_user.password + "\n")
        self.creds = workdir / "creds"  # as systemd's LoadCredential= would fill it
        self.creds.mkdir(mode=0o700)
        self.outputs: list[str] = []
        self.player_url: str | None = None

    def write(self, cameras: dict[str, SimCamera], *, extra: str = "", url_of: str = "") -> None:
        s = self.central.server
        lines = [
            'active_target = "central"',
            "[targets.central]",
            f'rtsp_url = "{s.rtsp_url("").rstrip("/")}"',
            f'api_url = "{s.api_url}"',
            f'username = "{self.central.publisher.user}"',
            'password_file = "secrets/publish"',  # relative to the site file
            f'api_username = "{self.central.api_user.user}"',
            'api_password_file = "secrets/api"',
            "reconnect_delay = 0.5",
        ]
        if self.player_url is not None:
            lines.append(f'player_url = "{self.player_url}"')
        for camera_id, sim in cameras.items():
            lines += [f"[cameras.{camera_id}]", f'url = "{sim.url}"', "publish = true"]
            if sim.credentials is not None:
                (self.creds / camera_id).write_text(sim.credentials.password + "\n")
                lines += [
                    f'username = "{sim.credentials.user}"',
                    f'password_credential = "{camera_id}"',
                ]
        self.file.write_text("\n".join(lines) + "\n" + extra)

    def ctl(self, *args: str) -> CtlResult:
        result = self.d.ctl(*args, env={"CREDENTIALS_DIRECTORY": str(self.creds)})
        self.outputs += [result.stdout, result.stderr]
        return result

    def apply(self, *extra: str) -> CtlResult:
        return self.ctl("apply", "-f", str(self.file), *extra)

    def pids(self) -> dict[str, int | None]:
        listing = self.d.ctl_json("status")["items"]
        return {s["camera_id"]: s["pid"] for s in listing}

    def shown_player_url(self) -> str | None:
        """The active target's player URL, as `target show` says it and as --json has it."""
        shown = self.ctl("target", "show", "central").check().stdout
        line = next(ln for ln in shown.splitlines() if ln.startswith("player url:"))
        value: str | None = self.d.ctl_json("target", "show", "central")["player_url"]
        assert line.split(":", 1)[1].strip() == (
            "-" if value is None else f"{value} (a camera's page: {value}camera_{{camera_id}}/)"
        )
        return value

    def export(self) -> str:
        result = self.ctl("export").check()
        return result.stdout

    def wait_publishing(self, *camera_ids: str) -> dict[str, int | None]:
        for camera_id in camera_ids:
            self.d.wait_status(camera_id, "publishing", timeout=40)
        return self.pids()


def test_apply_reapply_change_prune_refuse_export(
    ucvd: Ucvd, mediamtx: Central, cameras: CameraFarm, tmp_path: Path
) -> None:
    secure = cameras.add("secure", credentials=Credentials.generate("admin"))
    sims = {"cam-1": secure, "cam-2": cameras.add("plain-2"), "cam-3": cameras.add("plain-3")}
    spare = cameras.add("spare")
    site = Site(ucvd, mediamtx, tmp_path)

    # Apply: the plan first, then the change; all three publish.
    site.write(sims)
    first = site.apply().check()
    for line in ("add      target central", "activate target central", "add      camera cam-1",
                 "start    camera cam-3", "applied 8 changes; restarted: none"):  # fmt: skip
        assert line in first.stdout
    pids = site.wait_publishing("cam-1", "cam-2", "cam-3")
    assert all(pids.values())

    # Again: nothing to do, nothing restarted.
    again = site.apply().check()
    assert again.stdout == "no changes\n"
    diff = site.ctl("diff", "-f", str(site.file))
    assert (diff.code, diff.stdout) == (0, "no changes\n")
    assert site.pids() == pids

    # The player URL only tells people where to watch: setting, changing or clearing it,
    # through ucvctl or the file, restarts no FFmpeg.
    player = "http://127.0.0.1:8889/"
    site.ctl("target", "update", "central", "--player-url", player.rstrip("/")).check()
    assert site.shown_player_url() == player and site.pids() == pids
    diff = site.ctl("diff", "-f", str(site.file))
    assert (diff.code, diff.stdout) == (4, "  update   target central  (player_url)\n1 change\n")
    site.player_url = player
    site.write(sims)
    assert site.apply().check().stdout == "no changes\n"
    site.player_url = "https://127.0.0.1:8443/mediamtx/"
    site.write(sims)
    changed = site.apply().check()
    assert changed.stdout.endswith("applied 1 change; restarted: none\n")
    assert site.shown_player_url() == "https://127.0.0.1:8443/mediamtx/" and site.pids() == pids
    site.ctl("target", "update", "central", "--no-player-url").check()
    assert site.shown_player_url() is None and site.pids() == pids
    site.apply().check()
    assert site.shown_player_url() == "https://127.0.0.1:8443/mediamtx/" and site.pids() == pids
    refused = site.ctl("target", "update", "central", "--player-url", "http://u:pw-X@127.0.0.1/")
    assert refused.code == 1 and "player URL must not contain credentials" in refused.stderr
    assert "pw-X" not in refused.stderr

    # One camera's URL: only its FFmpeg restarts.
    site.write({**sims, "cam-2": spare})
    diff = site.ctl("diff", "-f", str(site.file))
    assert (diff.code, diff.stdout) == (4, "  update   camera cam-2  (url)\n1 change\n")
    changed = site.apply().check()
    assert changed.stdout.endswith("applied 1 change; restarted: cam-2\n")
    after = site.wait_publishing("cam-2")
    assert after["cam-2"] not in (None, pids["cam-2"])
    assert {k: after[k] for k in ("cam-1", "cam-3")} == {k: pids[k] for k in ("cam-1", "cam-3")}
    assert ucvd.status("cam-2")["restarts"] == 0  # a new supervisor, not a retry
    pids = after

    # Prune: cam-3 is left alone until --prune; then it stops and goes, the others stay.
    site.write({"cam-1": secure, "cam-2": spare})
    assert site.apply().check().stdout == "no changes\n"
    pruned = site.apply("--prune").check()
    assert "  stop     camera cam-3\n  remove   camera cam-3\n2 changes\n" in pruned.stdout
    assert [c["id"] for c in ucvd.ctl_json("camera", "list")["items"]] == ["cam-1", "cam-2"]
    assert site.pids() == {k: pids[k] for k in ("cam-1", "cam-2")}
    wait_until(lambda: not Path(f"/proc/{pids['cam-3']}").exists(), timeout=10,
               what="cam-3's FFmpeg to exit")  # fmt: skip

    # Refused, and nothing changes: a bad file (found by ucvctl), a plan the daemon refuses
    # against its live state, and a plan whose state changed before it was applied.
    before = site.export()
    site.write({"cam-1": secure, "cam-2": spare}, extra='[cameras.cam-9]\nurl = "http://x/y"\n'
               'zoom = 2\npublish = true\n')  # fmt: skip
    bad = site.apply()
    assert bad.code == 1
    assert "camera 'cam-9': unknown key 'zoom'" in bad.stderr
    assert "camera 'cam-9': camera URL must start with rtsp:// or rtsps://" in bad.stderr
    site.write({"cam-1": secure}, extra='[targets.backup]\nrtsp_url = "rtsp://127.0.0.1:1"\n')
    text = site.file.read_text().replace('active_target = "central"', 'active_target = "elsewhere"')
    site.file.write_text(text)
    refused = site.apply("--prune")
    assert refused.code == 1 and "[invalid_argument]" in refused.stderr
    assert "nothing changed" in refused.stderr
    assert "active_target 'elsewhere' is not among the file" in refused.stderr
    assert site.export() == before
    site.file.write_text('[targets.backup]\nrtsp_url = "rtsp://127.0.0.1:1"\n')
    refused = site.apply("--prune")  # would drop the active target, and every camera
    assert refused.code == 1
    assert "target 'central' is the active target and the file does not name it" in refused.stderr
    assert site.export() == before
    site.write({"cam-1": secure, "cam-2": spare, "cam-4": spare})
    with Client(str(ucvd.socket)) as client:
        params = p.ConfigApply(desired=siteconfig.load(site.file, {
            "CREDENTIALS_DIRECTORY": str(site.creds)}), dry_run=True)  # fmt: skip
        plan = client.call("config.apply", params, p.Plan)
        assert [c.name for c in plan.changes] == ["cam-4", "cam-4"]  # add, start
        site.ctl("camera", "add", "cam-5", "--url", spare.url).check()  # meanwhile
        late = p.ConfigApply(desired=params.desired, expect=plan.fingerprint)
        with pytest.raises(RemoteError) as stale:
            client.call("config.apply", late, p.Plan)
    assert stale.value.kind == "state_changed"
    assert [c["id"] for c in ucvd.ctl_json("camera", "list")["items"]] == [
        "cam-1",
        "cam-2",
        "cam-5",
    ]
    site.ctl("camera", "remove", "cam-5").check()
    assert site.export() == before
    assert site.pids() == {k: pids[k] for k in ("cam-1", "cam-2")}

    # Export, write the secrets where it says, and the export is the state.
    secrets = tmp_path / "exported-secrets"
    exported = site.ctl("export", "--secrets-dir", str(secrets)).check().stdout
    secrets.mkdir()
    (secrets / "target-central.password").write_text(mediamtx.publisher.password)
    (secrets / "target-central.api_password").write_text(mediamtx.api_user.password)
    assert secure.credentials is not None
    (secrets / "camera-cam-1.password").write_text(secure.credentials.password)
    assert 'player_url = "https://127.0.0.1:8443/mediamtx/"' in exported
    site.file.write_text(exported)
    diff = site.ctl("diff", "-f", str(site.file), "--prune")
    assert (diff.code, diff.stdout) == (0, "no changes\n")
    (secrets / "camera-cam-1.password").write_text("another password")
    diff = site.ctl("diff", "-f", str(site.file))
    assert (diff.code, diff.stdout) == (4, "  update   camera cam-1  (password)\n1 change\n")

    # No secret anywhere: what ucvctl printed, the daemon's log.
    passwords = secrets_of_lab(mediamtx, [secure])
    control = (tmp_path / "secrets" / "publish").read_text()  # the search finds them there
    assert [pw for pw in passwords if pw in control] == [mediamtx.publisher.password]
    seen = [*site.outputs, exported, ucvd.log_text()]
    assert [pw for pw in passwords for text in seen if pw in text] == []


def test_a_100_camera_site_is_one_apply_and_applying_it_again_changes_nothing(
    ucvd: Ucvd, tmp_path: Path
) -> None:
    """A site of 100 cameras (not publishing: the plan and the store) in one call; its
    time is the benchmark's (tests/bench/control.py, docs/fleet.md)."""
    site = tmp_path / "site.toml"
    lines = ['active_target = "central"', "[targets.central]", 'rtsp_url = "rtsp://127.0.0.1:1"']
    for i in range(100):
        lines += [f"[cameras.cam-{i:03d}]", f'url = "rtsp://127.0.0.1:1/cam-{i:03d}"']
        lines += [f'name = "Camera {i}"', "publish = false"]
    site.write_text("\n".join(lines) + "\n")
    first = ucvd.ctl("apply", "-f", str(site)).check()
    assert "applied 102 changes" in first.stdout
    again = ucvd.ctl("apply", "-f", str(site)).check()
    assert again.stdout == "no changes\n"
    assert ucvd.ctl_json("camera", "list")["total"] == 100
