"""The control socket with real Unix sockets and real peers (including another uid)."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from ucvd.api.jsonrpc import RpcError
from ucvd.control.server import AccessPolicy, Connection, ControlServer, Method

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class EchoParams(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    delay_s: float = 0.0


ECHOING: dict[str, anyio.Event] = {}  # by text: set once a handler for it is running


async def echo(params: EchoParams, _conn: Connection) -> dict[str, str]:
    if params.text in ECHOING:
        ECHOING[params.text].set()
    await anyio.sleep(params.delay_s)
    return {"echo": params.text}


class Empty(msgspec.Struct):
    pass


async def refuse(_params: Empty, _conn: Connection) -> None:
    raise RpcError.domain("not_found", "no such camera 'x'")


async def crash(_params: Empty, _conn: Connection) -> None:
    raise ValueError("secret internals")


async def subscribe(_params: Empty, conn: Connection) -> str:
    conn.subscribed = True
    for i in range(10_000):  # far more than the outbox holds, faster than anyone reads
        if not conn.push(b'{"jsonrpc":"2.0","method":"events.tick","params":{"i":%d}}\n' % i):
            break
    return "subscribed"


LISTENERS: list[Connection] = []


async def listen(_params: Empty, conn: Connection) -> str:
    """Subscribes and returns; the flood comes later, from outside (as events do)."""
    conn.subscribed = True
    LISTENERS.append(conn)
    return "subscribed"


class Gate:
    """`test.hold` calls wait here until released: connections whose call is running."""

    def __init__(self) -> None:
        self._entered, self.entered = anyio.create_memory_object_stream[Connection](64)
        self.released = anyio.Event()

    async def hold(self, conn: Connection) -> str:
        self._entered.send_nowait(conn)
        await self.released.wait()
        return "released"

    async def wait_held(self, count: int) -> None:
        with anyio.fail_after(5):
            for _ in range(count):
                await self.entered.receive()


GATES: list[Gate] = []  # the running test's, from the `gate` fixture


async def hold(_params: Empty, conn: Connection) -> str:
    return await GATES[-1].hold(conn)


METHODS = {
    "test.echo": Method(EchoParams, echo),
    "test.hold": Method(Empty, hold),
    "test.listen": Method(Empty, listen),
    "test.refuse": Method(Empty, refuse),
    "test.crash": Method(Empty, crash),
    "test.subscribe": Method(Empty, subscribe),
}


class Peer:
    """A blocking client on a real socket, driven from a worker thread."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> dict[str, Any]:
        line = self.file.readline()
        assert line, "connection closed"
        result: dict[str, Any] = json.loads(line)
        return result

    def call(self, method: str, params: Any = None, id_: int = 1) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "method": method, "id": id_}
        if params is not None:
            message["params"] = params
        self.send(json.dumps(message).encode() + b"\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


async def in_thread(fn: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(fn)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A directory other uids can traverse (pytest's own tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ucvd-control-"))
    path.chmod(0o755)  # traversable; the socket inside carries the permissions under test
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    GATES.append(Gate())
    yield GATES[-1]
    GATES.pop().released.set()


@pytest.fixture
async def server(socket_dir: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(
        path=socket_dir / "run" / "ucvd.sock",
        methods=METHODS,
        policy=AccessPolicy(own_uid=os.getuid(), operator_gid=None),
        max_connections=4,
        max_message_bytes=4096,
        idle_timeout_s=1.0,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(srv.serve)
        yield srv
        tg.cancel_scope.cancel()


async def test_socket_is_0660(server: ControlServer) -> None:
    mode = stat.S_IMODE(server.path.stat().st_mode)
    assert stat.S_ISSOCK(server.path.stat().st_mode) and mode == 0o660


async def test_calls_and_errors(server: ControlServer) -> None:
    def talk() -> list[dict[str, Any]]:
        peer = Peer(server.path)
        try:
            out = [
                peer.call("test.echo", {"text": "hi"}),
                peer.call("test.refuse", id_=2),
                peer.call("test.crash", id_=3),
                peer.call("no.such", id_=4),
                peer.call("test.echo", {"text": 5}, id_=5),
            ]
            peer.send(b"garbage\n")
            out.append(peer.reply())
            peer.send(
                b'{"jsonrpc":"2.0","method":"test.echo","params":{"text":"n"}}\n'
            )  # notification
            out.append(peer.call("test.echo", {"text": "after"}, id_=6))
            return out
        finally:
            peer.close()

    ok, refused, crashed, unknown, bad, garbage, after = await in_thread(talk)
    assert ok == {"jsonrpc": "2.0", "id": 1, "result": {"echo": "hi"}}
    assert refused["error"] == {"code": -32000, "message": "no such camera 'x'",
                                "data": {"kind": "not_found"}}  # fmt: skip
    assert crashed["error"] == {"code": -32603, "message": "internal error"}
    assert "secret internals" not in json.dumps(crashed)
    assert unknown["id"] == 4 and unknown["error"]["code"] == -32601
    assert bad["id"] == 5 and bad["error"]["code"] == -32602 and "$.text" in bad["error"]["message"]
    assert garbage["id"] is None and garbage["error"]["code"] == -32700
    assert after["id"] == 6  # the notification got no reply; the next request did


async def test_oversized_line_then_service_resumes(server: ControlServer) -> None:
    def talk() -> tuple[dict[str, Any], dict[str, Any]]:
        peer = Peer(server.path)
        try:
            peer.send(b"x" * 10_000 + b"\n")
            too_big = peer.reply()
            return too_big, peer.call("test.echo", {"text": "still here"})
        finally:
            peer.close()

    too_big, after = await in_thread(talk)
    assert too_big["error"]["data"]["kind"] == "message_too_large"
    assert after["result"] == {"echo": "still here"}


async def test_connection_limit_and_idle_timeout(server: ControlServer, gate: Gate) -> None:
    """Every slot subscribed or calling, none idle to make room: a newcomer is `busy`."""
    peers = [Peer(server.path) for _ in range(4)]
    try:
        for peer in peers[:2]:
            assert (await in_thread(partial(peer.call, "test.listen")))["result"]
        for peer in peers[2:]:
            peer.send(b'{"jsonrpc":"2.0","method":"test.hold","id":1}\n')
        await gate.wait_held(2)

        def knock() -> dict[str, Any]:
            extra = Peer(server.path)
            try:
                return extra.reply()
            finally:
                extra.close()

        refused = await in_thread(knock)
        gate.released.set()
        assert (await in_thread(peers[2].reply))["result"] == "released"
        # An idle connection is closed by the daemon after idle_timeout_s (1 s).
        after_idle = await in_thread(peers[2].file.readline)
    finally:
        for peer in peers:
            peer.close()
    assert refused["error"]["data"]["kind"] == "busy"
    assert after_idle == b""


async def test_one_slow_call_does_not_block_other_connections(server: ControlServer) -> None:
    def slow() -> dict[str, Any]:
        peer = Peer(server.path)
        try:
            return peer.call("test.echo", {"text": "slow", "delay_s": 0.8})
        finally:
            peer.close()

    def fast() -> float:
        peer = Peer(server.path)
        try:
            started = time.monotonic()
            assert peer.call("test.echo", {"text": "fast"})["result"] == {"echo": "fast"}
            return time.monotonic() - started
        finally:
            peer.close()

    ECHOING["slow"] = slow_running = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(in_thread, slow)
        with anyio.fail_after(5):
            await slow_running.wait()
        took = await in_thread(fast)
    assert took < 0.5


async def test_a_subscriber_that_does_not_read_is_dropped(server: ControlServer) -> None:
    def talk() -> bytes:
        peer = Peer(server.path)
        try:
            peer.send(b'{"jsonrpc":"2.0","method":"test.subscribe","id":1}\n')
            data = b""
            while chunk := peer.sock.recv(65536):  # read only after the flood: dropped
                data += chunk
            return data
        finally:
            peer.close()

    data = await in_thread(talk)
    lines = data.splitlines()
    assert 0 < len(lines) < 10_000  # the daemon gave up on us instead of buffering
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert json.loads(lines[-1])["error"]["data"]["kind"] == "too_slow"  # and said why


async def test_a_subscriber_dropped_between_requests_is_told_and_hung_up_on(
    server: ControlServer,
) -> None:
    """Events overflow a subscriber while the server waits for its next request: it must
    not be left on a silent socket (`ucvctl watch` would hang there for ever)."""
    LISTENERS.clear()
    flooded = anyio.Event()
    peer = Peer(server.path)
    try:
        assert (await in_thread(lambda: peer.call("test.listen")))["result"] == "subscribed"
        (conn,) = LISTENERS
        sent = 0
        while conn.push(b'{"jsonrpc":"2.0","method":"events.tick","params":{}}\n'):
            sent += 1  # nobody reads meanwhile: the outbox and the socket buffer fill
        flooded.set()

        def drain() -> list[bytes]:
            peer.sock.settimeout(10)  # a silent, open socket fails here instead of hanging
            return peer.file.read().splitlines()  # to EOF: the server must hang up

        lines = await in_thread(drain)
    finally:
        peer.close()
    assert flooded.is_set() and 0 < sent < 10_000
    last = json.loads(lines[-1])
    assert last["id"] is None and last["error"]["data"]["kind"] == "too_slow"
    assert "dropped" in last["error"]["message"]
    assert len(lines) == sent + 1  # everything queued still reached a peer that reads


ECHO_CLIENT = (
    "import json, socket, sys\n"
    "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
    's.sendall(b\'{"jsonrpc":"2.0","method":"test.echo","params":{"text":"x"},"id":1}\\n\')\n'
    "print(s.makefile().readline(), end='')\n"
)


async def echo_as_nobody(server: ControlServer, *groups: str) -> dict[str, Any]:
    """One `test.echo` from uid/gid 65534 with these supplementary groups, past the
    filesystem (socket 0666), so that the daemon's credential check alone decides."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a client under another uid")
    server.path.chmod(0o666)
    server.path.parent.chmod(0o755)
    group_args = ["--groups", ",".join(groups)] if groups else ["--clear-groups"]
    result = await anyio.run_process(
        ["setpriv", "--reuid", "65534", "--regid", "65534", *group_args,
         sys.executable, "-c", ECHO_CLIENT, str(server.path)],
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply


async def test_another_uid_is_refused(server: ControlServer) -> None:
    reply = await echo_as_nobody(server)
    assert reply["error"]["data"]["kind"] == "permission_denied"
    assert "uid 65534" in reply["error"]["message"]


async def test_a_member_of_the_operator_group_by_supplementary_group_is_allowed(
    server: ControlServer,
) -> None:
    """Operators have the group as a supplementary one; SO_PEERCRED only carries the
    primary group, so the daemon must read SO_PEERGROUPS (and never /proc, which the unit
    hides). Group 4242 exists nowhere, which does not matter to the kernel."""
    server.policy = AccessPolicy(own_uid=os.getuid(), operator_gid=4242)
    assert (await echo_as_nobody(server, "4241", "4242"))["result"] == {"echo": "x"}
    reply = await echo_as_nobody(server, "4241")
    assert reply["error"]["data"]["kind"] == "permission_denied"


async def test_default_permissions_keep_other_uids_out(
    server: ControlServer, tmp_path: Path
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run a client under another uid")
    server.path.parent.chmod(0o755)
    result = await anyio.run_process(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable,
         "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
         str(server.path)],
        check=False,
    )  # fmt: skip
    assert result.returncode != 0 and b"PermissionError" in result.stderr


async def test_a_second_server_refuses_to_steal_the_socket(server: ControlServer) -> None:
    second = ControlServer(path=server.path, methods=METHODS, policy=server.policy)
    with pytest.raises(OSError, match="already serving"):
        await second.serve()


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens

    async def main() -> None:
        policy = AccessPolicy(own_uid=os.getuid(), operator_gid=None)
        srv = ControlServer(path=path, methods=METHODS, policy=policy)
        async with anyio.create_task_group() as tg:
            await tg.start(srv.serve)
            reply = await in_thread(lambda: Peer(path).call("test.echo", {"text": "new"}))
            assert reply["result"] == {"echo": "new"}
            tg.cancel_scope.cancel()
        assert not path.exists()  # removed on the way out

    anyio.run(main)


HOLD = b'{"jsonrpc":"2.0","method":"test.hold","id":1}\n'


async def test_at_the_limit_the_connection_idle_longest_makes_room(
    server: ControlServer, gate: Gate
) -> None:
    """A newcomer at the limit is let in by closing the connection idle the longest (no call
    running, not subscribed, oldest last byte), which is told `busy` and hung up on. A
    subscriber and a running call are never taken, however long ago they last spoke."""
    server.idle_timeout_s = 30.0  # only eviction closes anything here
    LISTENERS.clear()
    subscriber, holder, older, newer = peers = [Peer(server.path) for _ in range(4)]
    try:
        assert (await in_thread(lambda: subscriber.call("test.listen")))["result"]
        holder.send(HOLD)
        await gate.wait_held(1)
        for peer in (older, newer):
            assert (await in_thread(partial(peer.call, "test.echo", {"text": "x"})))["result"]
        # `older` connected after the subscriber and the holder, and spoke before `newer`.
        newcomer = await in_thread(lambda: Peer(server.path))
        peers.append(newcomer)
        admitted = await in_thread(lambda: newcomer.call("test.echo", {"text": "in"}))
        told = await in_thread(older.reply)
        hung_up = await in_thread(older.file.readline)
        # The others are untouched: events flow, the call completes, `newer` still works.
        (listener,) = LISTENERS
        assert listener.push(b'{"jsonrpc":"2.0","method":"events.tick","params":{}}\n')
        tick = await in_thread(subscriber.reply)
        gate.released.set()
        released = await in_thread(holder.reply)
        still = await in_thread(lambda: newer.call("test.echo", {"text": "y"}, id_=2))
    finally:
        for peer in peers:
            peer.close()
    assert admitted["result"] == {"echo": "in"}, admitted
    assert told["id"] is None and told["error"]["data"]["kind"] == "busy", told
    assert "idle" in told["error"]["message"]
    assert hung_up == b""
    assert tick["method"] == "events.tick"
    assert released["result"] == "released"
    assert still["result"] == {"echo": "y"}


async def test_a_started_request_line_must_finish_within_the_line_timeout(
    server: ControlServer,
) -> None:
    """Half a request, then silence, or a line trickled a byte at a time: answered
    `too_slow` and closed once `line_timeout_s` has passed since the line's first byte,
    long before the idle timeout. A line sent in pieces in time is answered as usual."""
    server.idle_timeout_s = 30.0
    server.line_timeout_s = 0.5

    def half_then_silence() -> tuple[dict[str, Any], bytes, float]:
        peer = Peer(server.path)
        try:
            started = time.monotonic()
            peer.send(b'{"jsonrpc":"2.0","id":1,"meth')
            told = peer.reply()
            return told, peer.file.readline(), time.monotonic() - started
        finally:
            peer.close()

    def trickle() -> tuple[dict[str, Any], float]:
        peer = Peer(server.path)
        line = b'{"jsonrpc":"2.0","method":"test.echo","params":{"text":"' + b"x" * 1000
        try:
            started = time.monotonic()
            for byte in line:  # one byte every 20 ms, never silent for long
                if select.select([peer.sock], [], [], 0.02)[0]:
                    break  # the daemon has spoken
                peer.send(bytes([byte]))
            return peer.reply(), time.monotonic() - started
        finally:
            peer.close()

    def in_pieces() -> dict[str, Any]:
        peer = Peer(server.path)
        try:
            peer.send(b'{"jsonrpc":"2.0","id":7,"meth')
            peer.send(b'od":"test.echo","params":{"text":"whole"}}\n')
            return peer.reply()
        finally:
            peer.close()

    told, eof, took = await in_thread(half_then_silence)
    trickled, trickle_took = await in_thread(trickle)
    whole = await in_thread(in_pieces)
    assert told["id"] is None and told["error"]["data"]["kind"] == "too_slow", told
    assert "not finished within 0.5 s" in told["error"]["message"]
    assert eof == b""
    assert 0.5 <= took < 5 and 0.5 <= trickle_took < 5  # the line timeout, not the idle one
    assert trickled["error"]["data"]["kind"] == "too_slow", trickled
    assert whole == {"jsonrpc": "2.0", "id": 7, "result": {"echo": "whole"}}


STRANGER = (
    "import json, socket, sys\n"
    "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)\n"
    's.sendall(b\'{"jsonrpc":"2.0","method":"test.echo","params":{"text":"x"},"id":1}\\n\')\n'
    "f = s.makefile('rb')\n"
    "print(f.readline().decode(), end='', flush=True)\n"
    "try:\n"
    "    print(json.dumps({'hung_up': f.read() == b''}), flush=True)\n"
    "except TimeoutError:\n"
    "    print(json.dumps({'hung_up': False}), flush=True)\n"
)


async def test_a_caller_refused_by_its_credentials_holds_no_slot(server: ControlServer) -> None:
    """A stranger is answered `permission_denied` and hung up on at once: it never takes a
    slot, so as many allowed callers as `max_connections` still get in beside it."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a client under another uid")
    server.idle_timeout_s = 30.0
    server.path.chmod(0o666)
    server.path.parent.chmod(0o755)
    stranger = await anyio.open_process(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
         sys.executable, "-c", STRANGER, str(server.path)],
    )  # fmt: skip
    peers: list[Peer] = []
    try:
        assert stranger.stdout is not None
        out = BufferedByteReceiveStream(stranger.stdout)
        with anyio.fail_after(10):
            refused = json.loads(await out.receive_until(b"\n", 65536))
        # The daemon has answered it: on a server that kept it, it holds a slot by now.
        for _ in range(server.max_connections):
            peers.append(peer := await in_thread(lambda: Peer(server.path)))
            reply = await in_thread(partial(peer.call, "test.listen"))  # never evicted
            assert reply.get("result") == "subscribed", reply
        with anyio.fail_after(15):
            after = json.loads(await out.receive_until(b"\n", 65536))
    finally:
        for peer in peers:
            peer.close()
        if stranger.returncode is None:
            stranger.kill()
        await stranger.aclose()
    assert refused["error"]["data"]["kind"] == "permission_denied", refused
    assert "uid 65534" in refused["error"]["message"]
    assert after == {"hung_up": True}
