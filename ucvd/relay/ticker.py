"""One clock for every confirmed publication: stall checks, metrics samples, API snapshots.

A publication that is live needs three things done about once a second: its stall check,
its metrics sample, and a fresh word from MediaMTX on its path. Done by each publication's
own timers, that was two or three task wake-ups per camera per second, and at 100 cameras
the event loop's bookkeeping for them (timers, futures, task switches) was most of the
daemon's CPU (tests/bench/daemon_cpu.py). Here one task wakes once per period and calls
each enrolled publication's check, a plain function, in turn; the snapshots of MediaMTX's
paths those checks read are refreshed beside it, one fetch per server and period.

The fetch is never awaited by the tick: a slow or hung API must not delay stall
detection, so a check reads the latest snapshot there is while the refresh runs in the
background (the supervisor takes one a few periods old as no answer at all). A fetch that
fails in a way nobody expected is logged: the ticker itself must never stop. A
publication still starting keeps its own fast loop (supervisor.py): confirming it quickly
is worth a few wake-ups.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
import structlog

from ucvd.relay.pathwatch import PathWatch

log = structlog.get_logger("ucvd.relay.ticker")

TICK_S = 1.0
# A check due at t runs at the first tick at or after t - SLACK_S: ticks are a period apart
# give or take the loop's latency, and a check due "now" must not wait a whole period more.
SLACK_S = 0.1


@dataclass
class _Enrolled:
    check: Callable[[float], None]
    paths: PathWatch | None
    max_age_s: Callable[[], float]  # how old a snapshot this publication may read


class Ticker:
    def __init__(self, period_s: float = TICK_S, clock: Callable[[], float] = time.monotonic):
        self.period_s = period_s
        self._clock = clock
        self._enrolled: dict[int, _Enrolled] = {}
        self._ids = itertools.count()
        self._refreshing: set[PathWatch] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self.ticks = 0  # for tests and benchmarks

    @property
    def enrolled_count(self) -> int:
        return len(self._enrolled)

    @contextmanager
    def enrolled(
        self,
        check: Callable[[float], None],
        paths: PathWatch | None,
        max_age_s: Callable[[], float],
    ) -> Iterator[None]:
        """Call `check(now)` at every tick while inside; `paths` is kept fresh meanwhile.
        `check` must not raise: it is the caller's to turn its own errors into faults."""
        if self._tg is None:
            # Nobody would ever check it: its stall would go unseen and its FFmpeg's
            # progress pipe unread until full.
            raise RuntimeError("the ticker is not running (Ticker.run)")
        key = next(self._ids)
        self._enrolled[key] = _Enrolled(check, paths, max_age_s)
        try:
            yield
        finally:
            del self._enrolled[key]

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            deadline = self._clock()
            while True:
                deadline += self.period_s
                now = self._clock()
                if deadline < now:  # the loop was held up: tick from now, do not catch up
                    deadline = now + self.period_s
                await anyio.sleep(deadline - now)
                self.tick()

    def tick(self) -> None:
        self.ticks += 1
        enrolled = list(self._enrolled.values())
        self._refresh(enrolled)
        now = self._clock()
        for one in enrolled:
            try:
                one.check(now)
            except Exception:  # one camera's bug must not stop the others' checks
                log.exception("publication check failed")

    def _refresh(self, enrolled: list[_Enrolled]) -> None:
        ages: dict[PathWatch, float] = {}
        for one in enrolled:
            if one.paths is not None:
                age = one.max_age_s()
                ages[one.paths] = min(age, ages.get(one.paths, age))
        for paths, age in ages.items():
            # Asked for at half the age the checks accept: the answer to this tick's fetch
            # is what the next tick's checks read, and it must still be young enough then.
            if paths not in self._refreshing and not paths.fresh(age / 2) and self._tg is not None:
                self._refreshing.add(paths)
                self._tg.start_soon(self._fetch, paths, age / 2)

    async def _fetch(self, paths: PathWatch, max_age_s: float) -> None:
        try:
            await paths.snapshot(max_age=max_age_s)
        except Exception:  # e.g. its client closed under it: the ticker must never die
            log.exception("path snapshot failed")
        finally:
            self._refreshing.discard(paths)
