"""Which cameras `ucvctl health` names: a retrying camera is named at every instant."""

from __future__ import annotations

import pytest

from ucvd.control.views import camera_problem, status_view
from ucvd.domain.errors import ErrorKind, Fault
from ucvd.relay.publication import Status
from ucvd.relay.status import PublicationMetrics, PublicationState

REFUSED = Fault(ErrorKind.AUTH_FAILED, "the camera refused the credentials (401)")


def state(status: Status, *, failures: int, fault: Fault | None = REFUSED) -> PublicationState:
    return PublicationState(
        camera_id="cam", status=status, path="camera_cam", pid=None, restarts=failures,
        error_count=failures, failures=failures, last_error=fault, last_error_at=1.0e9,
        retry_in_s=2.0 if status is Status.RECONNECTING else None, waiting_for_target=False,
        metrics=PublicationMetrics(),
    )  # fmt: skip


def problem(s: PublicationState) -> str | None:
    view = status_view("cam", s, desired="publishing", target="central", path="camera_cam")
    assert view.consecutive_failures == s.failures  # what the RPC shows is what the rule read
    return camera_problem(view)


@pytest.mark.parametrize(
    ("status", "failures", "expected"),
    [
        (Status.RECONNECTING, 3, "cam is reconnecting: auth_failed: the camera refused"),
        (Status.FAILED, 3, "cam is failed: auth_failed: the camera refused"),
        # Inside the next attempt it is just as dark: the answer must not depend on the instant.
        (Status.STARTING, 3, "cam is retrying after 3 failures: auth_failed: the camera refused"),
        (Status.STARTING, 1, "cam is retrying after 1 failure: auth_failed: the camera refused"),
    ],
)
def test_a_failing_camera_is_named_between_and_inside_its_attempts(
    status: Status, failures: int, expected: str
) -> None:
    said = problem(state(status, failures=failures))
    assert said is not None and said.startswith(expected), said


@pytest.mark.parametrize(
    ("status", "failures"),
    [
        (Status.STARTING, 0),  # a first attempt, or one an operator's start began afresh
        (Status.PUBLISHING, 2),  # live again, failures not yet forgiven: not dark
        (Status.STOPPED, 0),
        (Status.STOPPING, 4),
    ],
)
def test_a_camera_not_known_to_be_dark_is_not_named(status: Status, failures: int) -> None:
    assert problem(state(status, failures=failures)) is None
