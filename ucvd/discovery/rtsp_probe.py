"""Is there an RTSP server at host:port, and does it want credentials?

The sweep sends two requests on one connection: OPTIONS (any RTSP status line means an
RTSP server) then DESCRIBE of the root URL without credentials: 401 means it wants some;
anything else means it did not ask (many servers answer 400 or 404 for `/`, which says
nothing about their streams, so a stream URI known from ONVIF is checked on its own with
`check_stream`, with and then without the operator's credentials).

Parsing, classification and the Authorization header (Basic, or Digest MD5 per RFC 2617,
as cameras use it) are pure; `probe`, `check_stream` and `answers` (is a known server
there: `ucvctl target check`) do the I/O, bounded by short timeouts, and treat silence,
refusals and anything that does not speak RTSP as nothing.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import ipaddress
import re
import secrets
import select
import socket
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum

import anyio
import anyio.abc

# A LAN host that exists answers a SYN in milliseconds (the kernel does, however busy the
# camera's software is); one that does not costs the whole connect timeout, so it is short.
# Once connected, a slow camera's software gets longer to answer: few hosts get that far.
CONNECT_TIMEOUT_S = 1.0
REPLY_TIMEOUT_S = 3.0
MAX_REPLY = 8192
USER_AGENT = "ucvd-discover"
# `answers`: a target across a WAN may take longer than a LAN camera to connect.
CHECK_TIMEOUT_S = 3.0
CHECK_AGENT = "ucvd-check"

_STATUS_LINE = re.compile(rb"^RTSP/1\.[0-9] ([1-5][0-9][0-9])(?: ([^\r\n]*))?\r?\n")
_HEADER = re.compile(rb"^([A-Za-z-]+):[ \t]*([^\r\n]{0,1024})", re.MULTILINE)
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


class RtspAccess(StrEnum):
    OPEN = "open"  # did not ask for credentials
    NEEDS_CREDENTIALS = "needs_credentials"  # 401 without credentials


class StreamAccess(StrEnum):
    OPEN = "open"  # DESCRIBE without credentials answered 200
    CREDENTIALS_ACCEPTED = "credentials_accepted"  # 401, then 200 with the operator's
    CREDENTIALS_REFUSED = "credentials_refused"  # 401 with them too
    NEEDS_CREDENTIALS = "needs_credentials"  # 401, and no credentials were given
    NOT_FOUND = "not_found"  # 404: the device named a stream it does not serve
    FAILED = "failed"  # no RTSP answer, or another status


@dataclass(frozen=True)
class Reply:
    status: int
    server: str | None
    authenticate: tuple[str, ...] = ()  # WWW-Authenticate challenges


@dataclass(frozen=True)
class RtspService:
    host: str
    port: int
    access: RtspAccess
    server: str | None  # the Server header, when the server names itself


def parse_reply(data: bytes) -> Reply | None:
    """The status and the headers that matter of an RTSP reply; None if it is not RTSP."""
    match = _STATUS_LINE.match(data)
    if match is None:
        return None
    head = data.split(b"\r\n\r\n", 1)[0]
    server = None
    challenges: list[str] = []
    for name, value in _HEADER.findall(head):
        key = name.decode("ascii").lower()
        text = value.decode("utf-8", "replace").strip()
        if key == "server" and server is None:
            server = text[:120] or None
        elif key == "www-authenticate":
            challenges.append(text)
    return Reply(status=int(match.group(1)), server=server, authenticate=tuple(challenges))


def classify(options: Reply | None, describe: Reply | None) -> RtspAccess | None:
    if options is None and describe is None:
        return None
    if describe is not None and describe.status == 401:
        return RtspAccess.NEEDS_CREDENTIALS
    if describe is None and options is not None and options.status == 401:
        return RtspAccess.NEEDS_CREDENTIALS  # some servers guard even OPTIONS
    return RtspAccess.OPEN


def request(
    method: str, url: str, cseq: int, authorization: str | None = None, *, agent: str = USER_AGENT
) -> bytes:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {agent}"]
    if method == "DESCRIBE":
        lines.append("Accept: application/sdp")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def authorization(
    challenges: tuple[str, ...],
    method: str,
    url: str,
    username: str,
    password: str,
    *,
    cnonce: str = "",
) -> str | None:
    """The Authorization header answering the strongest challenge we can (Digest MD5 before
    Basic); None when no challenge is one we speak."""
    for challenge in challenges:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() != "digest":
            continue
        params = {m[0].lower(): m[1] or m[2] for m in _PARAM.findall(rest)}
        if params.get("algorithm", "MD5").upper() != "MD5" or "nonce" not in params:
            continue
        realm, nonce = params.get("realm", ""), params["nonce"]

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{username}:{realm}:{password}")
        ha2 = md5(f"{method}:{url}")
        fields = f'username="{username}", realm="{realm}", nonce="{nonce}", uri="{url}"'
        if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
            cnonce = cnonce or secrets.token_hex(8)
            response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
            fields += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
        else:
            response = md5(f"{ha1}:{nonce}:{ha2}")
        if "opaque" in params:
            fields += f', opaque="{params["opaque"]}"'
        return f'Digest {fields}, response="{response}"'
    if any(c.partition(" ")[0].lower() == "basic" for c in challenges):
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return None


async def _read_head(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_REPLY:
        data += await stream.receive(MAX_REPLY)
    return data


def _connected(sock: socket.socket) -> bool:
    """Has the non-blocking connect completed, successfully? Asked without waiting."""
    poller = select.poll()  # not select(): descriptors above 1024 are fine
    poller.register(sock, select.POLLOUT)
    if not poller.poll(0):
        return False
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


async def _connect(host: str, port: int, limit_s: float) -> anyio.abc.SocketStream | None:
    """A TCP connection, or None for refused, unreachable or silent.

    When the time is up, the socket is asked once more before the host is called silent:
    on a busy machine the deadline can pass before this process even looks at a connection
    the kernel completed long ago, and a sweep would then miss live cameras.
    """
    try:
        ipaddress.IPv4Address(host)  # a name would mean a blocking lookup: never here
    except ValueError:
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if sock.connect_ex((host, port)) not in (0, errno.EINPROGRESS):
            sock.close()
            return None
        with anyio.move_on_after(limit_s):
            await anyio.wait_writable(sock)
        if not _connected(sock):
            sock.close()
            return None
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


async def probe(
    host: str,
    port: int,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    reply_timeout: float = REPLY_TIMEOUT_S,
) -> RtspService | None:
    url = f"rtsp://{host}:{port}/"
    options = describe = None
    stream = await _connect(host, port, connect_timeout)
    if stream is None:
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


async def answers(host: str, port: int, *, timeout_s: float = CHECK_TIMEOUT_S) -> bool:
    """Does an RTSP server answer OPTIONS at host:port? Any RTSP status line counts.

    For a known server (a MediaMTX target), not a sweep: `host` may be a name, looked up
    here, and the whole exchange, connecting included, gets `timeout_s`.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with anyio.move_on_after(timeout_s):
        try:
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(request("OPTIONS", f"rtsp://{authority}/", 1, agent=CHECK_AGENT))
                return parse_reply(await _read_head(stream)) is not None
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError):
            return False
    return False


def stream_verdict(first: Reply | None, second: Reply | None, tried: bool) -> StreamAccess:
    """From DESCRIBE without credentials (`first`) and, if `tried`, with them (`second`)."""
    if first is None:
        return StreamAccess.FAILED
    if first.status == 200:
        return StreamAccess.OPEN
    if first.status == 404:
        return StreamAccess.NOT_FOUND
    if first.status != 401:
        return StreamAccess.FAILED
    if not tried:
        return StreamAccess.NEEDS_CREDENTIALS
    if second is not None and second.status == 200:
        return StreamAccess.CREDENTIALS_ACCEPTED
    if second is not None and second.status == 401:
        return StreamAccess.CREDENTIALS_REFUSED
    return StreamAccess.FAILED


async def check_stream(
    uri: str,
    username: str | None,
    password: str | None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    reply_timeout: float = REPLY_TIMEOUT_S,
) -> StreamAccess:
    """Does this stream URI answer DESCRIBE, and do the operator's credentials open it?"""
    try:
        parts = urllib.parse.urlsplit(uri)
        host, port = parts.hostname, parts.port or 554
    except ValueError:
        return StreamAccess.FAILED
    if parts.scheme != "rtsp" or not host:
        return StreamAccess.FAILED  # rtsps would need TLS; not checked
    url = urllib.parse.urlunsplit(("rtsp", f"{host}:{port}", parts.path or "/", parts.query, ""))
    stream = await _connect(host, port, connect_timeout)
    if stream is None:
        return StreamAccess.FAILED
    first = second = None
    tried = False
    async with stream:
        try:
            with anyio.move_on_after(reply_timeout * 2):
                await stream.send(request("DESCRIBE", url, 1))
                first = parse_reply(await _read_head(stream))
                if first is not None and first.status == 401 and username is not None:
                    header = authorization(
                        first.authenticate, "DESCRIBE", url, username, password or ""
                    )
                    if header is not None:
                        tried = True
                        await stream.send(request("DESCRIBE", url, 2, header))
                        second = parse_reply(await _read_head(stream))
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError):
            pass
    return stream_verdict(first, second, tried)
