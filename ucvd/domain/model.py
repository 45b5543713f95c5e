"""Cameras and targets as the relay engine needs them.

Credentials live apart from URLs and are merged only when FFmpeg is spawned, so that a URL
can be shown anywhere while a password is shown nowhere.
"""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec

from ucvd.domain.audio import AudioPolicy, policy_of

DEFAULT_PATH_TEMPLATE = "camera_{camera_id}"
# Camera ids and target names: safe in a MediaMTX path, a file name, a
# journald field and a shell, without quoting.
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class InvalidName(ValueError):
    """An id or name that breaks the slug rule; the message says which rule."""


def slug(text: str, what: str = "camera id") -> str:
    """Fold to lower case and check `[a-z0-9][a-z0-9._-]{0,62}`."""
    folded = text.lower()
    if not text.isascii() or not _SLUG.fullmatch(folded):
        shown = ascii(text[:70])
        raise InvalidName(
            f"{what} {shown} is invalid: use 1 to 63 characters of a-z, 0-9, '.', '_' and "
            "'-', starting with a letter or digit"
        )
    if ".." in folded:
        raise InvalidName(f"{what} {text!a} must not contain '..'")
    return folded


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class CameraOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-camera FFmpeg knobs for cameras that misbehave."""

    # What to do with the first audio track (ucvd.domain.audio): copy, drop, or aac. Before
    # policies this was a bool; `true`/`false` are still read (stored options, site files,
    # older clients) and become copy/drop.
    audio: AudioPolicy | bool = AudioPolicy.COPY
    transport: Transport = Transport.TCP  # camera leg; the MediaMTX leg is always TCP
    genpts: bool = False  # -fflags +genpts: invent missing presentation timestamps
    wallclock_timestamps: bool = False  # -use_wallclock_as_timestamps 1: cameras with bad clocks
    avoid_negative_ts: bool = False  # -avoid_negative_ts make_zero
    max_reconnects: int | None = None  # overrides the target's limit when set

    def __post_init__(self) -> None:
        if isinstance(self.audio, bool):
            msgspec.structs.force_setattr(self, "audio", policy_of(self.audio))

    @property
    def audio_policy(self) -> AudioPolicy:
        return policy_of(self.audio)


class Camera(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str  # rtsp:// or rtsps://, without credentials
    username: str | None = None
    password: str | None = None
    name: str = ""
    options: CameraOptions = CameraOptions()
    # Set on a camera's second stream (a sub stream, for live walls, beside the main one for
    # recording): this camera is the sub stream of camera `main_id`. It relays like any
    # camera, to a path of its own; the link keeps the pair together for people and forbids
    # removing the main while its sub is registered.
    main_id: str | None = None


SUB_SUFFIX = "-sub"


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
    # MediaMTX's own web player, e.g. http://mediamtx.example:8889/ (a camera's page is
    # this + its path + "/"). Only shown to people: FFmpeg and the API never read it.
    player_url: str | None = None
    # rtsps:// targets: how the server's certificate is checked (relay/tlslink.py). With
    # neither, the system's CAs and the host name; with a CA file, that CA and the host
    # name; with a fingerprint, exactly that certificate (SHA-256 of its DER form, lower-case
    # hex), the way to trust a self-signed server.
    tls_ca_file: str | None = None
    tls_fingerprint: str | None = None
    # srt:// targets: SRT's own encryption passphrase (MediaMTX's srtPublishPassphrase).
    srt_passphrase: str | None = None

    @property
    def uses_api(self) -> bool:
        return self.api_enabled and bool(self.api_url)

    def for_relay(self) -> Target:
        """The target as the relay engine sees it: without the settings that only tell
        people where to watch, so that changing those restarts no publication."""
        return msgspec.structs.replace(self, player_url=None) if self.player_url else self

    def api_credentials(self) -> tuple[str, str] | None:
        if self.api_username is not None:
            return (self.api_username, self.api_password or "")
        if self.username is not None:
            return (self.username, self.password or "")
        return None


def secrets_of(camera: Camera, target: Target) -> tuple[str, ...]:
    """Every secret that could appear in this publication's FFmpeg output."""
    values = (camera.password, target.password, target.api_password, target.srt_passphrase)
    return tuple(v for v in values if v)
