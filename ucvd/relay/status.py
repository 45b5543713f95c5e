"""What the relay engine tells the rest of the daemon, as plain data: a publication's state
and metrics, the notifications of their changes, and the settings supervision runs by.

No I/O and no engine here, so that the configuration loader, the history, the views and the
client-facing code can speak of publications without importing the supervisor (anyio,
httpx, FFmpeg's process handling).
"""

from __future__ import annotations

import msgspec

from ucvd.domain.audio import AudioPlan
from ucvd.domain.errors import Fault
from ucvd.relay.ffmpeg.argv import DEFAULT_SETTINGS, RelaySettings
from ucvd.relay.publication import Status


class SupervisorSettings(msgspec.Struct, frozen=True, kw_only=True):
    start_timeout_s: float = 20.0  # spawn -> confirmed; copy mode waits for a keyframe
    stall_timeout_s: float = 10.0  # no advancing frame/out_time for this long = stalled
    poll_s: float = 0.5  # how often readiness (and stalls, at most once a second) are checked
    metrics_every_s: float = 1.0
    healthy_after_s: float = 30.0  # publishing this long forgives earlier failures
    backoff_cap_s: float = 60.0
    relay: RelaySettings = DEFAULT_SETTINGS


class PublicationMetrics(msgspec.Struct, kw_only=True):
    fps: float | None = None  # over the last 5 s of FFmpeg's frame counts
    frames: int = 0
    speed: float | None = None
    bitrate_kbps: float | None = None  # from MediaMTX's inbound byte counter
    bytes_in: int = 0  # at MediaMTX, this session
    tracks: tuple[str, ...] = ()
    readers: int = 0
    uptime_s: float | None = None  # since confirmed
    since_progress_s: float | None = None


class PublicationState(msgspec.Struct, kw_only=True):
    """What `ucvctl status` shows for one camera; contains no secret."""

    camera_id: str
    status: Status
    path: str
    pid: int | None
    restarts: int
    error_count: int
    failures: int  # consecutive, not yet forgiven by healthy publishing or an operator's start
    last_error: Fault | None
    last_error_at: float | None  # wall clock
    retry_in_s: float | None
    waiting_for_target: bool  # reconnecting, and the retry waits for the target to answer
    metrics: PublicationMetrics
    audio: AudioPlan | None = None  # what the running FFmpeg does with the audio
    # MediaMTX dropped an attempt before its first picture: FFmpeg now probes up to the
    # camera's keyframe (slower to the path, but the picture comes with RECORD).
    probe_to_keyframe: bool = False


class StatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    old: Status
    new: Status
    error: Fault | None
    at: float  # wall clock
    # Filled in by the registry, which alone knows them, before anyone else hears of it:
    target: str | None = None  # the target's name
    restarts: int = 0  # of the publication, so far
    reason: str | None = None  # why it stopped, when `new` is STOPPED


class MetricsSampled(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    metrics: PublicationMetrics
    at: float


Notification = StatusChanged | MetricsSampled
