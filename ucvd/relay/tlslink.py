"""The verified TLS leg to an rtsps:// target: ucvd holds it, FFmpeg publishes through it.

FFmpeg cannot verify an RTSPS server. Its RTSP muxer opens the `tls` protocol with a URL of
its own making and no options, so `-tls_verify 1 -ca_file F` is silently unused, and the
`tls` defaults accept any certificate: Debian's FFmpeg 5.1 and 7.1 both published to a
MediaMTX whose self-signed certificate they had no reason to trust, with and without those
options (docs/architecture.md §6). Handing it the publish password would hand it to whoever
sits in between.

So for an rtsps:// target ucvd opens the TLS connection itself, with Python's `ssl`: the
system's CAs and the host name by default, a CA file and the host name when the target
names one, or exactly one certificate (its SHA-256 pinned) for a self-signed server. FFmpeg
publishes plain RTSP to a loopback port of this link, which accepts only a connection from
a socket of its own account, verifies a fresh TLS connection to the target for it, and
copies bytes both ways. A certificate that fails is refused before a byte of RTSP is sent,
and the attempt fails with `certificate_rejected` and the reason.

Every attempt checks the target first (`preflight`), so a wrong certificate fails at once,
before the camera is even asked; the connection that carries the stream is verified again
when FFmpeg connects, which can be seconds later (the camera's probe comes first) and
would otherwise be an idle connection MediaMTX may close.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.model import Target
from ucvd.domain.urls import scheme_of
from ucvd.relay.ffmpeg.classify import Endpoint

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


def needs_link(target: Target) -> bool:
    return scheme_of(target.rtsp_url) == "rtsps"


class LinkRefused(Exception):
    """The target could not be reached over verified TLS; `fault` says why, for people."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def trust_words(target: Target) -> str:
    if target.tls_fingerprint:
        return "the pinned certificate"
    if target.tls_ca_file:
        return f"the CA file {target.tls_ca_file}"
    return "the system's CAs"


def context_for(target: Target) -> ssl.SSLContext:
    """The client context a target asks for. Raises LinkRefused (config_error) when its CA
    file cannot be used."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if target.tls_fingerprint:
        # The pin is the identity: no CA signs a self-signed certificate, and its name may
        # be anything. The certificate is compared right after the handshake.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif target.tls_ca_file:
        try:
            ctx.load_verify_locations(cafile=target.tls_ca_file)
        except (OSError, ssl.SSLError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LinkRefused(
                Fault(
                    ErrorKind.CONFIG_ERROR,
                    f"cannot use the TLS CA file {target.tls_ca_file}: {why} (it must be a "
                    "PEM file the ucvd account can read)",
                )
            ) from None
    else:
        ctx.load_default_certs()
    return ctx


async def connect_verified(target: Target, timeout_s: float) -> TLSStream:
    """A TLS connection to the target whose certificate passed; LinkRefused otherwise."""
    endpoint = Endpoint.of(target.rtsp_url)
    host, port, where = endpoint.host, endpoint.port, str(endpoint)
    ctx = context_for(target)
    stream: TLSStream | None = None
    try:
        with anyio.fail_after(timeout_s):
            tcp = await anyio.connect_tcp(host, port)
            try:
                stream = await TLSStream.wrap(
                    tcp,
                    hostname=host,
                    ssl_context=ctx,
                    standard_compatible=False,
                )
            except BaseException:
                await anyio.aclose_forcefully(tcp)
                raise
    except ssl.SSLCertVerificationError as exc:
        raise LinkRefused(
            Fault(
                ErrorKind.CERTIFICATE_REJECTED,
                f"MediaMTX {where}'s TLS certificate is not trusted: "
                f"{exc.verify_message or exc.reason} (checked against {trust_words(target)}); "
                "refused before sending anything",
            )
        ) from None
    except ssl.SSLError as exc:
        raise LinkRefused(
            Fault(
                ErrorKind.MEDIAMTX_UNREACHABLE,
                f"TLS handshake with MediaMTX {where} failed: {exc.reason or exc} (is it "
                "its RTSPS port, with encryption on?)",
            )
        ) from None
    except TimeoutError:
        raise LinkRefused(
            Fault(
                ErrorKind.MEDIAMTX_UNREACHABLE,
                f"cannot reach MediaMTX {where} over TLS: no answer within {timeout_s:g} s",
            )
        ) from None
    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        why = _why(cause)
        raise LinkRefused(
            Fault(ErrorKind.MEDIAMTX_UNREACHABLE, f"cannot reach MediaMTX {where}: {why}")
        ) from None
    if target.tls_fingerprint:
        der = stream.extra(TLSAttribute.peer_certificate_binary)  # noqa: S610
        seen = hashlib.sha256(der or b"").hexdigest()
        if seen != target.tls_fingerprint:
            await anyio.aclose_forcefully(stream)
            raise LinkRefused(
                Fault(
                    ErrorKind.CERTIFICATE_REJECTED,
                    f"MediaMTX {where} presented a certificate with SHA-256 {seen}, not the "
                    f"pinned {target.tls_fingerprint}; refused before sending anything",
                )
            )
    return stream


def _why(cause: BaseException) -> str:
    """An operator's words for a failed connection."""
    if isinstance(cause, socket.gaierror):  # its errno is negative: os.strerror cannot say
        return f"cannot resolve the host name ({cause.strerror or cause})".lower()
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno).lower()
    return "the connection closed"


async def preflight(target: Target, timeout_s: float) -> None:
    """Check the target's certificate now; LinkRefused when it does not pass."""
    stream = await connect_verified(target, timeout_s)
    await anyio.aclose_forcefully(stream)


# /proc/net/tcp prints an IPv4 address as the 32-bit word in the host's byte order.
_LOOPBACK_HEX = f"{struct.unpack('=I', socket.inet_aton(LOOPBACK))[0]:08X}"
_ESTABLISHED = "01"


def owner_uid(table: str, client_port: int, server_port: int) -> int | None:
    """The uid owning the open IPv4 loopback socket 127.0.0.1:client_port connected to
    127.0.0.1:server_port, from the text of /proc/net/tcp; None when there is none.

    Only an established socket with an inode counts: one its owner already closed lingers
    (FIN_WAIT2, TIME_WAIT) with uid 0 and inode 0, which would pass for root's."""
    local = f"{_LOOPBACK_HEX}:{client_port:04X}"
    remote = f"{_LOOPBACK_HEX}:{server_port:04X}"
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[1] != local or fields[2] != remote:
            continue
        if fields[3] == _ESTABLISHED and fields[9] != "0":
            return int(fields[7])
    return None


def _peer_uid(client_port: int, server_port: int) -> int | None:
    # /proc/self/net rather than /proc/net: the unit's ProcSubset=pid leaves only the
    # processes' own directories.
    try:
        table = Path("/proc/self/net/tcp").read_text(encoding="ascii")
    except OSError:
        return None
    return owner_uid(table, client_port, server_port)


@dataclass
class TlsLink:
    """One attempt's link: `port` is where FFmpeg publishes; `fault` is set when the link,
    not FFmpeg, is why the publication ended (the certificate changed since the preflight,
    the target went away before FFmpeg connected)."""

    target: Target
    timeout_s: float
    listener: anyio.abc.SocketListener
    port: int = 0
    fault: Fault | None = None
    strangers: int = 0  # connections from other accounts, closed unanswered

    async def serve(self) -> None:
        """Accept FFmpeg's connection (only one, only from this account), then carry it."""
        me = os.geteuid()
        async with self.listener:
            while True:
                local = await self.listener.accept()
                peer = local.extra(anyio.abc.SocketAttribute.remote_address)  # noqa: S610
                peer_port = peer[1] if isinstance(peer, tuple) else 0
                if _peer_uid(int(peer_port), self.port) == me:
                    break
                # Another account on this machine: it must not borrow our verified link, nor
                # take FFmpeg's place on it.
                self.strangers += 1
                await anyio.aclose_forcefully(local)
        async with local:
            try:
                remote = await connect_verified(self.target, self.timeout_s)
            except LinkRefused as exc:
                self.fault = exc.fault
                return
            async with remote, anyio.create_task_group() as tg:
                tg.start_soon(_copy, local, remote, tg.cancel_scope)
                tg.start_soon(_copy, remote, local, tg.cancel_scope)


async def _copy(
    source: anyio.abc.ByteReceiveStream,
    sink: anyio.abc.ByteSendStream,
    scope: anyio.CancelScope,
) -> None:
    """One direction; when either side ends, the whole link ends (RTSP over TCP has no use
    for a half-closed connection)."""
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError, ssl.SSLError):
        while True:
            await sink.send(await source.receive(CHUNK))
    scope.cancel()


@contextlib.asynccontextmanager
async def open_link(target: Target, timeout_s: float) -> AsyncIterator[TlsLink]:
    """A link for one attempt: the target checked, a loopback port listening for FFmpeg
    (connections wait in its backlog until the caller runs `serve` in a task group of its
    own, so that its errors are not wrapped in this one's). Raises LinkRefused when the
    check fails. The port is closed on leaving."""
    await preflight(target, timeout_s)
    listeners = await anyio.create_tcp_listener(local_host=LOOPBACK, local_port=0)
    listener = listeners.listeners[0]  # one address, 127.0.0.1, so one listener
    assert isinstance(listener, anyio.abc.SocketListener)
    link = TlsLink(target, timeout_s, listener)
    link.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))  # noqa: S610
    async with listener:
        yield link
