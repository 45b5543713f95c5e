"""No secret in anything a user or another local account can see.

One scenario, real parts throughout: a central MediaMTX with internal auth, a camera that
wants credentials, a real ucvd driven by the real `ucvctl`. It goes through the failures
that produce error messages, with distinctive passwords everywhere: a camera given the
wrong password, an unreachable camera whose password came inside its URL, a camera that
takes its password in the query string, a target with wrong publish credentials (FFmpeg's
ANNOUNCE is refused) and one with wrong API credentials, refused requests that carry a
password. The daemon runs three times over the same state, once per log format (JSON,
console, journald's native protocol on a socket the test owns), resuming the same
publications and failures each time.

Then everything visible is searched for every password, raw, percent-encoded, and by its
random core (a half-redacted leak counts): `ucvctl` output human and `--json` for every
read command, `ucvctl logs`, history, probes, `watch`, the raw RPC results and events, RPC
and `ucvctl` error messages, the daemon's log in every format, ucvd's own /proc cmdline and
environment, FFmpeg's environment, and every file the daemon leaves readable.

The allowed places are the database (the state directory is private) and FFmpeg's argv,
readable by root and the daemon's user only under the unit's `ProtectProc=invisible`
(README, "Security"). That argv is also the positive control: the same search finds the
passwords there, so finding nothing elsewhere means something.
"""

from __future__ import annotations

import concurrent.futures
import re
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import CtlResult, Ucvd, add_camera, add_target
from tests.harness.mediamtx import Central, Credentials
from tests.harness.ports import free_port
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from tests.integration.test_systemd import Datagrams
from ucvctl.client import Client, RemoteError


def distinctive(prefix: str) -> str:
    """URL-hostile like the harness's own passwords, with a random core to search for."""
    return f"{prefix}#{secrets.token_hex(6)}&!"


class Exposure:
    """Everything seen so far, by where it was seen."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.seen.append((where, text))

    def leaks(self, passwords: list[str]) -> list[tuple[str, str]]:
        return [
            (where, form)
            for where, text in self.seen
            for form in search_forms(passwords)
            if form in text
        ]


def search_forms(passwords: list[str]) -> set[str]:
    """Raw, percent-encoded both ways, and the random core alone."""
    forms: set[str] = set()
    for password in passwords:
        forms |= {password, urllib.parse.quote(password, safe=""), urllib.parse.quote(password)}
        forms |= set(re.findall(r"[0-9a-f]{12}", password))
    return forms


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Datagrams]:
    sink = Datagrams(tmp_path / "journal.sock")
    yield sink
    sink.close()


CAMERAS = ["good", "wrongpw", "gone", "query"]
TARGETS = ["central", "badapi", "badpub"]


class Scenario:
    """The daemon, what has been seen of it, and the steps the test takes."""

    def __init__(self, d: Ucvd) -> None:
        self.d = d
        self.seen = Exposure()

    def ctl(self, *args: str, input: str | None = None, check: bool = True) -> CtlResult:
        result = self.d.ctl(*args, input=input)
        self.seen.add(f"ucvctl {' '.join(args)}", result.stdout + result.stderr)
        if check:
            result.check()
        return result

    def rpc(self, method: str, params: dict[str, Any]) -> None:
        with Client(str(self.d.socket)) as client:
            try:
                self.seen.add(f"rpc {method}", client.call_unchecked(method, params))
            except RemoteError as exc:
                self.seen.add(f"rpc {method} error", f"{exc.kind}: {exc.message}")

    def last_error(self, camera_id: str) -> str | None:
        error = self.d.status(camera_id)["last_error"]
        return None if error is None else str(error["kind"])

    def wait_error(self, camera_id: str, kind: str) -> None:
        wait_until(
            lambda: self.last_error(camera_id) == kind,
            timeout=30,
            what=lambda: f"{camera_id} to fail with {kind} (now {self.last_error(camera_id)})",
        )

    def failures_show(self, *, publishing: bool = True) -> None:
        """The good camera publishes; the three others fail, each its own way."""
        if publishing:
            self.d.wait_status("good", "publishing", timeout=40)
        self.wait_error("wrongpw", "auth_failed")
        self.wait_error("gone", "connection_failed")
        self.wait_error("query", "connection_failed")

    def read_everything(self) -> None:
        """Every read command through `ucvctl`, human and JSON (a few at a time: each is a
        process start), and every read method through raw RPC, for every camera and target.
        The per-camera commands go to the cameras with something to hide: the one that
        publishes through credentials, and the one refused for its password."""
        commands = [["status"], ["info"], ["health"], ["camera", "list"], ["target", "list"],
                    ["target", "check", "badapi"], ["camera", "probe", "wrongpw"]]  # fmt: skip
        for camera_id in ("good", "wrongpw"):
            commands += [["logs", camera_id, "-n", "200"], ["history", camera_id]]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            runs = [
                (args, pool.submit(self.ctl, *fmt, *args, check=False))
                for fmt in ([], ["--json"])
                for args in commands
            ]
        # A reader that failed another way than the scenario's failures did not show what a
        # user reads: health reports the failing cameras, the check the API's refusal of its
        # credentials, the probe the camera's refusal of its password; the rest succeed.
        failing = [["health"], ["target", "check", "badapi"], ["camera", "probe", "wrongpw"]]
        for args, run in runs:
            result = run.result()  # a reader that crashed or timed out fails the test here
            assert result.code == (1 if args in failing else 0), result
        for method in ("daemon.info", "daemon.health", "camera.list", "target.list",
                       "publishing.status"):  # fmt: skip
            self.rpc(method, {})
        for camera_id in CAMERAS:
            self.rpc("publishing.history", {"camera_id": camera_id, "limit": 50})
            self.rpc("publishing.logs", {"camera_id": camera_id, "lines": 200})
            self.rpc("camera.get", {"id": camera_id})
            self.rpc("publishing.status", {"camera_id": camera_id})
        self.rpc("camera.probe", {"id": "gone"})
        for target in TARGETS:
            self.rpc("target.get", {"name": target})
        self.rpc("target.check", {"name": "badapi"})


def test_no_password_shows_anywhere_a_user_can_look(
    registry: ProcessRegistry,
    tmp_path: Path,
    mediamtx: Central,
    cameras: CameraFarm,
    journal: Datagrams,
) -> None:
    secure = cameras.add("secure", credentials=Credentials.generate("admin"))
    assert secure.credentials is not None
    wrong = distinctive("Wr0ng")  # a password the camera refuses
    in_url = distinctive("InUrl")  # given inside the URL of a camera nobody answers for
    in_query = distinctive("InQuery")  # a camera that takes it in the query string
    bad_publish, bad_api = distinctive("BadPub"), distinctive("BadApi")
    refused = distinctive("Refused")  # only ever sent in requests that are refused
    passwords = [
        mediamtx.publisher.password, mediamtx.api_user.password, secure.credentials.password,
        wrong, in_url, in_query, bad_publish, bad_api, refused,
    ]  # fmt: skip
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there: the unreachable cameras
    d = Ucvd(registry, tmp_path / "ucvd")
    s = Scenario(d)

    # --- run 1: JSON log; configure, fail every way, read everything ------------------------
    d.start(log_format="json")
    s.seen.add("ucvctl target add central", add_target(d, mediamtx).check().stdout)
    mtx = mediamtx.server
    for name, extra in (("badapi", []), ("badpub", ["--no-api"])):
        s.ctl("target", "add", name, "--url", mtx.rtsp_url("").rstrip("/"),
              "--api-url", mtx.api_url, "--username", mediamtx.publisher.user,
              "--password-stdin", "--api-username", mediamtx.api_user.user,
              "--api-password-stdin", "--reconnect-delay", "0.5", *extra,
              input=f"{bad_publish}\n{bad_api}\n")  # fmt: skip
    s.seen.add("ucvctl camera add good", add_camera(d, secure, "good").check().stdout)
    s.ctl("camera", "add", "wrongpw", "--url", secure.url, "--username", "admin",
          "--password-stdin", input=wrong + "\n")  # fmt: skip
    userinfo = f"admin:{urllib.parse.quote(in_url, safe='')}@"
    s.rpc("camera.add", {"id": "gone", "url": f"rtsp://{userinfo}{nowhere}/s"})
    query = f"?user=admin&password={urllib.parse.quote(in_query, safe='')}"
    s.rpc("camera.add", {"id": "query", "url": f"rtsp://{nowhere}/s{query}"})
    for camera_id in CAMERAS:
        s.ctl("publish", camera_id)
    s.failures_show()

    # Refused requests that carry a password: the refusals must not echo it.
    bad_urls = ["rtsp://{}@cam:notaport/x", "rtsp://{}@c\uff0fx", "rtsp://{}@[::1/x",
                "file://{}@/etc/passwd"]  # fmt: skip
    for url in (template.format(f"admin:{refused}") for template in bad_urls):
        s.ctl("camera", "add", "refused", f"--url={url}", check=False)
        s.rpc("camera.update", {"id": "good", "url": url})
    api_url = f"http://api:{urllib.parse.quote(refused, safe='')}@127.0.0.1:1"
    s.rpc("target.add", {"name": "t9", "rtsp_url": "rtsp://127.0.0.1:1", "api_url": api_url})
    s.rpc("camera.add", {"id": "x", "url": "rtsp://127.0.0.1:1/s", "password": refused})
    too_long = {"id": "x", "url": "rtsp://127.0.0.1:1/s", "username": "a", "password": refused * 30}
    s.rpc("camera.add", too_long)

    # Watch the events while the publications move to the targets with wrong credentials.
    watchers = [d.watch(*fmt, "watch", "--for", "10") for fmt in ([], ["--json"])]  # subscribed
    s.ctl("target", "activate", "badpub")
    s.wait_error("good", "mediamtx_rejected")  # FFmpeg's ANNOUNCE refused: 401
    errors = d.status("good")["error_count"]
    s.ctl("target", "activate", "badapi")  # the API refuses its credentials: another failure
    wait_until(lambda: d.status("good")["error_count"] > errors, timeout=30,
               what="the API's refusal to count as a failure")  # fmt: skip
    s.ctl("--json", "logs", "good", "-n", "200")
    s.ctl("target", "activate", "central")
    s.failures_show()
    watched = {}
    for watcher, name in zip(watchers, ("human", "json"), strict=True):
        watched[name], errors_out = watcher.finish()
        s.seen.add(f"ucvctl watch ({name})", watched[name] + errors_out)
    assert '"event.status"' in watched["json"], watched["json"][-2000:]

    s.read_everything()
    messages = [item["last_error"]["message"] for item in d.ctl_json("status")["items"]
                if item["last_error"]]  # fmt: skip
    assert len(messages) >= 3, messages  # the failures were there to be read

    # What another account could read of the processes: ucvd's own argv and environment,
    # FFmpeg's environment. FFmpeg's argv is the documented exception, and the control.
    ffmpeg = d.status("good")["pid"]
    for pid, what in ((d.pid, "ucvd"), (ffmpeg, "ffmpeg")):
        s.seen.add(f"/proc/{what}/environ", Path(f"/proc/{pid}/environ").read_bytes())
    s.seen.add("/proc/ucvd/cmdline", Path(f"/proc/{d.pid}/cmdline").read_bytes())
    argv = Path(f"/proc/{ffmpeg}/cmdline").read_bytes().decode()
    assert d.terminate()[0] == 0
    s.seen.add("daemon log (json)", d.log_text())

    # --- runs 2 and 3: console and journal; the same publications resume and fail ----------
    journal_env = {"UCVD_JOURNAL_SOCKET": str(journal.path)}
    for log_format, env in (("console", None), ("journal", journal_env)):
        d.start(log_format=log_format, env=env)
        s.failures_show(publishing=False)
        assert d.terminate()[0] == 0
        s.seen.add(f"daemon log ({log_format})", d.log_text())
    records = b"".join(data for _, data in journal.snapshot())
    assert b"CAMERA_ID=wrongpw" in records and b"ERROR_KIND=auth_failed" in records
    s.seen.add("journal", records)

    # Files: the state directory is private; anything readable elsewhere is searched.
    assert d.state_dir.stat().st_mode & 0o077 == 0
    for path in d.state_dir.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path  # the database, its WAL and SHM
    for path in d.workdir.iterdir():
        if path.is_file():
            s.seen.add(f"file {path.name}", path.read_bytes())

    assert len(s.seen.seen) > 60, len(s.seen.seen)
    assert not s.seen.leaks(passwords), s.seen.leaks(passwords)[:5]
    # The control: the same search finds the camera's and the publish passwords in FFmpeg's
    # argv, the one place they must be (README, "Security").
    control = Exposure()
    control.add("ffmpeg argv", argv)
    found = {form for _, form in control.leaks([secure.credentials.password])}
    assert urllib.parse.quote(secure.credentials.password, safe="") in found
    assert control.leaks([mediamtx.publisher.password])
