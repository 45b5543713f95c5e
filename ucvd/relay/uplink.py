"""Is the central server answering? One cheap probe per target, shared by its cameras.

When the site's link to the centre goes dark (a black hole: no RST, no FIN), every camera
publishing there stalls at once, and each used to wait out its own exponential backoff,
blamed on the camera. Here a publication that fails in a way the target could explain (a
stall, a closed or refused connection, an FFmpeg exit nobody explained) first asks the
target's `Uplink` whether it answers: a TCP connect to its RTSP port, bounded by
`PROBE_TIMEOUT_S`. If it does not, the fault is the link's (`mediamtx_unreachable`, said
so), the camera is not counted as failing, and it waits on `wait_up` instead of a timer.

While the target is down, all its waiters share one probe per `PROBE_EVERY_S` (whoever
finds the last answer too old asks; the others wait for that answer), so a site of a
hundred cameras knocks once a second, not a hundred times. When the target answers again
the waiters are released in slots: at most `RELEASE_AT_ONCE` per `RELEASE_STEP_S`, each at
a random point within its slot, so that a hundred FFmpegs do not all probe their cameras
and announce to the centre in the same instant, and all are on their way within a couple
of seconds. No background task: when nobody asks, nothing is probed.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable

import anyio

PROBE_TIMEOUT_S = 1.0  # a connect that takes longer counts as no answer
PROBE_EVERY_S = 1.0  # while down, how often the target is asked again
CHECK_FRESH_S = 0.5  # a fault reuses an answer this young (a stall hits every camera at once)
RELEASE_AT_ONCE = 8
RELEASE_STEP_S = 0.25

Connect = Callable[[str, int, float], Awaitable[str | None]]


async def tcp_answers(host: str, port: int, within_s: float) -> str | None:
    """None when a TCP connection to host:port opens within `within_s`; else why not."""
    try:
        with anyio.fail_after(within_s):
            stream = await anyio.connect_tcp(host, port)
    except TimeoutError:
        return f"no answer within {within_s:g} s"
    except OSError as exc:
        # anyio tries every address and says "All connection attempts failed", with the
        # last attempt's own error (refused, unreachable...) as the cause.
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        return (os.strerror(cause.errno) if cause.errno else str(cause)).lower()
    await stream.aclose()
    return None


async def no_probe(_host: str, _port: int, _within_s: float) -> None:
    """For a target nothing can probe: it always answers (SRT without an API: UDP)."""
    return None


def release_delay(
    slot: int, draw: float, *, at_once: int = RELEASE_AT_ONCE, step_s: float = RELEASE_STEP_S
) -> float:
    """How long after the target answers the `slot`-th waiter (0-based) goes: `at_once`
    waiters per step of `step_s`, each at a random point of its step (`draw` in [0, 1))."""
    return (slot // at_once + min(max(draw, 0.0), 1.0)) * step_s


class Uplink:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect: Connect = tcp_answers,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
        probe_every_s: float = PROBE_EVERY_S,
        release_step_s: float = RELEASE_STEP_S,
    ) -> None:
        self.host = host
        self.port = port
        self.probe_timeout_s = probe_timeout_s
        self.probe_every_s = probe_every_s
        self.release_step_s = release_step_s
        self._connect = connect
        self._clock = clock
        self._rng = rng
        self.down_since: float | None = None  # monotonic; None while answering
        self.reason: str | None = None  # why the last probe got no answer
        # When the last answer's probe began: what it says held at some point since then.
        self._asked_at: float | None = None
        self._inflight: anyio.Event | None = None
        self._released = 0  # waiters released since the target last came back
        self.waiting = 0  # publications waiting on it now
        self.probes = 0  # for tests and benchmarks

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def check(self, max_age: float = CHECK_FRESH_S) -> bool:
        """Does the target answer? An answer younger than `max_age` is reused; a probe in
        flight is waited for rather than doubled."""
        while True:
            at = self._asked_at
            if at is not None and self._clock() - at <= max_age:
                return not self.down
            if self._inflight is not None:
                await self._inflight.wait()
                if self._asked_at is not at:
                    return not self.down
                continue  # its asker was cancelled before the answer: ask again
            return await self._probe()

    async def _probe(self) -> bool:
        done = self._inflight = anyio.Event()
        try:
            self.probes += 1
            asked = self._clock()
            reason = await self._connect(self.host, self.port, self.probe_timeout_s)
            if reason is None:
                if self.down_since is not None:
                    self._released = 0  # a new recovery: slots count from zero again
                self.down_since = self.reason = None
            else:
                if self.down_since is None:
                    self.down_since = asked
                self.reason = reason
            self._asked_at = asked
            return reason is None
        finally:
            self._inflight = None
            done.set()

    async def wait_up(self) -> None:
        """Return once the target answers, after this waiter's release delay."""
        self.waiting += 1
        try:
            # A probe that times out takes probe_timeout_s itself: the next one starts at
            # once, so a black-holed target is asked (a fresh SYN) about once a second.
            every = self.probe_every_s
            while not await self.check(max_age=every):
                at = self._asked_at
                age = self._clock() - at if at is not None else every
                await anyio.sleep(max(0.0, every - age))
        finally:
            self.waiting -= 1
        slot, self._released = self._released, self._released + 1
        await anyio.sleep(release_delay(slot, self._rng(), step_s=self.release_step_s))
