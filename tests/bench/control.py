"""Scenario 4, control plane with N cameras publishing through a real ucvd.

- `publishing.status` round trip over one socket connection (every camera, and one);
- wall time of `ucvctl status` (the process an operator runs, start to exit);
- events delivered per second to 10 subscribers (one metrics event per camera every 2 s,
  as the daemon sends them), how late they arrive, and whether any subscriber was dropped.

On this machine the harness itself (simulated cameras, their feed, the central MediaMTX)
competes with ucvd for the two cores. So the full run measures twice: as is, and with the
harness's processes at the lowest CPU priority (nice 19), which is closer to a gateway
where the cameras and the central server are other machines. While measuring, the CPU
ucvd used and the time its event loop spent waiting for a CPU (schedstat) are recorded.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.bench.fleet import (
    SETTLE_S,
    add_cameras,
    bench_ucvd,
    busy_pct,
    camera_ids,
    machine_busy,
    publish_together,
)
from tests.bench.measure import (
    CpuWindow,
    EventTap,
    children_of,
    environment,
    progress,
    summarize,
)
from tests.harness.cameras import Camera as SimCamera
from tests.harness.daemon import Ucvd, program
from tests.harness.lab import Lab, lab
from tests.harness.mediamtx import Central
from tests.harness.ports import free_port, port_open
from tests.harness.waiting import wait_until
from ucvctl.client import Client
from ucvd.api import protocol as p

SUBSCRIBERS = 10
IDLE_WINDOW_S = 5.0
APPLY_REPEATS = 5
METRICS_EVERY_S = 2.0  # ucvd.control.feed.METRICS_EVERY_S


@contextlib.contextmanager
def niced(pids: Iterable[int], value: int = 19) -> Iterator[None]:
    """Every thread of `pids` at nice `value` (nice is per thread on Linux), then back."""
    tids = [int(t.name) for pid in pids for t in Path(f"/proc/{pid}/task").glob("*") if t.exists()]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, tid, value)
    try:
        yield
    finally:
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, tid, 0)


def harness_pids(env: Lab, central: Central) -> list[int]:
    procs = [c.server.proc for c in env.cameras.cameras]
    procs += [central.server.proc, env.feed.server.proc, *env.feed.feeders.values()]
    return [proc.pid for proc in procs if proc is not None and proc.alive()]


def measure(d: Ucvd, ids: list[str], *, calls: int, walls: int, events_s: float) -> dict[str, Any]:
    n = len(ids)
    out: dict[str, Any] = {}
    cpu = CpuWindow({"ucvd": lambda: [d.pid], "ucvd_ffmpeg": lambda: children_of(d.pid, "ffmpeg")})
    cpu.start()
    busy0 = machine_busy()
    rtts, one = [], []
    with Client(str(d.socket)) as client:
        for _ in range(calls):
            t0 = time.perf_counter()
            client.call_raw("publishing.status", p.StatusQuery())
            rtts.append((time.perf_counter() - t0) * 1000)
        for _ in range(calls):
            t0 = time.perf_counter()
            client.call_raw("publishing.status", p.StatusQuery(camera_id=ids[0]))
            one.append((time.perf_counter() - t0) * 1000)
    out["publishing_status_rtt_all_cameras"] = summarize(rtts, unit="ms", digits=2)
    out["publishing_status_rtt_one_camera"] = summarize(one, unit="ms", digits=2)
    wall = []
    for _ in range(walls):
        t0 = time.perf_counter()
        result = d.ctl("status").check()
        wall.append((time.perf_counter() - t0) * 1000)
        assert f"{n} of {n} cameras active" in result.stdout, result.stdout[:300]
    out["ucvctl_status_wall"] = summarize(wall, unit="ms", digits=1)
    out["during_rpc_measurements"] = {
        **cpu.stop(),
        "machine_busy_pct_of_all_cores": busy_pct(busy0),
    }

    taps = [EventTap(d.socket) for _ in range(SUBSCRIBERS)]
    counts0 = [t.metrics + len(t.status) for t in taps]
    t0 = time.monotonic()
    time.sleep(events_s)  # a counting window, not a wait for a condition
    elapsed = time.monotonic() - t0
    counts = [t.metrics + len(t.status) - c0 for t, c0 in zip(taps, counts0, strict=True)]
    delays = [x * 1000 for t in taps for x in t.metric_delays]
    dropped = sum(t.dropped or t.silent_for() > 3 * METRICS_EVERY_S for t in taps)
    for t in taps:
        t.close()
    out["events"] = {
        "subscribers": SUBSCRIBERS,
        "window_s": round(elapsed, 1),
        "delivered_per_s_total": round(sum(counts) / elapsed, 1),
        "delivered_per_s_per_subscriber": summarize(
            [c / elapsed for c in counts], unit="1/s", digits=1
        ),
        "expected_per_s_per_subscriber": n / METRICS_EVERY_S,
        "metrics_event_delay": summarize(delays, unit="ms", digits=1),
        "subscribers_dropped": dropped,
    }
    return out


def scrape(env: Lab, d: Ucvd, cameras: int, *, scrapes: int) -> dict[str, Any]:
    """What one Prometheus scrape of ucvd-web costs at this fleet size: its wall time, the
    daemon's CPU for it, the size of the answer and how many series it carries."""
    port = free_port()
    web = env.registry.spawn(
        "ucvd-web",
        [program("ucvd-web"), "--listen", f"127.0.0.1:{port}", "--socket", str(d.socket)],
    )
    wait_until(lambda: port_open(port), timeout=30, what="ucvd-web to listen")
    url = f"http://127.0.0.1:{port}/metrics"
    with httpx.Client(trust_env=False, timeout=30) as http:
        http.get(url).raise_for_status()  # the first request pays the imports
        idle = CpuWindow({"ucvd": lambda: [d.pid]})
        idle.start()
        time.sleep(IDLE_WINDOW_S)  # a counting window: the daemon's cost without scrapes
        baseline = idle.stop()["ucvd"]["cpu_pct_of_one_core"]
        cpu = CpuWindow({"ucvd": lambda: [d.pid], "ucvd_web": lambda: [web.pid]})
        cpu.start()
        walls, body = [], ""
        for _ in range(scrapes):
            t0 = time.perf_counter()
            response = http.get(url)
            walls.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            body = response.text
        window = cpu.stop()
        used, web_used = window["ucvd"], window["ucvd_web"]
    series = [line for line in body.splitlines() if line and not line.startswith("#")]
    per_camera = [line for line in series if line.startswith("ucvd_camera_")]
    extra_cpu_s = max(0.0, used["cpu_pct_of_one_core"] - baseline) / 100 * cpu.window_s
    return {
        "scrapes": scrapes,
        "scrape_wall": summarize(walls, unit="ms", digits=1),
        "body_bytes": len(body.encode()),
        "series": len(series),
        "series_per_camera": round(len(per_camera) / cameras, 1),
        "ucvd_cpu_pct_idle": baseline,
        "ucvd_cpu_pct_while_scraped_back_to_back": used["cpu_pct_of_one_core"],
        "ucvd_cpu_ms_per_scrape": round(extra_cpu_s * 1000 / scrapes, 2),
        "ucvd_web_cpu_ms_per_scrape": round(
            web_used["cpu_pct_of_one_core"] / 100 * cpu.window_s * 1000 / scrapes, 1
        ),
        "ucvd_web_pss_mib": web_used["pss_mib"],
    }


def apply_timing(
    env: Lab, central: Central, sims: list[SimCamera], ids: list[str]
) -> dict[str, Any]:
    """`ucvctl apply -f` of a site of this many cameras on a fresh daemon, as an operator's
    config management would run it: the first apply (every camera added, not publishing),
    applying the same file again (nothing to do), and one camera's URL changed."""
    d = Ucvd(env.registry, env.workdir / "ucvd-apply", name="ucvd-apply").start()
    site = env.workdir / "site.toml"
    secret = env.workdir / "publish.password"
    secret.write_text(central.publisher.password + "\n")

    def write(urls: list[str]) -> None:
        s = central.server
        lines = [
            'active_target = "central"', "[targets.central]",
            f'rtsp_url = "{s.rtsp_url("").rstrip("/")}"', f'api_url = "{s.api_url}"',
            f'username = "{central.publisher.user}"', f'password_file = "{secret}"',
        ]  # fmt: skip
        for camera_id, url in zip(ids, urls, strict=True):
            lines += [f"[cameras.{camera_id}]", f'url = "{url}"', "publish = false"]
        site.write_text("\n".join(lines) + "\n")

    def timed() -> tuple[float, str]:
        t0 = time.perf_counter()
        out = d.ctl("apply", "-f", str(site)).check().stdout
        return (time.perf_counter() - t0) * 1000, out

    urls = [sim.url for sim in sims]
    write(urls)
    first, out = timed()
    assert f"applied {len(ids) + 2} changes" in out, out[-300:]
    again = []
    for _ in range(APPLY_REPEATS):
        ms, out = timed()
        assert out == "no changes\n", out
        again.append(ms)
    one = []
    for i in range(APPLY_REPEATS):
        write([*urls[:-1], urls[-1] + ("?v=1" if i % 2 == 0 else "")])
        ms, out = timed()
        assert "applied 1 change" in out, out
        one.append(ms)
    d.terminate()
    return {
        "cameras": len(ids),
        "first_apply_ms": round(first, 1),
        "reapply_no_changes": summarize(again, unit="ms", digits=1),
        "one_camera_changed": summarize(one, unit="ms", digits=1),
    }


def _line(label: str, m: dict[str, Any]) -> str:
    u = m["during_rpc_measurements"]["ucvd"]
    return (
        f"control ({label}): publishing.status median "
        f"{m['publishing_status_rtt_all_cameras']['median']} ms p99 "
        f"{m['publishing_status_rtt_all_cameras']['p99']} ms; ucvctl status "
        f"{m['ucvctl_status_wall']['median']} ms; {m['events']['delivered_per_s_total']} "
        f"events/s; ucvd {u['cpu_pct_of_one_core']} % cpu, waited for a CPU "
        f"{u['runqueue_wait_pct_per_process']} % of the time"
    )


def run(quick: bool, cameras: int) -> dict[str, Any]:
    calls, walls, events_s = (100, 10, 6.0) if quick else (500, 30, 30.0)
    out: dict[str, Any] = {"environment": environment(), "cameras": cameras}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sims = env.cameras.add_many(cameras, timeout=180)
        ids = camera_ids(cameras)
        d = bench_ucvd(env, central, "ucvd-control")
        add_cameras(d, sims, ids)
        start = publish_together(d, central, ids, timeout=180)
        progress(f"control: {cameras} cameras publishing after "
                 f"{start['all_publishing_in_ucvd_s']} s")  # fmt: skip
        time.sleep(SETTLE_S)
        out["as_is"] = measure(d, ids, calls=calls, walls=walls, events_s=events_s)
        progress(_line("as is", out["as_is"]))
        out["scrape"] = scrape(env, d, cameras, scrapes=20 if quick else 100)
        sc = out["scrape"]
        progress(
            f"scrape: {sc['scrape_wall']['median']} ms median, {sc['series']} series "
            f"({sc['series_per_camera']} per camera), {sc['body_bytes']} bytes, "
            f"~{sc['ucvd_cpu_ms_per_scrape']} ms of ucvd's CPU and "
            f"{sc['ucvd_web_cpu_ms_per_scrape']} ms of ucvd-web's each"
        )
        if not quick:
            with niced(harness_pids(env, central)):
                time.sleep(SETTLE_S)
                out["harness_niced"] = measure(d, ids, calls=calls, walls=walls, events_s=events_s)
            progress(_line("harness at nice 19", out["harness_niced"]))
        d.terminate()
        out["apply"] = apply_timing(env, central, sims, ids)
        ap = out["apply"]
        progress(
            f"apply -f of {cameras} cameras: first {ap['first_apply_ms']} ms, again "
            f"{ap['reapply_no_changes']['median']} ms, one camera changed "
            f"{ap['one_camera_changed']['median']} ms (ucvctl wall, median)"
        )
    return out
