"""Each camera's lifetime counters and last hour, from status notifications alone; and the
quality rating built on them."""

from __future__ import annotations

import pytest

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.quality import quality
from ucvd.relay.publication import Status
from ucvd.relay.status import StatusChanged
from ucvd.state.tally import Tally

S = Status
STALL = Fault(ErrorKind.STREAM_STALLED, "no new frames for 10 s")
REFUSED = Fault(ErrorKind.CONNECTION_FAILED, "connection refused")


def note(old: Status, new: Status, error: Fault | None = None, at: float = 0.0) -> StatusChanged:
    return StatusChanged(camera_id="cam", old=old, new=new, error=error, at=at)


def feed(tally: Tally, *notes: StatusChanged) -> None:
    for n in notes:
        tally.status(n)


def test_a_publication_that_stalls_twice_counts_two_stalls_and_two_restarts() -> None:
    tally = Tally()
    feed(
        tally,
        note(S.STOPPED, S.STARTING),  # the operator's start: not a restart
        note(S.STARTING, S.PUBLISHING),
        note(S.PUBLISHING, S.RECONNECTING, STALL, at=100),
        note(S.RECONNECTING, S.STARTING, at=101),
        note(S.STARTING, S.RECONNECTING, REFUSED, at=102),
        note(S.RECONNECTING, S.STARTING, at=104),
        note(S.STARTING, S.PUBLISHING),
        note(S.PUBLISHING, S.RECONNECTING, STALL, at=200),
        note(S.RECONNECTING, S.STARTING, at=201),
    )
    cam = tally.of("cam")
    assert cam.restarts == 3
    assert cam.errors == {"stream_stalled": 2, "connection_failed": 1}
    assert cam.stalls == 2
    assert (cam.reconnects_since(0), cam.stalls_since(0)) == (3, 2)
    # The last hour slides: only what happened after `since` counts.
    assert (cam.reconnects_since(150), cam.stalls_since(150)) == (1, 1)


def test_a_forced_restart_counts_as_a_restart_but_not_as_a_reconnect() -> None:
    tally = Tally()
    feed(tally, note(S.PUBLISHING, S.STOPPING), note(S.STOPPING, S.STARTING, at=5))
    assert tally.of("cam").restarts == 1
    assert tally.of("cam").reconnects_since(0) == 0


def test_giving_up_counts_the_error_once_and_stopping_counts_nothing() -> None:
    tally = Tally()
    auth = Fault(ErrorKind.AUTH_FAILED, "401")
    feed(
        tally,
        note(S.STARTING, S.FAILED, auth),
        note(S.FAILED, S.STOPPED),
        note(S.STOPPED, S.STARTING),
        note(S.STARTING, S.STOPPING),
        note(S.STOPPING, S.STOPPED),
    )
    assert tally.of("cam").errors == {"auth_failed": 1}
    assert tally.of("cam").restarts == 0


def test_saved_counters_are_continued_and_only_changed_cameras_are_saved_again() -> None:
    tally = Tally()
    tally.load({"cam": {"restarts": 7, "error:stream_stalled": 4}, "other": {"restarts": 1}})
    assert tally.of("cam").stalls == 4
    feed(tally, note(S.PUBLISHING, S.RECONNECTING, STALL), note(S.RECONNECTING, S.STARTING))
    assert tally.changed() == [
        ("cam", "restarts", 8),
        ("cam", "error:stream_stalled", 5),
    ]
    assert tally.changed() == []  # saved: nothing new since


def test_a_forgotten_camera_counts_from_zero_and_is_not_saved() -> None:
    tally = Tally()
    feed(tally, note(S.RECONNECTING, S.STARTING))
    tally.forget("cam")
    assert tally.changed() == []
    assert tally.of("cam").restarts == 0


@pytest.mark.parametrize(
    ("publishing", "desired", "reconnects", "stalls", "expected"),
    [
        (False, False, 0, 0, "off"),
        (False, True, 0, 0, "down"),
        (False, True, 9, 9, "down"),
        (True, True, 0, 0, "good"),
        (True, False, 0, 0, "good"),  # publishing while stopping is asked: still rated
        (True, True, 1, 0, "fair"),
        (True, True, 0, 2, "fair"),
        (True, True, 3, 0, "poor"),
        (True, True, 2, 3, "poor"),
    ],
)
def test_quality_rule(
    publishing: bool, desired: bool, reconnects: int, stalls: int, expected: str
) -> None:
    assert (
        quality(
            publishing=publishing,
            desired_publishing=desired,
            reconnects_last_hour=reconnects,
            stalls_last_hour=stalls,
        )
        == expected
    )


def test_counters_of_a_failed_checkpoint_are_saved_again_next_time() -> None:
    tally = Tally()
    feed(tally, note(S.RECONNECTING, S.STARTING))
    rows = tally.changed()
    assert rows == [("cam", "restarts", 1)]
    tally.unsaved(rows)  # the write failed
    feed(tally, note(S.RECONNECTING, S.STARTING))
    assert tally.changed() == [("cam", "restarts", 2)]
    tally.unsaved([("gone", "restarts", 3)])  # forgotten (never counted here): not saved
    assert tally.changed() == []
