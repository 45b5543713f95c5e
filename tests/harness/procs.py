"""Child processes that can never outlive the test run.

Every process the harness starts goes through `ProcessRegistry.spawn`, which gives it

- its own process group, so that stopping it also stops anything it started;
- a parent-death signal (`setpriv --pdeathsig KILL`), so that a test runner killed with
  SIGKILL still takes its children down with it (the kernel sends the signal when the
  spawning *thread* exits, hence the rule below);
- a log file instead of pipes, so a chatty child can never block on a full pipe.

Spawn only from the main thread: a child spawned from a worker thread would be killed the
moment that thread ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.errors import HarnessError
from tests.harness.waiting import wait_until

# Variables a systemd-supervised parent would pass on; a child must never inherit them.
_SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID")


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages that explain themselves."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Proc:
    """One child process and the log file that holds its stdout and stderr."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the whole process group, only while the leader is unreaped.

        An unreaped leader (alive, or a zombie) keeps its pid, and so the group id, from
        being reused; once it is reaped, a group signal could hit a stranger.
        """
        if self.popen.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def freeze(self) -> None:
        """SIGSTOP the group and return once every thread of the leader has stopped: the
        signal is delivered asynchronously, and a Go server's network thread may answer
        one more request in between (seen on a loaded machine)."""
        self.signal_group(signal.SIGSTOP)
        wait_until(self._stopped, timeout=5, interval=0.01, what=f"{self.name} to stop")

    def _stopped(self) -> bool:
        states = []
        for task in Path(f"/proc/{self.popen.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        return bool(states) and all(state in ("T", "t") for state in states)

    def thaw(self) -> None:
        self.signal_group(signal.SIGCONT)

    def _exited(self) -> bool:
        """Has the leader exited? Looks without reaping it (WNOWAIT)."""
        if self.popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def stop(self, grace: float = 5.0) -> int:
        """SIGTERM, wait up to `grace`, then SIGKILL; always reaps. Returns the exit code."""
        # A frozen process cannot act on SIGTERM; wake it first.
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.kill()

    def kill(self) -> int:
        """SIGKILL the group (anything the leader started goes too), then reap."""
        if self.popen.returncode is None:
            self.signal_group(signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOWAIT)
            self.signal_group(signal.SIGKILL)  # leader is a zombie now: the group id is ours
        return self.popen.wait()


class ProcessRegistry:
    """Owns every child of a test session or demo; `close()` leaves none behind."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: list[Proc] = []
        self._setpriv = shutil.which("setpriv")
        if self._setpriv is None:
            raise HarnessError("setpriv (util-linux) not found; run `make deps`")
        self._counter = 0

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdin: int | None = subprocess.DEVNULL,
        extra_env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> Proc:
        """`extra_env` is applied after systemd's variables are removed from `env`, so a
        test can play systemd (NOTIFY_SOCKET, WATCHDOG_USEC) on purpose."""
        if threading.current_thread() is not threading.main_thread():
            raise HarnessError("spawn from the main thread only (parent-death signal)")
        self._counter += 1
        log_path = self.log_dir / f"{self._counter:03d}-{name}.log"
        child_env = dict(os.environ if env is None else env)
        for var in _SYSTEMD_VARS:
            child_env.pop(var, None)
        child_env.update(extra_env or {})
        full_argv = [str(self._setpriv), "--pdeathsig", "KILL", "--", *argv]
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                full_argv,
                stdin=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=cwd,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
            )
        proc = Proc(name=name, argv=list(argv), popen=popen, log_path=log_path)
        self._procs.append(proc)
        return proc

    def live(self) -> Iterator[Proc]:
        return (p for p in self._procs if p.alive())

    def close(self) -> None:
        """Stop everything still running: TERM all at once, then KILL what remains."""
        live = [p for p in self._procs if p.popen.returncode is None]
        for proc in live:
            proc.signal_group(signal.SIGCONT)
            proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while any(not p._exited() for p in live) and time.monotonic() < deadline:
            time.sleep(0.02)
        for proc in live:
            proc.kill()
        self._procs.clear()

    def __enter__(self) -> ProcessRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pids_of(executable_name: str) -> set[int]:
    """PIDs of live (non-zombie) processes whose executable is `executable_name`.

    Reads /proc directly so leak checks see the truth, not what a helper remembers.
    """
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if comm == executable_name and state != "Z":
            found.add(int(entry.name))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def ours_or_orphaned(pid: int, root: int) -> bool:
    """True when `pid` descends from `root`, or was orphaned (re-parented to init).

    Leak checks use this to ignore other programs' processes on a shared machine while
    still catching the children a dead parent left behind.
    """
    seen = 0
    while pid > 1 and seen < 64:
        fields = _stat_fields(pid)
        if fields is None:
            return False
        ppid = int(fields[1])
        if ppid == root:
            return True
        if ppid == 1:
            return seen == 0
        pid, seen = ppid, seen + 1
    return False


def wait_gone(pids: set[int], timeout: float = 5.0) -> None:
    """Wait until none of `pids` is alive (zombies count as gone)."""

    def gone() -> bool:
        return not any(_alive(pid) for pid in pids)

    wait_until(gone, timeout=timeout, what=f"processes {sorted(pids)} to exit")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"
