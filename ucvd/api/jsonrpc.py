"""JSON-RPC 2.0 over newline-delimited JSON, sans I/O: framing, envelopes, errors.

The control socket (docs/architecture.md §4) and `ucvctl` both speak through this module,
so it stays light (msgspec and the standard library only) for a fast `ucvctl` start.

Decoding is two-stage. Stage one reads the envelope and keeps `params` as raw JSON: a
message that is not JSON is -32700, one that is not a valid request is -32600. Stage two,
once the method is known, decodes `params` into that method's Struct: a wrong or missing
field is -32602 with msgspec's message, which names the field (`at $.camera_id`). Domain
errors carry a stable `data.kind`, which scripts match on; their messages are for people.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, Literal, TypeVar

import msgspec

# One request or response per line; longer lines are refused without being buffered.
MAX_MESSAGE_BYTES = 1 << 20
# msgspec decodes nested arrays and objects recursively and raises RecursionError past
# Python's recursion limit (~1000 levels); no real message comes near, so such a line is
# an invalid request, answered like any other rather than an exception that escapes.
TOO_DEEP = "invalid request: nested too deeply"
# msgspec raises UnicodeDecodeError, not DecodeError, for invalid UTF-8 inside a string:
# another exception that used to escape and end the daemon.
NOT_UTF8 = "parse error: not valid UTF-8"


class Code(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    DOMAIN_ERROR = -32000  # see `data.kind`


class DomainKind(StrEnum):
    """Kinds of refusal the socket itself gives. The operations' own are
    `ucvd.domain.refusals.Refusal`, and relay faults `ucvd.domain.errors.ErrorKind`."""

    PERMISSION_DENIED = "permission_denied"
    MESSAGE_TOO_LARGE = "message_too_large"


RequestId = int | str


class ErrorData(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str


class ErrorObject(msgspec.Struct, frozen=True, omit_defaults=True):
    code: int
    message: str
    data: ErrorData | None = None


class RpcError(Exception):
    """An error to send back as the response's `error` member."""

    def __init__(
        self, code: int, message: str, kind: str | None = None, id: RequestId | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.id = id  # the request's id, when it could be read

    @classmethod
    def domain(cls, kind: str, message: str) -> RpcError:
        return cls(Code.DOMAIN_ERROR, message, kind)

    def to_object(self) -> ErrorObject:
        data = ErrorData(kind=self.kind) if self.kind else None
        return ErrorObject(code=int(self.code), message=self.message, data=data)


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    jsonrpc: Literal["2.0"]
    method: str
    params: msgspec.Raw = msgspec.Raw(b"{}")
    id: RequestId | msgspec.UnsetType | None = msgspec.UNSET  # unset: a notification

    @property
    def is_notification(self) -> bool:
        return self.id is msgspec.UNSET


class Response(msgspec.Struct, frozen=True, omit_defaults=True):
    """A reply as the client reads it: exactly one of `result` and `error` is present."""

    jsonrpc: Literal["2.0"]
    id: RequestId | None
    result: msgspec.Raw | None = None
    error: ErrorObject | None = None


class Notification(msgspec.Struct, frozen=True):
    """An id-less message from the daemon (events after `events.subscribe`)."""

    jsonrpc: Literal["2.0"]
    method: str
    params: msgspec.Raw


class _Reply(msgspec.Struct, frozen=True):
    """Anything the daemon sends: told apart by `method` (a notification) or `id`."""

    jsonrpc: Literal["2.0"]
    id: RequestId | None = None
    method: str | None = None
    params: msgspec.Raw = msgspec.Raw()  # empty when absent (msgspec has no Raw | None)
    result: msgspec.Raw = msgspec.Raw()
    error: ErrorObject | None = None


class _Probe(msgspec.Struct):
    """Just enough of an envelope to find the id of a request that is otherwise invalid."""

    id: Any = None


_request_decoder = msgspec.json.Decoder(Request)
_probe_decoder = msgspec.json.Decoder(_Probe)
_reply_decoder = msgspec.json.Decoder(_Reply)
_encoder = msgspec.json.Encoder()

P = TypeVar("P")


def parse_request(line: bytes, limit: int = MAX_MESSAGE_BYTES) -> Request:
    """Stage one: the envelope. Raises RpcError (-32700 or -32600, with the id if known).
    `limit` is the server's `max_message_bytes`."""
    if len(line) > limit:
        raise RpcError(Code.INVALID_REQUEST, "message too large", DomainKind.MESSAGE_TOO_LARGE)
    try:
        return _request_decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise RpcError(
            Code.INVALID_REQUEST, f"invalid request: {exc}", id=_recover_id(line)
        ) from None
    except msgspec.DecodeError:
        raise RpcError(Code.PARSE_ERROR, "parse error: not valid JSON") from None
    except UnicodeDecodeError:  # invalid UTF-8 inside a string: not a DecodeError for msgspec
        raise RpcError(Code.PARSE_ERROR, NOT_UTF8) from None
    except RecursionError:  # msgspec recurses per level, even to skip `params`
        raise RpcError(Code.INVALID_REQUEST, TOO_DEEP, id=_recover_id(line)) from None


def _recover_id(line: bytes) -> RequestId | None:
    try:
        value = _probe_decoder.decode(line).id
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None
    # JSON-RPC ids are strings or integers (booleans are not integers here).
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def decode_params(request: Request, params_type: type[P]) -> P:
    """Stage two: the method's parameters. Raises RpcError -32602 naming the bad field."""
    try:
        return msgspec.json.decode(request.params, type=params_type)
    except msgspec.ValidationError as exc:
        raise RpcError(Code.INVALID_PARAMS, f"invalid params: {exc}", id=_id(request)) from None
    except msgspec.DecodeError:  # pragma: no cover - stage one already parsed this JSON
        raise RpcError(Code.INVALID_PARAMS, "invalid params", id=_id(request)) from None
    except UnicodeDecodeError:  # stage one skipped `params` without checking its text
        raise RpcError(Code.PARSE_ERROR, NOT_UTF8, id=_id(request)) from None
    except RecursionError:
        raise RpcError(Code.INVALID_PARAMS, TOO_DEEP, id=_id(request)) from None


def _id(request: Request) -> RequestId | None:
    return None if isinstance(request.id, msgspec.UnsetType) else request.id


def encode_result(id: RequestId | None, result: Any) -> bytes:
    body = _encoder.encode(result)
    return b'{"jsonrpc":"2.0","id":%s,"result":%s}\n' % (_encoder.encode(id), body)


def encode_error(error: RpcError, id: RequestId | None = None) -> bytes:
    return (
        _encoder.encode(
            {"jsonrpc": "2.0", "id": error.id if id is None else id, "error": error.to_object()}
        )
        + b"\n"
    )


def encode_request(method: str, params: Any, id: RequestId | None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if id is not None:
        message["id"] = id
    return _encoder.encode(message) + b"\n"


def encode_notification(method: str, params: Any) -> bytes:
    return encode_request(method, params, None)


def parse_reply(line: bytes) -> Response | Notification:
    """What the client reads: a response to one of its requests, or a notification.
    Raises msgspec.DecodeError (a subclass: ValidationError) for anything else."""
    reply = _reply_decoder.decode(line)
    if reply.method is not None:
        params = reply.params if len(reply.params) else msgspec.Raw(b"{}")
        return Notification(jsonrpc="2.0", method=reply.method, params=params)
    result = reply.result if len(reply.result) else None
    if (result is None) == (reply.error is None):
        raise msgspec.ValidationError("a response has exactly one of `result` and `error`")
    return Response(jsonrpc="2.0", id=reply.id, result=result, error=reply.error)


class LineSplitter:
    """Bytes in, complete lines out; an overlong line is reported once and skipped whole.

    Shared by the daemon and the client so both frame messages the same way, and so a peer
    sending an endless line costs at most MAX_MESSAGE_BYTES of memory.
    """

    TOO_LONG = b""  # yielded in place of a line that exceeded the limit

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._skipping = False

    @property
    def partial(self) -> bool:
        """Part of a line came in and its end has not (an overlong one counts too)."""
        return self._skipping or bool(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            self._take(data[start:newline], lines, complete=True)
            start = newline + 1
        self._take(data[start:], lines, complete=False)
        return lines

    def _take(self, piece: bytes, lines: list[bytes], *, complete: bool) -> None:
        if self._skipping:
            if complete:
                self._skipping = False
            return
        self._buffer += piece
        if len(self._buffer) > self._limit:
            self._buffer.clear()
            lines.append(self.TOO_LONG)
            self._skipping = not complete
            return
        if complete:
            line = bytes(self._buffer).strip()
            self._buffer.clear()
            if line:
                lines.append(line)
