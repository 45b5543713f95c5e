"""Socket activation: which descriptors are ours, and what a passed socket must be."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ucvd.host.activation import (
    SD_LISTEN_FDS_START,
    ActivationError,
    listen_fds,
    socket_path,
    take_inherited,
)


@pytest.mark.parametrize(
    ("environ", "fds"),
    [
        ({"LISTEN_PID": "42", "LISTEN_FDS": "1"}, [3]),
        ({"LISTEN_PID": "42", "LISTEN_FDS": "2"}, [3, 4]),
        ({"LISTEN_PID": "41", "LISTEN_FDS": "1"}, []),  # meant for another process
        ({"LISTEN_FDS": "1"}, []),
        ({"LISTEN_PID": "42", "LISTEN_FDS": "x"}, []),
        ({"LISTEN_PID": "42", "LISTEN_FDS": "0"}, []),
        ({}, []),
    ],
)
def test_listen_fds(environ: dict[str, str], fds: list[int]) -> None:
    assert listen_fds(environ, 42) == fds


@pytest.fixture
def at_fd3() -> Iterator[None]:
    """Descriptor 3 free for the test to place a socket on, restored afterwards."""
    saved = None
    with contextlib.suppress(OSError):
        saved = os.dup(SD_LISTEN_FDS_START)
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, SD_LISTEN_FDS_START)
            os.close(saved)
        else:
            with contextlib.suppress(OSError):
                os.close(SD_LISTEN_FDS_START)


def _place_at_fd3(sock: socket.socket) -> None:
    os.dup2(sock.fileno(), SD_LISTEN_FDS_START, inheritable=True)
    sock.close()


def test_a_passed_unix_listener_is_taken_and_the_variables_removed(
    tmp_path: Path, at_fd3: None
) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "s.sock"))
    listener.listen()
    _place_at_fd3(listener)
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "ucvd.socket"}
    taken = take_inherited(env)
    assert taken is not None
    assert env == {}
    assert socket_path(taken) == str(tmp_path / "s.sock")
    assert not taken.get_inheritable()  # FFmpeg children never get it
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(tmp_path / "s.sock"))
    client.close()
    taken.detach()  # the fixture closes descriptor 3


def test_nothing_passed_is_none_and_variables_for_others_are_removed() -> None:
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    assert take_inherited(env) is None
    assert env == {}


@pytest.mark.parametrize("kind", ["tcp", "unix_not_listening", "datagram"])
def test_a_wrong_socket_is_refused_clearly(tmp_path: Path, at_fd3: None, kind: str) -> None:
    if kind == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    elif kind == "datagram":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(tmp_path / "d.sock"))
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _place_at_fd3(sock)
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"}
    with pytest.raises(ActivationError, match="listening Unix stream socket"):
        take_inherited(env)


def test_more_than_one_socket_is_refused() -> None:
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2"}
    with pytest.raises(ActivationError, match="exactly one"):
        take_inherited(env)
