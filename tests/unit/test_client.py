"""ucvctl's client against a daemon that refuses the connection before reading it."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from ucvctl.client import Client, RemoteError, Unreachable
from ucvd.api.jsonrpc import RpcError, encode_error


def refusing_server(path: Path, reply: bytes | None) -> threading.Thread:
    """Accept one connection, say `reply` (or nothing), close without reading anything."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        if reply is not None:
            conn.sendall(reply)
        conn.close()
        listener.close()

    thread = threading.Thread(target=serve)
    thread.start()
    return thread


def test_refusal_sent_before_the_request_is_still_read(tmp_path: Path) -> None:
    """Over the connection limit the daemon answers `busy` and closes at once; a client
    whose request then meets a closed socket (EPIPE) must report `busy`, not `unreachable`
    (seen with 100 parallel `camera.add`)."""
    path = tmp_path / "s.sock"
    busy = encode_error(RpcError.domain("busy", "too many connections; try again shortly"))
    server = refusing_server(path, busy)
    with Client(str(path)) as client:
        server.join(5)  # the daemon has spoken and closed before we send anything
        assert not server.is_alive()
        with pytest.raises(RemoteError) as refused:
            client.call_unchecked("camera.add", {"id": "x" * 300_000})  # larger than any buffer
    assert refused.value.kind == "busy"


def test_a_silent_close_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = refusing_server(path, None)
    with Client(str(path)) as client:
        server.join(5)
        assert not server.is_alive()
        with pytest.raises(Unreachable):
            client.call_unchecked("camera.add", {"id": "x" * 300_000})


def test_a_watch_the_daemon_drops_ends_with_its_reason(tmp_path: Path) -> None:
    """A subscriber that fell behind gets its queue, then an id-less error, then EOF;
    `ucvctl watch` must end with that reason, not wait on the socket or blame the daemon."""
    path = tmp_path / "s.sock"
    tick = b'{"jsonrpc":"2.0","method":"events.tick","params":{}}\n'
    dropped = encode_error(RpcError.domain("too_slow", "dropped: 256 messages were waiting"))
    server = refusing_server(path, tick * 2 + dropped)
    with Client(str(path)) as client:
        got = []
        with pytest.raises(RemoteError) as ended:
            for note in client.notifications():
                got.append(note.method)
    server.join(5)
    assert got == ["events.tick", "events.tick"]
    assert ended.value.kind == "too_slow" and "dropped" in ended.value.message
