"""A fleet of relays on the harness, and the two things every scale figure needs: how long
the fleet takes to go live, and what it costs (and whether it holds) over a steady window.

The relays are ucvd (a real daemon driven over its socket), or a baseline: plain
`ffmpeg -c copy` processes started by a shell loop, or a MediaMTX proxy pulling the cameras
itself. Whatever relays, MediaMTX (the central server) is the judge of "live": a path
counts once its API says `ready`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tests.bench.measure import CpuWindow, EventTap, children_of, progress, summarize
from tests.harness.cameras import Camera as SimCamera
from tests.harness.daemon import Ucvd, add_target, write_config
from tests.harness.lab import Lab
from tests.harness.mediamtx import Central, MediaMTXServer, base_config
from tests.harness.procs import Proc
from tests.harness.relay import plain_relay_argv
from tests.harness.waiting import wait_until
from ucvctl.client import Client
from ucvd.api import protocol as p
from ucvd.config import RelaySection, SupervisionSection

# What an installed ucvd runs with (config.py's defaults), not the harness's fast test
# timeouts: a benchmark measures the product as shipped.
PRODUCT_SUPERVISION = msgspec.structs.asdict(SupervisionSection())
SETTLE_S = 5.0  # after the last path is ready: let the start-up burst pass before measuring


def camera_ids(count: int) -> list[str]:
    return [f"cam-{i:03d}" for i in range(count)]


def path_of(camera_id: str) -> str:
    return f"camera_{camera_id}"  # the default path template


def bench_ucvd(
    env: Lab,
    central: Central,
    name: str,
    *,
    relay: Mapping[str, Any] | None = None,
    supervision: Mapping[str, Any] | None = None,
    prefix: Sequence[str] = (),
    target_url: str | None = None,
) -> Ucvd:
    """A started ucvd with the product's defaults (plus `relay`/`supervision` overrides) and
    the central server as its active target; `prefix` wraps its command (a profiler);
    `target_url` publishes through something in front of the central (a tap)."""
    d = Ucvd(env.registry, env.workdir / name, name=name, prefix=prefix)
    relay_values = {
        k: v
        for k, v in {**msgspec.structs.asdict(RelaySection()), **(relay or {})}.items()
        if v is not None  # TOML has no null: an absent key is config.py's default
    }
    write_config(
        d.config,
        {"relay": relay_values, "supervision": {**PRODUCT_SUPERVISION, **(supervision or {})}},
    )
    d.start()
    add_target(d, central, url=target_url).check()
    return d


def add_cameras(d: Ucvd, sims: Sequence[SimCamera], ids: Sequence[str]) -> None:
    with Client(str(d.socket)) as client:
        for sim, camera_id in zip(sims, ids, strict=True):
            client.call_raw("camera.add", p.CameraAdd(id=camera_id, url=sim.url))


def ready_paths(central: Central) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in central.server.api.paths() if item.get("ready")}


def wait_all_ready(
    central: Central, paths: Sequence[str], t0: float, timeout: float, interval: float = 0.1
) -> dict[str, float]:
    """Poll MediaMTX until every path is ready; returns when each was first seen ready."""
    seen: dict[str, float] = {}
    wanted = set(paths)

    def all_ready() -> bool:
        now = time.monotonic()
        for name in ready_paths(central):
            if name in wanted and name not in seen:
                seen[name] = now - t0
        return len(seen) == len(wanted)

    wait_until(
        all_ready,
        timeout=timeout,
        interval=interval,
        max_interval=interval,
        what=lambda: f"{len(wanted) - len(seen)} of {len(wanted)} paths to be ready",
    )
    return seen


def publish_together(
    d: Ucvd, central: Central, ids: Sequence[str], timeout: float
) -> dict[str, Any]:
    """Start every camera at once (10 socket clients in parallel) and time the fleet live:
    at MediaMTX (every path ready) and in ucvd (`publishing.status` says `publishing` for
    every camera; polled, since an event subscriber may be dropped in the start burst)."""
    tap = EventTap(d.socket)
    chunks = [c for c in (list(ids[i::10]) for i in range(10)) if c]

    def start(chunk: list[str]) -> float:
        with Client(str(d.socket)) as client:
            for camera_id in chunk:
                client.call_raw("publishing.start", p.PublishStart(camera_id=camera_id))
        return time.monotonic()

    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(len(chunks)) as pool:
            answered = [pool.submit(start, chunk) for chunk in chunks]
            # MediaMTX is watched from the first request on, while the others are sent.
            ready = wait_all_ready(central, [path_of(c) for c in ids], t0, timeout)
            requested = max(f.result() for f in answered) - t0
        confirmed: dict[str, float] = {}
        errors: dict[str, int] = {}
        with Client(str(d.socket)) as client:

            def all_publishing() -> bool:
                raw = client.call_raw("publishing.status", p.StatusQuery())
                now = time.monotonic() - t0
                for item in msgspec.json.decode(raw, type=p.StatusList).items:
                    errors[item.camera_id] = item.error_count
                    if item.status == "publishing":
                        confirmed.setdefault(item.camera_id, now)
                return all(c in confirmed for c in ids)

            wait_until(all_publishing, timeout=timeout, interval=0.1, max_interval=0.1,
                       what="ucvd to report every camera publishing")  # fmt: skip
        subscriber_dropped = tap.dropped or tap.silent_for() > 10
    finally:
        tap.close()
    return {
        "cameras": len(ids),
        "start_requests_s": round(requested, 3),
        "all_ready_at_mediamtx_s": round(max(ready.values()), 3),
        "all_publishing_in_ucvd_s": round(max(confirmed.values()), 3),
        "ready_at_mediamtx_per_camera": summarize(list(ready.values())),
        "failed_attempts_while_starting": sum(errors.values()),
        "event_subscriber_dropped_while_starting": subscriber_dropped,
    }


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_pct(since: tuple[float, float]) -> float:
    """How busy all cores were since `since` (a `machine_busy()` reading), in percent."""
    busy, total = machine_busy()
    return round(100 * (busy - since[0]) / max(1.0, total - since[1]), 1)


@dataclass
class SteadyWatch:
    """Whether the fleet holds during a window: MediaMTX readiness and inbound bytes, and
    (for ucvd) its own status events and counters."""

    central: Central
    paths: list[str]
    d: Ucvd | None = None
    samples: int = 0
    not_ready: int = 0
    never_ready_paths: set[str] = field(default_factory=set)
    _bytes0: dict[str, int] = field(default_factory=dict)
    _tap: EventTap | None = None
    _status0: dict[str, Any] = field(default_factory=dict)

    def _inbound(self) -> dict[str, int]:
        return {
            i["name"]: int(i.get("inboundBytes", i.get("bytesReceived", 0)))
            for i in self.central.server.api.paths()
        }

    def start(self) -> None:
        self._bytes0 = self._inbound()
        if self.d is not None:
            self._status0 = {s["camera_id"]: s for s in self.d.ctl_json("status")["items"]}
            self._tap = EventTap(self.d.socket)
        self._t0 = time.monotonic()

    def sample(self) -> None:
        ready = ready_paths(self.central)
        self.samples += 1
        missing = [name for name in self.paths if name not in ready]
        self.not_ready += len(missing)
        self.never_ready_paths.update(missing)

    def stop(self) -> dict[str, Any]:
        bytes1 = self._inbound()
        window = time.monotonic() - self._t0
        stalled = [n for n in self.paths if bytes1.get(n, 0) <= self._bytes0.get(n, 0)]
        rates = [
            (bytes1.get(n, 0) - self._bytes0.get(n, 0)) * 8 / 1000 / window for n in self.paths
        ]
        out: dict[str, Any] = {
            "mediamtx_samples": self.samples,
            "mediamtx_not_ready_path_samples": self.not_ready,
            "paths_not_ready_at_some_sample": sorted(self.never_ready_paths),
            "paths_without_new_bytes": stalled,
            "inbound_kbps_per_path": summarize(rates, unit="kbit/s", digits=1),
        }
        if self.d is not None and self._tap is not None:
            status1 = {s["camera_id"]: s for s in self.d.ctl_json("status")["items"]}
            events = self._tap.status_since(self._t0)
            self._tap.close()
            kinds: dict[str, int] = {}
            for _, e in events:
                if e.error is not None:
                    kinds[e.error.kind] = kinds.get(e.error.kind, 0) + 1
            out |= {
                "event_tap_dropped": self._tap.dropped or self._tap.silent_for() > 10,
                "stalls_stream_stalled": kinds.get("stream_stalled", 0),
                "errors_by_kind": kinds,
                "status_changes": len(events),
                "restarts": sum(
                    s["restarts"] - self._status0.get(c, {}).get("restarts", 0)
                    for c, s in status1.items()
                ),
                "error_count_delta": sum(
                    s["error_count"] - self._status0.get(c, {}).get("error_count", 0)
                    for c, s in status1.items()
                ),
                "not_publishing_at_end": sorted(
                    c for c, s in status1.items() if s["status"] != "publishing"
                ),
            }
        return out


def simulator_groups(env: Lab, sims: Sequence[SimCamera]) -> dict[str, Callable[[], Iterable[int]]]:
    """The processes that stand in for the cameras: on a real site they are not on the box."""
    feed = env.feed
    return {
        "camera_simulators": lambda: [s.server.proc.pid for s in sims if s.server.proc],
        "feed_and_feeders": lambda: [
            *([feed.server.proc.pid] if feed.server.proc else []),
            *(f.pid for f in feed.feeders.values()),
        ],
    }


def steady_window(
    window: float,
    groups: Mapping[str, Callable[[], Iterable[int]]],
    watch: SteadyWatch,
    label: str,
    every: float = 2.0,
) -> dict[str, Any]:
    """Measure CPU and PSS of `groups` over `window` seconds while `watch` samples health."""
    cpu = CpuWindow(groups)
    busy0 = machine_busy()
    watch.start()
    cpu.start()
    t0 = time.monotonic()
    next_note = t0 + 30
    while (left := t0 + window - time.monotonic()) > 0:
        time.sleep(min(every, left))  # the window is a measurement, not a wait for a race
        watch.sample()
        if time.monotonic() >= next_note:
            progress(f"{label}: {time.monotonic() - t0:.0f}/{window:.0f} s steady")
            next_note += 30
    usage = cpu.stop()
    busy = busy_pct(busy0)
    health = watch.stop()
    return {
        "window_s": round(time.monotonic() - t0, 1),
        "health": health,
        "processes": usage,
        "machine_busy_pct_of_all_cores": busy,
    }


# --- baselines --------------------------------------------------------------------------------
def shell_loop_relays(
    env: Lab, central: Central, sims: Sequence[SimCamera], ids: Sequence[str]
) -> Proc:
    """Baseline (a): `for cam in ...; do ffmpeg -c copy ... & done; wait`, no daemon.

    Each FFmpeg gets the parent-death signal from the shell, and the shell from the
    harness, so none can outlive the run. The FFmpeg command is the harness's plain relay,
    with ucvd's probe settings.
    """
    lines = ["set -u"]
    relay = RelaySection()
    # Probe as ucvd does, so that start times compare.
    probe = ["-fpsprobesize", str(relay.fpsprobesize), "-max_ts_probe", str(relay.max_ts_probe)]
    if relay.analyzeduration_us is not None:
        probe += ["-analyzeduration", str(relay.analyzeduration_us)]
    for sim, camera_id in zip(sims, ids, strict=True):
        argv = plain_relay_argv(env.tools, sim.url, central.publish_url(path_of(camera_id)))
        argv[1:1] = probe
        lines.append(f"setpriv --pdeathsig KILL -- {shlex.join(argv)} </dev/null &")
    lines.append("wait")
    script = env.workdir / "plain-relays.sh"
    script.write_text("\n".join(lines) + "\n")
    return env.registry.spawn("plain-relays", ["bash", str(script)])


def plain_ffmpegs(shell: Proc) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        # The shell forks a child that execs setpriv, which execs FFmpeg: a child of the shell.
        return children_of(shell.pid, "ffmpeg")

    return pids


def mediamtx_proxy(env: Lab, sims: Sequence[SimCamera], ids: Sequence[str]) -> MediaMTXServer:
    """Baseline (b): a MediaMTX on the box that pulls every camera itself (`source:`), as a
    native proxy would; the central server then pulls each path from it."""
    users = [{"user": "any", "pass": "", "permissions": [{"action": a} for a in ("read", "api")]}]

    def build(rtsp_port: int, api_port: int) -> dict[str, Any]:
        config = base_config(rtsp_port=rtsp_port, api_port=api_port, log_level="warn", users=users)
        config["paths"] = {
            path_of(camera_id): {"source": sim.url, "rtspTransport": "tcp", "sourceOnDemand": False}
            for sim, camera_id in zip(sims, ids, strict=True)
        }
        return config

    server = MediaMTXServer(
        registry=env.registry, tools=env.tools, workdir=env.workdir / "proxy", name="proxy",
        build_config=build,
    )  # fmt: skip
    return server.start()


def central_pulls(central: Central, proxy: MediaMTXServer, ids: Sequence[str]) -> None:
    """Point each central path at the proxy (an API edit, in memory only)."""
    api = central.server.api
    for camera_id in ids:
        path = path_of(camera_id)
        api._request(
            "POST",
            f"/v3/config/paths/add/{path}",
            {"source": proxy.rtsp_url(path), "rtspTransport": "tcp", "sourceOnDemand": False},
        )


def central_forgets(central: Central, ids: Sequence[str]) -> None:
    api = central.server.api
    for camera_id in ids:
        api._request("DELETE", f"/v3/config/paths/delete/{path_of(camera_id)}")


def wait_gone(central: Central, paths: Sequence[str], timeout: float = 30) -> None:
    wanted = set(paths)
    wait_until(lambda: not (wanted & set(ready_paths(central))), timeout=timeout,
               what="the previous relays' paths to go away")  # fmt: skip
