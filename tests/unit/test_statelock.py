"""The state directory's lock: one daemon per state, named when refused, never stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ucvd.host.statelock import LOCK_NAME, StateLock, StateLocked


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = StateLock.acquire(state)
    with pytest.raises(StateLocked) as refused:
        StateLock.acquire(state)
    message = str(refused.value)
    assert f"another ucvd (pid {os.getpid()}) is using the state directory {state}" in message
    assert "--state-dir" in message
    first.release()
    StateLock.acquire(state).release()  # free again once released


def test_the_directory_is_created_private(tmp_path: Path) -> None:
    state = tmp_path / "a" / "state"
    StateLock.acquire(state).release()
    assert state.is_dir() and (state.stat().st_mode & 0o777) == 0o700
    assert ((state / LOCK_NAME).stat().st_mode & 0o777) == 0o600


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, pathlib; from ucvd.host.statelock import StateLock;"
         f"StateLock.acquire(pathlib.Path({str(state)!r})); print('held', flush=True);"
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StateLocked, match=f"pid {holder.pid}"):
            StateLock.acquire(state)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        StateLock.acquire(state).release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_children_never_inherit_the_lock(tmp_path: Path) -> None:
    """A daemon killed while its FFmpegs still run must not keep its successor out."""
    state = tmp_path / "state"
    lock = StateLock.acquire(state)
    child = subprocess.Popen(["sleep", "60"], close_fds=False)  # inherits what may be inherited
    try:
        lock.release()
        StateLock.acquire(state).release()
    finally:
        child.kill()
        child.wait()


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateLocked, match="cannot create the state directory"):
        StateLock.acquire(blocker / "state")
