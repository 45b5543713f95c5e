"""Control plane with N cameras publishing through a real ucvd: `ucvctl status` wall time
(the process an operator runs, start to exit) and the `publishing.status` round trip.

    .venv/bin/python -m tests.bench.control_plane [--cameras 20] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from tests.bench.procstat import machine
from tests.bench.time_to_live import RESULTS, percentile
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.lab import lab
from ucvctl.client import Client
from ucvd.api import protocol as p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--output", default="control_plane.json")
    args = parser.parse_args()
    with lab("ucvd-bench-") as env:
        server = env.central(log_level="warn")
        sims = env.cameras.add_many(args.cameras)
        d = Ucvd(env.registry, env.workdir / "ucvd").start()
        add_target(d, server).check()
        for i, sim in enumerate(sims):
            add_camera(d, sim, f"cam-{i:03d}").check()
            d.ctl("publish", f"cam-{i:03d}").check()
        for i in range(args.cameras):
            d.wait_status(f"cam-{i:03d}", "publishing", timeout=120)
        print(f"{args.cameras} cameras publishing", flush=True)
        walls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            out = d.ctl("status").check().stdout
            walls.append(time.perf_counter() - started)
            assert f"{args.cameras} of {args.cameras} cameras active" in out
        rtts = []
        with Client(str(d.socket)) as client:
            for _ in range(args.runs * 10):
                started = time.perf_counter()
                client.call_raw("publishing.status", p.StatusQuery())
                rtts.append(time.perf_counter() - started)
        d.terminate()
    result = {
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cameras": args.cameras,
        "ucvctl_status_wall_ms": {
            "median": round(statistics.median(walls) * 1000, 1),
            "p95": round(percentile(walls, 0.95) * 1000, 1),
            "runs": len(walls),
        },
        "publishing_status_rtt_ms": {
            "median": round(statistics.median(rtts) * 1000, 2),
            "p99": round(percentile(rtts, 0.99) * 1000, 2),
            "runs": len(rtts),
        },
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
