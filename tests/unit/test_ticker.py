"""The shared ticker: one wake-up per period runs every live publication's check, and one
fetch per server and period keeps the path snapshots they read fresh."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import anyio
import pytest

from tests.harness.waiting import wait_until_async
from tests.unit.test_supervisor_order import CAMERA, Spawner, _answers, until
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.mediamtx import EnsureResult, PathInfo
from ucvd.relay.pathwatch import PathWatch
from ucvd.relay.publication import Status
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.supervisor import Supervisor
from ucvd.relay.ticker import Ticker
from ucvd.relay.uplink import Uplink

pytestmark = pytest.mark.anyio

TARGET = Target(name="t", rtsp_url="rtsp://192.0.2.20:8554", api_url="http://192.0.2.20:9997",
                reconnect_delay=0.01)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Paths:
    """MediaMTX's path list as the tests set it; counts the fetches, and can hold them."""

    def __init__(self) -> None:
        self.online: set[str] = set()
        self.bytes = 0
        self.lists = 0
        self.hold: anyio.Event | None = None

    async def ensure_path(self, _name: str) -> EnsureResult:
        return EnsureResult.EXISTS

    async def get_path(self, _name: str) -> PathInfo | None:
        return None

    async def list_paths(self, page_size: int = 0) -> list[PathInfo]:
        self.lists += 1
        if self.hold is not None:
            await self.hold.wait()
        return [PathInfo(name=n, online=True, available=True, tracks=("H264",), source_id="us",
                         inbound_bytes=self.bytes) for n in sorted(self.online)]  # fmt: skip


# --- the ticker alone ----------------------------------------------------------------------
async def test_a_tick_runs_every_enrolled_check_and_a_failing_one_stops_no_other() -> None:
    clock = Clock()
    ticker = Ticker(period_s=3600.0, clock=clock)  # only the test's ticks
    seen: list[tuple[str, float]] = []

    def broken(_now: float) -> None:
        raise RuntimeError("a bug in one publication's check")

    with (
        pytest.raises(RuntimeError, match="not running"),
        ticker.enrolled(broken, None, lambda: 1.0),
    ):
        pass  # nobody would check it
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        with ticker.enrolled(lambda now: seen.append(("a", now)), None, lambda: 1.0):
            with (
                ticker.enrolled(broken, None, lambda: 1.0),
                ticker.enrolled(lambda now: seen.append(("b", now)), None, lambda: 1.0),
            ):
                ticker.tick()
                assert ticker.enrolled_count == 3
            clock.now += 1.0
            ticker.tick()  # left: no longer called
        tg.cancel_scope.cancel()
    assert seen == [("a", 100.0), ("b", 100.0), ("a", 101.0)]
    assert ticker.enrolled_count == 0


async def test_one_fetch_per_server_and_tick_however_many_publications_read_it() -> None:
    clock = Clock()
    api = Paths()
    paths = PathWatch(api, clock=clock)  # type: ignore[arg-type]
    ticker = Ticker(period_s=3600.0, clock=clock)  # only the test's ticks
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        with contextlib.ExitStack() as stack:
            enrol_many(stack, ticker, paths, count=50)
            for n in range(1, 4):
                ticker.tick()
                fetched = functools.partial(lambda n: api.lists == n and paths.latest, n)
                await until(fetched, "a fetch")
                await anyio.sleep(0.01)
                assert api.lists == n  # one, not one per publication
                clock.now += 1.0  # the next tick finds it a period old
            # A snapshot younger than half the age the checks accept is not fetched again.
            clock.now -= 0.6
            ticker.tick()
            await anyio.sleep(0.01)
            assert api.lists == 3
        tg.cancel_scope.cancel()


async def test_a_hung_fetch_delays_no_check_and_is_not_asked_twice() -> None:
    clock = Clock()
    api = Paths()
    api.hold = anyio.Event()
    paths = PathWatch(api, clock=clock)  # type: ignore[arg-type]
    ticker = Ticker(period_s=3600.0, clock=clock)  # only the test's ticks
    checks: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        with ticker.enrolled(checks.append, paths, lambda: 1.0):
            for _ in range(3):
                ticker.tick()
                await anyio.sleep(0.01)
                clock.now += 1.0
            assert len(checks) == 3  # every tick checked, the fetch still hanging
            assert api.lists == 1  # and it was asked for once
            api.hold.set()
            await until(lambda: paths.latest is not None, "the held answer")
        tg.cancel_scope.cancel()


def enrol_many(stack: contextlib.ExitStack, ticker: Ticker, paths: PathWatch, count: int) -> None:
    """`count` enrolled checks that read the same server's snapshot."""
    for _ in range(count):
        stack.enter_context(ticker.enrolled(lambda _now: None, paths, lambda: 1.0))


# --- supervisors on one ticker -------------------------------------------------------------
def supervisors(
    count: int, api: Paths, ticker: Ticker, spawner: Spawner, stall_timeout_s: float = 30.0
) -> list[Supervisor]:
    settings = SupervisorSettings(
        poll_s=0.02, metrics_every_s=0.05, stall_timeout_s=stall_timeout_s
    )
    client: Any = api  # the API as far as supervisors ask it
    paths = PathWatch(client)
    uplink = Uplink("192.0.2.20", 8554, connect=_answers)
    return [
        Supervisor(
            Camera(id=f"cam{i}", url=CAMERA.url),
            TARGET,
            ffmpeg="ffmpeg",
            mediamtx=client,
            paths=paths,
            ticker=ticker,
            uplink=uplink,
            settings=settings,
            starter=spawner,
        )
        for i in range(count)
    ]


async def test_live_publications_are_checked_and_sampled_by_the_ticker_alone() -> None:
    api, spawner = Paths(), Spawner()
    ticker = Ticker(period_s=0.05)
    sups = supervisors(5, api, ticker, spawner)
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        for sup in sups:
            await tg.start(sup.run)
            await sup.start()
        await until(lambda: len(spawner.alive) == 5 and not spawner.spawning, "five spawns")
        api.online = {sup.path for sup in sups}
        await until(lambda: all(s.status is Status.PUBLISHING for s in sups), "all confirmed")
        assert ticker.enrolled_count == 5  # each live one is on the ticker...
        # ...with its progress read by its checks, not by a task waiting for each block.
        await until(lambda: all(p.read_by_calls and p.reads for p in spawner.alive), "reads")
        lists, ticks = api.lists, ticker.ticks
        api.bytes = 10_000
        for proc in spawner.alive:
            proc.on_progress(ProgressBlock(frame=25, out_time_us=1_000_000))

        def sampled() -> bool:
            return all(s.metrics.frames == 25 and s.metrics.bytes_in == 10_000 for s in sups)

        await until(sampled, "every publication's sample of the new figures")
        # ...and none polls on its own any more: the fetches follow the ticks, not cameras.
        assert api.lists - lists <= ticker.ticks - ticks + 1
        tg.cancel_scope.cancel()


async def test_a_live_publication_that_stops_moving_is_failed_by_the_ticker() -> None:
    api, spawner = Paths(), Spawner()
    ticker = Ticker(period_s=0.05)
    (sup,) = supervisors(1, api, ticker, spawner, stall_timeout_s=0.3)
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        await tg.start(sup.run)
        await sup.start()
        await until(lambda: spawner.alive and not spawner.spawning, "a spawn")
        api.online = {sup.path}
        spawner.alive[-1].on_progress(ProgressBlock(frame=1, out_time_us=40_000))
        await until(lambda: sup.status is Status.PUBLISHING, "confirmed")
        # No progress from here on: the stall timeout (0.3 s) runs out on a tick.
        await until(lambda: sup.machine.last_error is not None, "the stall to be seen")
        assert sup.machine.last_error is not None
        assert sup.machine.last_error.kind is ErrorKind.STREAM_STALLED
        await until(
            lambda: ticker.enrolled_count == 0 or sup.status is Status.STARTING, "it to leave"
        )
        tg.cancel_scope.cancel()


async def test_a_fetch_that_raises_what_nobody_expected_does_not_stop_the_ticker() -> None:
    """A client closed under a fetch raises RuntimeError, not MediaMTXError: the snapshot
    says the API could not be asked, and the checks go on."""
    clock = Clock()

    class Closed(Paths):
        async def list_paths(self, page_size: int = 0) -> list[PathInfo]:
            self.lists += 1
            raise RuntimeError("Cannot send a request, as the client has been closed.")

    api = Closed()
    paths = PathWatch(api, clock=clock)  # type: ignore[arg-type]
    ticker = Ticker(period_s=3600.0, clock=clock)
    checks: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        with ticker.enrolled(checks.append, paths, lambda: 1.0):
            ticker.tick()
            await until(lambda: paths.latest is not None, "the failed fetch's snapshot")
            assert paths.latest is not None and not paths.latest.ok
            await anyio.wait_all_tasks_blocked()  # the failed fetch's task has ended
            clock.now += 1.0
            ticker.tick()
            await until(lambda: api.lists == 2, "the next fetch")
        assert checks == [100.0, 101.0]
        tg.cancel_scope.cancel()


async def test_an_api_that_stops_answering_leaves_no_stale_rate_behind() -> None:
    """A fetch that hangs leaves the last snapshot in place; once it is some periods old
    the live check takes the API as not answering: no bitrate, rather than the last one."""
    api, spawner = Paths(), Spawner()
    ticker = Ticker(period_s=0.05)
    (sup,) = supervisors(1, api, ticker, spawner)
    async with anyio.create_task_group() as tg:
        await tg.start(ticker.run)
        await tg.start(sup.run)
        await sup.start()
        await until(lambda: spawner.alive and not spawner.spawning, "a spawn")
        api.online = {sup.path}
        await until(lambda: sup.status is Status.PUBLISHING, "confirmed")
        for n in range(1, 100):  # bytes flowing: a rate is known
            api.bytes = 10_000 * n
            spawner.alive[-1].on_progress(ProgressBlock(frame=n, out_time_us=40_000 * n))
            await anyio.sleep(0.05)
            if sup.metrics.bitrate_kbps:
                break
        assert sup.metrics.bitrate_kbps
        api.hold = anyio.Event()  # from now on every fetch hangs
        await wait_until_async(
            lambda: sup.metrics.bitrate_kbps is None, timeout=10, what="the stale rate dropped"
        )
        assert sup.status is Status.PUBLISHING  # the RTSP leg still decides: not a failure
        api.hold.set()
        tg.cancel_scope.cancel()
