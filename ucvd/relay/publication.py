"""The publication state machine: events in, new status and actions out
(docs/architecture.md §3).

Pure: no I/O, no clock, no randomness of its own (times and the jitter draw arrive inside
events). The supervisor performs the actions and feeds back what happened; every rule about
*when* to spawn, stop, wait or give up lives here, where a table of tests can pin it down.

    stopped --Start--> starting --Confirmed--> publishing
       ^                  |  ^                     |
       |              Failed  RetryDue           Failed
       |                  v  |                     v
       +---Stop------ reconnecting <---------------+
                          |  (limit reached or permanent fault)
                          v
                        failed
    starting/publishing --Stop--> stopping --Stopped--> stopped

A failure while the target does not answer (`Failed.target_down`) is the link's, not the
camera's: it goes to reconnecting like any other, but is not counted towards the backoff
or the reconnect limit, and the retry waits for the target to answer (`AwaitTarget`)
instead of a timer. A site cut off from the centre for an hour neither gives its cameras
up nor leaves them an hour-long backoff to wait out when the link comes back.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from ucvd.domain.errors import Fault
from ucvd.relay.backoff import BackoffPolicy


class Status(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # FFmpeg spawned, not yet confirmed at MediaMTX
    PUBLISHING = "publishing"  # confirmed live
    RECONNECTING = "reconnecting"  # waiting out a backoff delay, or for the target to answer
    STOPPING = "stopping"
    FAILED = "failed"  # gave up: reconnect limit reached or permanent fault

    # The questions asked of a status, each answered here only. STOPPING is a passage (to
    # stopped, or through a forced restart to starting): neither running nor startable.
    @property
    def may_start(self) -> bool:
        """Would a start spawn FFmpeg? Only when nothing runs or waits to: never started,
        stopped, or given up. Otherwise only a forced restart does anything."""
        return self in _MAY_START

    @property
    def running(self) -> bool:
        """Is it trying to publish: FFmpeg starting or up, or a retry pending? A failed
        publication is not: it gave up, and only an operator's start or restart brings it
        back (a reload or a settings change must not)."""
        return self in _RUNNING

    @property
    def has_process(self) -> bool:
        """Is its FFmpeg meant to be up (starting or publishing)?"""
        return self in _HAS_PROCESS


_MAY_START = frozenset({Status.STOPPED, Status.FAILED})
_RUNNING = frozenset({Status.STARTING, Status.PUBLISHING, Status.RECONNECTING})
_HAS_PROCESS = frozenset({Status.STARTING, Status.PUBLISHING})


# --- events ------------------------------------------------------------------------------
class Start(msgspec.Struct, frozen=True):
    force: bool = False  # restart even when already running


class Stop(msgspec.Struct, frozen=True):
    pass


class Confirmed(msgspec.Struct, frozen=True):
    now: float


class Failed(msgspec.Struct, frozen=True):
    fault: Fault
    now: float
    draw: float  # uniform in [0, 1), for the backoff jitter
    process_running: bool  # a watchdog fault: the process must be stopped first
    target_down: bool = False  # the target did not answer a probe made for this failure


class RetryDue(msgspec.Struct, frozen=True):
    pass


class Stopped(msgspec.Struct, frozen=True):
    """The process the supervisor was told to stop is gone (or there was none)."""


Event = Start | Stop | Confirmed | Failed | RetryDue | Stopped


# --- actions -----------------------------------------------------------------------------
class Spawn(msgspec.Struct, frozen=True):
    pass


class Terminate(msgspec.Struct, frozen=True):
    """Stop the process (stop ladder, reap), then feed `Stopped`."""


class Schedule(msgspec.Struct, frozen=True):
    delay_s: float  # feed `RetryDue` after this long, unless cancelled


class AwaitTarget(msgspec.Struct, frozen=True):
    """Feed `RetryDue` once the target answers again, unless cancelled."""


class CancelRetry(msgspec.Struct, frozen=True):
    pass


Action = Spawn | Terminate | Schedule | AwaitTarget | CancelRetry


class Publication:
    """One camera's publication: its runtime status and the counters operators see."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.status = Status.STOPPED
        self.failures = 0  # consecutive; reset by healthy publishing or an operator's start
        self.restarts = 0  # spawns after the first one of a start
        self.error_count = 0
        self.last_error: Fault | None = None
        self.publishing_since: float | None = None
        self.retry_in: float | None = None  # the delay scheduled by the last failure
        self.awaiting_target = False  # the retry waits for the target to answer
        self._restart_after_stop = False

    def handle(self, event: Event) -> list[Action]:
        match event:
            case Start(force=force):
                return self._start(force)
            case Stop():
                return self._stop()
            case Confirmed(now=now):
                if self.status is Status.STARTING:
                    self.status = Status.PUBLISHING
                    self.publishing_since = now
                return []
            case Failed():
                return self._failed(event)
            case RetryDue():
                if self.status is Status.RECONNECTING:
                    return self._spawn(restart=True)
                return []
            case Stopped():
                if self.status is Status.STOPPING:
                    if self._restart_after_stop:
                        self._restart_after_stop = False
                        return self._spawn(restart=True)
                    self.status = Status.STOPPED
                return []
        raise TypeError(f"unknown event {event!r}")  # pragma: no cover - exhaustive above

    def _spawn(self, *, restart: bool) -> list[Action]:
        self.status = Status.STARTING
        self.publishing_since = None
        self.retry_in = None
        self.awaiting_target = False
        if restart:
            self.restarts += 1
        return [Spawn()]

    def unforgiven(self, now: float) -> int:
        """The failures in a row as they stand at `now`: publishing healthily for long
        enough forgives them, though the count itself is reset only at the next failure."""
        if (
            self.status is Status.PUBLISHING
            and self.publishing_since is not None
            and self.policy.forgives(now - self.publishing_since)
        ):
            return 0
        return self.failures

    def _start(self, force: bool) -> list[Action]:
        if self.status.may_start:
            self.failures = 0  # an operator's start forgives the past
            self.restarts = 0
            return self._spawn(restart=False)
        if not force:
            return []
        if self.status is Status.PUBLISHING:
            # Live when an operator (or a reload) restarts it: what failed before is
            # history, and the restart must not read as a retry of a failing camera.
            self.failures = 0
        if self.status.has_process:
            self.status = Status.STOPPING
            self._restart_after_stop = True
            return [Terminate()]
        if self.status is Status.RECONNECTING:
            return [CancelRetry(), *self._spawn(restart=True)]
        # STOPPING: finish the stop, then start again.
        self._restart_after_stop = True
        return []

    def _stop(self) -> list[Action]:
        self._restart_after_stop = False
        if self.status.has_process:
            self.status = Status.STOPPING
            return [Terminate()]
        if self.status is Status.RECONNECTING:
            self.status = Status.STOPPED
            self.retry_in = None
            self.awaiting_target = False
            return [CancelRetry()]
        if self.status is Status.FAILED:
            self.status = Status.STOPPED
        return []

    def _failed(self, event: Failed) -> list[Action]:
        if not self.status.has_process:
            return []  # stale: the publication was stopped or restarted meanwhile
        if (
            self.status is Status.PUBLISHING
            and self.publishing_since is not None
            and self.policy.forgives(event.now - self.publishing_since)
        ):
            self.failures = 0
        self.error_count += 1
        self.last_error = event.fault
        self.publishing_since = None
        actions: list[Action] = [Terminate()] if event.process_running else []
        if event.target_down and not event.fault.permanent:
            self.status = Status.RECONNECTING
            self.retry_in = None
            self.awaiting_target = True
            return [*actions, AwaitTarget()]
        self.failures += 1
        if event.fault.permanent or self.policy.gives_up(self.failures):
            self.status = Status.FAILED
            self.retry_in = None
            return actions
        self.status = Status.RECONNECTING
        self.retry_in = self.policy.delay(self.failures, event.draw)
        return [*actions, Schedule(self.retry_in)]
