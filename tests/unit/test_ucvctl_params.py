"""What `ucvctl` asks for, as the daemon decodes it: each command line against the params
the daemon must see (written as the JSON a script would send)."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest

from ucvctl import cli
from ucvd.api import protocol as p
from ucvd.domain.model import CameraOptions, Transport

CASES: list[tuple[list[str], str, dict[str, Any]]] = [
    (["camera", "add", "door", "--url", "rtsp://cam/s"], "camera.add",
     {"id": "door", "url": "rtsp://cam/s"}),
    (["camera", "add", "door", "--url", "rtsp://cam/s", "--username", "u", "--password-stdin",
      "--name", "Front", "--transport", "udp", "--no-audio", "--max-reconnects", "3"],
     "camera.add",
     {"id": "door", "url": "rtsp://cam/s", "username": "u", "password": "pw1", "name": "Front",
      "options": {"transport": "udp", "audio": False, "max_reconnects": 3}}),
    (["camera", "update", "door", "--name", "Back"], "camera.update",
     {"id": "door", "name": "Back"}),
    # An option flag starts from the camera's own options (Recorder's door: UDP, no audio).
    (["camera", "update", "door", "--genpts", "--wallclock-timestamps"], "camera.update",
     {"id": "door", "options": {"transport": "udp", "audio": False, "genpts": True,
                                "wallclock_timestamps": True}}),
    (["camera", "update", "door", "--url", "rtsp://u:p@cam/t"], "camera.update",
     {"id": "door", "url": "rtsp://u:p@cam/t"}),
    (["target", "add", "central", "--url", "rtsp://mtx:8554"], "target.add",
     {"name": "central", "rtsp_url": "rtsp://mtx:8554"}),
    (["target", "add", "central", "--url", "rtsp://mtx:8554", "--no-api", "--username", "pub",
      "--password-stdin", "--api-username", "api", "--api-password-stdin",
      "--max-reconnects", "5", "--reconnect-delay", "2.5", "--path-template", "c/{camera_id}",
      "--activate"], "target.add",
     {"name": "central", "rtsp_url": "rtsp://mtx:8554", "api_enabled": False, "username": "pub",
      "password": "pw1", "api_username": "api", "api_password": "pw2", "max_reconnects": 5,
      "reconnect_delay": 2.5, "path_template": "c/{camera_id}", "activate": True}),
    (["target", "update", "central", "--api-url", "http://mtx:9997"], "target.update",
     {"name": "central", "api_url": "http://mtx:9997"}),
    (["target", "update", "central", "--no-api", "--max-reconnects", "0"], "target.update",
     {"name": "central", "api_enabled": False, "max_reconnects": 0}),
    (["target", "add", "central", "--url", "rtsp://mtx:8554", "--player-url", "http://mtx:8889/"],
     "target.add",
     {"name": "central", "rtsp_url": "rtsp://mtx:8554", "player_url": "http://mtx:8889/"}),
    (["target", "add", "central", "--url", "rtsp://mtx:8554", "--player-url", ""], "target.add",
     {"name": "central", "rtsp_url": "rtsp://mtx:8554"}),
    (["target", "update", "central", "--player-url", "http://mtx:8889/"], "target.update",
     {"name": "central", "player_url": "http://mtx:8889/"}),
    (["target", "update", "central", "--player-url", ""], "target.update",
     {"name": "central", "player_url": None}),  # null: cleared
    (["target", "update", "central", "--no-player-url"], "target.update",
     {"name": "central", "player_url": None}),
    (["discover"], "discovery.scan", {"timeout": 5.0}),
    (["discover", "--subnet", "192.0.2.0/24", "--port", "554", "--port", "8554", "--force",
      "--concurrency", "64", "--username", "admin", "--password-stdin", "--add", "lobby",
      "--timeout", "9"], "discovery.scan",
     {"timeout": 9.0, "subnet": "192.0.2.0/24", "ports": [554, 8554], "force": True,
      "concurrency": 64, "username": "admin", "password": "pw1", "add_prefix": "lobby"}),
    (["publish", "door"], "publishing.start", {"camera_id": "door"}),
    (["publish", "door", "--force-restart"], "publishing.start",
     {"camera_id": "door", "force_restart": True}),
    (["publish", "door", "--wait"], "events.subscribe", {"camera_ids": ["door"]}),  # first
    (["stop", "door"], "publishing.stop", {"camera_id": "door"}),
    (["restart", "door"], "publishing.restart", {"camera_id": "door"}),
    (["status"], "publishing.status", {}),
    (["status", "door"], "publishing.status", {"camera_id": "door"}),
    (["logs", "door", "-n", "10"], "publishing.logs", {"camera_id": "door", "lines": 10}),
    (["history", "door", "-n", "5"], "publishing.history", {"camera_id": "door", "limit": 5}),
    (["info"], "daemon.info", {}),
    (["health"], "daemon.health", {}),
    (["reload"], "daemon.reload", {}),
    (["camera", "list"], "camera.list", {}),
    (["camera", "show", "door"], "camera.get", {"id": "door"}),
    (["camera", "remove", "door"], "camera.remove", {"id": "door"}),
    (["camera", "probe", "door"], "camera.probe", {"id": "door"}),
    (["target", "list"], "target.list", {}),
    (["target", "show", "central"], "target.get", {"name": "central"}),
    (["target", "activate", "central"], "target.activate", {"name": "central"}),
    (["target", "remove", "central"], "target.remove", {"name": "central"}),
    (["target", "check", "central"], "target.check", {"name": "central"}),
    (["export"], "target.list", {}),  # then camera.list
]  # fmt: skip


DOOR = p.CameraView(
    id="door", url="rtsp://cam/s", username=None, has_password=False, name="",
    options=CameraOptions(transport=Transport.UDP, audio=False), desired="stopped",
)  # fmt: skip


class Recorder:
    """A client that keeps what it was asked and answers nothing useful; with `reads`, it
    answers `camera.get` (the camera `door`, which `camera update` reads before changing
    options) without counting it."""

    def __init__(self, *, reads: bool = False) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.reads = reads

    def call_raw(self, method: str, params: msgspec.Struct) -> bytes:
        if self.reads and method == "camera.get":
            return msgspec.json.encode(DOOR)
        self.sent.append((method, msgspec.json.encode(params)))
        raise cli.Failed("recorded")

    def settimeout(self, _timeout: float | None) -> None:
        pass


def test_a_player_url_and_none_at_once_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(
            ["target", "update", "t", "--player-url", "http://h:8889/", "--no-player-url"]
        )
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "method", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_the_daemon_decodes_what_it_always_did(
    argv: list[str], method: str, expected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw1\npw2\n"))
    args = cli.build_parser().parse_args(argv)
    client = Recorder(reads=argv[:2] == ["camera", "update"])
    commands = cli.Commands(args, client)  # type: ignore[arg-type]
    with pytest.raises(cli.Failed, match="recorded"):
        getattr(commands, args.command)()
    ((sent_method, body),) = client.sent
    assert sent_method == method
    params_type = p.PARAMS[method]
    assert msgspec.json.decode(body, type=params_type) == msgspec.convert(expected, params_type)
