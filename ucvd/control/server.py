"""The control socket: a Unix-socket JSON-RPC server that nothing on the socket can crash.

Who may call (docs/architecture.md §4): the socket is created 0660 (the umask is set around `bind`,
so it never exists with looser permissions) and handed to the operator group; on top of
that, every connection's `SO_PEERCRED` is checked against an allowlist (root, the daemon's
own uid, members of the operator group), and anyone else is answered `permission_denied`
at once and closed: a stranger holds no connection slot.

What a peer can cost: one of at most `max_connections` slots, `max_message_bytes` per
line, `LINE_TIMEOUT_S` to finish a line once its first byte came, `idle_timeout_s` of
silence (except while subscribed to events), and a bounded queue of outgoing messages: a
subscriber that does not read is dropped, never waited for. A slot is not held for good:
when all are taken, a newcomer is let in by closing the connection idle the longest (no
call running, not subscribed, oldest last byte), which is told `busy`; only when every
slot is calling or subscribed is the newcomer answered `busy`. So connections that a
leaking script opens and forgets, or half-sent requests, never lock `ucvctl` out. Nor do
they exhaust the daemon's file descriptors: when accept() runs out of them, the idlest
connection is closed and new ones wait in the backlog; the server never ends over it.

Requests on one connection are answered in order; connections run side by side.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.api.jsonrpc import (
    MAX_MESSAGE_BYTES,
    Code,
    DomainKind,
    LineSplitter,
    Request,
    RpcError,
    decode_params,
    encode_error,
    encode_result,
    parse_request,
)
from ucvd.api.protocol import READ_ONLY_METHODS

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 256  # messages queued for one peer before it counts as not reading
DROP_GRACE_S = 2.0  # how long a closed peer gets to take its queue and the reason
# A request line must be complete this long after its first byte. ucvctl writes each
# request with one sendall, and even the largest line allowed (16 MiB) crosses a Unix
# socket in well under a second on a loaded machine; so a line still unfinished after
# 5 s comes from a writer that stalled, not a slow one. Meanwhile it holds a slot and up to
# max_message_bytes of buffer, which is what the deadline bounds (the slot can also be
# taken over: such a peer is idle, see `_evict_idlest`).
LINE_TIMEOUT_S = 5.0
# A refused peer (busy, permission_denied) is answered at once, then given this long to
# finish writing its request before it is closed: closing on unread bytes would reset the
# connection, and a client still writing would see EPIPE instead of reading the answer.
REFUSAL_S = 1.0
# accept() failed for want of file descriptors (or kernel memory) and no connection could
# be closed to free one: wait this long before trying again; pending peers wait in the
# backlog. These errors pass as sockets close; any other accept() error is a real fault.
ACCEPT_RETRY_S = 0.5
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Evictions and failed accepts come in floods when a script misbehaves: one log line per
# this long says so (with a count) without flooding the journal.
LOG_EVERY_S = 10.0


# Linux's SO_PEERGROUPS (4.13+): the peer's supplementary groups, taken when it connected.
# Python names it only from 3.12 on.
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_GID = struct.Struct("I")


class Caller(msgspec.Struct, frozen=True):
    pid: int
    uid: int
    gid: int
    groups: frozenset[int] = frozenset()


def _peer_groups(sock: socket.socket) -> frozenset[int]:
    """The peer's supplementary groups, from the kernel rather than /proc, so that the check
    still works when the unit hides other users' processes (ProtectProc=invisible)."""
    for slots in (64, 65536):
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, slots * _GID.size)
        except OSError:
            continue  # ERANGE: more groups than slots; other errors: none known
        return frozenset(g for (g,) in _GID.iter_unpack(raw))
    return frozenset()


def peer_credentials(sock: socket.socket) -> Caller:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Caller(pid=pid, uid=uid, gid=gid, groups=_peer_groups(sock))


def give_to_group(path: Path, gid: int) -> None:
    """Hand the socket to the operator group; the daemon's user must belong to it."""
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        log.warning("cannot give the socket to the operator group (is the daemon's user a "
                    "member?); only root and the daemon's user may use it", gid=gid)  # fmt: skip


@dataclass(frozen=True)
class AccessPolicy:
    """Root, the daemon's own user, and members of the operator group; among the last, the
    read-only accounts may call only the methods that change nothing."""

    own_uid: int
    operator_gid: int | None
    read_only_uids: frozenset[int] = frozenset()

    @classmethod
    def for_group(cls, group: str | None, read_only_users: Iterable[str] = ()) -> AccessPolicy:
        gid = None
        if group:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                log.warning("operator group does not exist; only root and the daemon's user "
                            "may use the socket", group=group)  # fmt: skip
        uids = set()
        for name in read_only_users:
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                continue  # an account that does not exist cannot call
        own = os.getuid()
        return cls(own_uid=own, operator_gid=gid, read_only_uids=frozenset(uids - {0, own}))

    def may_call(self, caller: Caller, method: str) -> bool:
        return caller.uid not in self.read_only_uids or method in READ_ONLY_METHODS

    def allows(self, caller: Caller) -> bool:
        if caller.uid in (0, self.own_uid):
            return True
        if self.operator_gid is None:
            return False
        return caller.gid == self.operator_gid or self.operator_gid in caller.groups


@dataclass
class _Throttle:
    """At most one log line per LOG_EVERY_S for an event that can come in floods."""

    _last: float = float("-inf")
    _unlogged: int = 0

    def due(self) -> int:
        """Count this occurrence: 0 if it goes unlogged, else how many there were since
        the last line, this one included."""
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last < LOG_EVERY_S:
            return 0
        count, self._unlogged, self._last = self._unlogged, 0, now
        return count


class Connection:
    """One peer. Handlers use it to push notifications (events) after their reply."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.subscribed = False  # no idle timeout while events flow; never evicted
        self.calling = False  # a method is running for it: not idle, never evicted
        self.last_active = time.monotonic()  # last byte received or reply produced
        self._send, self.outbox = anyio.create_memory_object_stream[bytes](OUTBOX_SIZE)
        self.closed = anyio.Event()
        self.finished = anyio.Event()  # its socket is closed: its file descriptor is free
        self.dropped = False  # for not reading: told so, then hung up on
        # The last message for a peer closed by the server (dropped, evicted, too slow):
        # sent after its queue, then it is hung up on within DROP_GRACE_S.
        self.farewell: bytes | None = None

    @property
    def gone(self) -> bool:
        return self.closed.is_set()

    def push(self, message: bytes) -> bool:
        """Queue a message; a peer too slow to take it is dropped. False once dropped."""
        if self.closed.is_set():
            return False
        try:
            self._send.send_nowait(message)
        except anyio.WouldBlock:
            log.warning("dropping a connection that does not read", pid=self.caller.pid)
            self.dropped = True
            self.close(RpcError.domain(
                "too_slow", f"dropped: more than {OUTBOX_SIZE} messages were waiting to be read"
            ))  # fmt: skip
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def close(self, farewell: RpcError | None = None) -> None:
        if self.closed.is_set():
            return
        if farewell is not None:
            self.farewell = encode_error(farewell)
        self.closed.set()
        self._send.close()


@dataclass(frozen=True)
class Method:
    params: type[Any]
    call: Callable[[Any, Connection], Awaitable[Any]]


@dataclass
class ControlServer:
    path: Path
    methods: Mapping[str, Method]
    policy: AccessPolicy
    max_connections: int = 64
    max_message_bytes: int = MAX_MESSAGE_BYTES
    idle_timeout_s: float = 300.0
    line_timeout_s: float = LINE_TIMEOUT_S
    # A listening socket systemd passed (ucvd.socket): served as it is, never unlinked,
    # since systemd owns its name, group and mode and keeps it open across restarts.
    inherited: socket.socket | None = None
    _connections: set[Connection] = field(default_factory=set)
    _closing: bool = False
    _evictions: _Throttle = field(default_factory=_Throttle)
    _accept_failures: _Throttle = field(default_factory=_Throttle)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        listener = await self._listen()
        async with listener, anyio.create_task_group() as tg:
            task_status.started()
            try:
                await self._accept_all(listener, tg)
            finally:
                self._closing = True
                for conn in list(self._connections):
                    conn.close()
                if self.inherited is None:
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()

    @property
    def owns_path(self) -> bool:
        """False when systemd made the socket: then its group is the unit's business."""
        return self.inherited is None

    async def _listen(self) -> anyio.abc.SocketListener:
        if self.inherited is not None:
            return await anyio.abc.SocketListener.from_socket(self.inherited)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if await _answers(self.path):
                raise OSError(f"another process is already serving {self.path}")
            self.path.unlink()  # left by a daemon that died
        old = os.umask(0o117)  # the socket is born 0660; never looser, not even for an instant
        try:
            listener = await anyio.create_unix_listener(self.path)
        finally:
            os.umask(old)
        if self.policy.operator_gid is not None:
            give_to_group(self.path, self.policy.operator_gid)
        return listener

    async def _accept_all(
        self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup
    ) -> None:
        """Accept for ever. Running out of file descriptors is waited out, never fatal: an
        exception here would end the daemon, FFmpegs and all, over a crowd of idle peers."""
        while True:
            try:
                stream = await listener.accept()
            except (anyio.BrokenResourceError, OSError) as exc:
                cause = exc if isinstance(exc, OSError) else exc.__cause__
                if not isinstance(cause, OSError) or cause.errno not in _OUT_OF_RESOURCES:
                    raise
                if count := self._accept_failures.due():
                    log.warning("out of file descriptors or memory: new control connections "
                                "wait", error=os.strerror(cause.errno), times=count)  # fmt: skip
                victim = self._evict_idlest(f"accept() failed: {os.strerror(cause.errno)}")
                if victim is None:
                    await anyio.sleep(ACCEPT_RETRY_S)
                else:
                    with anyio.move_on_after(DROP_GRACE_S + ACCEPT_RETRY_S):
                        await victim.finished.wait()
                continue
            tg.start_soon(self._handle, stream)

    def _admit(self, conn: Connection) -> RpcError | None:
        """Take a slot for `conn`, or say why not. A stranger is refused before it can hold
        one; at the limit, the idlest connection makes room."""
        if self._closing:
            return RpcError.domain("busy", "the daemon is stopping")
        if not self.policy.allows(conn.caller):
            return RpcError.domain(
                DomainKind.PERMISSION_DENIED,
                f"uid {conn.caller.uid} may not use this socket (root, the daemon's user "
                "and the operator group may)",
            )
        while len(self._connections) >= self.max_connections:  # > after a reload lowered it
            if self._evict_idlest("a new connection needed its slot") is None:
                return RpcError.domain("busy", "too many connections; try again shortly")
        self._connections.add(conn)
        return None

    def _evict_idlest(self, why: str) -> Connection | None:
        """Close the connection idle the longest, telling it `busy`. Idle: no call running,
        not subscribed (a subscriber that stops reading is dropped by its outbox instead),
        oldest last byte; a half-sent line counts as idle since its last byte."""
        idle = [c for c in self._connections
                if not (c.calling or c.subscribed or c.closed.is_set())]  # fmt: skip
        if not idle:
            return None
        victim = min(idle, key=lambda c: c.last_active)
        self._connections.discard(victim)  # its slot is free now, its socket soon
        idle_s = round(time.monotonic() - victim.last_active, 1)
        if count := self._evictions.due():
            log.info("closed the idlest control connection", reason=why, pid=victim.caller.pid,
                     idle_s=idle_s, times=count)  # fmt: skip
        victim.close(RpcError.domain(
            "busy", f"connection closed after {idle_s:g} s idle: {why} "
            f"(at most {self.max_connections} connections)"
        ))  # fmt: skip
        return victim

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)  # noqa: S610 - not Django
            conn = Connection(peer_credentials(raw))
            refusal = self._admit(conn)
            if refusal is not None:
                await self._refuse(stream, refusal)
                return
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._write, stream, conn, tg.cancel_scope)
                    tg.start_soon(self._hang_up_after_farewell, conn, tg.cancel_scope)
                    await self._read(stream, conn)
                    conn.close()
            except Exception:
                # Every connection runs in the server's task group: an exception that
                # escaped here would end the daemon. Lose this peer, never the others.
                log.exception("connection dropped after an unexpected error", pid=conn.caller.pid)
            finally:
                self._connections.discard(conn)
        conn.finished.set()

    @staticmethod
    async def _refuse(stream: anyio.abc.SocketStream, refusal: RpcError) -> None:
        """Answer before the request is read (the reply has no id: ucvctl, like any client
        that reads after writing, takes an id-less error as the answer to its call), read and
        drop the request's first line, close. Holds no slot, and a socket for REFUSAL_S."""
        gone = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
        with contextlib.suppress(*gone), anyio.move_on_after(REFUSAL_S):
            await stream.send(encode_error(refusal))
            await stream.send_eof()
            while b"\n" not in await stream.receive():
                pass

    async def _write(
        self, stream: anyio.abc.SocketStream, conn: Connection, scope: anyio.CancelScope
    ) -> None:
        """Send what is queued until the connection closes, then hang up: a peer the server
        closes (dropped for not reading, evicted, too slow to finish a line) is told why and
        disconnected, instead of left waiting on a silent socket (a subscriber's reader
        would otherwise block for ever, since subscribers have no idle timeout)."""
        try:
            async for message in conn.outbox:
                await stream.send(message)
            if conn.farewell is not None:
                await stream.send(conn.farewell)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            conn.close()
        scope.cancel()  # the read side ends with the connection

    @staticmethod
    async def _hang_up_after_farewell(conn: Connection, scope: anyio.CancelScope) -> None:
        """A peer the server closes gets its queue and the reason if it reads; one that does
        not read at all would block the writer for ever, so it is cut off after a grace."""
        await conn.closed.wait()
        if conn.farewell is not None:
            await anyio.sleep(DROP_GRACE_S)
            scope.cancel()

    async def _read(self, stream: anyio.abc.SocketStream, conn: Connection) -> None:
        splitter = LineSplitter(self.max_message_bytes)
        line_started: float | None = None  # when the line under way began to arrive
        while not conn.closed.is_set():
            chunk = b""
            with anyio.move_on_after(self._read_wait(conn, line_started)):
                try:
                    chunk = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
            if conn.closed.is_set():
                return  # evicted meanwhile, say: it was told `busy`, so nothing it sent may run
            if not chunk:
                if line_started is not None:
                    conn.close(RpcError(
                        Code.INVALID_REQUEST,
                        f"request line not finished within {self.line_timeout_s:g} s",
                        "too_slow",
                    ))  # fmt: skip
                return  # idle for too long, or the line under way stalled
            conn.last_active = time.monotonic()
            if not await self._answer_lines(splitter.feed(chunk), conn):
                return
            if not splitter.partial:
                line_started = None
            elif line_started is None or b"\n" in chunk:
                # A new line began in this chunk; its clock starts once we listen again,
                # not while the lines before it were being answered.
                line_started = time.monotonic()

    def _read_wait(self, conn: Connection, line_started: float | None) -> float | None:
        """How long the next read may wait: what is left of the time to finish the line
        under way, if one is; else the idle timeout (none for a subscriber)."""
        if line_started is not None:
            return line_started + self.line_timeout_s - time.monotonic()
        return None if conn.subscribed else self.idle_timeout_s

    async def _answer_lines(self, lines: list[bytes], conn: Connection) -> bool:
        """Answer complete lines in order; False once the connection is closed."""
        for line in lines:
            if line == LineSplitter.TOO_LONG:
                conn.push(encode_error(RpcError(
                    Code.INVALID_REQUEST, "message too large", DomainKind.MESSAGE_TOO_LARGE
                )))  # fmt: skip
                continue
            if conn.closed.is_set():
                return False
            conn.calling = True  # set with no await since the check: eviction skips it
            try:
                reply = await self._answer(line, conn)
            finally:
                conn.calling = False
                conn.last_active = time.monotonic()
            if reply is not None and not conn.push(reply):
                return False
        return True

    async def _answer(self, line: bytes, conn: Connection) -> bytes | None:
        """The reply to one complete line (None for a notification): every line that is not
        a well-formed notification is answered, whatever it holds."""
        try:
            request = parse_request(line, self.max_message_bytes)
        except RpcError as exc:
            return encode_error(exc)
        except Exception:  # a decoder bug must cost one error reply, not the connection
            log.exception("request could not be decoded")
            return encode_error(RpcError(Code.INTERNAL_ERROR, "internal error"))
        request_id = None if isinstance(request.id, msgspec.UnsetType) else request.id
        try:
            result = await self._dispatch(request, conn)
        except RpcError as exc:
            reply = encode_error(exc, request_id)
        except Exception:
            log.exception("method failed", method=request.method)
            reply = encode_error(RpcError(Code.INTERNAL_ERROR, "internal error"), request_id)
        else:
            reply = encode_result(request_id, result)
        return None if request.is_notification else reply

    async def _dispatch(self, request: Request, conn: Connection) -> Any:
        method = self.methods.get(request.method)
        if method is None:
            raise RpcError(Code.METHOD_NOT_FOUND, f"unknown method {request.method[:80]!r}")
        if not self.policy.may_call(conn.caller, request.method):
            raise RpcError.domain(
                "permission_denied",
                f"uid {conn.caller.uid} may only read (daemon.read_only_users): "
                f"{request.method} is refused",
            )
        return await method.call(decode_params(request, method.params), conn)


async def _answers(path: Path) -> bool:
    """Is something accepting connections on this socket path right now?"""
    try:
        stream = await anyio.connect_unix(path)
    except OSError:
        return False
    await stream.aclose()
    return True
