"""ucvd's TLS link on its own: a TLS echo server of the test's, the real link, and a
connection from another account (uid 65534, so run as root)."""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.harness import tls
from tests.integration.test_daemon import NOBODY
from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.model import Target
from ucvd.domain.urls import fingerprint
from ucvd.relay.tlslink import LinkRefused, open_link

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="connects as another account")

KNOCK = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"let me through")
try:
    print(len(s.recv(100)))
except ConnectionResetError:
    print(0)
"""


def refusal(target: Target) -> Fault:
    """The fault opening a link to `target` fails with (the test fails if it opens)."""

    async def main() -> Fault:
        with pytest.raises(LinkRefused) as refused:
            async with open_link(target, 5.0):
                pytest.fail("the link opened")
        return refused.value.fault

    return anyio.run(main)


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[tuple[int, tls.CertPair]]:
    """A TLS server that echoes what it receives, one connection at a time."""
    pair = tls.self_signed(tmp_path, "echo")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as wrapped:
                    while data := wrapped.recv(4096):
                        wrapped.sendall(data)
            except (OSError, ssl.SSLError):
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], pair
    stop.set()
    thread.join(5)
    listener.close()


def test_only_this_account_may_use_the_link(echo_server: tuple[int, tls.CertPair]) -> None:
    port, pair = echo_server
    target = Target(name="t", rtsp_url=f"rtsps://127.0.0.1:{port}",
                    tls_fingerprint=fingerprint(pair.fingerprint()))  # fmt: skip

    async def main() -> None:
        async with open_link(target, 5.0) as link, anyio.create_task_group() as tg:
            tg.start_soon(link.serve)
            knock = await anyio.run_process(
                [*NOBODY, sys.executable, "-c", KNOCK, str(link.port)], check=False
            )
            assert knock.stdout.decode().strip() == "0", knock.stderr  # closed, no echo
            assert link.strangers == 1
            async with await anyio.connect_tcp("127.0.0.1", link.port) as mine:
                await mine.send(b"hello through the link")
                with anyio.fail_after(5):
                    assert await mine.receive() == b"hello through the link"
            assert link.fault is None
            tg.cancel_scope.cancel()

    anyio.run(main)


KNOCK_AND_GO = """
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()
"""


def test_a_stranger_that_connects_and_leaves_does_not_take_ffmpegs_place(
    echo_server: tuple[int, tls.CertPair],
) -> None:
    """A socket closed by its owner lingers in /proc/net/tcp as uid 0: it must not pass for
    this account's (the test runs as root, as the harness's daemons do)."""
    port, pair = echo_server
    target = Target(name="t", rtsp_url=f"rtsps://127.0.0.1:{port}",
                    tls_fingerprint=fingerprint(pair.fingerprint()))  # fmt: skip

    async def main() -> None:
        async with open_link(target, 5.0) as link, anyio.create_task_group() as tg:
            await anyio.run_process([*NOBODY, sys.executable, "-c", KNOCK_AND_GO, str(link.port)])
            tg.start_soon(link.serve)
            with anyio.fail_after(10):
                while link.strangers < 1:
                    await anyio.sleep(0.01)
            async with await anyio.connect_tcp("127.0.0.1", link.port) as mine:
                await mine.send(b"still mine")
                with anyio.fail_after(5):
                    assert await mine.receive() == b"still mine"
            tg.cancel_scope.cancel()

    anyio.run(main)


def test_a_wrong_pin_is_refused_at_once(echo_server: tuple[int, tls.CertPair]) -> None:
    port, pair = echo_server
    pin = fingerprint(pair.fingerprint())
    wrong = pin[:-1] + ("0" if pin[-1] != "0" else "1")
    fault = refusal(Target(name="t", rtsp_url=f"rtsps://127.0.0.1:{port}", tls_fingerprint=wrong))
    assert fault.kind is ErrorKind.CERTIFICATE_REJECTED
    assert f"SHA-256 {pin}, not the pinned {wrong}" in fault.message


def test_an_unreadable_ca_file_is_a_configuration_error(
    echo_server: tuple[int, tls.CertPair], tmp_path: Path
) -> None:
    port, _pair = echo_server
    missing = tmp_path / "nowhere.pem"
    fault = refusal(
        Target(name="t", rtsp_url=f"rtsps://127.0.0.1:{port}", tls_ca_file=str(missing))
    )
    assert fault.kind is ErrorKind.CONFIG_ERROR
    assert f"cannot use the TLS CA file {missing}: No such file" in fault.message


def test_a_port_that_is_not_tls_is_said_so(tmp_path: Path) -> None:
    plain = socket.create_server(("127.0.0.1", 0))
    port = plain.getsockname()[1]

    def answer_garbage() -> None:
        conn, _ = plain.accept()
        conn.recv(4096)
        conn.sendall(b"RTSP/1.0 400 Bad Request\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    fault = refusal(Target(name="t", rtsp_url=f"rtsps://127.0.0.1:{port}"))
    assert fault.kind is ErrorKind.MEDIAMTX_UNREACHABLE
    assert "TLS handshake with MediaMTX 127.0.0.1:" in fault.message
    assert "is it its RTSPS port" in fault.message
    thread.join(5)
    plain.close()
