"""The process runner with real child processes: draining, redaction, the stop ladder."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.harness.waiting import wait_until_async
from ucvd.relay.ffmpeg.process import TAG_VARIABLE, FFmpegProcess, SpawnError, find_tagged
from ucvd.relay.ffmpeg.progress import ProgressBlock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# A child's line on stderr once it has done its setup: only then is it past `setpriv` and
# its own exec, with its signal handlers installed and its environment readable in /proc.
READY = "import sys\nsys.stderr.write('ready\\n')\nsys.stderr.flush()\n"


async def ready(proc: FFmpegProcess) -> None:
    await wait_until_async(
        lambda: any(line.text == "ready" for line in proc.own_lines),
        timeout=10,
        what=lambda: f"the child to say ready (said {[ln.text for ln in proc.own_lines]})",
    )


async def test_progress_and_stderr_are_drained_and_redacted() -> None:
    blocks: list[ProgressBlock] = []
    code = (
        "import sys\n"
        "sys.stdout.write('frame=1\\nprogress=continue\\nframe=2\\nprogress=end\\n')\n"
        "sys.stderr.write('a\\rb\\r\\nrtsp://admin:Hunter2Secret@cam/x: refused\\n')\n"
        "sys.stderr.write('x' * 300000 + '\\n')\n"  # far more than a pipe holds
        "sys.stderr.write('Hunter2Secret alone\\nlast')\n"
    )
    async with FFmpegProcess.run(py(code), secrets=["Hunter2Secret"],
                                 on_progress=blocks.append) as proc:  # fmt: skip
        assert await proc.finished() == 0
    texts = [line.text for line in proc.own_lines]
    assert texts[:3] == ["a", "b", "rtsp://admin:***@cam/x: refused"]
    assert texts[3] == "[ucvd: overlong stderr line dropped]"
    assert texts[-2:] == ["*** alone", "last"]
    # Both blocks came in one read: only the newer says where the stream is.
    assert [b.frame for b in blocks] == [2] and blocks[-1].ended


async def test_progress_read_by_calls_once_handed_over() -> None:
    """After the handover no task reads progress: blocks come when read_progress is
    called (the ticker's check), the newest one, and the exit's EOF is still seen."""
    blocks: list[ProgressBlock] = []
    code = (
        "import sys, time\n"
        "for n in range(1, 21):\n"
        '    sys.stdout.write(f\'frame={n}\\nprogress={"end" if n == 20 else "continue"}\\n\')\n'
        "    sys.stdout.flush()\n"
        "    time.sleep(0.05 if n > 1 else 0)\n"
        "    if n == 1: sys.stdin.readline()\n"  # holds on until the test has handed over
    )
    async with FFmpegProcess.run(py(code), on_progress=blocks.append) as proc:
        await wait_until_async(lambda: blocks, timeout=10, what="the first block")
        proc.read_progress_by_calls()
        assert proc._process.stdin is not None
        await proc._process.stdin.send(b"go\n")
        await proc.wait()  # nineteen more blocks written meanwhile
        # The waiting task may have taken the one it was waiting for; no more than that.
        assert len(blocks) <= 2
        proc.read_progress()
        assert blocks[-1].frame == 20 and blocks[-1].ended
        assert await proc.finished() == 0


async def test_stop_ladder_ends_with_sigkill_for_a_stubborn_process() -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + READY
    code += "time.sleep(60)"
    async with FFmpegProcess.run(py(code), on_progress=lambda _b: None) as proc:
        await ready(proc)
        started = time.monotonic()
        code_ = await proc.stop(q_grace_s=0.3, term_grace_s=0.3)
    assert code_ == -9
    assert 0.55 < time.monotonic() - started < 3


async def test_q_on_stdin_is_the_first_rung() -> None:
    code = "import sys\nsys.stdin.read(1)\nprint('bye', file=sys.stderr)"
    async with FFmpegProcess.run(py(code), on_progress=lambda _b: None) as proc:
        assert await proc.stop(q_grace_s=5, term_grace_s=5) == 0
    assert [line.text for line in proc.own_lines] == ["bye"]


async def test_leaving_the_block_stops_the_process_and_cancellation_too() -> None:
    with anyio.CancelScope() as outer:
        sleeper = py(f"{READY}import time\ntime.sleep(60)")
        async with FFmpegProcess.run(
            sleeper, on_progress=lambda _b: None, tag="runner-test"
        ) as proc:
            await ready(proc)
            assert find_tagged("runner-test") == [proc.pid]
            outer.cancel()  # the block is left by a cancellation, mid-await
            await anyio.sleep(60)
    assert outer.cancelled_caught
    assert proc.returncode is not None
    assert find_tagged("runner-test") == []


async def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import os, sys; sys.stderr.write(' '.join(sorted(os.environ)))"
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    async with FFmpegProcess.run(py(code), on_progress=lambda _b: None, tag="t") as proc:
        await proc.finished()
    assert proc.own_lines[0].text.split() == sorted(["LC_ALL", "PATH", TAG_VARIABLE])


async def test_missing_setpriv_is_a_spawn_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpawnError, match="setpriv"):
        async with FFmpegProcess.run(["ffmpeg"], on_progress=lambda _b: None):
            pass


async def test_a_spawn_cancelled_midway_leaves_no_descriptor_behind() -> None:
    def open_fds() -> int:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())

    before = open_fds()
    for _ in range(20):
        with anyio.move_on_after(0):  # cancelled at the spawn's first await
            async with FFmpegProcess.run(py("import time; time.sleep(5)"),
                                         on_progress=lambda _b: None):  # fmt: skip
                await anyio.sleep(5)
    assert open_fds() == before
