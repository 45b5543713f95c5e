"""The dashboard's live feed: the daemon's own events, relayed to every open browser over
a WebSocket (`/api/events`).

One daemon subscription serves every browser, and exists only while a browser is
listening. Each event is turned into the browser's form once (`{"type": "status", ...}`)
and the same bytes go to each; a browser that does not keep up is closed (it reconnects
and reloads the state) rather than buffered without bound. When the daemon goes away the
browsers are told (`{"type": "daemon", "up": false}`) and the subscription is retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio
import anyio.abc
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from ucvd.api import protocol as p
from ucvdweb.access import (
    CACHE_S,
    NotLoggedIn,
    Sessions,
    Verifier,
    presented_token,
    websocket_origin_ok,
)
from ucvdweb.daemon import Daemon, DaemonDown, Refusal

log = structlog.get_logger(__name__)

QUEUE = 512  # messages waiting for one browser before it counts as too slow
MAX_BROWSERS = 32
RECHECK_S = CACHE_S  # an open socket's token is checked again this often (revocation)
RETRY_S = (0.5, 1.0, 2.0, 5.0)
UP = b'{"type":"daemon","up":true}'
DOWN = b'{"type":"daemon","up":false}'
_KINDS = {p.STATUS_EVENT: b"status", p.METRICS_EVENT: b"metrics"}
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_BUSY = 4401, 4403, 4429


def browser_message(method: str, params: bytes) -> bytes | None:
    """`{"type": KIND, ...the event's fields}`; None for an event the browser has no use for."""
    kind = _KINDS.get(method)
    body = params.strip()
    if kind is None or not body.startswith(b"{"):
        return None
    rest = body[1:].lstrip()
    return b'{"type":"%s"%s%s' % (kind, b"," if rest != b"}" else b"", rest)


class Hub:
    def __init__(self, daemon: Daemon, verifier: Verifier, sessions: Sessions) -> None:
        self.daemon = daemon
        self.verifier = verifier
        self.sessions = sessions
        self._browsers: set[MemoryObjectSendStream[bytes]] = set()
        self._wanted = anyio.Event()
        self._relaying: anyio.CancelScope | None = None
        self.up = False

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        failures = 0
        while True:
            if not self._browsers:
                self._wanted = anyio.Event()
                await self._wanted.wait()
            try:
                await self._relay()
                failures = 0
            except (DaemonDown, Refusal) as exc:
                if self.up:
                    log.warning("lost the daemon's events", error=str(exc))
                failures += 1
            if self.up:
                self.up = False
                self._send_all(DOWN)
            await anyio.sleep(RETRY_S[min(failures - 1, len(RETRY_S) - 1)] if failures else 0)

    async def _relay(self) -> None:
        try:
            with anyio.CancelScope() as self._relaying:
                async with self.daemon.events() as events:
                    self.up = True
                    self._send_all(UP)
                    async for note in events:
                        message = browser_message(note.method, bytes(note.params))
                        if message is not None:
                            self._send_all(message)
                        if not self._browsers:
                            return  # nobody listens: end the subscription
        finally:
            self._relaying = None

    def _send_all(self, message: bytes) -> None:
        for send in list(self._browsers):
            try:
                send.send_nowait(message)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._browsers.discard(send)
                send.close()  # the browser's loop sees the end and closes its socket

    @contextlib.contextmanager
    def _listening(self) -> Iterator[MemoryObjectReceiveStream[bytes]]:
        send, receive = anyio.create_memory_object_stream[bytes](QUEUE)
        self._browsers.add(send)
        self._wanted.set()
        try:
            if self.up:
                send.send_nowait(UP)
            yield receive
        finally:
            self._browsers.discard(send)
            send.close()
            receive.close()
            if not self._browsers and self._relaying is not None:
                self._relaying.cancel()  # the last page left: end the subscription now

    async def serve(self, ws: WebSocket) -> None:
        if not websocket_origin_ok(ws.headers, ws.url.scheme):
            await ws.close(code=CLOSE_FORBIDDEN, reason="cross-site WebSocket refused")
            return
        token = presented_token(ws.headers, ws.cookies, self.sessions)
        # Accepted before the verdict, so that the page learns why (a close code) instead of
        # a bare failed handshake: 4401 sends it to the login page.
        await ws.accept()
        try:
            await self.verifier.user(token)
        except NotLoggedIn:
            await ws.close(code=CLOSE_UNAUTHORIZED, reason="log in first")
            return
        except (DaemonDown, Refusal):  # a refusal that is not about the token: busy
            await ws.close(code=1013, reason="ucvd is not answering")
            return
        if len(self._browsers) >= MAX_BROWSERS:
            await ws.close(code=CLOSE_BUSY, reason=f"at most {MAX_BROWSERS} live dashboards")
            return
        with self._listening() as receive:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_closed, ws, tg.cancel_scope)
                tg.start_soon(self._recheck, ws, token, tg.cancel_scope)
                try:
                    async for message in receive:
                        await ws.send_text(message.decode())
                except (WebSocketDisconnect, OSError, RuntimeError):
                    pass  # the browser left while we wrote
                tg.cancel_scope.cancel()
        with contextlib.suppress(Exception):
            await ws.close(code=1013, reason="too slow: reconnect")

    @staticmethod
    async def _watch_closed(ws: WebSocket, scope: anyio.CancelScope) -> None:
        """The browser sends nothing; reading is how its leaving is seen."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        scope.cancel()

    async def _recheck(self, ws: WebSocket, token: str | None, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(RECHECK_S)
            try:
                await self.verifier.user(token)
            except NotLoggedIn:
                await ws.close(code=CLOSE_UNAUTHORIZED, reason="the token was revoked")
                scope.cancel()
                return
            except (DaemonDown, Refusal):
                continue  # the daemon is down or busy; the token is not in doubt
