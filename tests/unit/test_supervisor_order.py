"""Spawn and stop ordering of one supervisor, with a stand-in for FFmpeg: milliseconds per
case, and every process the supervisor ever held is accounted for."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import msgspec
import pytest

from tests.harness.waiting import wait_until_async
from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.process import LogLine
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.publication import Action, Event, Schedule, Status
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.supervisor import Supervisor
from ucvd.relay.uplink import Connect, Uplink

pytestmark = pytest.mark.anyio

CAMERA = Camera(id="cam", url="rtsp://192.0.2.10:554/stream")
TARGET = Target(name="t", rtsp_url="rtsp://192.0.2.20:8554", api_enabled=False,
                reconnect_delay=0.01)  # fmt: skip
SETTINGS = SupervisorSettings(poll_s=0.01, metrics_every_s=0.01)
WAIT_S = 5.0  # only ever reached when a case fails


class StandIn:
    """A process as the supervisor sees it: alive until stopped or told to exit."""

    def __init__(self, pid: int, on_progress: Callable[[ProgressBlock], None]) -> None:
        self.pid = pid
        self.running = True
        self.stop_requested = False
        self.own_lines: list[LogLine] = []
        self.on_progress = on_progress
        self.read_by_calls = False
        self.reads = 0
        self._exited = anyio.Event()
        self._code = 0

    def exit(self, code: int) -> None:
        self.running = False
        self._code = code
        self._exited.set()

    async def finished(self) -> int:
        await self._exited.wait()
        return self._code

    def read_progress_by_calls(self) -> None:
        self.read_by_calls = True  # the test hands blocks over itself (on_progress)

    def read_progress(self) -> None:
        self.reads += 1


class Spawner:
    """The stand-in starter: a journal of spawns and exits, and the most alive at once."""

    def __init__(self) -> None:
        self.journal: list[str] = []
        self.argvs: list[list[str]] = []  # what each spawn was asked to run
        self.spawns = 0
        self.alive: list[StandIn] = []
        self.most_alive = 0
        self.spawning = 0  # inside the spawn, not yet handed to the supervisor
        self.hold_spawns: anyio.Event | None = None  # while set and unset, spawns hang

    @contextlib.asynccontextmanager
    async def __call__(
        self,
        argv: Sequence[str],
        *,
        secrets: Sequence[str],
        on_progress: Callable[[ProgressBlock], None],
        lines: deque[LogLine],
        tag: str | None,
    ) -> AsyncIterator[StandIn]:
        self.spawns += 1
        self.argvs.append(list(argv))
        proc = StandIn(self.spawns, on_progress)
        self.alive.append(proc)
        self.most_alive = max(self.most_alive, len(self.alive))
        self.journal.append(f"spawn {proc.pid}")
        try:
            self.spawning += 1
            try:
                if self.hold_spawns is not None:
                    await self.hold_spawns.wait()
            finally:
                self.spawning -= 1
            yield proc
        finally:
            proc.stop_requested = True
            # Stopping takes a while, as FFmpeg's stop ladder does: a supervisor that did not
            # wait for it would spawn the next one in between.
            with anyio.CancelScope(shield=True):
                for _ in range(5):
                    await anyio.lowlevel.checkpoint()
            if proc.running:
                proc.exit(255)
            self.alive.remove(proc)
            self.journal.append(f"exit {proc.pid}")


async def _answers(_host: str, _port: int, _within: float) -> str | None:
    return None  # the target always answers: no fault is blamed on the link


@contextlib.asynccontextmanager
async def supervised(spawner: Spawner, connect: Connect = _answers) -> AsyncIterator[Supervisor]:
    sup = Supervisor(
        CAMERA,
        TARGET,
        ffmpeg="ffmpeg",
        mediamtx=None,
        uplink=Uplink("192.0.2.20", 8554, connect=connect),
        settings=SETTINGS,
        starter=spawner,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        try:
            yield sup
        finally:
            tg.cancel_scope.cancel()


async def until(probe: Callable[[], object], what: str) -> None:
    await wait_until_async(probe, timeout=WAIT_S, what=what)


async def publishing(sup: Supervisor, spawner: Spawner) -> None:
    """Let the newest process report progress, which confirms it (no API to ask)."""
    await until(lambda: spawner.alive and not spawner.spawning, "a spawned process")
    spawner.alive[-1].on_progress(ProgressBlock(frame=1, out_time_us=40_000))
    await until(lambda: sup.machine.status is Status.PUBLISHING, "publishing")


async def test_twenty_concurrent_starts_spawn_once() -> None:
    spawner = Spawner()
    async with supervised(spawner) as sup:
        results: list[bool] = []

        async def start() -> None:
            results.append(await sup.start())

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(start)
        assert sorted(results) == [False] * 19 + [True]
        await publishing(sup, spawner)
        assert await sup.stop()
    assert spawner.journal == ["spawn 1", "exit 1"]


async def test_stop_while_spawning_leaves_no_process() -> None:
    spawner = Spawner()
    spawner.hold_spawns = anyio.Event()  # never set: the spawn hangs until cancelled
    async with supervised(spawner) as sup:
        assert await sup.start()
        await until(lambda: spawner.spawning, "a spawn under way")
        assert await sup.stop()
        assert spawner.alive == []
        assert spawner.journal == ["spawn 1", "exit 1"]
        assert sup.machine.status is Status.STOPPED
        assert sup.state().pid is None


async def test_restart_stops_the_old_process_before_spawning_the_new() -> None:
    spawner = Spawner()
    async with supervised(spawner) as sup:
        assert await sup.start()
        await publishing(sup, spawner)
        assert await sup.restart()
        await publishing(sup, spawner)
        assert spawner.journal == ["spawn 1", "exit 1", "spawn 2"]
        assert sup.state().pid == 2
    assert spawner.journal == ["spawn 1", "exit 1", "spawn 2", "exit 2"]
    assert spawner.most_alive == 1


async def test_commands_in_any_order_never_run_two_processes() -> None:
    """Starts, restarts and stops racing each other, some while a spawn hangs: at no time
    are two processes alive, and the last stop leaves none."""
    spawner = Spawner()
    async with supervised(spawner) as sup:
        for round_ in range(10):
            spawner.hold_spawns = anyio.Event() if round_ % 2 else None
            async with anyio.create_task_group() as tg:
                for command in (sup.start, sup.restart, sup.stop, sup.start, sup.restart):
                    tg.start_soon(command)
            if spawner.hold_spawns is not None:
                spawner.hold_spawns.set()
        assert sup.machine.status is not Status.STOPPED  # the last command was a restart
        await sup.stop()
        assert spawner.alive == []
    assert spawner.most_alive == 1
    assert spawner.spawns > 10  # the restarts did spawn, so the bound above was tested
    assert len(spawner.journal) == 2 * spawner.spawns


async def test_a_process_that_exits_by_itself_is_replaced_after_it_is_reaped() -> None:
    spawner = Spawner()
    async with supervised(spawner) as sup:
        assert await sup.start()
        await publishing(sup, spawner)
        spawner.alive[0].exit(1)  # FFmpeg died; the supervisor did not ask
        await until(lambda: spawner.journal[-1] == "spawn 2", "the retry's spawn")
        assert spawner.journal == ["spawn 1", "exit 1", "spawn 2"]
        error = sup.state().last_error
        assert error is not None
        assert (error.kind, error.message) == ("process_crashed", "FFmpeg exited with code 1")
        assert sup.machine.status is Status.STARTING
    assert spawner.most_alive == 1


async def delays_of(sup: Supervisor, spawner: Spawner, failures: int) -> list[float]:
    """Let the process die `failures` times in a row, never confirmed (so nothing is
    forgiven), and return the backoff delays the supervisor scheduled after each death."""
    scheduled: list[float] = []
    handle = sup.machine.handle

    def recording(event: Event) -> list[Action]:
        actions = handle(event)
        scheduled.extend(a.delay_s for a in actions if isinstance(a, Schedule))
        return actions

    sup.machine.handle = recording  # type: ignore[method-assign]
    assert await sup.start()
    for n in range(1, failures + 1):

        def spawned(n: int = n) -> bool:
            return spawner.spawns == n and bool(spawner.alive) and not spawner.spawning

        def delayed(n: int = n) -> bool:
            return len(scheduled) == n

        await until(spawned, f"spawn {n}")
        spawner.alive[0].exit(1)
        await until(delayed, f"the delay after death {n}")
    await sup.stop()
    return scheduled


async def test_a_new_backoff_cap_bounds_the_very_next_delays() -> None:
    """Reload's settings on a running publication: the next delays already follow the new
    cap. Without it, the fifth death in a row waits ~0.16 s (0.01 s doubled four times)."""
    spawner = Spawner()
    async with supervised(spawner) as sup:
        assert max(await delays_of(sup, spawner, 5)) > 0.1  # the default cap (60 s)
    spawner = Spawner()
    async with supervised(spawner) as sup:
        sup.apply_settings(msgspec.structs.replace(SETTINGS, backoff_cap_s=0.02))
        delays = await delays_of(sup, spawner, 5)
    assert len(delays) == 5 and max(delays) <= 0.02, delays


async def test_new_settings_reach_a_running_publication_and_its_backoff() -> None:
    """A reload's supervision settings apply at once, the backoff's cap and forgiveness too
    (they are the state machine's, not read from the settings at each failure)."""
    spawner = Spawner()
    async with supervised(spawner) as sup:
        assert await sup.start()
        await publishing(sup, spawner)
        new = SupervisorSettings(
            poll_s=0.01, metrics_every_s=0.01, backoff_cap_s=7.0, healthy_after_s=3.0
        )
        sup.apply_settings(new)
        assert sup.settings is new
        assert (sup.machine.policy.cap_s, sup.machine.policy.healthy_after_s) == (7.0, 3.0)
        assert sup.status is Status.PUBLISHING  # applied in place: nothing was restarted
    assert spawner.journal == ["spawn 1", "exit 1"]
