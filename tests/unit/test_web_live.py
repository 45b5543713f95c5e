"""ucvd-web's event subscription when the daemon hangs up on it at once, and the hub that
relays it: over socket pairs, the far end playing the daemon."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest
from starlette.types import Message
from starlette.websockets import WebSocket

from ucvd.api import protocol as p
from ucvd.api.jsonrpc import RpcError, encode_error, encode_notification, encode_result
from ucvdweb.access import Sessions, Verifier
from ucvdweb.daemon import Daemon, DaemonDown, Refusal
from ucvdweb.live import UP, Hub

EVENT = p.StatusEvent(camera_id="gate", old="starting", new="publishing", error=None, at="x")


class FarEnd(Daemon):
    """Each connection is a socket pair; `answers` says what the far end wrote on each
    before hanging up (None: it stays open, having written it)."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        super().__init__("/nonexistent")
        self.answers = answers
        self.attempts = 0
        self._kept: list[socket.socket] = []

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[anyio.abc.SocketStream]:
        written, hang_up = self.answers[min(self.attempts, len(self.answers) - 1)]
        self.attempts += 1
        ours, theirs = socket.socketpair()
        theirs.sendall(written)
        if hang_up:
            theirs.close()  # before our request: sending it fails (EPIPE)
        else:
            self._kept.append(theirs)
        stream = await anyio.abc.UNIXSocketStream.from_socket(ours)
        async with stream:
            yield stream

    def close(self) -> None:
        for sock in self._kept:
            sock.close()


SUBSCRIBED = encode_result(1, p.Subscribed(camera_ids=None))
STATUS = encode_notification(p.STATUS_EVENT, EVENT)
BUSY = encode_error(RpcError.domain("busy", "too many connections; try again shortly"), 1)


@pytest.mark.anyio
async def test_a_daemon_that_hangs_up_before_reading_is_down_not_a_crash() -> None:
    daemon = FarEnd([(b"", True)])
    with pytest.raises(DaemonDown):
        async with daemon.events():
            pass


@pytest.mark.anyio
async def test_a_daemon_that_says_why_and_hangs_up_is_heard() -> None:
    daemon = FarEnd([(BUSY, True)])
    with pytest.raises(Refusal) as refused:
        async with daemon.events():
            pass
    assert refused.value.kind == "busy"


@pytest.mark.anyio
async def test_the_hub_outlives_a_daemon_that_hung_up_and_relays_the_next_subscription() -> None:
    daemon = FarEnd([(b"", True), (SUBSCRIBED + STATUS, False)])
    hub = Hub(daemon, Verifier(daemon), Sessions())
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(hub.run)
            with hub._listening() as receive, anyio.fail_after(15):
                assert await receive.receive() == UP
                message = json.loads(await receive.receive())
            assert message == {"type": "status", **msgspec.to_builtins(EVENT)}
            tg.cancel_scope.cancel()
    finally:
        daemon.close()
    assert daemon.attempts == 2


class Refusing(Daemon):
    def __init__(self) -> None:
        super().__init__("/nonexistent")

    async def call(self, method: str, params: Any, *, timeout_s: float = 10.0) -> bytes:
        raise Refusal(-32000, "busy", "the daemon is stopping")


@pytest.mark.anyio
async def test_a_websocket_whose_token_cannot_be_checked_now_is_told_to_come_back() -> None:
    """Closed with 1013 (try again later), as when the daemon is down; not an exception."""
    daemon = Refusing()
    sessions = Sessions()
    session_id = sessions.open("ucvd_some-token")
    hub = Hub(daemon, Verifier(daemon), sessions)
    sent: list[Message] = []
    connect: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        if connect:
            return connect.pop()
        await anyio.sleep_forever()
        raise AssertionError  # never

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket", "scheme": "ws", "path": "/api/events", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:9810"), (b"origin", b"http://127.0.0.1:9810"),
                    (b"cookie", f"ucvd_session={session_id}".encode())],
        "server": ("127.0.0.1", 9810), "root_path": "", "subprotocols": [],
    }  # fmt: skip
    with anyio.fail_after(5):
        await hub.serve(WebSocket(scope, receive, send))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[-1]["code"] == 1013
