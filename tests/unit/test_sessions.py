"""Session history from notifications: opened once, closed once, totals across restarts."""

from __future__ import annotations

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.relay.publication import Status
from ucvd.relay.status import MetricsSampled, PublicationMetrics, StatusChanged
from ucvd.state.history import CloseSession, OpenSession, SessionBook, SessionRecord


def change(
    old: Status,
    new: Status,
    error: Fault | None = None,
    *,
    target: str | None,
    restarts: int,
    stop_reason: str,
    at: float = 10.0,
) -> StatusChanged:
    return StatusChanged(
        camera_id="cam", old=old, new=new, error=error, at=at,
        target=target, restarts=restarts, reason=stop_reason,
    )  # fmt: skip


def sample(frames: int, bytes_in: int) -> MetricsSampled:
    return MetricsSampled(
        camera_id="cam", metrics=PublicationMetrics(frames=frames, bytes_in=bytes_in), at=1.0
    )


def test_a_session_spans_restarts_and_totals_fold() -> None:
    book = SessionBook()
    op = book.status(
        change(Status.STOPPED, Status.STARTING, target="t", restarts=0, stop_reason="stopped")
    )
    assert op == OpenSession(SessionRecord(camera_id="cam", target="t", started_at=10.0))
    book.metrics(sample(100, 1000))
    book.metrics(sample(250, 3000))
    fault = Fault(ErrorKind.STREAM_STALLED, "no new frames")
    for old, new in (
        (Status.PUBLISHING, Status.RECONNECTING),
        (Status.RECONNECTING, Status.STARTING),
    ):
        assert book.status(change(old, new, fault, target="t", restarts=1, stop_reason="x")) is None
    book.metrics(sample(40, 500))  # a new FFmpeg counts from zero again
    assert book.counters()[0].frames == 290
    close = book.status(change(Status.PUBLISHING, Status.STOPPED, target="t", restarts=1,
                               stop_reason="daemon_stopped", at=25.0))  # fmt: skip
    assert isinstance(close, CloseSession)
    closed = close.session
    assert (closed.end_reason, closed.frames, closed.bytes, closed.restarts) == (
        "daemon_stopped",
        290,
        3500,
        1,
    )
    assert closed.error_kind is None
    assert (closed.started_at, closed.ended_at, closed.target) == (10.0, 25.0, "t")
    assert not book.is_open("cam")


def test_giving_up_closes_with_the_error() -> None:
    book = SessionBook()
    book.status(change(Status.STOPPED, Status.STARTING, target=None, restarts=0, stop_reason=""))
    fault = Fault(ErrorKind.AUTH_FAILED, "camera refused the credentials")
    close = book.status(
        change(
            Status.STARTING, Status.FAILED, fault, target=None, restarts=2, stop_reason="stopped"
        )
    )
    assert isinstance(close, CloseSession)
    assert (close.session.end_reason, close.session.error_kind) == ("failed", "auth_failed")
    assert close.session.error_message == "camera refused the credentials"
    # Stopping a failed publication closes nothing more; starting it opens a new session.
    assert (
        book.status(
            change(Status.FAILED, Status.STOPPED, target=None, restarts=0, stop_reason="stopped")
        )
        is None
    )
    assert isinstance(
        book.status(
            change(Status.FAILED, Status.STARTING, target=None, restarts=0, stop_reason="")
        ),
        OpenSession,
    )
