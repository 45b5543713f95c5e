from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucvd.relay.backoff import BackoffPolicy

POLICY = BackoffPolicy(initial_s=1.0, factor=2.0, cap_s=60.0, jitter=0.2)


@pytest.mark.parametrize(
    ("failures", "bound"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (8, 60.0), (10_000, 60.0)],
)
def test_delay_bound_doubles_then_caps(failures: int, bound: float) -> None:
    assert POLICY.delay_bound(failures) == bound


@pytest.mark.parametrize(
    ("draw", "delay"), [(0.0, 4.0), (0.5, 3.6), (0.999999, 3.2000008), (-1.0, 4.0), (2.0, 3.2)]
)
def test_jitter_only_shortens(draw: float, delay: float) -> None:
    assert POLICY.delay(3, draw) == pytest.approx(delay)


@given(st.integers(min_value=1, max_value=500), st.floats(min_value=0.0, max_value=1.0))
def test_delay_within_jitter_band(failures: int, draw: float) -> None:
    bound = POLICY.delay_bound(failures)
    assert bound * 0.8 - 1e-9 <= POLICY.delay(failures, draw) <= bound


@pytest.mark.parametrize(
    ("max_reconnects", "failures", "gives_up"),
    [(0, 1, False), (0, 10_000, False), (3, 3, False), (3, 4, True), (1, 1, False), (1, 2, True)],
)
def test_gives_up(max_reconnects: int, failures: int, gives_up: bool) -> None:
    assert BackoffPolicy(max_reconnects=max_reconnects).gives_up(failures) is gives_up


def test_forgives_after_a_healthy_stretch() -> None:
    policy = BackoffPolicy(healthy_after_s=30)
    assert not policy.forgives(29.9)
    assert policy.forgives(30.0)
