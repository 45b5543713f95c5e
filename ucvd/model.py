"""Cameras and targets as the relay engine needs them (design.md §2).

Credentials live apart from URLs and are merged only when FFmpeg is spawned, so that a URL
can be shown anywhere while a password is shown nowhere.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

DEFAULT_PATH_TEMPLATE = "camera_{camera_id}"


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class CameraOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-camera FFmpeg knobs for cameras that misbehave."""

    audio: bool = True  # relay the first audio track when there is one
    transport: Transport = Transport.TCP  # camera leg; the MediaMTX leg is always TCP
    genpts: bool = False  # -fflags +genpts: invent missing presentation timestamps
    wallclock_timestamps: bool = False  # -use_wallclock_as_timestamps 1: cameras with bad clocks
    avoid_negative_ts: bool = False  # -avoid_negative_ts make_zero
    max_reconnects: int | None = None  # overrides the target's limit when set


class Camera(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str  # rtsp:// or rtsps://, without credentials
    username: str | None = None
    password: str | None = None
    name: str = ""
    options: CameraOptions = CameraOptions()


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """A MediaMTX server to publish to (the original plan's "publishing configuration")."""

    name: str
    rtsp_url: str  # base URL, e.g. rtsp://mediamtx.example:8554
    api_url: str | None = None  # e.g. http://mediamtx.example:9997
    api_enabled: bool = True
    username: str | None = None  # publish credentials
    password: str | None = None
    api_username: str | None = None  # API credentials; the publish ones when unset
    api_password: str | None = None
    max_reconnects: int = 0  # consecutive failures before giving up; 0 = never
    reconnect_delay: float = 1.0  # first backoff delay in seconds, doubled per failure
    path_template: str = DEFAULT_PATH_TEMPLATE

    @property
    def uses_api(self) -> bool:
        return self.api_enabled and bool(self.api_url)

    def api_credentials(self) -> tuple[str, str] | None:
        if self.api_username is not None:
            return (self.api_username, self.api_password or "")
        if self.username is not None:
            return (self.username, self.password or "")
        return None


def secrets_of(camera: Camera, target: Target) -> tuple[str, ...]:
    """Every secret that could appear in this publication's FFmpeg output."""
    values = (camera.password, target.password, target.api_password)
    return tuple(v for v in values if v)
