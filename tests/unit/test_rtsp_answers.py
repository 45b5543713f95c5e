"""`target check`'s question, asked of a local server: does RTSP answer there?"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest

from ucvd.discovery.rtsp_probe import answers


@contextmanager
def server(reply: bytes | None) -> Iterator[tuple[int, list[bytes]]]:
    """Accept one connection, read the request, answer `reply` (None: stay silent)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)
    heard: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return
        with conn:
            heard.append(conn.recv(4096))
            if reply is not None:
                conn.sendall(reply)
            else:
                done.wait(5)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1], heard
    finally:
        done.set()
        thread.join(10)
        listener.close()
    assert not thread.is_alive(), "the stand-in server never finished"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: MediaMTX\r\n\r\n", True),
        (b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n", True),  # any status line counts
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", False),
        (b"", False),  # closed without a word
    ],
)
def test_an_rtsp_status_line_is_an_answer(reply: bytes, expected: bool) -> None:
    with server(reply) as (port, heard):
        assert anyio.run(answers, "127.0.0.1", port) is expected
    assert heard == [
        f"OPTIONS rtsp://127.0.0.1:{port}/ RTSP/1.0\r\nCSeq: 1\r\n"
        "User-Agent: ucvd-check\r\n\r\n".encode()
    ]


def test_a_name_is_looked_up() -> None:
    with server(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n") as (port, heard):
        assert anyio.run(answers, "localhost", port)
    assert heard[0].startswith(f"OPTIONS rtsp://localhost:{port}/ ".encode())


def test_silence_and_refusal_are_no_answer() -> None:
    with server(None) as (port, heard):
        assert not anyio.run(lambda: answers("127.0.0.1", port, timeout_s=0.2))
    assert len(heard) == 1 and heard[0].startswith(b"OPTIONS ")  # asked, and never answered
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert not anyio.run(answers, "127.0.0.1", port)
