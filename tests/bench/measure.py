"""What the benchmark suite measures with, shared by its scenarios.

- `Summary`/`summarize`: a sample of durations as median, p95, p99, min, max and count.
- `CpuWindow`: CPU time of process groups over a window (percent of one core), and PSS.
- `children_of`: a process's direct children by executable name (ucvd's FFmpegs).
- `EventTap`: a subscriber on ucvd's socket, in a thread, that records what it is sent.
- `progress`: the one-line progress messages the suite prints as it goes.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from tests.bench.procstat import cpu_seconds, pss_kib
from tests.bench.time_to_live import percentile
from ucvctl.client import Client, RemoteError, TimedOut, Unreachable
from ucvd.api import protocol as p

_STARTED = time.monotonic()


def progress(message: str) -> None:
    """One line per step, with the time since the suite started: a long run shows life."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def summarize(values: Sequence[float], unit: str = "s", digits: int = 3) -> dict[str, Any]:
    """median/p95/p99/min/max of a sample; `n` says how many values it rests on."""
    if not values:
        return {"n": 0, "unit": unit}
    return {
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(list(values), 0.95), digits),
        "p99": round(percentile(list(values), 0.99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
        "unit": unit,
    }


# --- processes ------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children_of(parent: int, name: str | None = None) -> list[int]:
    """Live direct children of `parent` (optionally only those whose executable is `name`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or fields[0] == "Z" or int(fields[1]) != parent:
            continue
        if name is None or _comm(int(entry.name)) == name:
            found.append(int(entry.name))
    return sorted(found)


def _cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _pss(pid: int) -> int:
    try:
        return pss_kib(pid)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0


PidSource = Callable[[], Iterable[int]]


class CpuWindow:
    """CPU used by named groups of processes between `start()` and `stop()`.

    Groups are functions returning pids, asked at both ends: a process that appeared during
    the window counts from zero (all its CPU is inside the window); one that vanished is
    lost (it is reported as `exited`). PSS is summed over the group at the end. The time
    the groups' main threads spent runnable but waiting for a CPU (schedstat) shows how
    saturated the machine was for them.
    """

    def __init__(self, groups: Mapping[str, PidSource]) -> None:
        self.groups = dict(groups)
        self._start: dict[str, dict[int, tuple[float, float]]] = {}
        self._t0 = 0.0
        self.window_s = 0.0

    def _snapshot(self) -> dict[str, dict[int, tuple[float, float]]]:
        snap: dict[str, dict[int, tuple[float, float]]] = {}
        for name, source in self.groups.items():
            snap[name] = {}
            for pid in source():
                used = _cpu(pid)
                if used is not None:
                    snap[name][pid] = (used, runqueue_wait_s(pid))
        return snap

    def start(self) -> None:
        self._start = self._snapshot()
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, dict[str, Any]]:
        end = self._snapshot()
        window = self.window_s = time.monotonic() - self._t0
        out: dict[str, dict[str, Any]] = {}
        for name in self.groups:
            before, after = self._start.get(name, {}), end.get(name, {})
            used = sum(cpu - before.get(pid, (0.0, 0.0))[0] for pid, (cpu, _w) in after.items())
            wait = sum(w - before.get(pid, (0.0, 0.0))[1] for pid, (_c, w) in after.items())
            pss = sum(_pss(pid) for pid in after)
            out[name] = {
                "processes": len(after),
                "exited": len(set(before) - set(after)),
                "new": len(set(after) - set(before)),
                "cpu_pct_of_one_core": round(100 * used / window, 2),
                "pss_mib": round(pss / 1024, 1),
                "runqueue_wait_pct_per_process": round(100 * wait / window / max(1, len(after)), 1),
            }
        return out


def runqueue_wait_s(pid: int) -> float:
    """Seconds the main thread of `pid` has spent runnable, waiting for a CPU."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def per_camera(group: Mapping[str, Any], cameras: int) -> dict[str, float]:
    return {
        "cpu_pct_of_one_core": round(group["cpu_pct_of_one_core"] / cameras, 3),
        "pss_mib": round(group["pss_mib"] / cameras, 2),
    }


# --- events ---------------------------------------------------------------------------------
def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class EventTap:
    """An `events.subscribe` connection read by a thread (reading only: it never spawns).

    Keeps every status event with the monotonic time it arrived, counts metrics events and
    the delay between their `at` and their arrival, and notices being dropped (closed, or
    silent: see `silent_for`).
    """

    def __init__(self, socket: Path, camera_ids: list[str] | None = None) -> None:
        self.client = Client(str(socket), timeout_s=30)
        self.client.call_raw("events.subscribe", p.Subscribe(camera_ids=camera_ids))
        self.client.settimeout(0.2)
        self.status: list[tuple[float, p.StatusEvent]] = []
        self.metrics = 0
        self.metric_delays: list[float] = []
        self.dropped = False
        self.errors: list[str] = []
        self.last_message_at = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for note in self.client.notifications():
                    now = self.last_message_at = time.monotonic()
                    if note.method == p.STATUS_EVENT:
                        event = msgspec.json.decode(note.params, type=p.StatusEvent)
                        with self._lock:
                            self.status.append((now, event))
                    elif note.method == p.METRICS_EVENT:
                        metric = msgspec.json.decode(note.params, type=p.MetricsEvent)
                        with self._lock:
                            self.metrics += 1
                            self.metric_delays.append(time.time() - _wall(metric.at))
                    if self._stop.is_set():
                        return
            except TimedOut:
                continue
            except (Unreachable, RemoteError):  # RemoteError: ucvd said why it dropped us
                self.dropped = True
                return
            except Exception as exc:  # a message this tap cannot read: say so, keep going
                self.errors.append(repr(exc))

    def silent_for(self) -> float:
        """Seconds since the last message (a stalled daemon shows here; a drop is `dropped`)."""
        return time.monotonic() - self.last_message_at

    def status_since(self, t0: float) -> list[tuple[float, p.StatusEvent]]:
        with self._lock:
            return [(t, e) for t, e in self.status if t >= t0]

    def first(self, camera_id: str, new: str, after: float) -> float | None:
        """When `camera_id` first reached status `new` at or after `after`."""
        with self._lock:
            for t, e in self.status:
                if t >= after and e.camera_id == camera_id and e.new == new:
                    return t
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()


def environment() -> dict[str, Any]:
    """What else was going on: the load average and the number of processes right now."""
    return {"loadavg_1_5_15": loadavg(), "processes": sum(1 for _ in _pids())}


def _pids() -> Iterable[int]:
    return (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
