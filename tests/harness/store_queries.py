"""Questions only tests and benchmarks ask of the state database, beside the daemon's own
(`ucvd.state.store.Store`): they read through the store's engine, never write."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ucvd.state.store import SampleRow, Store


def schema_version(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("PRAGMA user_version")).scalar() or 0)


def sample_count(store: Store) -> dict[int, int]:
    """Metric samples by period: 0 for raw samples, 3600 for hourly averages."""
    with Session(store.engine) as s:
        rows = s.execute(select(SampleRow.period_s, func.count()).group_by(SampleRow.period_s))
        return {int(period): int(count) for period, count in rows}


def samples(store: Store, camera_id: str, since: float) -> list[tuple[float, int, float | None]]:
    """(at, period_s, fps) of one camera since a time, oldest first."""
    with Session(store.engine) as s:
        rows = s.execute(
            select(SampleRow.at, SampleRow.period_s, SampleRow.fps)
            .where(SampleRow.camera_id == camera_id, SampleRow.at >= since)
            .order_by(SampleRow.at)
        )
        return [(float(a), int(p), f) for a, p, f in rows]
