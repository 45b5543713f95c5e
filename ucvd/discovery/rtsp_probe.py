"""Is there an RTSP server at host:port, and does it want credentials?

Two requests on one connection: OPTIONS (any RTSP status line means an RTSP server) then
DESCRIBE of the root URL without credentials (401 means it wants some; anything else, even
404 for a path that is not a stream, means it lets anyone ask). `classify` is pure; `probe`
does the I/O, bounded by short timeouts, and says nothing for silence, refusals and
anything that does not speak RTSP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import anyio
import anyio.abc

CONNECT_TIMEOUT_S = 1.0
REPLY_TIMEOUT_S = 1.5
MAX_REPLY = 8192
USER_AGENT = "ucvd-discover"

_STATUS_LINE = re.compile(rb"^RTSP/1\.[0-9] ([1-5][0-9][0-9])(?: ([^\r\n]*))?\r?\n")
_SERVER = re.compile(rb"^Server:[ \t]*([^\r\n]{0,120})", re.IGNORECASE | re.MULTILINE)


class RtspAccess(StrEnum):
    OPEN = "open"  # answers DESCRIBE without credentials
    NEEDS_CREDENTIALS = "needs_credentials"  # 401 to DESCRIBE


@dataclass(frozen=True)
class Reply:
    status: int
    server: str | None


@dataclass(frozen=True)
class RtspService:
    host: str
    port: int
    access: RtspAccess
    server: str | None  # the Server header, when the server names itself


def parse_reply(data: bytes) -> Reply | None:
    """The status and Server header of an RTSP reply's head; None if it is not RTSP."""
    match = _STATUS_LINE.match(data)
    if match is None:
        return None
    server = _SERVER.search(data.split(b"\r\n\r\n", 1)[0])
    name = server.group(1).decode("ascii", "replace").strip() if server else None
    return Reply(status=int(match.group(1)), server=name or None)


def classify(options: Reply | None, describe: Reply | None) -> RtspAccess | None:
    if options is None and describe is None:
        return None
    if describe is not None and describe.status == 401:
        return RtspAccess.NEEDS_CREDENTIALS
    if describe is None and options is not None and options.status == 401:
        return RtspAccess.NEEDS_CREDENTIALS  # some servers guard even OPTIONS
    return RtspAccess.OPEN


def request(method: str, url: str, cseq: int) -> bytes:
    accept = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    return (
        f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: {USER_AGENT}\r\n{accept}\r\n"
    ).encode()


async def _read_head(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_REPLY:
        data += await stream.receive(MAX_REPLY)
    return data


async def probe(
    host: str,
    port: int,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    reply_timeout: float = REPLY_TIMEOUT_S,
) -> RtspService | None:
    url = f"rtsp://{host}:{port}/"
    options = describe = None
    stream: anyio.abc.SocketStream | None = None
    with anyio.move_on_after(connect_timeout):
        try:
            stream = await anyio.connect_tcp(host, port)
        except OSError:  # refused, unreachable: no server there
            return None
    if stream is None:  # silent: nothing answered the SYN in time
        return None
    async with stream:
        try:
            with anyio.move_on_after(reply_timeout):
                await stream.send(request("OPTIONS", url, 1))
                options = parse_reply(await _read_head(stream))
                if options is not None and options.status != 401:
                    await stream.send(request("DESCRIBE", url, 2))
                    describe = parse_reply(await _read_head(stream))
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError):
            pass
    access = classify(options, describe)
    if access is None:
        return None
    server = (describe.server if describe else None) or (options.server if options else None)
    return RtspService(host=host, port=port, access=access, server=server)
