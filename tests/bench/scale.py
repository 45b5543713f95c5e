"""Scenario 2, scale: N cameras started together, then a steady window.

For each size, in one lab: the simulated cameras are started (not timed), a fresh ucvd
gets the N cameras, every `publishing.start` is sent at once, and the time until MediaMTX
has every path ready (and ucvd says `publishing` for every camera) is taken. After a short
settle, a steady window measures stalls, restarts, MediaMTX readiness and inbound bytes,
and the CPU and PSS of ucvd, of its FFmpeg children, of the central MediaMTX and of the
simulators (which a real gateway would not run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from tests.bench.fleet import (
    SETTLE_S,
    SteadyWatch,
    add_cameras,
    bench_ucvd,
    camera_ids,
    path_of,
    publish_together,
    simulator_groups,
    steady_window,
    wait_gone,
)
from tests.bench.measure import children_of, environment, per_camera, progress
from tests.harness.cameras import Camera as SimCamera
from tests.harness.daemon import Ucvd
from tests.harness.lab import Lab, lab
from tests.harness.mediamtx import Central


def ucvd_groups(d: Ucvd, central: Central) -> dict[str, Callable[[], Iterable[int]]]:
    return {
        "ucvd": lambda: [d.pid],
        "ucvd_ffmpeg": lambda: children_of(d.pid, "ffmpeg"),
        "central_mediamtx": lambda: [central.server.proc.pid] if central.server.proc else [],
    }


def run_ucvd_fleet(
    env: Lab, central: Central, sims: list[SimCamera], window: float, label: str
) -> dict[str, Any]:
    """ucvd relaying every camera in `sims`: start together, then the steady window."""
    n = len(sims)
    ids = camera_ids(n)
    d = bench_ucvd(env, central, f"ucvd-{label}")
    add_cameras(d, sims, ids)
    progress(f"{label}: ucvd has {n} cameras; starting them together")
    start = publish_together(d, central, ids, timeout=180)
    progress(f"{label}: all {n} ready at MediaMTX after {start['all_ready_at_mediamtx_s']} s, "
             f"publishing in ucvd after {start['all_publishing_in_ucvd_s']} s")  # fmt: skip
    time.sleep(SETTLE_S)
    groups = {**ucvd_groups(d, central), **simulator_groups(env, sims)}
    watch = SteadyWatch(central, [path_of(c) for c in ids], d)
    steady = steady_window(window, groups, watch, label)
    d.terminate()
    wait_gone(central, [path_of(c) for c in ids])
    procs = steady["processes"]
    relay = {
        "cpu_pct_of_one_core": procs["ucvd"]["cpu_pct_of_one_core"]
        + procs["ucvd_ffmpeg"]["cpu_pct_of_one_core"],
        "pss_mib": procs["ucvd"]["pss_mib"] + procs["ucvd_ffmpeg"]["pss_mib"],
    }
    steady["per_camera"] = {
        "ucvd_ffmpeg": per_camera(procs["ucvd_ffmpeg"], n),
        "ucvd_plus_ffmpeg": per_camera(relay, n),
        "ucvd_alone": per_camera(procs["ucvd"], n),
    }
    h = steady["health"]
    progress(
        f"{label}: steady {steady['window_s']} s: stalls {h['stalls_stream_stalled']}, "
        f"restarts {h['restarts']}, ucvd {procs['ucvd']['cpu_pct_of_one_core']} % cpu "
        f"{procs['ucvd']['pss_mib']} MiB, ffmpeg {procs['ucvd_ffmpeg']['cpu_pct_of_one_core']} % "
        f"{procs['ucvd_ffmpeg']['pss_mib']} MiB"
    )
    return {"start": start, "steady": steady}


def run(quick: bool, sizes: list[int] | None = None) -> dict[str, Any]:
    sizes = sizes or ([10, 50] if quick else [10, 50, 100])
    window = 20.0 if quick else 180.0
    out: dict[str, Any] = {"steady_window_s": window, "sizes": {}}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sims: list[SimCamera] = []
        for n in sorted(sizes):
            env_at_start = environment()
            if len(sims) < n:
                sims += env.cameras.add_many(n - len(sims), timeout=180)
            progress(f"scale {n}: {n} simulated cameras serving")
            out["sizes"][str(n)] = {
                "environment": env_at_start,
                **run_ucvd_fleet(env, central, sims[:n], window, f"scale {n}"),
            }
    return out
