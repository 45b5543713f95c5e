"""Scenario 5, recovery, with the product's backoff (first delay 1 s, doubling, capped).

- FFmpeg killed (SIGKILL) -> ucvd says `publishing` again and MediaMTX has the path ready
  with a new publisher session. Between repetitions the camera publishes longer than
  `healthy_after_s`, so each kill is a first failure (the first backoff step).
- Camera outage (its server stops: connection refused) for a while -> back -> publishing
  again. When the camera is back, ucvd's backoff has its next attempt due at some point
  (the last failure plus `retry_in_seconds`); the time to publishing is compared with that:
  what remains beyond it is one time to live, if the backoff is kept.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import msgspec

from tests.bench.fleet import bench_ucvd, path_of
from tests.bench.measure import EventTap, environment, progress, summarize
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.lab import lab
from tests.harness.mediamtx import Central
from tests.harness.waiting import wait_until
from ucvctl.client import Client
from ucvd.api import protocol as p

RECONNECT_DELAY_S = 1.0  # the product's default for a target
HEALTHY_AFTER_S = 2.0  # shortened so that every repetition starts from the first step


def _publishing_since(d: Ucvd, tap: EventTap, camera_id: str, t0: float, timeout: float) -> float:
    t = wait_until(lambda: tap.first(camera_id, "publishing", t0), timeout=timeout,
                   what=f"{camera_id} to publish again")  # fmt: skip
    assert t is not None  # wait_until returns only truthy values
    return t - t0


def _new_publisher(
    central: Central, path: str, old: str | None, t0: float, timeout: float
) -> float:
    api = central.server.api

    def fresh() -> float | None:
        info = api.path(path)
        source = (info or {}).get("source") or {}
        if info and info.get("ready") and source.get("id") != old:
            return time.monotonic()
        return None

    t = wait_until(fresh, timeout=timeout, interval=0.01, max_interval=0.01,
                   what=f"{path} ready with a new publisher")  # fmt: skip
    assert t is not None
    return t - t0


def kill_ffmpeg(d: Ucvd, central: Central, tap: EventTap, reps: int) -> dict[str, Any]:
    path = path_of("rec")
    ucvd_times, mtx_times = [], []
    for i in range(reps):
        status = d.wait_status("rec", "publishing", timeout=60)
        time.sleep(max(0.0, HEALTHY_AFTER_S + 0.5 - (status["uptime_seconds"] or 0)))
        pid = d.status("rec")["pid"]
        old = central.server.api.publisher_session(path)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        mtx_times.append(_new_publisher(central, path, old, t0, timeout=60))
        ucvd_times.append(_publishing_since(d, tap, "rec", t0, timeout=60))
        progress(f"recovery kill {i + 1}/{reps}: ready at MediaMTX {mtx_times[-1]:.2f} s, "
                 f"ucvd publishing {ucvd_times[-1]:.2f} s")  # fmt: skip
    return {
        "runs": reps,
        "ready_at_mediamtx": summarize(mtx_times),
        "publishing_in_ucvd": summarize(ucvd_times),
        "backoff_first_delay_s": f"{RECONNECT_DELAY_S * 0.8:g}..{RECONNECT_DELAY_S:g} (jitter)",
    }


def outage(
    d: Ucvd, central: Central, tap: EventTap, sim: Any, *, reps: int, outage_s: float
) -> dict[str, Any]:
    path = path_of("rec")
    rows = []
    for i in range(reps):
        status = d.wait_status("rec", "publishing", timeout=120)
        time.sleep(max(0.0, HEALTHY_AFTER_S + 0.5 - (status["uptime_seconds"] or 0)))
        restarts0 = d.status("rec")["restarts"]
        sim.stop()
        time.sleep(outage_s)  # the outage itself: a chosen length, not a wait for a race
        sim.server.start()  # the camera answers again (its stream follows within moments)
        t0 = time.monotonic()
        with Client(str(d.socket)) as client:
            back = msgspec.json.decode(
                client.call_raw("publishing.status", p.StatusQuery(camera_id="rec")),
                type=dict[str, Any],
            )
        sim.wait_serving()
        mtx = _new_publisher(central, path, None, t0, timeout=120)
        pub = _publishing_since(d, tap, "rec", t0, timeout=120)
        # `retry_in_seconds` is the delay the last failure scheduled; the retry is due that
        # long after the failure (the last `reconnecting` event the tap saw).
        due = 0.0
        failures = [t for t, e in tap.status_since(0) if e.new == "reconnecting" and t <= t0]
        if back["status"] == "reconnecting" and back["retry_in_seconds"] and failures:
            due = max(0.0, failures[-1] + back["retry_in_seconds"] - t0)
        rows.append({
            "status_when_back": back["status"],
            "scheduled_delay_s": back["retry_in_seconds"],
            "retry_due_after_back_s": round(due, 2),
            "attempts_during_outage": d.status("rec")["restarts"] - restarts0,
            "ready_at_mediamtx_s": round(mtx, 2),
            "publishing_in_ucvd_s": round(pub, 2),
            "beyond_backoff_s": round(mtx - due, 2),
        })  # fmt: skip
        progress(f"recovery outage {i + 1}/{reps}: back -> ready {mtx:.2f} s "
                 f"(next retry was due after {due:.2f} s)")  # fmt: skip
    return {
        "runs": reps,
        "outage_s": outage_s,
        "ready_at_mediamtx_after_back": summarize([r["ready_at_mediamtx_s"] for r in rows]),
        "beyond_scheduled_retry": summarize([r["beyond_backoff_s"] for r in rows]),
        "each": rows,
    }


def run(quick: bool) -> dict[str, Any]:
    kills = 3 if quick else 20
    outages = 2 if quick else 5
    outage_s = 4.0 if quick else 10.0
    out: dict[str, Any] = {"environment": environment()}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sim = env.cameras.add()
        d = bench_ucvd(env, central, "ucvd-recovery",
                       supervision={"healthy_after_s": HEALTHY_AFTER_S})  # fmt: skip
        # The harness's target has a fast 0.5 s first delay; measure the product's default.
        add_target(d, central, "product", "--reconnect-delay", str(RECONNECT_DELAY_S)).check()
        d.ctl("target", "activate", "product").check()
        add_camera(d, sim, "rec").check()
        tap = EventTap(d.socket, ["rec"])
        try:
            d.ctl("publish", "rec", "--wait").check()
            out["ffmpeg_killed"] = kill_ffmpeg(d, central, tap, kills)
            out["camera_outage"] = outage(d, central, tap, sim, reps=outages, outage_s=outage_s)
        finally:
            tap.close()
        info = d.ctl_json("info")
        d.terminate()
    out["backoff"] = {
        "first_delay_s": RECONNECT_DELAY_S, "factor": 2.0, "cap_s": 60.0, "jitter": "up to -20 %",
        "healthy_after_s": HEALTHY_AFTER_S, "target": info["active_target"],
    }  # fmt: skip
    return out
