"""The target's reachability probe: one probe for many waiters, released in slots."""

from __future__ import annotations

import socket
import time

import anyio
import pytest

from tests.harness.waiting import wait_until_async
from ucvd.domain.model import Target
from ucvd.relay.registry import Publications
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.uplink import RELEASE_AT_ONCE, Uplink, release_delay, tcp_answers

pytestmark = pytest.mark.anyio


class FakeTarget:
    """Answers or not, as the test says; counts the probes it was sent."""

    def __init__(self) -> None:
        self.up = True
        self.probes = 0

    async def connect(self, _host: str, _port: int, within_s: float) -> str | None:
        self.probes += 1
        await anyio.sleep(0.01)
        return None if self.up else f"no answer within {within_s:g} s"


def uplink(target: FakeTarget, release_step_s: float = 0.05) -> Uplink:
    return Uplink(
        "192.0.2.20", 8554, connect=target.connect, rng=lambda: 0.5,
        probe_every_s=0.1, probe_timeout_s=0.05, release_step_s=release_step_s,
    )  # fmt: skip


def outage(link: Uplink) -> tuple[bool, str | None, float | None]:
    return link.down, link.reason, link.down_since


@pytest.mark.parametrize(
    ("slot", "draw", "delay"),
    [(0, 0.0, 0.0), (0, 0.5, 0.125), (RELEASE_AT_ONCE - 1, 0.99, 0.2475),
     (RELEASE_AT_ONCE, 0.0, 0.25), (3 * RELEASE_AT_ONCE + 1, 1.0, 1.0), (0, 7.0, 0.25)],
)  # fmt: skip
def test_release_slots(slot: int, draw: float, delay: float) -> None:
    assert release_delay(slot, draw) == pytest.approx(delay)


async def test_concurrent_checks_share_one_probe_and_a_fresh_answer() -> None:
    target = FakeTarget()
    link = uplink(target)
    results: list[bool] = []

    async def check() -> None:
        results.append(await link.check())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(check)
    assert results == [True] * 20 and target.probes == 1
    assert await link.check() and target.probes == 1  # younger than max_age: reused
    assert await link.check(max_age=0.0) and target.probes == 2


async def test_down_is_recorded_with_its_reason_and_cleared_when_it_answers() -> None:
    target = FakeTarget()
    target.up = False
    link = uplink(target)
    assert not await link.check()
    assert link.down and link.down_since is not None
    assert link.reason == "no answer within 0.05 s"
    since = link.down_since
    assert not await link.check(max_age=0.0)
    assert link.down_since == since  # the outage began at the first probe that saw it
    target.up = True
    assert await link.check(max_age=0.0)
    assert outage(link) == (False, None, None)


async def test_waiters_share_one_probe_per_period_and_are_released_in_slots() -> None:
    target = FakeTarget()
    target.up = False
    step = 0.05
    link = uplink(target, release_step_s=step)
    waiters = 3 * RELEASE_AT_ONCE
    released: list[float] = []

    async def wait() -> None:
        await link.wait_up()
        released.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for _ in range(waiters):
            tg.start_soon(wait)
        with anyio.fail_after(5):
            while link.waiting < waiters or target.probes < 5:
                await anyio.sleep(0.01)
        probes_while_down = target.probes
        down_for = time.monotonic() - (link.down_since or 0.0)
        assert released == []
        target.up = True
        back_at = time.monotonic()
    assert len(released) == waiters and link.waiting == 0
    # One probe per period for all of them, not one per waiter.
    assert probes_while_down <= down_for / 0.1 + 2
    # Slots: never more than RELEASE_AT_ONCE in one step (sleep never returns early).
    for k, at in enumerate(sorted(released)):
        assert at - back_at >= (k // RELEASE_AT_ONCE) * step


async def test_a_cancelled_prober_does_not_leave_the_others_waiting() -> None:
    target = FakeTarget()
    link = uplink(target)

    async def slow(_host: str, _port: int, _within_s: float) -> str | None:
        target.probes += 1
        await anyio.sleep(0.2)
        return None

    link._connect = slow
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.check)
        await wait_until_async(lambda: target.probes == 1, timeout=2, what="a probe in flight")
        tg.cancel_scope.cancel()
    with anyio.fail_after(2):
        assert await link.check()
    assert target.probes == 2


async def test_tcp_probe_against_a_real_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert await tcp_answers("127.0.0.1", port, 1.0) is None
    # The same port, now closed: refused at once.
    assert await tcp_answers("127.0.0.1", port, 1.0) == "connection refused"


async def test_a_scrape_s_probe_is_its_own_and_never_leaves_a_stale_no() -> None:
    """The reachability a scrape asks for: a failed answer is not kept for the cameras'
    probe (nor for `health`), and the next answer is asked afresh."""
    answers = ["connection refused", None]
    asked: list[tuple[str, int]] = []

    async def connect(host: str, port: int, _within: float) -> str | None:
        asked.append((host, port))
        return answers.pop(0)

    pubs = Publications(
        settings=SupervisorSettings(), ffmpeg="ffmpeg", tag_prefix="test:", probe_connect=connect
    )
    target = Target(name="central", rtsp_url="rtsp://192.0.2.20:8554")
    cameras_probe = pubs._uplink(target)  # as a camera once started there leaves it
    assert await pubs.reachable(target, max_age=60.0) is False
    assert not cameras_probe.down and cameras_probe.probes == 0
    assert pubs.uplinks_down() == []
    assert await pubs.reachable(target, max_age=60.0) is False  # young enough: not asked
    assert asked == [("192.0.2.20", 8554)]
    assert await pubs.reachable(target, max_age=0.0) is True
    assert asked == [("192.0.2.20", 8554)] * 2
    assert pubs.uplinks_down() == []
