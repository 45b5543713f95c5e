"""The daemon's settings, from `/etc/ucvd/ucvd.toml` (or `--config`), decoded into types.

Every section and key is optional; unknown keys are errors, so that a typo never silently
falls back to a default. Errors name the key (`at $.supervision.stall_timeout_s`) and the
daemon refuses to start on them. A missing file at the *default* path means built-in
defaults (a fresh install runs without one); a missing file given explicitly is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from ucvd.relay.ffmpeg.argv import RelaySettings
from ucvd.relay.status import SupervisorSettings

DEFAULT_CONFIG = Path("/etc/ucvd/ucvd.toml")
DEFAULT_SOCKET = Path("/run/ucvd/ucvd.sock")
DEFAULT_STATE_DIR = Path("/var/lib/ucvd")

Positive = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class DaemonSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    socket: str = str(DEFAULT_SOCKET)
    state_dir: str = str(DEFAULT_STATE_DIR)
    operator_group: str = "ucvd-operators"  # may use the socket besides root and ucvd itself
    # Accounts that may only read (status, metrics, history, events), even as members of
    # the operator group: the network-facing ucvd-web runs as one.
    read_only_users: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=64)
    ] = msgspec.field(default_factory=lambda: ["ucvd-web"])
    ffmpeg: str = "ffmpeg"
    max_connections: Count = 64
    max_message_bytes: Annotated[int, msgspec.Meta(ge=4096, le=16 << 20)] = 1 << 20
    idle_timeout_s: Positive = 300.0


class RelaySection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    input_timeout_s: Positive = 5.0
    output_timeout_s: Positive = 5.0
    muxdelay_s: Annotated[float, msgspec.Meta(ge=0)] = 0.1
    analyzeduration_us: Annotated[int, msgspec.Meta(ge=0)] | None = None
    probesize: Annotated[int, msgspec.Meta(ge=32)] | None = None
    fpsprobesize: Annotated[int, msgspec.Meta(ge=-1)] = 0
    max_ts_probe: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] = 1

    def settings(self) -> RelaySettings:
        return RelaySettings(**msgspec.structs.asdict(self))


class SupervisionSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start_timeout_s: Positive = 20.0
    stall_timeout_s: Positive = 10.0
    poll_s: Positive = 0.5
    metrics_every_s: Positive = 1.0
    healthy_after_s: Positive = 30.0
    backoff_cap_s: Positive = 60.0


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    daemon: DaemonSection = DaemonSection()
    relay: RelaySection = RelaySection()
    supervision: SupervisionSection = SupervisionSection()

    def supervisor_settings(self) -> SupervisorSettings:
        return SupervisorSettings(
            **msgspec.structs.asdict(self.supervision), relay=self.relay.settings()
        )


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


def parse(text: str, source: str = "config") -> Config:
    try:
        return msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def load(path: Path | None) -> Config:
    """`path=None` means the default location, where a missing file means defaults."""
    target = path or DEFAULT_CONFIG
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path is None:
            return Config()
        raise ConfigError(f"{target}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target}: cannot be read: {exc}") from None
    return parse(text, str(target))
