"""The FFmpeg command line for one relay, built from a camera, a target and settings.

Every choice here is one of the verified facts about FFmpeg 5.1 (docs/architecture.md §6),
and holds for 7.1 (Debian 13): TCP on both
legs (without `-rtsp_transport tcp` before the output the publish leg may go over UDP),
`-timeout` in microseconds on both legs (`-stimeout` is gone since 5.0), explicit mapping
(a camera whose video cannot be probed must fail, not be published as audio only; ONVIF
data tracks must not reach the muxer), progress on stdout once per second.
"""

from __future__ import annotations

import msgspec

from ucvd.domain.model import Camera, Target
from ucvd.domain.urls import join_path, publish_path, with_credentials


class RelaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Daemon-wide FFmpeg settings (the per-camera ones live in CameraOptions)."""

    input_timeout_s: float = 5.0  # socket I/O timeout towards the camera
    output_timeout_s: float = 5.0  # socket I/O timeout towards MediaMTX
    muxdelay_s: float = 0.1  # the RTSP muxer otherwise aggregates ~0.7 s
    analyzeduration_us: int | None = None  # input probing limits; None = FFmpeg's default
    probesize: int | None = None
    # Frames used to estimate the frame rate while probing; -1 = FFmpeg's own (20). Copy mode
    # needs no frame rate, and waiting for 20 frames was half of the time to live (measured
    # by tests/bench: 2.09 s -> 1.36 s median with a 1 s GOP). The analysis time stays
    # FFmpeg's, so a camera that sends its SPS/PPS only in-band still gets probed up to its
    # first keyframe.
    fpsprobesize: int = 0
    loglevel: str = "info"  # stream descriptions at start, errors later; never per-frame


def _us(seconds: float) -> str:
    return str(round(seconds * 1_000_000))


DEFAULT_SETTINGS = RelaySettings()


def relay_argv(
    ffmpeg: str,
    camera: Camera,
    target: Target,
    settings: RelaySettings = DEFAULT_SETTINGS,
    *,
    via_port: int | None = None,
) -> list[str]:
    """argv for `ffmpeg` relaying `camera` to its path on `target`. Contains credentials:
    never log it unredacted. With `via_port`, FFmpeg publishes in plain RTSP to that
    loopback port, ucvd's verified TLS link to an rtsps:// target (relay/tlslink.py).

    Why the passwords sit in argv: FFmpeg 5.1's RTSP demuxer and muxer take credentials
    only in the URL, and the URL only from the command line. A process's argv is readable
    in /proc/<pid>/cmdline by every local account unless the host mounts /proc with
    `hidepid=` (the unit's `ProtectProc=` does not help: it changes only the service's own
    /proc). `host/exposure.py` tells whether this host shows them; README, "Security".
    Nothing else a user can see carries them: the URLs are `rtsp://`/`rtsps://` with a
    host (checked at the socket), credentials are percent-encoded into the userinfo so no
    field can add an argument, and every line FFmpeg prints is redacted before use.
    """
    opts = camera.options
    argv = [
        ffmpeg,
        "-hide_banner",
        "-nostats",
        "-loglevel", f"level+{settings.loglevel}",
        "-progress", "pipe:1",
        "-stats_period", "1",
    ]  # fmt: skip
    if opts.genpts:
        argv += ["-fflags", "+genpts"]
    if opts.wallclock_timestamps:
        argv += ["-use_wallclock_as_timestamps", "1"]
    if settings.analyzeduration_us is not None:
        argv += ["-analyzeduration", str(settings.analyzeduration_us)]
    if settings.probesize is not None:
        argv += ["-probesize", str(settings.probesize)]
    if settings.fpsprobesize >= 0:
        argv += ["-fpsprobesize", str(settings.fpsprobesize)]
    argv += [
        "-rtsp_transport", opts.transport.value,
        "-timeout", _us(settings.input_timeout_s),
        "-i", with_credentials(camera.url, camera.username, camera.password),
        "-map", "0:v:0",
    ]  # fmt: skip
    argv += ["-c", "copy"]
    if opts.audio:
        # FFmpeg 7.1's RTSP demuxer leaves AAC packets unflagged as keyframes, and stream
        # copy drops every packet before the first keyframe: without `-copyinkf` the audio
        # track is announced but never carries a packet. Every audio frame decodes on its
        # own, so copying them from the first is right for 5.1 too; video keeps starting
        # at a keyframe.
        argv += ["-map", "0:a:0?", "-copyinkf:a"]
    if opts.avoid_negative_ts:
        argv += ["-avoid_negative_ts", "make_zero"]
    argv += [
        "-f", "rtsp",
        "-rtsp_transport", "tcp",
        "-timeout", _us(settings.output_timeout_s),
        "-muxdelay", str(settings.muxdelay_s),
        publish_url(camera, target, via_port),
    ]  # fmt: skip
    return argv


def publish_url(camera: Camera, target: Target, via_port: int | None = None) -> str:
    """Where the camera is published, with the target's credentials merged in."""
    path = publish_path(target.path_template, camera.id)
    base = target.rtsp_url if via_port is None else f"rtsp://127.0.0.1:{via_port}"
    return with_credentials(join_path(base, path), target.username, target.password)
