"""When MediaMTX drops a publisher before its first picture, the supervisor probes that
camera up to its keyframe from then on (architecture §3 item 6). Which closes count, read
from what the next spawn is asked to run, with a stand-in for FFmpeg."""

from __future__ import annotations

import time

import pytest

from tests.unit.test_supervisor_order import SETTINGS, Spawner, supervised, until
from ucvd.relay.ffmpeg.process import LogLine
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.publication import Status
from ucvd.relay.supervisor import Supervisor

pytestmark = pytest.mark.anyio

CLOSED = "av_interleaved_write_frame(): Broken pipe"  # MediaMTX closed the session
LATE = "no picture had been sent"


class Link:
    """The central's port as the uplink check finds it: answering or refusing."""

    def __init__(self) -> None:
        self.answers = True

    async def __call__(self, _host: str, _port: int, _within: float) -> str | None:
        return None if self.answers else "Connection refused"


def probe_packets(argv: list[str]) -> str:
    return argv[argv.index("-max_ts_probe") + 1]


async def closed_after(sup: Supervisor, spawner: Spawner, blocks: list[ProgressBlock],
                       line: str = CLOSED, link: Link | None = None) -> str:  # fmt: skip
    """The first attempt reports `blocks`, then ends with `line`; the fault's message once
    the second attempt is spawned (after the link answers again, if it was down)."""
    assert await sup.start()
    await until(lambda: spawner.alive and not spawner.spawning, "the first spawn")
    proc = spawner.alive[0]
    for block in blocks:
        proc.on_progress(block)
    proc.own_lines.append(LogLine(at=time.time(), text=line))
    proc.exit(1)
    await until(lambda: sup.state().last_error is not None, "the fault")
    error = sup.state().last_error
    assert error is not None
    if link is not None:
        link.answers = True
    await until(lambda: spawner.spawns == 2, "the retry's spawn")
    return f"{error.kind}: {error.message}"


async def test_a_close_after_record_and_before_the_picture_probes_up_to_the_keyframe() -> None:
    spawner = Spawner()
    async with supervised(spawner) as sup:
        # FFmpeg counts the picture whose write found the session closed: 1 is "before".
        message = await closed_after(sup, spawner, [ProgressBlock(frame=0), ProgressBlock(frame=1)])
        assert LATE in message
        first, second = spawner.argvs
        assert probe_packets(first) == "1"
        assert probe_packets(second) == "1000000"
        analyze = second[second.index("-analyzeduration") + 1]
        assert analyze == str(int(SETTINGS.start_timeout_s * 1_000_000))
        # Kept for the camera's later attempts, stopped and published again included.
        await sup.stop()
        await until(lambda: sup.machine.status is Status.STOPPED, "stopped")
        assert await sup.start()
        await until(lambda: spawner.spawns == 3, "the next publication's spawn")
        assert probe_packets(spawner.argvs[2]) == "1000000"


@pytest.mark.parametrize(
    ("blocks", "line", "why"),
    [
        ([ProgressBlock(frame=0), ProgressBlock(frame=25)], CLOSED, "pictures had left"),
        ([], CLOSED, "no progress: closed before RECORD, during the handshake"),
        ([ProgressBlock(frame=0)], "Connection refused", "not a close by MediaMTX"),
    ],
)
async def test_other_ends_keep_the_short_probe(
    blocks: list[ProgressBlock], line: str, why: str
) -> None:
    spawner = Spawner()
    async with supervised(spawner) as sup:
        message = await closed_after(sup, spawner, blocks, line)
        assert LATE not in message, why
        assert [probe_packets(a) for a in spawner.argvs] == ["1", "1"], why


async def test_a_central_that_went_away_keeps_the_short_probe() -> None:
    spawner, link = Spawner(), Link()
    link.answers = False
    async with supervised(spawner, link) as sup:
        message = await closed_after(sup, spawner, [ProgressBlock(frame=0)], link=link)
        assert message.startswith("mediamtx_unreachable: ")
        assert LATE not in message
        assert [probe_packets(a) for a in spawner.argvs] == ["1", "1"]
