"""Scenario 3, overhead against baselines: the same cameras, the same run, three relays.

1. ucvd (the daemon and one FFmpeg per camera);
2. plain `ffmpeg -c copy` processes started by a shell loop, no daemon: ucvd's own cost
   is the difference;
3. a MediaMTX proxy on the box pulling every camera itself (`source: rtsp://...`), which
   the central server pulls from: the cost of the one-FFmpeg-per-camera design against a
   native proxy.

Each relay gets the same steady window, one after the other, with the same simulated
cameras running throughout; MediaMTX (central) judges readiness for all three.
"""

from __future__ import annotations

import time
from typing import Any

from tests.bench.fleet import (
    SETTLE_S,
    SteadyWatch,
    camera_ids,
    central_forgets,
    central_pulls,
    mediamtx_proxy,
    path_of,
    plain_ffmpegs,
    shell_loop_relays,
    simulator_groups,
    steady_window,
    wait_all_ready,
    wait_gone,
)
from tests.bench.measure import environment, per_camera, progress
from tests.bench.scale import run_ucvd_fleet
from tests.harness.lab import lab


def _central(central: Any) -> dict[str, Any]:
    return {"central_mediamtx": lambda: [central.server.proc.pid] if central.server.proc else []}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


def run(quick: bool, cameras: int | None = None) -> dict[str, Any]:
    n = cameras or (20 if quick else 100)
    window = 10.0 if quick else 60.0
    out: dict[str, Any] = {"cameras": n, "steady_window_s": window}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sims = env.cameras.add_many(n, timeout=180)
        ids = camera_ids(n)
        paths = [path_of(c) for c in ids]
        progress(f"overhead: {n} simulated cameras serving")

        out["environment_ucvd"] = environment()
        out["ucvd"] = run_ucvd_fleet(env, central, sims, window, f"overhead ucvd {n}")

        out["environment_plain"] = environment()
        t0 = time.monotonic()
        shell = shell_loop_relays(env, central, sims, ids)
        ready = wait_all_ready(central, paths, t0, timeout=180)
        progress(f"overhead plain ffmpeg: all {n} ready after {max(ready.values()):.2f} s")
        time.sleep(SETTLE_S)
        groups = {"plain_ffmpeg": plain_ffmpegs(shell), **_central(central),
                  **simulator_groups(env, sims)}  # fmt: skip
        steady = steady_window(window, groups, SteadyWatch(central, paths), f"overhead plain {n}")
        shell.stop()
        wait_gone(central, paths)
        out["plain_ffmpeg"] = {"all_ready_at_mediamtx_s": round(max(ready.values()), 3),
                               "steady": steady}  # fmt: skip

        out["environment_proxy"] = environment()
        t0 = time.monotonic()
        proxy = mediamtx_proxy(env, sims, ids)
        central_pulls(central, proxy, ids)
        ready = wait_all_ready(central, paths, t0, timeout=180)
        progress(f"overhead MediaMTX proxy: all {n} ready after {max(ready.values()):.2f} s")
        time.sleep(SETTLE_S)
        groups = {"proxy_mediamtx": lambda: [proxy.proc.pid] if proxy.proc else [],
                  **_central(central), **simulator_groups(env, sims)}  # fmt: skip
        steady = steady_window(window, groups, SteadyWatch(central, paths), f"overhead proxy {n}")
        central_forgets(central, ids)
        proxy.stop()
        out["mediamtx_proxy"] = {"all_ready_at_mediamtx_s": round(max(ready.values()), 3),
                                 "steady": steady}  # fmt: skip
    out["comparison"] = compare(out, n)
    c = out["comparison"]
    progress(
        f"overhead {n}: relay cpu per camera ucvd {c['ucvd']['cpu_pct_of_one_core']} %, "
        f"plain {c['plain_ffmpeg']['cpu_pct_of_one_core']} %, "
        f"proxy {c['mediamtx_proxy']['cpu_pct_of_one_core']} % of one core"
    )
    return out


def compare(out: dict[str, Any], n: int) -> dict[str, Any]:
    """Per camera, what relaying costs on the box with each design, and the ratios."""
    u = out["ucvd"]["steady"]["processes"]
    plain = out["plain_ffmpeg"]["steady"]["processes"]["plain_ffmpeg"]
    proxy = out["mediamtx_proxy"]["steady"]["processes"]["proxy_mediamtx"]
    ucvd_total = {k: u["ucvd"][k] + u["ucvd_ffmpeg"][k] for k in ("cpu_pct_of_one_core", "pss_mib")}
    rows = {
        "ucvd": per_camera(ucvd_total, n),
        "ucvd_ffmpeg_only": per_camera(u["ucvd_ffmpeg"], n),
        "plain_ffmpeg": per_camera(plain, n),
        "mediamtx_proxy": per_camera(proxy, n),
    }
    own = {k: round(ucvd_total[k] - plain[k], 2) for k in ("cpu_pct_of_one_core", "pss_mib")}
    return {
        **rows,
        "ucvd_own_cost_vs_plain_total": own,
        "ratio_ucvd_to_plain": {
            k: _ratio(ucvd_total[k], plain[k]) for k in ("cpu_pct_of_one_core", "pss_mib")
        },
        "ratio_ucvd_to_proxy": {
            k: _ratio(ucvd_total[k], proxy[k]) for k in ("cpu_pct_of_one_core", "pss_mib")
        },
        "central_cpu_pct": {
            "ucvd": u["central_mediamtx"]["cpu_pct_of_one_core"],
            "plain_ffmpeg": out["plain_ffmpeg"]["steady"]["processes"]["central_mediamtx"][
                "cpu_pct_of_one_core"
            ],
            "mediamtx_proxy": out["mediamtx_proxy"]["steady"]["processes"]["central_mediamtx"][
                "cpu_pct_of_one_core"
            ],
        },
    }
