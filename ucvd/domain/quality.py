"""A camera's connection quality in one word, by a rule an operator can check by hand.

"Publishing" says the stream is at the centre now; it does not say it got there after ten
reconnects this hour. The rating weighs the last hour's reconnects and stalls:

- off: the operator has not asked it to publish;
- down: asked to publish, and not publishing now;
- poor: publishing, with at least POOR_AT reconnects, or POOR_AT stalls, in the last hour;
- fair: publishing, with at least one reconnect or stall in the last hour;
- good: publishing, and neither in the last hour.
"""

from __future__ import annotations

from typing import Literal

Quality = Literal["good", "fair", "poor", "down", "off"]
QUALITIES: tuple[Quality, ...] = ("good", "fair", "poor", "down", "off")
POOR_AT = 3


def quality(
    *, publishing: bool, desired_publishing: bool, reconnects_last_hour: int, stalls_last_hour: int
) -> Quality:
    if not desired_publishing and not publishing:
        return "off"
    if not publishing:
        return "down"
    worst = max(reconnects_last_hour, stalls_last_hour)
    if worst >= POOR_AT:
        return "poor"
    if worst > 0:
        return "fair"
    return "good"
