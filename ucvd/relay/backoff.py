"""How long to wait before the next attempt, and when to stop trying
(docs/architecture.md §3).

Pure: the random draw is passed in, so tests choose it and supervisors use `random.random`.
The delay never exceeds the nominal exponential value (jitter only shortens it), which
gives tests and operators a hard upper bound: camera back -> publishing within
`delay_bound(failures)` plus the start time.
"""

from __future__ import annotations

import msgspec


class BackoffPolicy(msgspec.Struct, frozen=True, kw_only=True):
    initial_s: float = 1.0  # the first retry's nominal delay (the target's reconnect_delay)
    factor: float = 2.0
    cap_s: float = 60.0
    jitter: float = 0.2  # the delay is drawn in [nominal * (1 - jitter), nominal]
    healthy_after_s: float = 30.0  # publishing this long forgives every earlier failure
    max_reconnects: int = 0  # reconnect attempts in a row before giving up; 0 = never

    def delay_bound(self, failures: int) -> float:
        """Nominal delay before attempt number `failures + 1` (failures >= 1)."""
        exponent = max(0, failures - 1)
        # A loop that stops at the cap cannot overflow, however many failures pile up.
        nominal = self.initial_s
        for _ in range(exponent):
            nominal *= self.factor
            if nominal >= self.cap_s:
                return self.cap_s
        return min(nominal, self.cap_s)

    def delay(self, failures: int, draw: float) -> float:
        """The delay to wait, `draw` being uniform in [0, 1)."""
        bound = self.delay_bound(failures)
        return bound * (1.0 - self.jitter * min(max(draw, 0.0), 1.0))

    def gives_up(self, failures: int) -> bool:
        """After `failures` consecutive failures, is another reconnect one too many?"""
        return self.max_reconnects > 0 and failures > self.max_reconnects

    def forgives(self, healthy_for_s: float) -> bool:
        return healthy_for_s >= self.healthy_after_s
