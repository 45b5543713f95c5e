"""The benchmark suite: how many cameras, how fast, at what cost, against baselines.

    .venv/bin/python -m tests.bench.suite [--quick] [--only SCENARIO,...] [--sizes 10,50,100]
                                          [--cameras N] [--results DIR]

Scenarios: ttl, ttl_probe (FFmpeg alone, by probe options; full mode only by default),
scale, overhead, control, status (`ucvctl status` at 100 cameras, and where its time goes),
daemon (ucvd's own CPU and wake-ups at 10 and 100 cameras, and its profile), recovery,
engines (the default engine beside the MediaMTX-driven prototype,
docs/engines.md; full mode only by default).

`make bench` runs the full suite (about 30 minutes), `make bench-quick` (or `make bench
ARGS=--quick`) the quick one (under 5 minutes). Every scenario uses the real harness
(central MediaMTX, simulated cameras, a real ucvd driven over its socket and by ucvctl),
prints a progress line as it goes, and its figures are merged into
`tests/bench/results/bench-<quick|full>.json`, from which `bench-<quick|full>.md` is
written. `--only` runs some scenarios and keeps the others' figures in the file, so a
full run can be done in parts; `--sizes` does the same for the scale scenario's sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import control, ctl_status, daemon_cpu, engines, overhead, recovery, scale, ttl
from tests.bench.measure import environment, progress
from tests.bench.procstat import machine
from tests.bench.report import render
from tests.harness.procs import ours_or_orphaned, pids_of
from tests.harness.tools import find_tools

RESULTS = Path(__file__).parent / "results"
SCENARIOS = (
    "ttl",
    "ttl_probe",
    "scale",
    "overhead",
    "control",
    "status",
    "daemon",
    "recovery",
    "engines",
)
QUICK_DEFAULT = ("ttl", "scale", "overhead", "control", "status", "daemon", "recovery")


def describe_machine() -> dict[str, Any]:
    return {
        **machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ffmpeg": _first_line(["ffmpeg", "-hide_banner", "-version"]),
        "mediamtx": Path(find_tools().mediamtx).parent.name,
    }


def _first_line(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else "unknown"


def leftovers() -> list[int]:
    """Our processes that outlived the scenario (there must be none)."""
    me = os.getpid()
    found = set()
    for name in ("ffmpeg", "mediamtx", "ucvd", "ffprobe"):
        found |= {pid for pid in pids_of(name, becoming=True) if ours_or_orphaned(pid, me)}
    return sorted(found)


def run_scenario(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    env = environment()
    progress(f"== {name}: start (load average {env['loadavg_1_5_15']})")
    started = datetime.now(UTC)
    t0 = time.monotonic()
    result = fn()
    left = leftovers()
    if left:
        progress(f"!! {name}: processes left behind: {left}")
    progress(f"== {name}: done in {time.monotonic() - t0:.0f} s")
    return {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": describe_machine(),
        "loadavg_at_start": env["loadavg_1_5_15"],
        "processes_left_behind": left,
        **result,
    }


def merge(old: dict[str, Any], name: str, new: dict[str, Any]) -> dict[str, Any]:
    """A scale run for some sizes keeps the other sizes already in the file."""
    if name == "scale" and name in old.get("scenarios", {}):
        sizes = {**old["scenarios"][name].get("sizes", {}), **new["sizes"]}
        new = {**new, "sizes": dict(sorted(sizes.items(), key=lambda kv: int(kv[0])))}
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller fleets")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated scenarios (of {', '.join(SCENARIOS)}); default: "
                        "all (quick: all but ttl_probe)")  # fmt: skip
    parser.add_argument("--sizes", default=None, help="scale: fleet sizes, e.g. 10,50,100")
    parser.add_argument(
        "--cameras", type=int, default=None,
        help="overhead, control and engines: fleet size (quick 20, 50 and 10; full 100)",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    chosen = args.only or ",".join(QUICK_DEFAULT if args.quick else SCENARIOS)
    only = [s.strip() for s in chosen.split(",") if s.strip()]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else None
    quick = args.quick
    mode = "quick" if quick else "full"
    table: dict[str, Callable[[], dict[str, Any]]] = {
        "ttl": lambda: ttl.run(quick),
        "ttl_probe": lambda: ttl.run_probe(quick),
        "scale": lambda: scale.run(quick, sizes),
        "overhead": lambda: overhead.run(quick, args.cameras),
        "control": lambda: control.run(quick, args.cameras or (50 if quick else 100)),
        "status": lambda: ctl_status.run(quick),
        "daemon": lambda: daemon_cpu.run_sizes(
            [10, 20] if quick else [10, 100], 20.0 if quick else 60.0, 0.0 if quick else 30.0
        ),
        "recovery": lambda: recovery.run(quick),
        "engines": lambda: engines.run(quick, args.cameras),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"bench-{mode}.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("scenarios", {})
    progress(f"benchmark suite ({mode}): {', '.join(only)}; results in {path}")
    for name in SCENARIOS:
        if name not in only:
            continue
        result = run_scenario(name, table[name])
        data["scenarios"][name] = merge(data, name, result)
        data.update(mode=mode, updated=datetime.now(UTC).isoformat(timespec="seconds"),
                    machine=describe_machine())  # fmt: skip
        path.write_text(json.dumps(data, indent=2) + "\n")  # after each: a crash keeps the rest
        (args.results / f"bench-{mode}.md").write_text(render(data))
    progress(f"written {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
