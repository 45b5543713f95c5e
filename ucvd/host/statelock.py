"""One daemon per state directory: an exclusive lock taken before anything else.

A second `ucvd` started beside the service (`sudo ucvd` with the default paths) used to get
as far as killing every FFmpeg tagged with that state directory, as if a crashed
predecessor had left them, and closing the running sessions as `interrupted`, before it
found the socket taken. The lock makes it refuse first, touching nothing.

`flock` on `ucvd.lock` in the state directory: the kernel drops it when the holder dies,
however it dies, so a crash never leaves a stale lock. The descriptor is opened
close-on-exec, so FFmpeg children never hold it: a daemon killed with SIGKILL whose FFmpegs
outlive it for a moment must not keep its successor out. The holder writes its pid into the
file, only so that the refusal can name it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

LOCK_NAME = "ucvd.lock"


class StateLocked(RuntimeError):
    """Another process holds the state directory, or the lock cannot be taken at all."""


class StateLock:
    """Held from `acquire` until `release` or the process's end."""

    def __init__(self, fd: int | None, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path) -> StateLock:
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateLocked(f"cannot create the state directory {state_dir}: {exc}") from None
        path = state_dir / LOCK_NAME
        try:
            fd = _open(path)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS):
                # A state directory this daemon cannot write: the database refuses it next,
                # with the precise reason, before anything is touched.
                return cls(None, path)
            raise StateLocked(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"another ucvd (pid {holder})" if holder else "another ucvd"
            raise StateLocked(
                f"{who} is using the state directory {state_dir}; stop it first "
                "(systemctl stop ucvd), or give this one its own --state-dir"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateLocked(f"cannot lock {path}: {exc.strerror}") from None
        with contextlib.suppress(OSError):  # read-only descriptor: the pid is a courtesy
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _open(path: Path) -> int:
    """Read-write, created if missing; an existing file read-only when that is all we may
    (flock needs no write access)."""
    flags = os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(path, flags | os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        return os.open(path, flags | os.O_RDONLY)
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        return os.open(path, flags | os.O_RDONLY)


def _read_pid(fd: int) -> int | None:
    """The holder's pid as it wrote it; None if it has not yet (or the file is not ours)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
