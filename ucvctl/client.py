"""A blocking JSON-RPC client for the control socket: one connection, plain `socket`.

Blocking and synchronous on purpose: `ucvctl` makes one or two calls and exits, and an
event loop would cost more start-up time than the calls themselves. Notifications that
arrive while waiting for a reply (after `events.subscribe`) are kept, in order, for
`notifications()`.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from typing import TypeVar

import msgspec

from ucvd.api.jsonrpc import (
    MAX_MESSAGE_BYTES,
    ErrorObject,
    LineSplitter,
    Notification,
    Response,
    encode_request,
)
from ucvd.api.jsonrpc import parse_reply as _parse_reply

T = TypeVar("T")


class Unreachable(Exception):
    """The daemon cannot be reached; the message names the socket and the likely cause."""


class TimedOut(Unreachable):
    """No message within the socket timeout (a watch or a wait that ran its course)."""


class RemoteError(Exception):
    """The daemon answered with an error."""

    def __init__(self, code: int, message: str, kind: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind

    @classmethod
    def of(cls, error: ErrorObject) -> RemoteError:
        return cls(error.code, error.message, error.data.kind if error.data else None)


def _explain(path: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"no socket at {path}: is ucvd running? (systemctl status ucvd)"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens on {path}: ucvd is not running (the socket file is stale)"
    if isinstance(exc, PermissionError):
        return (
            f"permission denied on {path}: run as root, as the daemon's user, "
            "or as a member of its operator group"
        )
    if isinstance(exc, TimeoutError):
        return f"ucvd did not answer on {path} in time (is it overloaded or stuck?)"
    return f"cannot talk to ucvd on {path}: {exc.strerror or exc}"


class Client:
    def __init__(self, path: str, timeout_s: float | None = 30.0) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        try:
            self._sock.connect(path)
        except OSError as exc:
            self._sock.close()
            raise Unreachable(_explain(path, exc)) from None
        self._splitter = LineSplitter(MAX_MESSAGE_BYTES * 16)
        self._lines: deque[bytes] = deque()
        self._pending: deque[Notification] = deque()
        self._next_id = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settimeout(self, timeout_s: float | None) -> None:
        self._sock.settimeout(timeout_s)

    def _read_message(self) -> Response | Notification:
        while not self._lines:
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise TimedOut(_explain(self.path, TimeoutError())) from None
            except OSError as exc:
                raise Unreachable(_explain(self.path, exc)) from None
            if not chunk:
                raise Unreachable(f"ucvd closed the connection on {self.path}")
            self._lines.extend(self._splitter.feed(chunk))
        line = self._lines.popleft()
        try:
            return _parse_reply(line)
        except msgspec.DecodeError as exc:
            raise Unreachable(f"ucvd sent something that is not JSON-RPC: {exc}") from None

    def call_raw(self, method: str, params: msgspec.Struct) -> bytes:
        """The raw JSON of the result; raises RemoteError for an error reply. `params` is
        the method's Struct in `ucvd.api.protocol` (PARAMS names it): built from the
        contract's types, so mypy checks each field the client fills in (not that the Struct
        is the one `method` takes: the daemon's decoding checks that)."""
        return self.call_unchecked(method, params)

    def call_unchecked(self, method: str, params: object) -> bytes:
        """`call_raw` with anything msgspec encodes as `params`: what the daemon must
        refuse, as well as what it takes (tests of its own checks use this)."""
        self._next_id += 1
        request_id = self._next_id
        try:
            self._sock.sendall(encode_request(method, params, request_id))
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The daemon may have refused the connection (busy, permission denied) and
            # closed it before our request went out; its reason is still ours to read.
            self._raise_refusal()
            raise Unreachable(_explain(self.path, exc)) from None
        except OSError as exc:
            raise Unreachable(_explain(self.path, exc)) from None
        while True:
            message = self._read_message()
            if isinstance(message, Notification):
                self._pending.append(message)
                continue
            if message.id != request_id and not (message.id is None and message.error):
                continue  # not ours; an id-less error is the daemon refusing the connection
            if message.error is not None:
                raise RemoteError.of(message.error)
            assert message.result is not None
            return bytes(message.result)

    def _raise_refusal(self) -> None:
        """Raise the id-less error the daemon left before closing, if it left one."""
        try:
            message = self._read_message()
        except Unreachable:
            return
        if isinstance(message, Response) and message.id is None and message.error is not None:
            raise RemoteError.of(message.error)

    def call(self, method: str, params: msgspec.Struct, result_type: type[T]) -> T:
        return msgspec.json.decode(self.call_raw(method, params), type=result_type)

    def notifications(self) -> Iterator[Notification]:
        """Notifications in arrival order, blocking for the next (until the socket times out)."""
        while True:
            while self._pending:
                yield self._pending.popleft()
            message = self._read_message()
            if isinstance(message, Notification):
                yield message
            elif message.id is None and message.error is not None:
                raise RemoteError.of(message.error)  # the daemon ended the stream, and says why
