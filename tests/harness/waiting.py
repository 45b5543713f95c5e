"""Waiting for a condition instead of sleeping past a race."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import anyio

from tests.harness.errors import HarnessError

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The awaited condition never held; an AssertionError so pytest shows it as a failure."""


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
    max_interval: float = 0.5,
) -> T:
    """Poll `probe` until it returns a truthy value, and return that value.

    The interval grows gently so a long wait does not spin, while a short one reacts fast.
    Exceptions from `probe` count as "not yet" (the last one is chained on timeout so the
    failure says what was actually going wrong), except `HarnessError`, which means the
    condition can no longer come true and ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value, last_error = _ask(probe)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, last_error)
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)


async def wait_until_async(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.01,
) -> T:
    """`wait_until` inside an event loop: the loop (and whatever runs in it, a supervisor,
    a child's pipe readers) goes on between probes. `probe` must not block."""
    last_error: Exception | None = None
    with anyio.move_on_after(timeout):
        while True:
            value, last_error = _ask(probe)
            if value:
                return value
            await anyio.sleep(interval)
    raise _timed_out(timeout, what, last_error)


def _ask(probe: Callable[[], T | None]) -> tuple[T | None, Exception | None]:
    """One look: the probe's value, or the exception that counts as "not yet".
    `HarnessError` means the condition can no longer come true: it propagates."""
    try:
        return probe(), None
    except HarnessError:
        raise
    except Exception as exc:
        return None, exc


def _timed_out(
    timeout: float, what: str | Callable[[], str], last_error: Exception | None
) -> WaitTimeout:
    detail = f" (last error: {last_error!r})" if last_error else ""
    label = what() if callable(what) else what  # a callable says what it saw last
    error = WaitTimeout(f"timed out after {timeout:.1f}s waiting for {label}{detail}")
    error.__cause__ = last_error  # the failure says what was actually going wrong
    return error
