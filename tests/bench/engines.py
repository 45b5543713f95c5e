"""Scenario `engines` (issue 20, item 4): the default engine (one FFmpeg per camera) and
the MediaMTX-driven prototype (tests/prototypes/mtxengine: a site MediaMTX pulls and forwards), the
same simulated cameras, one engine after the other in one run.

    python -m tests.bench.engines [--cameras N] [--window S] [--no-wait-load]

For each engine, in a process of its own that runs ucvd's registry and supervisors
(tests/bench/engine_host.py: the engine as the daemon wires it, without its socket and
store, so that both engines are measured the same way):
1. time to all live: the host is launched, every camera started at once, until the central
   MediaMTX lists every path ready (its API polled every 100 ms);
2. a steady window: CPU (percent of one core) and PSS of the host ("ucvd") and of what it
   runs (its FFmpegs, or its site MediaMTX), and whether every path holds;
3. a camera outage: a tenth of the cameras' simulators stopped for 10 s, then started again:
   how long until ucvd reports them (first non-publishing status) and until every one is
   ready at the central again after its camera came back;
4. a central outage: the central MediaMTX stopped for 10 s and started again (same ports):
   time until every path is ready again.

Before the run it waits (up to 10 min) for the 1-minute load average to fall below 1.5 and
records the load it started with. Results: tests/bench/results/engines.json and
engines.md (the suite renders the same table from its own results file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from tests.bench.fleet import (
    SETTLE_S,
    SteadyWatch,
    camera_ids,
    path_of,
    ready_paths,
    steady_window,
    wait_all_ready,
    wait_gone,
)
from tests.bench.measure import children_of, environment, loadavg, per_camera, progress
from tests.bench.procstat import machine
from tests.harness.cameras import Camera as SimCamera
from tests.harness.lab import Lab, lab
from tests.harness.mediamtx import Central
from tests.harness.procs import Proc
from tests.harness.relayed import camera_for, target_for
from tests.harness.waiting import wait_until
from ucvd.domain.model import Camera

RESULTS = Path(__file__).parent / "results"
ENGINES = ("ffmpeg", "mediamtx")
OUTAGE_S = 10.0
LOAD_BELOW = 1.5
LOAD_WAIT_S = 600.0


def wait_for_quiet(limit: float = LOAD_BELOW, patience: float = LOAD_WAIT_S) -> dict[str, Any]:
    """Wait until the 1-minute load average is below `limit` (at most `patience` s)."""
    t0 = time.monotonic()
    first = loadavg()
    while loadavg()[0] >= limit and time.monotonic() - t0 < patience:
        time.sleep(5)  # the load average moves over a minute; a wait, not a race
    return {
        "loadavg_when_asked": first,
        "waited_s": round(time.monotonic() - t0, 1),
        "loadavg_at_start": loadavg(),
        "below_limit": loadavg()[0] < limit,
    }


def launch_host(env: Lab, engine: str, central: Central, cameras: Sequence[Camera]) -> Proc:
    spec = {
        "engine": engine,
        "state_dir": str(env.workdir / f"state-{engine}"),
        "ffmpeg": env.tools.ffmpeg,
        "mediamtx": env.tools.mediamtx,
        "target": msgspec.to_builtins(target_for(central, reconnect_delay=1.0)),
        "cameras": msgspec.to_builtins(list(cameras)),
    }
    path = env.workdir / f"engine-{engine}.json"
    path.write_text(json.dumps(spec))
    path.chmod(0o600)  # the target's password
    return env.registry.spawn(f"engine-{engine}", [sys.executable, "-m",
                              "tests.bench.engine_host", str(path)])  # fmt: skip


def host_events(host: Proc) -> list[dict[str, Any]]:
    events = []
    for line in host.log_path.read_text(errors="replace").splitlines():
        if line.startswith('{"t":'):
            events.append(json.loads(line))
    return events


def relay_pids(host: Proc, engine: str) -> list[int]:
    return children_of(host.pid, "ffmpeg" if engine == "ffmpeg" else "mediamtx")


def restart(sim: SimCamera) -> None:
    sim.server.launch()


def camera_outage(
    host: Proc, central: Central, sims: Sequence[SimCamera], ids: Sequence[str]
) -> dict[str, Any]:
    """Stop a tenth of the cameras for OUTAGE_S, start them again; time ucvd's reaction and
    the paths' return at the central server."""
    k = max(1, len(sims) // 10)
    down, down_ids = list(sims[:k]), list(ids[:k])
    paths = [path_of(c) for c in down_ids]
    t_stop = time.monotonic()
    for sim in down:
        sim.stop()
    wait_until(lambda: not set(paths) & set(ready_paths(central)), timeout=60,
               what="the stopped cameras' paths to go away at the central")  # fmt: skip
    gone = time.monotonic() - t_stop
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_stop)))  # the outage's length
    t_back = time.monotonic()
    for sim in down:
        restart(sim)
    for sim in down:
        sim.server.wait_ready()
    ready = wait_all_ready(central, paths, t_back, timeout=180)
    events = [e for e in host_events(host) if e["camera"] in down_ids and e["t"] >= t_stop]
    noticed = [
        next((e["t"] - t_stop for e in events if e["camera"] == c and e["new"] != "publishing"),
             None)
        for c in down_ids
    ]  # fmt: skip
    kinds: dict[str, int] = {}
    for e in events:
        if e["kind"]:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    return {
        "cameras_down": k,
        "outage_s": round(t_back - t_stop, 1),
        "paths_gone_at_central_after_s": round(gone, 2),
        "ucvd_noticed_after_s_max": round(max(n for n in noticed if n is not None), 2)
        if any(n is not None for n in noticed)
        else None,
        "ucvd_did_not_notice": sum(1 for n in noticed if n is None),
        "all_live_after_camera_back_s": round(max(ready.values()), 2),
        "errors_by_kind": kinds,
    }


def central_outage(host: Proc, central: Central, ids: Sequence[str]) -> dict[str, Any]:
    paths = [path_of(c) for c in ids]
    t_stop = time.monotonic()
    central.server.stop()
    time.sleep(OUTAGE_S)  # the outage's length
    t_back = time.monotonic()
    central.server.launch()
    central.server.wait_ready()
    ready = wait_all_ready(central, paths, t_back, timeout=300)
    events = [e for e in host_events(host) if e["t"] >= t_stop]
    kinds: dict[str, int] = {}
    for e in events:
        if e["kind"]:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    values = sorted(ready.values())
    return {
        "outage_s": round(t_back - t_stop, 1),
        "all_live_after_central_back_s": round(values[-1], 2),
        "median_path_live_after_central_back_s": round(values[len(values) // 2], 2),
        "errors_by_kind": kinds,
    }


def run_engine(
    env: Lab, engine: str, central: Central, sims: list[SimCamera], window: float
) -> dict[str, Any]:
    n = len(sims)
    ids = camera_ids(n)
    paths = [path_of(c) for c in ids]
    cameras = [camera_for(sim, cid) for sim, cid in zip(sims, ids, strict=True)]
    env_at_start = environment()
    t0 = time.monotonic()
    host = launch_host(env, engine, central, cameras)
    ready = wait_all_ready(central, paths, t0, timeout=300)
    live = round(max(ready.values()), 2)
    progress(f"engines {engine} {n}: all live at the central after {live} s")
    time.sleep(SETTLE_S)  # let the start-up burst pass before measuring
    groups = {
        "ucvd": lambda: [host.pid],
        "relay": lambda: relay_pids(host, engine),
        "central_mediamtx": lambda: [central.server.proc.pid] if central.server.proc else [],
    }
    steady = steady_window(window, groups, SteadyWatch(central, paths), f"engines {engine}")
    procs = steady["processes"]
    total = {k: round(procs["ucvd"][k] + procs["relay"][k], 2)
             for k in ("cpu_pct_of_one_core", "pss_mib")}  # fmt: skip
    progress(f"engines {engine}: ucvd {procs['ucvd']['cpu_pct_of_one_core']} % cpu, relay "
             f"total {total['cpu_pct_of_one_core']} % cpu, {total['pss_mib']} MiB")  # fmt: skip
    cam = camera_outage(host, central, sims, ids)
    progress(f"engines {engine}: camera outage: back {cam['all_live_after_camera_back_s']} s "
             f"after the cameras; kinds {cam['errors_by_kind']}")  # fmt: skip
    link = central_outage(host, central, ids)
    progress(f"engines {engine}: central outage: all back "
             f"{link['all_live_after_central_back_s']} s after the central")  # fmt: skip
    host.stop(grace=30)
    wait_gone(central, paths, timeout=60)
    return {
        "environment": env_at_start,
        "all_live_at_central_s": live,
        "steady": steady,
        "relay_total": total,
        "per_camera": per_camera(total, n),
        "camera_outage": cam,
        "central_outage": link,
    }


def run(quick: bool, cameras: int | None = None, window: float | None = None,
        wait_load: bool = True) -> dict[str, Any]:  # fmt: skip
    n = cameras or (10 if quick else 100)
    window = window or (15.0 if quick else 60.0)
    quiet = wait_for_quiet() if wait_load else {"loadavg_at_start": loadavg()}
    progress(f"engines: load average at start {quiet['loadavg_at_start']}")
    out: dict[str, Any] = {"cameras": n, "steady_window_s": window, "load": quiet,
                           "engines": {}}  # fmt: skip
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sims = env.cameras.add_many(n, timeout=300)
        progress(f"engines: {n} simulated cameras serving")
        for engine in ENGINES:
            out["engines"][engine] = run_engine(env, engine, central, sims, window)
    return out


# --- the table ------------------------------------------------------------------------------
def table(result: dict[str, Any]) -> list[str]:
    """The comparison as Markdown rows (also rendered by tests/bench/report.py)."""
    e = result.get("engines", {})
    names = [name for name in ENGINES if name in e]
    label = {"ffmpeg": "FFmpeg per camera (default)", "mediamtx": "site MediaMTX (prototype)"}

    def row(what: str, get: Any) -> str:
        cells = []
        for name in names:
            try:
                cells.append(str(get(e[name])))
            except (KeyError, TypeError):
                cells.append("-")
        return f"| {what} | " + " | ".join(cells) + " |"

    def cpu(group: str) -> Any:
        return lambda r: f"{r['steady']['processes'][group]['cpu_pct_of_one_core']} %"

    def pss(group: str) -> Any:
        return lambda r: f"{r['steady']['processes'][group]['pss_mib']} MiB"

    return [
        "| " + " | ".join(["measure", *(label[n] for n in names)]) + " |",
        "|" + "---|" * (len(names) + 1),
        row("time to all live at the central", lambda r: f"{r['all_live_at_central_s']} s"),
        row("ucvd (engine host) CPU, % of one core", cpu("ucvd")),
        row("ucvd (engine host) PSS", pss("ucvd")),
        row("relay processes CPU (FFmpegs / site MediaMTX)", cpu("relay")),
        row("relay processes PSS", pss("relay")),
        row("relay processes (count)", lambda r: r["steady"]["processes"]["relay"]["processes"]),
        row("total relay CPU (ucvd + relay)",
            lambda r: f"{r['relay_total']['cpu_pct_of_one_core']} %"),
        row("total relay PSS (ucvd + relay)", lambda r: f"{r['relay_total']['pss_mib']} MiB"),
        row("per camera: CPU / PSS", lambda r: f"{r['per_camera']['cpu_pct_of_one_core']} % / "
            f"{r['per_camera']['pss_mib']} MiB"),
        row("central MediaMTX CPU", cpu("central_mediamtx")),
        row("paths without new bytes in the window",
            lambda r: len(r["steady"]["health"]["paths_without_new_bytes"])),
        row("camera outage (10 s): ucvd noticed after (max)",
            lambda r: f"{r['camera_outage']['ucvd_noticed_after_s_max']} s"),
        row("camera outage: all live again after cameras back",
            lambda r: f"{r['camera_outage']['all_live_after_camera_back_s']} s"),
        row("camera outage: error kinds", lambda r: _kinds(r["camera_outage"]["errors_by_kind"])),
        row("central outage (10 s): all live again after central back",
            lambda r: f"{r['central_outage']['all_live_after_central_back_s']} s"),
        row("central outage: median path live again after",
            lambda r: f"{r['central_outage']['median_path_live_after_central_back_s']} s"),
        row("central outage: error kinds", lambda r: _kinds(r["central_outage"]["errors_by_kind"])),
    ]  # fmt: skip


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"


def _machine(m: dict[str, Any]) -> str:
    return f"{m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu')}"


def markdown(result: dict[str, Any]) -> str:
    load = result.get("load", {})
    head = [
        f"# Engines: {result.get('cameras')} cameras",
        "",
        f"_Run {result.get('date')} on {_machine(result.get('machine', {}))}; load average "
        f"at start {load.get('loadavg_at_start')}; steady window "
        f"{result.get('steady_window_s')} s._",
        "",
    ]
    return "\n".join([*head, *table(result), ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--window", type=float, default=None, help="steady window, s")
    parser.add_argument("--no-wait-load", action="store_true",
                        help="start at once, whatever the load average")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    result = run(args.cameras < 100, args.cameras, args.window, not args.no_wait_load)
    result = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_at_start": result["load"]["loadavg_at_start"],
        **result,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    name = "engines" if args.cameras == 100 else f"engines-{args.cameras}"
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results / f"{name}.md").write_text(markdown(result))
    progress(f"written {args.results / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
