"""One FFmpeg child process, run the way supervision needs it
(docs/architecture.md §3).

- Spawned from the event-loop thread through `setpriv --pdeathsig KILL`, in its own process
  group, with a minimal environment (no systemd variables; `LC_ALL=C` so that the error
  text the classifier reads is the English one).
- Both pipes are drained while the process lives (a full pipe freezes FFmpeg): stderr by
  a task throughout, stdout as below, and whatever is left when it exits. stdout carries
  `-progress` blocks, stderr is split on CR and LF, redacted, and the last
  lines are kept for `ucvctl logs` and for the classifier.
- stdout is a pipe of our own, non-blocking, so that its reader can change: a task that
  waits for each block while the attempt starts (confirmation should not wait), then,
  once the stream is live, whoever calls `read_progress` (the supervisor's check on the
  shared ticker, once a second). A live camera then costs no wake-up of its own for its
  progress, and a block is one read and one parse of the newest block. The pipe holds
  64 KiB, minutes of blocks, so a reader a second late loses nothing, and neither does
  the short while between an attempt's verdict and its FFmpeg's stop, when nobody reads.
- Stopping climbs a ladder: `q` on stdin, then SIGTERM, then SIGKILL, each to the whole
  group, and always ends with the process reaped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc

from ucvd.domain.urls import redact
from ucvd.relay.ffmpeg.lines import StderrLines
from ucvd.relay.ffmpeg.progress import ProgressBlock, ProgressParser

STDERR_LINES = 200
READ_SIZE = 65536  # a pipe's whole buffer: one read takes all of it
# The environment variable that marks our children, so that a restarted daemon can find
# the FFmpeg processes a crashed one left behind.
TAG_VARIABLE = "UCVD_RELAY_TAG"


_line_numbers = itertools.count(1)


@dataclass(frozen=True)
class LogLine:
    at: float  # wall-clock time the line was read
    text: str  # redacted
    seq: int = field(default_factory=lambda: next(_line_numbers))  # for `ucvctl logs -f`


class SpawnError(RuntimeError):
    """The process could not be started at all (missing binary, no setpriv...)."""


def child_environment(tag: str | None) -> dict[str, str]:
    """Only what FFmpeg needs: PATH, a C locale, and our tag. Nothing of systemd's."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LC_ALL": "C"}
    if tag:
        env[TAG_VARIABLE] = tag
    return env


async def run_once(
    argv: Sequence[str], deadline_s: float
) -> subprocess.CompletedProcess[bytes] | None:
    """A short-lived FFmpeg or ffprobe (a probe, a picture) run to its end: under setpriv's
    parent-death signal so it never outlives the daemon, in the children's environment, its
    output collected. None if it ran past `deadline_s` (it is killed); OSError if it could
    not start."""
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    with anyio.move_on_after(deadline_s):
        return await anyio.run_process([*prefix, *argv], check=False, env=child_environment(None))
    return None


def last_words(
    result: subprocess.CompletedProcess[bytes], program: str, secrets: Sequence[str]
) -> str:
    """Why a run failed, for people: its last line on stderr, redacted, at most 300 characters."""
    lines = [ln for ln in result.stderr.decode(errors="replace").splitlines() if ln.strip()]
    reason = lines[-1] if lines else f"{program} exited with code {result.returncode}"
    return redact(reason, secrets)[:300]


class FFmpegProcess:
    """A running FFmpeg; use through `FFmpegProcess.run(...)`."""

    def __init__(
        self,
        process: anyio.abc.Process,
        secrets: Sequence[str],
        on_progress: Callable[[ProgressBlock], None],
        lines: deque[LogLine],
        progress_fd: int = -1,
    ) -> None:
        self._process = process
        self._progress_fd = progress_fd  # the read end of stdout's pipe, non-blocking
        self._parser = ProgressParser()
        self._progress_by_calls = False  # read_progress is called: no task waits for it
        self._secrets = tuple(secrets)
        self._on_progress = on_progress
        self.lines = lines  # shared across a publication's processes, for `ucvctl logs`
        self.own_lines: deque[LogLine] = deque(maxlen=STDERR_LINES)  # this process only
        self.stop_requested = False
        self._exited = anyio.Event()
        self._stdout_done = anyio.Event()
        self._stderr_done = anyio.Event()
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    @contextlib.asynccontextmanager
    async def run(
        cls,
        argv: Sequence[str],
        *,
        secrets: Sequence[str] = (),
        on_progress: Callable[[ProgressBlock], None],
        lines: deque[LogLine] | None = None,
        tag: str | None = None,
        stop_grace_s: tuple[float, float] = (2.0, 3.0),
    ) -> AsyncIterator[FFmpegProcess]:
        """Spawn, drain while the block runs, and on leaving stop and reap, always.

        `lines` may be passed in so that a publication keeps one buffer across restarts.
        """
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SpawnError("setpriv (util-linux) is missing; it guards against orphan FFmpegs")
        progress_fd, child_stdout = os.pipe()
        try:
            os.set_blocking(progress_fd, False)
            process = await anyio.open_process(
                [setpriv, "--pdeathsig", "KILL", "--", *argv],
                stdout=child_stdout,
                env=child_environment(tag),
                start_new_session=True,
            )
        except BaseException as exc:  # a cancellation mid-spawn too: no fd left behind
            os.close(progress_fd)
            if isinstance(exc, OSError):
                raise SpawnError(f"could not start FFmpeg: {exc.strerror or exc}") from exc
            raise
        finally:
            os.close(child_stdout)  # the child has its copy: EOF comes when it exits
        proc = cls(
            process,
            secrets,
            on_progress,
            lines if lines is not None else deque(maxlen=STDERR_LINES),
            progress_fd,
        )
        try:
            async with anyio.create_task_group() as tg:
                # Shielded: draining and reaping must go on while the stop ladder runs after
                # a cancellation; they end by themselves when the process is gone.
                for task in (proc._drain_stdout, proc._drain_stderr, proc._reap):
                    tg.start_soon(_shielded, task)
                try:
                    yield proc
                finally:
                    with anyio.CancelScope(shield=True):
                        await proc.stop(*stop_grace_s)
        finally:
            # Whatever happened above (even a cancellation mid-spawn), no child is left.
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with anyio.CancelScope(shield=True):
                    await process.wait()
            proc._close_progress()

    async def _reap(self) -> None:
        self.returncode = await self._process.wait()
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    async def finished(self) -> int:
        """Wait for the exit *and* for both pipes to be read to the end, so that the last
        stderr lines (the ones that explain the exit) are in `lines`."""
        code = await self.wait()
        # Its end of the pipe closed with it (setpriv execs FFmpeg, which starts no child):
        # what it wrote and the EOF are there to read now.
        self.read_progress(to_end=True)
        while not self._stdout_done.is_set():  # a guard: not seen to be needed
            await anyio.sleep(0.1)
            self.read_progress(to_end=True)
        await self._stderr_done.wait()
        return code

    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    async def _drain_stdout(self) -> None:
        """Wait for each progress block while the attempt starts, until `read_progress_by_calls`."""
        while not self._progress_by_calls and not self._stdout_done.is_set():
            await anyio.wait_readable(self._progress_fd)
            self.read_progress(to_end=True)

    def read_progress_by_calls(self) -> None:
        """From now on progress is read by calling `read_progress` (at least every few
        seconds), and no task waits for it. The waiting task leaves at the next block."""
        self._progress_by_calls = True

    def read_progress(self, *, to_end: bool = False) -> None:
        """Read what FFmpeg has written without waiting, and hand on the newest block;
        `to_end`: read on until the pipe says it is empty or at its end."""
        if self._stdout_done.is_set():
            return
        chunks = []
        while True:
            try:
                chunk = os.read(self._progress_fd, READ_SIZE)
            except BlockingIOError:
                break
            if not chunk:
                self._stdout_done.set()  # EOF: the process is gone
                break
            chunks.append(chunk)
            if len(chunk) < READ_SIZE and not to_end:
                break  # all there was (a second read would only say so, at a cost)
        block = self._parser.feed(b"".join(chunks)) if chunks else None
        if block is not None:
            self._on_progress(block)

    def _close_progress(self) -> None:
        self._stdout_done.set()
        if self._progress_fd >= 0:
            os.close(self._progress_fd)
            self._progress_fd = -1

    async def _drain_stderr(self) -> None:
        assert self._process.stderr is not None
        lines = StderrLines()
        try:
            async for chunk in self._process.stderr:
                for line in lines.feed(chunk):
                    self._keep(line)
            for line in lines.close():
                self._keep(line)
        finally:
            self._stderr_done.set()

    def _keep(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        line = LogLine(at=time.time(), text=redact(text, self._secrets))
        self.lines.append(line)
        self.own_lines.append(line)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    async def stop(self, q_grace_s: float = 2.0, term_grace_s: float = 3.0) -> int:
        """`q`, then SIGTERM, then SIGKILL to the group; returns once the process is reaped.

        Never more than those two signals: a third makes FFmpeg exit without cleanup.
        """
        self.stop_requested = True
        if self.running and self._process.stdin is not None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self._process.stdin.send(b"q")
        ladder: tuple[tuple[int | None, float | None], ...] = (
            (None, q_grace_s),
            (signal.SIGTERM, term_grace_s),
            (signal.SIGKILL, None),
        )
        for sig, grace in ladder:
            if not self.running:
                break
            if sig is not None:
                self._signal(sig)
            with anyio.move_on_after(grace):
                await self._exited.wait()
        await self._exited.wait()
        # No group kill after the reap: the pid (and so the group id) may be reused by now.
        # FFmpeg starts no children of its own, so the group died with its leader.
        assert self.returncode is not None
        return self.returncode


async def _shielded(task: Callable[[], Awaitable[None]]) -> None:
    with anyio.CancelScope(shield=True):
        await task()


def tagged_processes(prefix: str) -> dict[str, list[int]]:
    """Live processes whose environment carries a tag starting with `prefix`, by tag (one
    tag per camera of one daemon); zombies have no environment and do not count."""
    needle = f"{TAG_VARIABLE}={prefix}".encode()
    found: dict[str, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:  # noqa: PTH123 - hot loop
                variables = f.read().split(b"\0")
        except OSError:
            continue
        for v in variables:
            if v.startswith(needle):
                tag = v.decode(errors="replace").split("=", 1)[1]
                found.setdefault(tag, []).append(int(entry.name))
    return found


def find_tagged(tag: str, *, prefix: bool = False) -> list[int]:
    """PIDs of live processes whose environment carries our tag (left by a crashed ucvd);
    with `prefix`, every tag that starts with `tag` (all the cameras of one daemon)."""
    return [
        pid
        for found, pids in tagged_processes(tag).items()
        if prefix or found == tag
        for pid in pids
    ]
