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

from ucvd.domain.audio import AAC_BITRATE, AudioPlan, AudioPolicy, plan_audio
from ucvd.domain.model import Camera, Target
from ucvd.domain.urls import join_path, publish_path, scheme_of, srt_stream_id, with_credentials


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
    # Packets of a track read while waiting for its first decode timestamp; FFmpeg's own is
    # 50. For H.264 that timestamp comes only once 7 pictures are decoded (to learn the
    # reordering delay, which copy mode does not need): about 0.3 s after the keyframe at
    # 25 fps, and the probe waited for it. 1 ends the wait at a track's first packet, so probing
    # ends when the keyframe is decoded. Not 0: the probe could then end before any audio
    # packet, and FFmpeg 5.1 logged out-of-order AAC timestamps three times a second for
    # the whole relay and sent the audio in 0.32 s batches.
    max_ts_probe: int = 1
    loglevel: str = "info"  # stream descriptions at start, errors later; never per-frame


def _us(seconds: float) -> str:
    return str(round(seconds * 1_000_000))


DEFAULT_SETTINGS = RelaySettings()
# With `until_keyframe_s`: more packets than any GOP holds before its keyframe, so that the
# analysis time alone bounds the wait.
UNTIL_KEYFRAME_PACKETS = 1_000_000


def relay_argv(
    ffmpeg: str,
    camera: Camera,
    target: Target,
    settings: RelaySettings = DEFAULT_SETTINGS,
    audio: AudioPlan | None = None,
    *,
    via_port: int | None = None,
    until_keyframe_s: float | None = None,
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
    analyze_us, ts_probe = settings.analyzeduration_us, settings.max_ts_probe
    if until_keyframe_s is not None:
        # H.264's first decode timestamp comes 7 pictures past the keyframe: waiting for it
        # (up to that long) holds RECORD until the picture can follow at once.
        analyze_us = max(analyze_us or 0, round(until_keyframe_s * 1_000_000))
        ts_probe = max(ts_probe, UNTIL_KEYFRAME_PACKETS)
    if analyze_us is not None:
        argv += ["-analyzeduration", str(analyze_us)]
    if settings.probesize is not None:
        argv += ["-probesize", str(settings.probesize)]
    if settings.fpsprobesize >= 0:
        argv += ["-fpsprobesize", str(settings.fpsprobesize)]
    argv += ["-max_ts_probe", str(ts_probe)]
    argv += [
        "-rtsp_transport", opts.transport.value,
        "-timeout", _us(settings.input_timeout_s),
        "-i", with_credentials(camera.url, camera.username, camera.password),
        "-map", "0:v:0",
    ]  # fmt: skip
    argv += _output_args(camera, target, settings, audio or default_audio(camera, target), via_port)
    return argv


def default_audio(camera: Camera, target: Target) -> AudioPlan:
    """The audio plan before anything is known of the camera's codec."""
    return plan_audio(camera.options.audio_policy, scheme_of(target.rtsp_url), None)


def _audio_args(audio: AudioPlan) -> list[str]:
    match audio.mode:
        case AudioPolicy.DROP:
            return []
        case AudioPolicy.AAC:
            # Video stays copied (`-c copy` before this); only the audio is decoded and
            # encoded, resampled by FFmpeg when the encoder needs it. Channels are kept.
            return ["-map", "0:a:0?", "-c:a", "aac", "-b:a", AAC_BITRATE]
        case _:
            # FFmpeg 7.1's RTSP demuxer leaves AAC packets unflagged as keyframes, and stream
            # copy drops every packet before the first keyframe: without `-copyinkf` the
            # audio track is announced but never carries a packet. Every audio frame decodes
            # on its own, so copying them from the first is right for 5.1 too; video keeps
            # starting at a keyframe.
            return ["-map", "0:a:0?", "-copyinkf:a"]


def _output_args(
    camera: Camera,
    target: Target,
    settings: RelaySettings,
    audio: AudioPlan,
    via_port: int | None,
) -> list[str]:
    """Everything after the input: codecs, audio, and the publish leg for the target's
    transport."""
    args = ["-c", "copy", *_audio_args(audio)]
    if camera.options.avoid_negative_ts:
        args += ["-avoid_negative_ts", "make_zero"]
    if scheme_of(target.rtsp_url) == "srt":
        return args + _srt_output(camera, target, settings)
    return [
        *args,
        "-f", "rtsp",
        "-rtsp_transport", "tcp",
        "-timeout", _us(settings.output_timeout_s),
        "-muxdelay", str(settings.muxdelay_s),
        publish_url(camera, target, via_port),
    ]  # fmt: skip


def _srt_output(camera: Camera, target: Target, settings: RelaySettings) -> list[str]:
    """MPEG-TS over SRT to MediaMTX's SRT server (FFmpeg's libsrt, caller mode).

    The stream id and passphrase go as options, not in the URL's query: FFmpeg echoes its
    URLs in error lines, and a query would need its own escaping. The option is
    `-srt_streamid`: `-streamid` is taken by FFmpeg's own (output stream ids, "Expected
    number for streamid"). `-pkt_size 1316` = 7 TS packets, SRT's live payload. libsrt's
    `-timeout` is in microseconds, `-connect_timeout` in milliseconds.
    """
    path = publish_path(target.path_template, camera.id)
    args = [
        "-f", "mpegts",
        "-pkt_size", "1316",
        "-srt_streamid", srt_stream_id(path, target.username, target.password),
        "-connect_timeout", str(round(settings.output_timeout_s * 1000)),
        "-timeout", _us(settings.output_timeout_s),
        "-muxdelay", str(settings.muxdelay_s),
    ]  # fmt: skip
    if target.srt_passphrase:
        args += ["-passphrase", target.srt_passphrase]
    return [*args, target.rtsp_url]


def publish_url(camera: Camera, target: Target, via_port: int | None = None) -> str:
    """Where the camera is published, with the target's credentials merged in."""
    path = publish_path(target.path_template, camera.id)
    base = target.rtsp_url if via_port is None else f"rtsp://127.0.0.1:{via_port}"
    return with_credentials(join_path(base, path), target.username, target.password)
