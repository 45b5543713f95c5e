"""The daemon's socket, asynchronously: one short connection per call, and one long one per
event subscription. ucvd-web's dashboard side talks to the daemon only through this.

Results are handed on as the daemon's raw JSON: the browser gets the very bytes the
daemon made (already redacted there), never re-encoded here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import msgspec

from ucvd.api.jsonrpc import LineSplitter, Notification, Response, encode_request, parse_reply

CALL_TIMEOUT_S = 10.0
# Calls in flight at once. Each holds one of the daemon's connection slots (64 by
# default) while it runs, and those must stay free for operators' ucvctl: the rest of
# ucvd-web's requests wait here, not there.
MAX_CALLS = 16
# As ucvctl reads: a picture is base64 in a JSON line.
MAX_REPLY_BYTES = 16 << 20


class DaemonDown(Exception):
    """The daemon could not be reached, or did not answer in time."""


class Refusal(Exception):
    """The daemon answered with an error."""

    def __init__(self, code: int, kind: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message


class _Line:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self._splitter = LineSplitter(MAX_REPLY_BYTES)
        self._lines: list[bytes] = []

    async def next(self) -> Response | Notification:
        while not self._lines:
            try:
                chunk = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                raise DaemonDown("the daemon closed the connection") from None
            self._lines.extend(self._splitter.feed(chunk))
        try:
            return parse_reply(self._lines.pop(0))
        except msgspec.DecodeError as exc:
            raise DaemonDown(f"the daemon sent something that is not JSON-RPC: {exc}") from None


def _refusal(response: Response) -> Refusal:
    assert response.error is not None
    kind = response.error.data.kind if response.error.data is not None else None
    return Refusal(response.error.code, kind, response.error.message)


class Daemon:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._calls = anyio.CapacityLimiter(MAX_CALLS)

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[anyio.abc.SocketStream]:
        try:
            stream = await anyio.connect_unix(self.socket_path)
        except OSError as exc:
            raise DaemonDown(f"cannot reach ucvd on {self.socket_path}: {exc.strerror}") from None
        async with stream:
            yield stream

    async def call(self, method: str, params: Any, *, timeout_s: float = CALL_TIMEOUT_S) -> bytes:
        """The raw JSON of the result; raises Refusal or DaemonDown."""
        with anyio.move_on_after(timeout_s) as scope:
            async with self._calls, self._connect() as stream:
                # On a failed send, a refusal may still be waiting to be read: read it below.
                with contextlib.suppress(anyio.BrokenResourceError, OSError):
                    await stream.send(encode_request(method, params, 1))
                lines = _Line(stream)
                while True:
                    message = await lines.next()
                    if isinstance(message, Notification):
                        continue
                    if message.error is not None:
                        raise _refusal(message)
                    if message.id == 1 and message.result is not None:
                        return bytes(message.result)
        assert scope.cancel_called
        raise DaemonDown(f"ucvd did not answer {method} within {timeout_s:g} s")

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[Notification]]:
        """A subscription to every camera's events: the notifications, as they come."""
        async with self._connect() as stream:
            # As in call(): a daemon that hung up at once (busy, or a caller it does not
            # admit) may have said why first; if not, reading says DaemonDown.
            with contextlib.suppress(anyio.BrokenResourceError, OSError):
                await stream.send(encode_request("events.subscribe", {}, 1))
            lines = _Line(stream)
            with anyio.move_on_after(CALL_TIMEOUT_S) as scope:
                while True:
                    first = await lines.next()
                    if isinstance(first, Response):
                        if first.error is not None:
                            raise _refusal(first)
                        break
            if scope.cancelled_caught:
                raise DaemonDown(f"ucvd did not answer events.subscribe in {CALL_TIMEOUT_S:g} s")

            async def notifications() -> AsyncIterator[Notification]:
                while True:
                    message = await lines.next()
                    if isinstance(message, Notification):
                        yield message
                    elif message.error is not None:
                        raise _refusal(message)  # the daemon ended the stream, and says why

            yield notifications()
