"""The publication state machine, transition by transition."""

from __future__ import annotations

import pytest

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.relay.backoff import BackoffPolicy
from ucvd.relay.publication import (
    Action,
    AwaitTarget,
    CancelRetry,
    Confirmed,
    Event,
    Failed,
    Publication,
    RetryDue,
    Schedule,
    Spawn,
    Start,
    Status,
    Stop,
    Stopped,
    Terminate,
)

POLICY = BackoffPolicy(initial_s=1.0, factor=2.0, cap_s=8.0, jitter=0.0, healthy_after_s=30.0)
CRASH = Fault(ErrorKind.PROCESS_CRASHED, "boom")
CONFIG = Fault(ErrorKind.CONFIG_ERROR, "bad option")


DARK = Fault(ErrorKind.MEDIAMTX_UNREACHABLE, "MediaMTX does not answer")


def fail(fault: Fault = CRASH, now: float = 0.0, running: bool = False) -> Failed:
    return Failed(fault=fault, now=now, draw=0.0, process_running=running)


def dark(running: bool = False, fault: Fault = DARK) -> Failed:
    """A failure while the target does not answer."""
    return Failed(fault=fault, now=0.0, draw=0.0, process_running=running, target_down=True)


def drive(events: list[Event], policy: BackoffPolicy = POLICY) -> tuple[Publication, list[Action]]:
    pub = Publication(policy)
    actions: list[Action] = []
    for event in events:
        actions = pub.handle(event)
    return pub, actions


# (description, events, final status, actions of the last event)
TABLE: list[tuple[str, list[Event], Status, list[Action]]] = [
    ("start spawns", [Start()], Status.STARTING, [Spawn()]),
    ("confirmed -> publishing", [Start(), Confirmed(1)], Status.PUBLISHING, []),
    ("start while starting is a no-op", [Start(), Start()], Status.STARTING, []),
    ("start while publishing is a no-op", [Start(), Confirmed(1), Start()], Status.PUBLISHING, []),
    ("force restart stops first", [Start(), Confirmed(1), Start(force=True)], Status.STOPPING,
     [Terminate()]),
    ("... then spawns again", [Start(), Confirmed(1), Start(force=True), Stopped()],
     Status.STARTING, [Spawn()]),
    ("stop while publishing", [Start(), Confirmed(1), Stop()], Status.STOPPING, [Terminate()]),
    ("stop completes", [Start(), Stop(), Stopped()], Status.STOPPED, []),
    ("stop when stopped is a no-op", [Stop()], Status.STOPPED, []),
    ("crash -> reconnecting with backoff", [Start(), Confirmed(1), fail(now=2)],
     Status.RECONNECTING, [Schedule(1.0)]),
    ("second crash doubles", [Start(), fail(), RetryDue(), fail()], Status.RECONNECTING,
     [Schedule(2.0)]),
    ("delays cap", [Start(), fail(), RetryDue(), fail(), RetryDue(), fail(), RetryDue(), fail(),
                    RetryDue(), fail(), RetryDue(), fail()], Status.RECONNECTING, [Schedule(8.0)]),
    ("retry due spawns", [Start(), fail(), RetryDue()], Status.STARTING, [Spawn()]),
    ("watchdog fault stops the process before waiting",
     [Start(), fail(Fault(ErrorKind.STREAM_STALLED, "no progress"), running=True)],
     Status.RECONNECTING, [Terminate(), Schedule(1.0)]),
    ("stop during backoff cancels the retry", [Start(), fail(), Stop()], Status.STOPPED,
     [CancelRetry()]),
    ("a late retry after stop does nothing", [Start(), fail(), Stop(), RetryDue()],
     Status.STOPPED, []),
    ("force start during backoff retries now", [Start(), fail(), Start(force=True)],
     Status.STARTING, [CancelRetry(), Spawn()]),
    ("plain start during backoff waits", [Start(), fail(), Start()], Status.RECONNECTING, []),
    ("permanent fault fails at once", [Start(), fail(CONFIG)], Status.FAILED, []),
    ("permanent watchdog fault still stops the process", [Start(), fail(CONFIG, running=True)],
     Status.FAILED, [Terminate()]),
    ("start after failed spawns again", [Start(), fail(CONFIG), Start()], Status.STARTING,
     [Spawn()]),
    ("stop after failed -> stopped", [Start(), fail(CONFIG), Stop()], Status.STOPPED, []),
    ("failure after stop is stale", [Start(), Stop(), fail()], Status.STOPPING, []),
    ("confirmation while stopping is ignored", [Start(), Stop(), Confirmed(1)], Status.STOPPING,
     []),
    ("stop cancels a pending force restart", [Start(), Start(force=True), Stop(), Stopped()],
     Status.STOPPED, []),
    ("force start while stopping restarts after", [Start(), Stop(), Start(force=True), Stopped()],
     Status.STARTING, [Spawn()]),
    ("stopped in reconnecting (after a watchdog stop) is ignored",
     [Start(), fail(running=True), Stopped()], Status.RECONNECTING, []),
    ("target down: the retry waits for it, no timer", [Start(), Confirmed(1), dark()],
     Status.RECONNECTING, [AwaitTarget()]),
    ("target down after a stall: stop the process, then wait",
     [Start(), Confirmed(1), dark(running=True)], Status.RECONNECTING,
     [Terminate(), AwaitTarget()]),
    ("target back: the retry spawns", [Start(), dark(), RetryDue()], Status.STARTING, [Spawn()]),
    ("stop while waiting for the target cancels the wait", [Start(), dark(), Stop()],
     Status.STOPPED, [CancelRetry()]),
    ("force start while waiting for the target retries now", [Start(), dark(), Start(True)],
     Status.STARTING, [CancelRetry(), Spawn()]),
    ("a permanent fault fails even with the target down", [Start(), dark(fault=CONFIG)],
     Status.FAILED, []),
    ("a camera failure after the target came back counts from where it was",
     [Start(), fail(), RetryDue(), dark(), RetryDue(), fail()], Status.RECONNECTING,
     [Schedule(2.0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("events", "status", "actions"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_transitions(events: list[Event], status: Status, actions: list[Action]) -> None:
    pub, last = drive(events)
    assert pub.status is status
    assert last == actions


def test_max_reconnects_gives_up_after_that_many_retries() -> None:
    policy = BackoffPolicy(jitter=0.0, max_reconnects=2)
    pub = Publication(policy)
    pub.handle(Start())
    assert pub.handle(fail()) == [Schedule(1.0)]
    pub.handle(RetryDue())
    assert pub.handle(fail()) == [Schedule(2.0)]
    pub.handle(RetryDue())
    assert pub.handle(fail()) == []
    assert pub.status is Status.FAILED
    assert pub.restarts == 2 and pub.error_count == 3 and pub.last_error == CRASH


def test_healthy_publishing_resets_the_failure_count() -> None:
    pub = Publication(POLICY)
    pub.handle(Start())
    for _ in range(3):  # three quick failures: the next delay would be 8 s
        pub.handle(fail())
        pub.handle(RetryDue())
    pub.handle(Confirmed(100.0))
    assert pub.handle(fail(now=131.0)) == [Schedule(1.0)]  # 31 s healthy: forgiven
    assert pub.failures == 1


def test_short_publishing_does_not_reset() -> None:
    pub = Publication(POLICY)
    pub.handle(Start())
    pub.handle(fail())
    pub.handle(RetryDue())
    pub.handle(Confirmed(100.0))
    assert pub.handle(fail(now=105.0)) == [Schedule(2.0)]


def test_operator_start_forgives_and_resets_counters() -> None:
    pub = Publication(BackoffPolicy(jitter=0.0, max_reconnects=1))
    pub.handle(Start())
    pub.handle(fail())
    pub.handle(RetryDue())
    pub.handle(fail())
    assert pub.status is Status.FAILED
    pub.handle(Start())
    assert (pub.failures, pub.restarts) == (0, 0)
    assert pub.handle(fail()) == [Schedule(1.0)]


def test_jitter_draw_is_used() -> None:
    pub = Publication(BackoffPolicy(initial_s=10.0, jitter=0.5))
    pub.handle(Start())
    assert pub.handle(Failed(fault=CRASH, now=0, draw=1.0, process_running=False)) == [
        Schedule(5.0)
    ]
    assert pub.retry_in == 5.0


def test_failures_while_the_target_is_down_never_count_nor_give_up() -> None:
    """An hour without the centre must not leave a camera failed, nor a long backoff."""
    pub = Publication(BackoffPolicy(jitter=0.0, max_reconnects=2))
    pub.handle(Start())
    for _ in range(50):
        assert pub.handle(dark()) == [AwaitTarget()]
        assert pub.status is Status.RECONNECTING and pub.awaiting_target
        assert pub.retry_in is None
        assert pub.handle(RetryDue()) == [Spawn()]
        assert not pub.awaiting_target
    assert pub.failures == 0 and pub.error_count == 50 and pub.restarts == 50
    assert pub.last_error == DARK
    assert pub.handle(fail()) == [Schedule(1.0)]  # the camera's own first failure


# What each status answers to the questions asked of it elsewhere (the service, the
# registry, a reload): (status, may start, running, FFmpeg meant to be up).
PREDICATES = [
    (Status.STOPPED, True, False, False),
    (Status.STARTING, False, True, True),
    (Status.PUBLISHING, False, True, True),
    (Status.RECONNECTING, False, True, False),
    (Status.STOPPING, False, False, False),  # its FFmpeg is on the way out
    (Status.FAILED, True, False, False),
]

# A way into each status, to check the machine acts as the predicates say.
REACH: dict[Status, list[Event]] = {
    Status.STOPPED: [],
    Status.STARTING: [Start()],
    Status.PUBLISHING: [Start(), Confirmed(1)],
    Status.RECONNECTING: [Start(), fail()],
    Status.STOPPING: [Start(), Stop()],
    Status.FAILED: [Start(), fail(CONFIG)],
}


def test_the_predicates_cover_every_status() -> None:
    assert {row[0] for row in PREDICATES} == set(Status) == set(REACH)


@pytest.mark.parametrize(("status", "may_start", "running", "has_process"), PREDICATES)
def test_status_predicates(
    status: Status, may_start: bool, running: bool, has_process: bool
) -> None:
    assert (status.may_start, status.running, status.has_process) == (
        may_start, running, has_process,
    )  # fmt: skip


@pytest.mark.parametrize(("status", "may_start", "running", "has_process"), PREDICATES)
def test_the_machine_agrees_with_the_predicates(
    status: Status, may_start: bool, running: bool, has_process: bool
) -> None:
    pub, _ = drive(REACH[status])
    assert pub.status is status
    spawned = Spawn() in pub.handle(Start())
    assert spawned is may_start  # a plain start spawns exactly when the status says it may
    pub, _ = drive(REACH[status])
    stop = pub.handle(Stop())
    assert (Terminate() in stop) is has_process  # only a process is terminated
    assert (CancelRetry() in stop) is (running and not has_process)  # a pending retry


def test_failures_stand_until_healthy_publishing_forgives_them() -> None:
    pub = Publication(POLICY)
    pub.handle(Start())
    pub.handle(fail())
    pub.handle(RetryDue())
    assert pub.unforgiven(50.0) == 1  # retrying: the failure stands
    pub.handle(Confirmed(100.0))
    assert pub.unforgiven(105.0) == 1  # live, not yet for long
    assert pub.unforgiven(130.0) == 0  # 30 s healthy: forgiven, before the next failure
    assert pub.failures == 1  # (the count itself is reset at the next failure)


def test_a_forced_restart_of_a_live_camera_is_no_retry() -> None:
    """`ucvctl restart` (or a reload) of a camera that publishes: its old failures do not
    make the new attempt a retry, which `ucvctl health` would name."""
    pub = Publication(POLICY)
    pub.handle(Start())
    pub.handle(fail())
    pub.handle(RetryDue())
    pub.handle(Confirmed(100.0))
    assert pub.handle(Start(force=True)) == [Terminate()]
    pub.handle(Stopped())
    assert pub.status is Status.STARTING
    assert pub.failures == 0


def test_a_forced_restart_of_a_retrying_camera_keeps_its_failures() -> None:
    pub = Publication(POLICY)
    pub.handle(Start())
    pub.handle(fail())
    assert pub.status is Status.RECONNECTING
    pub.handle(Start(force=True))
    assert str(pub.status) == "starting"  # (mypy narrows `is` across calls)
    assert pub.failures == 1  # still failing: the restart is another try, named by health
