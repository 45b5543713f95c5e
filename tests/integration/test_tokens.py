"""The dashboard's daemon side with real parts: access tokens made, listed and revoked with
the real `ucvctl` and kept across restarts; camera pictures taken by the real FFmpeg from
the central MediaMTX or from a simulated camera; and a read-only account (as ucvd-web's is)
that may look at a picture or stop a camera only with a user's token."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import CtlResult, Ucvd, add_camera, add_target, secrets_of_lab
from tests.harness.mediamtx import Central, Credentials
from tests.harness.ports import free_port
from tests.integration.test_daemon import NOBODY
from ucvctl.client import Client, RemoteError
from ucvd.api import protocol as p
from ucvd.domain import tokens


def fails(result: CtlResult, kind: str) -> str:
    assert result.code == 1, result
    assert f"[{kind}]" in result.stderr, result.stderr
    return result.stderr


def verify(d: Ucvd, token: str) -> p.TokenHolder:
    with Client(str(d.socket)) as client:
        return client.call("token.verify", p.TokenVerify(token=token), p.TokenHolder)


def unauthorized(d: Ucvd, token: str) -> bool:
    try:
        verify(d, token)
    except RemoteError as exc:
        return exc.kind == "unauthorized"
    return False


def created_token(result: CtlResult) -> str:
    """`ucvctl token create` prints the token alone on stdout, the note on stderr."""
    result.check()
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    token = result.stdout.strip()
    assert token.startswith(tokens.PREFIX) and len(token) <= tokens.MAX_TOKEN_CHARS
    assert "shown only this once" in result.stderr and token not in result.stderr
    return token


def test_tokens_through_ucvctl_survive_restarts_and_stay_out_of_the_log(
    make_ucvd: Callable[..., Ucvd],
) -> None:
    d = make_ucvd().start()
    seen: list[str] = []  # what ucvctl printed but the new tokens themselves, and the logs

    def ctl(*args: str) -> CtlResult:
        result = d.ctl(*args)
        seen.append(result.stderr)
        if args[:2] != ("token", "create"):
            seen.append(result.stdout)
        return result

    assert ctl("token", "list").check().stdout == "no tokens (ucvctl token create NAME)\n"
    alice = created_token(ctl("token", "create", "alice"))
    wall = created_token(ctl("token", "create", "lobby-wall", "--read-only"))
    assert alice != wall
    fails(ctl("token", "create", "alice"), "already_exists")
    fails(ctl("token", "create", "bad/name"), "invalid_argument")
    table = ctl("token", "list").check().stdout.splitlines()
    assert table[0].split() == ["NAME", "KIND", "CREATED"]
    assert [row.split()[:2] for row in table[1:]] == [["alice", "operator"],
                                                      ["lobby-wall", "viewer"]]  # fmt: skip
    listed = json.loads(ctl("--json", "token", "list").check().stdout)["items"]
    assert [(t["name"], t["kind"]) for t in listed] == [("alice", "operator"),
                                                        ("lobby-wall", "viewer")]  # fmt: skip
    assert all(t["created_at"].endswith("Z") for t in listed)
    assert (verify(d, alice).name, verify(d, wall).kind) == ("alice", "viewer")

    for restart in range(2):
        code, _ = d.terminate()
        assert code == 0
        seen.append(d.log_text())
        d.start()
        if restart == 0:
            # The same tokens, from the store: a dashboard login outlives a daemon restart.
            assert (verify(d, alice).kind, verify(d, wall).name) == ("operator", "lobby-wall")
            assert ctl("token", "revoke", "lobby-wall").check().stdout == (
                "token lobby-wall revoked\n"
            )
            assert unauthorized(d, wall)
            fails(ctl("token", "revoke", "lobby-wall"), "not_found")
    # After another restart the revoked one stays revoked, the other still works.
    assert unauthorized(d, wall) and verify(d, alice).name == "alice"
    assert [row.split()[0] for row in ctl("token", "list").check().stdout.splitlines()[1:]] == [
        "alice"
    ]
    code, _ = d.terminate()
    assert code == 0
    seen.append(d.log_text())
    everything = "\n".join(seen)
    assert "access token created" in everything and "lobby-wall" in everything  # logs read
    for token in (alice, wall):
        assert token not in everything
        assert token.removeprefix(tokens.PREFIX) not in everything
        assert token.encode() not in d.database.read_bytes()


# --- pictures -----------------------------------------------------------------------------
def assert_jpeg(path: Path) -> bytes:
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", data[:16]
    assert len(data) > 1000  # a frame, not an empty image
    return data


def test_still_from_the_central_path_from_the_camera_and_from_nowhere(
    make_ucvd: Callable[..., Ucvd], make_central: Callable[..., Central], cameras: CameraFarm,
    tmp_path: Path,
) -> None:  # fmt: skip
    # A publish-only account may not read: MediaMTX answers 401 and the picture would come
    # from the camera instead. Anonymous reading lets the central path answer.
    central = make_central(anonymous_read=True)
    d = make_ucvd().start()
    add_target(d, central).check()
    live, dark = cameras.add("live", credentials=Credentials.generate("admin")), cameras.add("dark")
    add_camera(d, live, "live").check()
    add_camera(d, dark, "dark").check()
    d.ctl("publish", "live", "--wait").check()
    outputs: list[str] = []

    def still(*args: str) -> CtlResult:
        result = d.ctl(*args)
        outputs.extend([result.stdout, result.stderr])
        return result

    shot = tmp_path / "live.jpg"
    summary = json.loads(still("--json", "still", "live", "-o", str(shot)).check().stdout)
    assert summary["source"] == "central" and summary["camera_id"] == "live"
    assert summary["bytes"] == len(assert_jpeg(shot)) and summary["file"] == str(shot)

    shot = tmp_path / "dark.jpg"
    line = still("still", "dark", "-o", str(shot)).check().stdout
    assert_jpeg(shot)
    assert line.startswith(f"{shot}: {shot.stat().st_size} bytes, taken from the camera at ")

    # A camera whose port is closed, with a password that must not show in the refusal.
    password = f"cam#{secrets.token_hex(6)}&!"
    nowhere = f"rtsp://127.0.0.1:{free_port()}/stream"
    d.ctl("camera", "add", "gone", "--url", nowhere, "--username", "admin",
          "--password-stdin", input=password + "\n").check()  # fmt: skip
    shot = tmp_path / "gone.jpg"
    result = still("still", "gone", "-o", str(shot))
    stderr = fails(result, "stream_unavailable")
    assert "no picture of gone: camera:" in stderr and result.stdout == ""
    assert not shot.exists()

    code, _ = d.terminate()
    assert code == 0
    everything = "\n".join(outputs) + d.log_text()
    for secret in [*secrets_of_lab(central, [live]), password,
                   urllib.parse.quote(password, safe="")]:  # fmt: skip
        assert secret not in everything


# --- a read-only account ------------------------------------------------------------------
AS_CALLER = """
import json, sys
from ucvctl.client import Client, RemoteError
request = json.load(sys.stdin)
with Client(request["socket"], 60) as client:
    try:
        result = client.call_unchecked(request["method"], request["params"])
        print(json.dumps({"result": json.loads(result)}))
    except RemoteError as exc:
        print(json.dumps({"error": {"kind": exc.kind, "message": exc.message}}))
"""


def call_as_nobody(d: Ucvd, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One call from uid 65534 (the read-only account); the token goes through stdin."""
    request = {"socket": str(d.socket), "method": method, "params": params}
    done = subprocess.run(
        [*NOBODY, sys.executable, "-c", AS_CALLER],
        input=json.dumps(request), capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def act(d: Ucvd, token: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return call_as_nobody(d, "token.act", {"token": token, "method": method, "params": params})


def test_a_read_only_account_acts_only_with_a_users_token(
    make_ucvd: Callable[..., Ucvd], open_dir: Path, mediamtx: Central, cameras: CameraFarm
) -> None:
    settings = {"daemon": {"operator_group": "nogroup", "read_only_users": ["nobody"]}}
    d = make_ucvd(workdir=open_dir / "ucvd", settings=settings).start()
    d.workdir.chmod(0o755)
    add_target(d, mediamtx).check()
    add_camera(d, cameras.add("ro"), "ro").check()
    d.ctl("publish", "ro", "--wait").check()
    operator = created_token(d.ctl("token", "create", "alice"))
    viewer = created_token(d.ctl("token", "create", "wall", "--read-only"))

    # By itself the account may read statuses, not a picture, and may not make tokens.
    for method, params in (("camera.still", {"camera_id": "ro"}), ("token.create",
                           {"name": "mine"}), ("token.list", {})):  # fmt: skip
        answer = call_as_nobody(d, method, params)
        assert answer["error"]["kind"] == "permission_denied", (method, answer)
        assert "may only read" in answer["error"]["message"]
    assert "result" in call_as_nobody(d, "publishing.samples", {"seconds": 60})

    picture = act(d, viewer, "camera.still", {"camera_id": "ro"})["result"]
    assert picture["camera_id"] == "ro" and picture["source"] in ("central", "camera")
    jpeg = base64.b64decode(picture["jpeg"])
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"

    refused = act(d, viewer, "publishing.stop", {"camera_id": "ro"})
    assert refused["error"]["kind"] == "permission_denied", refused
    assert "wall" in refused["error"]["message"]
    assert d.status("ro")["status"] == "publishing"
    for method, params in (("camera.remove", {"id": "ro"}), ("token.create", {"name": "x"})):
        refused = act(d, operator, method, params)
        assert refused["error"]["kind"] == "permission_denied", (method, refused)
    assert act(d, tokens.new_secret(), "camera.still", {"camera_id": "ro"})["error"]["kind"] == (
        "unauthorized"
    )
    assert d.status("ro")["status"] == "publishing"

    done = act(d, operator, "publishing.stop", {"camera_id": "ro"})["result"]
    assert (done["camera_id"], done["status"]) == ("ro", "stopped")
    stopped = d.status("ro")
    assert (stopped["status"], stopped["desired"]) == ("stopped", "stopped")
    assert d.ctl_json("token", "list")["items"][0]["name"] == "alice"  # nothing was added

    code, _ = d.terminate()
    assert code == 0
    log = d.log_text()
    audit = [json.loads(line) for line in log.splitlines() if "acting for an access token" in line]
    assert [(a["token_name"], a["method"]) for a in audit] == [("alice", "publishing.stop")]
    assert operator not in log and viewer not in log
