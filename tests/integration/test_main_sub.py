"""A camera's main and sub streams, registered as two linked cameras with one `ucvctl
camera add --sub-url`, relayed side by side to a real central MediaMTX, each to a path of
its own with its own stream; the link as an operator meets it (list, show, status, remove,
export and apply)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.cameras import SUB_CAMERA_PATH, CameraFarm
from tests.harness.daemon import Ucvd, add_target, secrets_of_lab
from tests.harness.media import SUB_CLIP, ClipSpec, probe_streams
from tests.harness.mediamtx import Central, Credentials
from tests.harness.tools import Tools


def pairs(text: str) -> dict[str, str]:
    """`ucvctl camera show`'s "key: value" lines."""
    return dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(": ") for line in text.splitlines())
    )


@pytest.fixture
def ucvd(make_ucvd: Callable[..., Ucvd]) -> Ucvd:
    return make_ucvd().start()


def test_main_and_sub_streams_publish_to_their_own_paths(
    ucvd: Ucvd, mediamtx: Central, cameras: CameraFarm, tools: Tools, tmp_path: Path
) -> None:
    sim = cameras.add("dual", credentials=Credentials.generate("admin"), sub_path=SUB_CAMERA_PATH)
    assert sim.credentials is not None
    outputs: list[str] = []

    def run(*args: str, input: str | None = None, code: int = 0) -> str:
        result = ucvd.ctl(*args, input=input)
        outputs.extend([result.stdout, result.stderr])
        assert result.code == code, (args, result.stdout, result.stderr)
        return result.stdout + result.stderr

    add_target(ucvd, mediamtx).check()
    # One call, both cameras: the sub takes the main's credentials and options.
    added = run("--json", "camera", "add", "gate", "--url", sim.url, "--sub-url", sim.sub_url,
                "--username", sim.credentials.user, "--password-stdin", "--name", "Gate",
                "--genpts", input=sim.credentials.password + "\n")  # fmt: skip
    assert json.loads(added)["sub_ids"] == ["gate-sub"]
    sub = json.loads(run("--json", "camera", "show", "gate-sub"))
    assert (sub["url"], sub["main_id"], sub["name"]) == (sim.sub_url, "gate", "Gate (sub)")
    assert (sub["username"], sub["has_password"]) == (sim.credentials.user, True)
    assert sub["options"]["genpts"] is True

    listing = run("camera", "list")
    assert "sub: gate-sub" in listing and "sub of gate" in listing, listing
    assert pairs(run("camera", "show", "gate"))["sub stream"] == "gate-sub"
    assert pairs(run("camera", "show", "gate-sub"))["sub stream of"] == "gate"

    # Both publish, each to its own path, each with its own picture.
    run("publish", "gate", "--wait")
    run("publish", "gate-sub", "--wait")
    api = mediamtx.server.api
    api.wait_path_ready("camera_gate")
    api.wait_path_ready("camera_gate-sub")
    sizes = {}
    for path in ("camera_gate", "camera_gate-sub"):
        video = [s for s in probe_streams(tools, mediamtx.read_url(path)) if s.width]
        sizes[path] = (video[0].width, video[0].height)
    main_clip = ClipSpec()
    assert sizes == {
        "camera_gate": (main_clip.width, main_clip.height),
        "camera_gate-sub": (SUB_CLIP.width, SUB_CLIP.height),
    }
    status = run("status")
    assert "gate-sub (sub of gate)" in status, status
    assert json.loads(run("--json", "status", "gate-sub"))["main_id"] == "gate"
    assert json.loads(run("--json", "status", "gate"))["main_id"] is None

    # Export then apply changes nothing: the link is in the file.
    secrets = tmp_path / "secrets"
    exported = run("export", "--secrets-dir", str(secrets))
    assert 'main_id = "gate"' in exported
    secrets.mkdir()
    (secrets / "target-central.password").write_text(mediamtx.publisher.password)
    (secrets / "target-central.api_password").write_text(mediamtx.api_user.password)
    for cid in ("gate", "gate-sub"):
        (secrets / f"camera-{cid}.password").write_text(sim.credentials.password)
    site = tmp_path / "site.toml"
    site.write_text(exported)
    assert run("diff", "-f", str(site), "--prune") == "no changes\n"
    # Pruning the main while its sub stays is refused, naming the sub.
    site.write_text(exported.replace("[cameras.gate]", "[cameras.gone]"))
    refused = run("apply", "-f", str(site), "--prune", code=1)
    assert "camera 'gate-sub' is the sub stream of camera 'gate', which does not exist" in refused

    # The main cannot go while its sub is registered; the sub can, then the main.
    run("stop", "gate")
    ucvd.wait_status("gate", "stopped")
    refused = run("camera", "remove", "gate", code=1)
    assert "has its sub stream 'gate-sub' registered" in refused, refused
    assert "ucvctl camera remove gate-sub" in refused
    assert run("status", "gate-sub").count("publishing") >= 1  # untouched by the refusal
    run("stop", "gate-sub")
    ucvd.wait_status("gate-sub", "stopped")
    run("camera", "remove", "gate-sub")
    run("camera", "remove", "gate")
    assert json.loads(run("--json", "camera", "list"))["items"] == []

    passwords = secrets_of_lab(mediamtx, [sim])
    seen = [*outputs, ucvd.log_text()]
    assert [pw for pw in passwords for text in seen if pw in text] == []


def test_linking_is_checked_and_both_or_neither_is_added(ucvd: Ucvd) -> None:
    url = "rtsp://192.0.2.7/main"

    def fails(kind: str, words: str, *args: str) -> None:
        result = ucvd.ctl("camera", "add", *args)
        assert result.code == 1, (args, result.stdout, result.stderr)
        assert f"[{kind}]" in result.stderr and words in result.stderr, result.stderr

    ucvd.ctl("camera", "add", "taken", "--url", url).check()
    # The sub's id is taken: neither is added.
    sub_url = "rtsp://192.0.2.7/sub"
    fails("already_exists", "camera 'taken' exists",
          "new", "--url", url, "--sub-url", sub_url, "--sub-id", "taken")  # fmt: skip
    assert ucvd.ctl("camera", "show", "new").code == 1
    # A main id too long for the -sub suffix: refused, saying how to name it.
    long_id = "g" * 60
    fails("invalid_argument", "give it one (sub_id; ucvctl: --sub-id)",
          long_id, "--url", url, "--sub-url", "rtsp://192.0.2.7/sub")  # fmt: skip
    ucvd.ctl("camera", "add", long_id, "--url", url, "--sub-url", "rtsp://192.0.2.7/sub",
             "--sub-id", "short-sub").check()  # fmt: skip
    assert ucvd.ctl_json("camera", "show", "short-sub")["main_id"] == long_id
    # A plain add naming a main: it must exist and not be a sub itself.
    fails("not_found", "no camera 'nobody' to be the main stream of 'x'",
          "x", "--url", url, "--main", "nobody")  # fmt: skip
    fails("invalid_argument", "camera 'short-sub' is itself the sub stream of",
          "x", "--url", url, "--main", "short-sub")  # fmt: skip
    ucvd.ctl("camera", "add", "x", "--url", url, "--main", "taken").check()
    assert ucvd.ctl_json("camera", "show", "taken")["sub_ids"] == ["x"]
    assert ucvd.ctl("camera", "add", "y", "--url", url, "--sub-id", "z").code == 2
