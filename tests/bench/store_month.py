"""The state database after a simulated month with 100 cameras, and the latency of the
write a status change costs (a session opened or closed), with an injected clock.

Each simulated day: one raw metric sample per camera per minute (what the daemon writes),
a few sessions per camera (restarts and stops), then the retention pass the daemon runs.

    .venv/bin/python -m tests.bench.store_month [--cameras 100] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from tests.bench.procstat import machine
from tests.bench.time_to_live import RESULTS, percentile
from tests.harness.store_queries import sample_count
from ucvd.state.history import SessionRecord
from ucvd.state.store import Sample, Store

DAY = 24 * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sessions-per-day", type=int, default=4)
    parser.add_argument("--output", default="store_month.json")
    args = parser.parse_args()
    now = [1_800_000_000.0]
    with tempfile.TemporaryDirectory(prefix="ucvd-bench-") as tmp:
        db = Store(Path(tmp) / "state" / "ucvd.db", clock=lambda: now[0])
        latencies = []
        for day in range(args.days):
            start = now[0]
            for minute in range(DAY // 60):  # the daemon's per-minute checkpoint
                db.checkpoint(
                    [
                        Sample(
                            camera_id=f"cam-{c:03d}",
                            at=start + minute * 60,
                            fps=25.0,
                            bitrate_kbps=800.0,
                            readers=1,
                        )
                        for c in range(args.cameras)
                    ],
                    [],
                )
            for s in range(args.sessions_per_day):
                for c in range(args.cameras):
                    t0 = time.perf_counter()
                    opened = SessionRecord(
                        camera_id=f"cam-{c:03d}", target="central", started_at=start + s * 3600
                    )
                    sid = db.open_session(opened)
                    latencies.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    db.close_session(
                        sid,
                        msgspec.structs.replace(
                            opened, ended_at=opened.started_at + 60, end_reason="failed",
                            error_kind="stream_stalled", error_message="no new frames for 10 s",
                            restarts=1, frames=1500, bytes=4_000_000,
                        ),
                    )  # fmt: skip
                    latencies.append(time.perf_counter() - t0)
            now[0] += DAY
            db.compact_samples(now[0])
            print(f"day {day + 1}: {sample_count(db)}", flush=True)
        counts = sample_count(db)
        db.close()
        size = sum(f.stat().st_size for f in (Path(tmp) / "state").iterdir())
    result = {
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cameras": args.cameras,
        "days": args.days,
        "database_bytes": size,
        "database_mib": round(size / (1 << 20), 1),
        "metric_rows": {"raw": counts.get(0, 0), "hourly": counts.get(3600, 0)},
        "status_change_write_ms": {
            "median": round(statistics.median(latencies) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "writes": len(latencies),
        },
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
