"""sd_notify's pure parts: when the watchdog applies, and what STATUS= says."""

from __future__ import annotations

import pytest

from ucvd.api import protocol as p
from ucvd.host.notify import Notifier, status_line, watchdog_interval


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "100"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "101"}, None),  # meant for another
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ, pid=100) == expected


def counts(**kw: int) -> p.Counts:
    base = {"cameras": 12, "targets": 1, "publishing": 0, "starting": 0, "reconnecting": 0,
            "failed": 0, "desired_publishing": 0}  # fmt: skip
    return p.Counts(**(base | kw))


@pytest.mark.parametrize(
    ("c", "target", "line"),
    [
        (counts(publishing=12, desired_publishing=12), "central", "12/12 cameras publishing"),
        (counts(), "central", "0/0 cameras publishing"),
        (counts(desired_publishing=3), None, "0/3 cameras publishing; no active target"),
        (
            counts(publishing=9, failed=1, reconnecting=2, desired_publishing=12),
            "central",
            "9/12 cameras publishing (1 failed, 2 reconnecting)",
        ),
        (counts(starting=4, desired_publishing=4), "c", "0/4 cameras publishing (4 starting)"),
    ],
)
def test_status_line(c: p.Counts, target: str | None, line: str) -> None:
    assert status_line(c, target=target) == line


def test_without_notify_socket_everything_is_a_no_op() -> None:
    n = Notifier(environ={"WATCHDOG_USEC": "1000000"})
    assert not n.enabled and n.watchdog_s is None
    n.ready("x")
    n.status("y")
    n.watchdog()
    n.reloading()
    n.stopping("z")
