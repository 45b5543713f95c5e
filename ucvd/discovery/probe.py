"""`camera.probe`: ask the camera what it sends (codecs, resolution, fps, audio) via ffprobe.

The parsing is pure (`parse`); `probe` runs ffprobe with the same guards as the relay
(parent-death signal, clean environment, bounded time) and redacts whatever it prints.
"""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

import msgspec

from ucvd.api import protocol as p
from ucvd.domain.model import Camera, Transport
from ucvd.domain.urls import with_credentials
from ucvd.relay.ffmpeg.process import last_words, run_once

PROBE_TIMEOUT_S = 15.0


class ProbeFailed(RuntimeError):
    """ffprobe could not read the camera; the message is redacted and meant for people."""


class _Stream(msgspec.Struct):
    codec_type: str = ""
    codec_name: str = ""
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    avg_frame_rate: str | None = None
    r_frame_rate: str | None = None
    sample_rate: str | None = None
    channels: int | None = None


class _Output(msgspec.Struct):
    streams: list[_Stream] = []


def _rate(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(value), 3) if value > 0 else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def parse(camera_id: str, output: bytes, seconds: float) -> p.ProbeResult:
    """ffprobe's `-of json -show_streams` output as a ProbeResult (first video track)."""
    try:
        decoded = msgspec.json.decode(output, type=_Output)
    except msgspec.DecodeError as exc:
        raise ProbeFailed(f"ffprobe printed something unexpected: {exc}") from None
    video = None
    audio: list[p.AudioInfo] = []
    for s in decoded.streams:
        if s.codec_type == "video" and video is None:
            video = p.VideoInfo(
                codec=s.codec_name, profile=s.profile, width=s.width or None,
                height=s.height or None, fps=_rate(s.avg_frame_rate) or _rate(s.r_frame_rate),
            )  # fmt: skip
        elif s.codec_type == "audio":
            audio.append(
                p.AudioInfo(
                    codec=s.codec_name, sample_rate=_int(s.sample_rate), channels=s.channels
                )
            )
    return p.ProbeResult(camera_id=camera_id, video=video, audio=audio, seconds=round(seconds, 3))


def argv(ffprobe: str, camera: Camera, timeout_s: float) -> list[str]:
    """ffprobe's command line. It carries the camera's password in the URL, as the relay's
    does (see `ucvd.relay.ffmpeg.argv.relay_argv` on who can read it), for the probe's seconds."""
    args: list[str] = [ffprobe, "-hide_banner", "-v", "error"]
    if camera.options.transport is Transport.TCP:
        args += ["-rtsp_transport", "tcp"]
    args += ["-timeout", str(round(timeout_s * 1_000_000))]
    args += ["-show_streams", "-of", "json"]
    args += ["-i", with_credentials(camera.url, camera.username, camera.password)]
    return args


def ffprobe_next_to(ffmpeg: str) -> str:
    """ffprobe from the same place as the configured FFmpeg, else from PATH."""
    found = shutil.which(ffmpeg)
    if found:
        sibling = shutil.which("ffprobe", path=str(Path(found).parent))
        if sibling:
            return sibling
    return "ffprobe"


async def probe(ffprobe: str, camera: Camera, timeout_s: float = PROBE_TIMEOUT_S) -> p.ProbeResult:
    secrets = [s for s in (camera.password,) if s]
    started = time.monotonic()
    try:
        result = await run_once(argv(ffprobe, camera, timeout_s / 2), timeout_s + 5)
    except OSError as exc:
        raise ProbeFailed(f"ffprobe could not be run: {exc.strerror or exc}") from None
    if result is None:
        raise ProbeFailed(f"the camera did not answer within {timeout_s:g} s")
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise ProbeFailed(last_words(result, "ffprobe", secrets))
    return parse(camera.id, result.stdout, seconds)
