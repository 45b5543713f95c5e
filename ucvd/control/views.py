"""The daemon's state as the control socket shows it: pure conversions, no secret survives.

Every RPC result is built here from the engine's types, so there is exactly one place that
decides what leaves the daemon. Passwords become `has_password`; fault messages were
redacted where they were made (the supervisor) and are not touched again.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable

from ucvd.api import protocol as p
from ucvd.domain.audio import AudioPlan
from ucvd.domain.errors import Fault
from ucvd.domain.hints import hint
from ucvd.domain.model import Camera, Target
from ucvd.domain.quality import quality
from ucvd.domain.urls import redact
from ucvd.relay.publication import Status
from ucvd.relay.status import PublicationMetrics, PublicationState
from ucvd.state.history import SessionRecord


def iso(at: float | None) -> str | None:
    """Wall-clock seconds as ISO 8601 UTC with milliseconds; None stays None."""
    if at is None:
        return None
    moment = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def camera_view(camera: Camera, desired: str, sub_ids: Iterable[str] = ()) -> p.CameraView:
    return p.CameraView(
        id=camera.id,
        url=redact(camera.url),  # a camera may take its password in the query string
        username=camera.username,
        has_password=camera.password is not None,
        name=camera.name,
        options=camera.options,
        desired="publishing" if desired == "publishing" else "stopped",
        main_id=camera.main_id,
        sub_ids=list(sub_ids),
    )


def target_view(target: Target, *, active: bool) -> p.TargetView:
    return p.TargetView(
        name=target.name,
        rtsp_url=redact(target.rtsp_url),
        api_url=target.api_url,
        api_enabled=target.api_enabled,
        username=target.username,
        has_password=target.password is not None,
        api_username=target.api_username,
        has_api_password=target.api_password is not None,
        max_reconnects=target.max_reconnects,
        reconnect_delay=target.reconnect_delay,
        path_template=target.path_template,
        active=active,
        player_url=target.player_url,
        tls_ca_file=target.tls_ca_file,
        tls_fingerprint=target.tls_fingerprint,
        has_srt_passphrase=target.srt_passphrase is not None,
    )


def last_error(fault: Fault | None, at: float | None) -> p.LastError | None:
    if fault is None:
        return None
    return p.LastError(
        kind=str(fault.kind), message=fault.message, at=iso(at), hint=hint(fault.kind)
    )


def metrics_view(m: PublicationMetrics) -> p.Metrics:
    return p.Metrics(
        fps=None if m.fps is None else round(m.fps, 2),
        frames=m.frames,
        speed=m.speed,
        bitrate_kbps=None if m.bitrate_kbps is None else round(m.bitrate_kbps, 1),
        bytes=m.bytes_in,
        tracks=list(m.tracks),
        readers=m.readers,
        since_progress_seconds=(
            None if m.since_progress_s is None else round(m.since_progress_s, 2)
        ),
    )


def status_view(
    camera_id: str,
    state: PublicationState | None,
    *,
    desired: str,
    target: str | None,
    path: str | None,
    reconnects_last_hour: int = 0,
    stalls_last_hour: int = 0,
    main_id: str | None = None,
) -> p.PublicationStatus:
    """One camera's status; `state` is None when no supervisor was ever started for it."""
    desired_name: p.DesiredName = "publishing" if desired == "publishing" else "stopped"
    rating = quality(
        publishing=state is not None and state.status is Status.PUBLISHING,
        desired_publishing=desired == "publishing",
        reconnects_last_hour=reconnects_last_hour,
        stalls_last_hour=stalls_last_hour,
    )
    if state is None:
        return p.PublicationStatus(
            camera_id=camera_id, status=str(Status.STOPPED), desired=desired_name,
            publish_path=path, target=target, uptime_seconds=None, error_count=0, restarts=0,
            last_error=None, metrics=None, pid=None, retry_in_seconds=None, quality=rating,
            reconnects_last_hour=reconnects_last_hour, stalls_last_hour=stalls_last_hour,
            main_id=main_id,
        )  # fmt: skip
    running = state.pid is not None
    uptime = state.metrics.uptime_s if state.status is Status.PUBLISHING else None
    return p.PublicationStatus(
        camera_id=camera_id,
        status=str(state.status),
        desired=desired_name,
        publish_path=path,
        target=target,
        uptime_seconds=None if uptime is None else round(uptime, 1),
        error_count=state.error_count,
        restarts=state.restarts,
        last_error=last_error(state.last_error, state.last_error_at),
        metrics=metrics_view(state.metrics) if running else None,
        pid=state.pid,
        retry_in_seconds=state.retry_in_s if state.status is Status.RECONNECTING else None,
        waiting_for_target=state.waiting_for_target,
        quality=rating,
        reconnects_last_hour=reconnects_last_hour,
        stalls_last_hour=stalls_last_hour,
        audio=audio_view(state.audio) if running and state.audio is not None else None,
        main_id=main_id,
        consecutive_failures=state.failures,
        probe_to_keyframe=state.probe_to_keyframe,
    )


def camera_problem(status: p.PublicationStatus) -> str | None:
    """What `ucvctl health` says of a camera that needs the operator; None if nothing.

    A camera that failed and is retrying is dark whether it waits out its delay
    (reconnecting) or is inside the next attempt (starting, with failures not yet forgiven):
    the health answer must not depend on which instant it is asked. A first attempt, or one
    an operator's start began afresh, is not a problem until it fails."""
    retrying = status.status == Status.STARTING and status.consecutive_failures > 0
    if status.status not in (Status.FAILED, Status.RECONNECTING) and not retrying:
        return None
    error = status.last_error
    why = f": {error.kind}: {error.message}" if error else ""
    n = status.consecutive_failures
    state = f"retrying after {n} failure{'s' if n != 1 else ''}" if retrying else status.status
    return f"{status.camera_id} is {state}{why}"


def audio_view(plan: AudioPlan) -> p.AudioStatus:
    return p.AudioStatus(
        mode=str(plan.mode),
        policy=str(plan.policy),
        codec=plan.codec,
        reason=plan.reason,
        summary=plan.describe(),
    )


def status_list(items: list[p.PublicationStatus]) -> p.StatusList:
    active = sum(1 for s in items if s.status != Status.STOPPED)
    return p.StatusList(total=len(items), active=active, items=items)


def session_view(record: SessionRecord) -> p.Session:
    return p.Session(
        camera_id=record.camera_id,
        target=record.target,
        started_at=iso(record.started_at) or "",
        ended_at=iso(record.ended_at),
        end_reason=record.end_reason,
        error_kind=record.error_kind,
        error_message=record.error_message,
        restarts=record.restarts,
        frames=record.frames,
        bytes=record.bytes,
    )


def counts(
    statuses: Iterable[Status], *, desired_publishing: int, cameras: int, targets: int
) -> p.Counts:
    """Tallied from each camera's status alone: the heartbeat asks every second, and building
    a full status view per camera for it cost more than everything else it does."""
    by = Counter(statuses)
    return p.Counts(
        cameras=cameras,
        targets=targets,
        publishing=by[Status.PUBLISHING],
        starting=by[Status.STARTING],
        reconnecting=by[Status.RECONNECTING],
        failed=by[Status.FAILED],
        desired_publishing=desired_publishing,
    )
