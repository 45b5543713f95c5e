"""Confirmation timing while starting: FFmpeg's first progress block (written once MediaMTX
answered RECORD) makes the supervisor ask the API at once instead of at its next poll."""

from __future__ import annotations

import time

import anyio
import anyio.abc
import pytest

from tests.unit.test_supervisor_order import CAMERA, Spawner, _answers, until
from ucvd.domain.model import Target
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.mediamtx import EnsureResult, PathInfo
from ucvd.relay.publication import Status
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.supervisor import Supervisor
from ucvd.relay.uplink import Uplink

pytestmark = pytest.mark.anyio

TARGET = Target(name="t", rtsp_url="rtsp://192.0.2.20:8554", api_url="http://192.0.2.20:9997",
                reconnect_delay=0.01)  # fmt: skip
SLOW_POLL = SupervisorSettings(poll_s=10.0, metrics_every_s=10.0)  # asks every 5 s unconfirmed


def status(sup: Supervisor) -> Status:
    return sup.machine.status


class FakeMediaMTX:
    """The API as far as a starting supervisor asks it: the path, online or not."""

    def __init__(self) -> None:
        self.online = False
        self.lists = 0
        self.path = ""

    async def ensure_path(self, _name: str) -> EnsureResult:
        return EnsureResult.EXISTS

    async def get_path(self, _name: str) -> PathInfo | None:
        return None

    async def list_paths(self, page_size: int = 0) -> list[PathInfo]:
        self.lists += 1
        return [PathInfo(name=self.path, online=self.online, available=self.online,
                         tracks=("H264",), source_id="ours")]  # fmt: skip


def slow_polling() -> tuple[FakeMediaMTX, Spawner, Supervisor]:
    """A supervisor polling every 5 s, against a MediaMTX of the test's and a fake FFmpeg."""
    api = FakeMediaMTX()
    spawner = Spawner()
    sup = Supervisor(CAMERA, TARGET, ffmpeg="ffmpeg", mediamtx=api,  # type: ignore[arg-type]
                     uplink=Uplink("192.0.2.20", 8554, connect=_answers), settings=SLOW_POLL,
                     starter=spawner)  # fmt: skip
    api.path = sup.path
    return api, spawner, sup


async def start_and_poll_once(
    tg: anyio.abc.TaskGroup, api: FakeMediaMTX, spawner: Spawner, sup: Supervisor
) -> None:
    """The supervisor running, its FFmpeg spawned and MediaMTX asked once."""
    await tg.start(sup.run)
    await sup.start()
    await until(lambda: spawner.alive and not spawner.spawning and api.lists, "first poll")


async def test_first_progress_block_confirms_without_waiting_for_the_poll() -> None:
    api, spawner, sup = slow_polling()
    async with anyio.create_task_group() as tg:
        await start_and_poll_once(tg, api, spawner, sup)
        await anyio.sleep(0.05)  # the poller is now in its 5 s wait
        assert status(sup) is Status.STARTING
        api.online = True  # MediaMTX took the publisher (RECORD answered)...
        started = time.monotonic()
        spawner.alive[-1].on_progress(ProgressBlock(frame=1, out_time_us=40_000))  # ...so this
        with anyio.fail_after(1.0):  # far below the 5 s poll period
            while status(sup) is not Status.PUBLISHING:
                await anyio.sleep(0.005)
        assert time.monotonic() - started < 1.0
        tg.cancel_scope.cancel()


async def test_a_block_before_mediamtx_has_it_does_not_confirm() -> None:
    """The block only wakes the poller: readiness is still MediaMTX's word."""
    api, spawner, sup = slow_polling()
    async with anyio.create_task_group() as tg:
        await start_and_poll_once(tg, api, spawner, sup)
        asked = api.lists
        spawner.alive[-1].on_progress(ProgressBlock(frame=1, out_time_us=40_000))
        await until(lambda: api.lists > asked, "the woken poller to ask again")
        await anyio.sleep(0.05)
        assert status(sup) is Status.STARTING
        tg.cancel_scope.cancel()
