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
from tests.harness.waiting import WaitTimeout, wait_until
from ucvd.relay.ffmpeg.process import TAG_VARIABLE

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


# While a process execs, the kernel swaps in the new program's memory before it writes the
# program's arguments and environment there: for that moment /proc/PID/cmdline and
# /proc/PID/environ read empty, and the name (comm) may still be the old one. A spawn returns
# inside that window (Popen waits for the exec to begin, not to end), and every child of ucvd
# and of the harness goes through two execs: `setpriv`, then its program. Code that looks for
# a process right after starting it waits with `wait_exec`; leak checks count the processes
# on their way to the name they look for (`pids_of(..., becoming=True)`, `tagged`).
_PF_KTHREAD = 0x00200000
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of a process's start time in /proc
_SPAWN_S = 10.0  # a process this young without argv may be mid-spawn
WRAPPER = "setpriv"  # execs the program named after its "--" (ucvd's FFmpegs, every Proc)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:  # noqa: PTH123 - read for every process in /proc
            return f.read()
    except OSError:  # gone, or never ours to read
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw.decode(errors="replace").rsplit(")", 1)[-1].split()
    return fields if len(fields) > 6 else None


def _comm(pid: int) -> str | None:
    raw = _read(f"/proc/{pid}/comm")
    return None if raw is None else raw.decode(errors="replace").strip()


def _live_user_process(pid: int) -> bool:
    """Alive (not a zombie) and not a kernel thread (those have no argv, ever)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z" and not int(fields[6]) & _PF_KTHREAD


def _in_exec(pid: int) -> bool:
    """Caught between an exec's memory swap and the new program's arguments. Only a young
    process counts: a spawn execs within milliseconds of its fork, and an older process
    without arguments was started without any (waiting for it would slow every check)."""
    if _read(f"/proc/{pid}/cmdline") != b"":
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z" or int(fields[6]) & _PF_KTHREAD:
        return False
    uptime = float((_read("/proc/uptime") or b"0").split()[0])
    return uptime - int(fields[19]) / _CLOCK_TICKS < _SPAWN_S


def _settle(pids: set[int], timeout: float = 2.0) -> None:
    """Wait until none of `pids` is inside an exec any more (a matter of microseconds, or
    more on a loaded machine); the caller then reads them as they are."""
    if pids:
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not any(_in_exec(pid) for pid in pids), timeout=timeout,
                       interval=0.001, what="exec to end")  # fmt: skip


def _comm_is(comm: str | None, name: str) -> bool:
    return comm is not None and comm == name[:15]  # the kernel keeps 15 characters of it


def runs(pid: int, name: str) -> bool:
    """Is `pid` alive and running `name`, its exec over (argv and environment readable)?"""
    return (
        _live_user_process(pid)
        and _comm_is(_comm(pid), name)
        and bool(_read(f"/proc/{pid}/cmdline"))
    )


def wait_exec(pid: int, name: str, timeout: float = 5.0) -> None:
    """Wait until a freshly spawned `pid` runs `name`: past `setpriv` (whose parent-death
    signal is then armed) and past the exec, so /proc shows its name, argv and environment."""

    def ran() -> bool:
        if runs(pid, name):
            return True
        if not _live_user_process(pid):
            raise HarnessError(f"process {pid} exited before it ran {name}")
        return False

    wait_until(ran, timeout=timeout, interval=0.001,
               what=lambda: f"process {pid} to exec {name} (now {_comm(pid)!r})")  # fmt: skip


def argv_of(pid: int) -> list[str]:
    """The command line of `pid`; empty when it is gone, a kernel thread, or mid-exec."""
    raw = _read(f"/proc/{pid}/cmdline")
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def _becomes(pid: int, name: str) -> bool:
    """Is `pid` a `setpriv` that will exec `name` next?"""
    if _comm(pid) != WRAPPER:
        return False
    argv = argv_of(pid)
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    return bool(rest) and Path(rest[0]).name == name


def pids_of(executable_name: str, *, becoming: bool = False) -> set[int]:
    """PIDs of live (non-zombie) processes whose executable is `executable_name`.

    Reads /proc directly so leak checks see the truth, not what a helper remembers. With
    `becoming` (for leak checks, which must not pass because a leak was caught mid-spawn),
    also the processes on their way to it: a `setpriv` that execs it next, and a process
    caught inside an exec, once that exec is over.
    """
    found: set[int] = set()
    pending: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None or fields[0] == "Z":
            continue
        if _comm_is(_comm(pid), executable_name):
            found.add(pid)
        elif becoming and _in_exec(pid):
            pending.add(pid)
        elif becoming and _becomes(pid, executable_name):
            found.add(pid)
    _settle(pending)
    for pid in pending:
        if _live_user_process(pid) and (
            _comm_is(_comm(pid), executable_name) or _becomes(pid, executable_name)
        ):
            found.add(pid)
    return found


def tagged(prefix: str) -> dict[str, list[int]]:
    """`ucvd.relay.ffmpeg.process.tagged_processes`, for checks that must not miss one: a
    process caught inside an exec (its environment not yet readable) is read again once the
    exec is over. Zombies have no environment and do not count."""
    needle = f"{TAG_VARIABLE}={prefix}".encode()
    found: dict[str, list[int]] = {}

    def look(pid: int) -> bool:
        """Records `pid` if tagged; False when it cannot tell yet (mid-exec)."""
        environ = _read(f"/proc/{pid}/environ")
        if not environ:
            return not (environ == b"" and _in_exec(pid))
        for variable in environ.split(b"\0"):
            if variable.startswith(needle):
                tag = variable.decode(errors="replace").split("=", 1)[1]
                found.setdefault(tag, []).append(pid)
        return True

    pending = {
        int(entry.name)
        for entry in os.scandir("/proc")
        if entry.name.isdigit() and not look(int(entry.name))
    }
    _settle(pending)
    for pid in pending:
        look(pid)
    return found


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
