"""What the camera simulators cost: can this machine carry a hundred of them and ucvd too?

Starts the feed and N simulated cameras, each with one reader attached (as ucvd's FFmpeg
would be), lets them settle, then measures over a window: CPU of the cameras, the feed and
its feeders (percent of one core), and their PSS. Run:

    .venv/bin/python -m tests.bench.harness_cost [--cameras 100] [--window 30]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.procstat import cpu_seconds, machine, pss_kib
from tests.harness.lab import lab
from tests.harness.procs import Proc
from tests.harness.relay import plain_reader_argv

RESULTS = Path(__file__).parent / "results"


def measure(groups: dict[str, list[Proc]], window: float) -> dict[str, dict[str, float]]:
    start = {name: sum(cpu_seconds(p.pid) for p in procs) for name, procs in groups.items()}
    time.sleep(window)  # a measurement window, not a wait for a condition
    out: dict[str, dict[str, float]] = {}
    for name, procs in groups.items():
        used = sum(cpu_seconds(p.pid) for p in procs) - start[name]
        out[name] = {
            "processes": len(procs),
            "cpu_pct_of_one_core": round(100 * used / window, 2),
            "pss_mib": round(sum(pss_kib(p.pid) for p in procs) / 1024, 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()

    with lab("ucvd-bench-") as env:
        tools, registry = env.tools, env.registry
        t0 = time.monotonic()
        cams = env.cameras.add_many(args.cameras, timeout=120)
        started = time.monotonic() - t0
        print(f"{args.cameras} cameras serving after {started:.1f} s", flush=True)
        readers = [
            registry.spawn(f"reader-{c.name}", plain_reader_argv(tools, c.url)) for c in cams
        ]
        time.sleep(5)  # settle: let every reader get past its probe
        groups = {
            "cameras": [c.server.proc for c in cams if c.server.proc],
            "feed_server_and_feeders": [
                *([env.feed.server.proc] if env.feed.server.proc else []),
                *env.feed.feeders.values(),
            ],
            "readers_plain_ffmpeg": readers,
        }
        figures = measure(groups, args.window)
        dead = [r.name for r in readers if not r.alive()]
    result = {
        "benchmark": "harness_cost",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cameras": args.cameras,
        "window_s": args.window,
        "start_all_s": round(started, 2),
        "readers_died": dead,
        "groups": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "harness_cost.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, fig in figures.items():
        print(
            f"{name:<26} n={fig['processes']:<4} cpu {fig['cpu_pct_of_one_core']:6.2f}% "
            f"of one core  pss {fig['pss_mib']:8.1f} MiB"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
