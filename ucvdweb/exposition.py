"""A scrape's answer, sans I/O: one `daemon.metrics` snapshot in, Prometheus text out.

Every figure comes from the one snapshot taken for this scrape; nothing is remembered
between scrapes, so two Prometheus servers scraping the same gateway see the same thing and
ucvd-web holds no state to lose. Names follow Prometheus' conventions: base units (seconds,
bytes, bytes per second: promtool's lint refuses bits), `_total` for counters, one metric
per quantity with the camera in labels. The catalogue, with what each is for, is in
README.md (Metrics).

Series per camera: 6 status + 5 quality + 11 error kinds + 13 others, at most 35 (some only
while FFmpeg runs or a retry is pending); 100 cameras measured 3,414 series in all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ucvd.api import protocol as p
from ucvd.domain.errors import ErrorKind
from ucvd.domain.quality import QUALITIES

CONTENT_TYPE = CONTENT_TYPE_LATEST
STATUSES = ("stopped", "starting", "publishing", "reconnecting", "stopping", "failed")
ERROR_KINDS = tuple(kind.value for kind in ErrorKind)
CAMERA_LABELS = ["camera", "target", "path"]


def render(snapshot: p.MetricsSnapshot | None, *, round_trip_s: float | None) -> bytes:
    """The exposition for one scrape. `snapshot` None: the daemon did not answer, and only
    `ucvd_up 0` is said (no stale figures that would look live)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families(snapshot, round_trip_s=round_trip_s))))
    return generate_latest(registry)


class _Families:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def families(snapshot: p.MetricsSnapshot | None, *, round_trip_s: float | None) -> Iterator[Metric]:
    up = GaugeMetricFamily("ucvd_up", "1 if the daemon answered this scrape on its socket")
    up.add_metric([], 1.0 if snapshot is not None else 0.0)
    yield up
    if snapshot is None:
        return
    if round_trip_s is not None:
        yield GaugeMetricFamily(
            "ucvd_socket_round_trip_seconds",
            "How long this scrape's daemon.metrics call took on the control socket",
            value=round_trip_s,
        )
    yield from _daemon(snapshot)
    yield from _targets(snapshot.targets)
    yield from _cameras(snapshot)


def _daemon(s: p.MetricsSnapshot) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "ucvd_build_info",
        "ucvd's version and the FFmpeg it runs",
        labels=["version", "ffmpeg_version"],
    )
    info.add_metric([s.version, s.ffmpeg_version], 1.0)
    yield info
    yield GaugeMetricFamily(
        "ucvd_start_time_seconds", "When the daemon started, Unix time", value=s.started_at
    )
    by_status = GaugeMetricFamily("ucvd_cameras", "Cameras in each status", labels=["status"])
    tally = dict.fromkeys(STATUSES, 0)
    for camera in s.cameras:
        tally[camera.status] = tally.get(camera.status, 0) + 1
    for status, n in tally.items():
        by_status.add_metric([status], float(n))
    yield by_status
    yield GaugeMetricFamily(
        "ucvd_cameras_desired_publishing",
        "Cameras the operator asked to publish",
        value=float(s.counts.desired_publishing),
    )


def _targets(targets: list[p.TargetHealth]) -> Iterator[Metric]:
    active = GaugeMetricFamily(
        "ucvd_target_active", "1 for the target cameras publish to", labels=["target"]
    )
    reachable = GaugeMetricFamily(
        "ucvd_target_reachable",
        "1 if the active target's RTSP port answers, 0 if not",
        labels=["target"],
    )
    latency = GaugeMetricFamily(
        "ucvd_target_api_latency_seconds",
        "Round trip of the last MediaMTX API call to the target",
        labels=["target"],
    )
    for t in targets:
        active.add_metric([t.name], 1.0 if t.active else 0.0)
        if t.reachable is not None:
            reachable.add_metric([t.name], 1.0 if t.reachable else 0.0)
        if t.api_latency_seconds is not None:
            latency.add_metric([t.name], t.api_latency_seconds)
    yield from (active, reachable, latency)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=CAMERA_LABELS + (labels or []))


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=CAMERA_LABELS + (labels or []))


def _cameras(s: p.MetricsSnapshot) -> Iterator[Metric]:
    up = _gauge("ucvd_camera_up", "1 if the camera is publishing (confirmed live at the centre)")
    desired = _gauge("ucvd_camera_desired_publishing", "1 if the operator asked it to publish")
    status = _gauge("ucvd_camera_status", "The camera's status: 1 for the current one", ["status"])
    quality = _gauge(
        "ucvd_camera_quality",
        "Connection quality (README: the rule): 1 for the current one",
        ["quality"],
    )
    uptime = _gauge("ucvd_camera_uptime_seconds", "Publishing for this long")
    fps = _gauge("ucvd_camera_fps", "Frames per second FFmpeg relays, over the last 5 s")
    bitrate = _gauge("ucvd_camera_bytes_per_second", "Data rate arriving at the centre")
    relayed = _counter(
        "ucvd_camera_relayed_bytes",
        "Bytes received at the centre from the running FFmpeg (starts again with each process)",
    )
    readers = _gauge("ucvd_camera_readers", "Readers of the camera's path at the centre")
    restarts = _counter("ucvd_camera_restarts", "FFmpeg restarts (kept across daemon restarts)")
    errors = _counter(
        "ucvd_camera_errors", "Failures by kind (kept across daemon restarts)", ["kind"]
    )
    stalls = _counter("ucvd_camera_stalls", "Stalls: no new frames in time (kept across restarts)")
    reconnects_1h = _gauge("ucvd_camera_reconnects_last_hour", "Reconnects in the last hour")
    stalls_1h = _gauge("ucvd_camera_stalls_last_hour", "Stalls in the last hour")
    retry = _gauge("ucvd_camera_retry_in_seconds", "The pending timed retry's delay")
    waiting = _gauge(
        "ucvd_camera_waiting_for_target", "1 if it waits for the link to the target to answer"
    )
    keyframe = _gauge(
        "ucvd_camera_probe_to_keyframe",
        "1 if MediaMTX dropped an attempt before its first picture, so FFmpeg probes up to "
        "the keyframe",
    )
    for cam in s.cameras:
        labels = [cam.camera_id, cam.target or "", cam.publish_path or ""]
        up.add_metric(labels, 1.0 if cam.status == "publishing" else 0.0)
        desired.add_metric(labels, 1.0 if cam.desired == "publishing" else 0.0)
        for state in STATUSES:
            status.add_metric([*labels, state], 1.0 if cam.status == state else 0.0)
        for rating in QUALITIES:
            quality.add_metric([*labels, rating], 1.0 if cam.quality == rating else 0.0)
        if cam.uptime_seconds is not None:
            uptime.add_metric(labels, cam.uptime_seconds)
        if cam.metrics is not None:
            if cam.metrics.fps is not None:
                fps.add_metric(labels, cam.metrics.fps)
            if cam.metrics.bitrate_kbps is not None:
                bitrate.add_metric(labels, cam.metrics.bitrate_kbps * 1000.0 / 8)
            relayed.add_metric(labels, float(cam.metrics.bytes))
            readers.add_metric(labels, float(cam.metrics.readers))
        counters = s.counters.get(cam.camera_id)
        restarts.add_metric(labels, float(counters.restarts if counters else 0))
        for kind in ERROR_KINDS:
            n = counters.errors.get(kind, 0) if counters else 0
            errors.add_metric([*labels, kind], float(n))
        stall_count = counters.errors.get(ErrorKind.STREAM_STALLED.value, 0) if counters else 0
        stalls.add_metric(labels, float(stall_count))
        reconnects_1h.add_metric(labels, float(cam.reconnects_last_hour))
        stalls_1h.add_metric(labels, float(cam.stalls_last_hour))
        if cam.retry_in_seconds is not None:
            retry.add_metric(labels, cam.retry_in_seconds)
        waiting.add_metric(labels, 1.0 if cam.waiting_for_target else 0.0)
        keyframe.add_metric(labels, 1.0 if cam.probe_to_keyframe else 0.0)
    yield from (up, desired, status, quality, uptime, fps, bitrate, relayed, readers)
    yield from (restarts, errors, stalls, reconnects_1h, stalls_1h, retry, waiting, keyframe)
