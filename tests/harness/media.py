"""The test clip every simulated camera loops, and reading streams back with ffprobe.

The clip is encoded once per machine and cached: cameras only ever copy it, so a hundred
of them cost no encoding at all. Its shape is chosen to loop seamlessly: the length is a
whole number of GOPs and of AAC frames, so every loop starts on a keyframe and audio and
video stay aligned across loops.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tests.harness.errors import HarnessError
from tests.harness.tools import Tools, cache_dir


class Audio(StrEnum):
    """Audio a simulated camera sends next to its H.264 video."""

    AAC = "aac"  # MPEG-4 AAC-LC, 16 kHz mono, as many IP cameras
    PCMU = "pcmu"  # G.711 mu-law, 8 kHz mono, the other camera classic
    NONE = "none"  # video only


@dataclass(frozen=True)
class ClipSpec:
    width: int = 640
    height: int = 360
    fps: int = 25
    gop_frames: int = 25  # one keyframe per second
    seconds: int = 8  # 8 s = 200 video frames = 125 AAC frames at 16 kHz: loops cleanly
    video_bitrate_k: int = 500

    def key(self, ffmpeg_version: str) -> str:
        blob = json.dumps([asdict(self), ffmpeg_version], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# A camera's sub stream: the same picture, smaller and lighter, as cameras offer live walls.
SUB_CLIP = ClipSpec(width=320, height=180, video_bitrate_k=150)

_AUDIO_ARGS: dict[Audio, list[str]] = {
    Audio.AAC: ["-c:a", "aac", "-b:a", "32k", "-ar", "16000", "-ac", "1"],
    Audio.PCMU: ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"],
}


class ClipLibrary:
    """Cached clips, one per audio variant, generated on first use under a file lock."""

    def __init__(self, tools: Tools, spec: ClipSpec | None = None) -> None:
        self.tools = tools
        self.spec = spec or ClipSpec()
        version = subprocess.run(
            [tools.ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[0]
        self.dir = cache_dir() / "clips" / self.spec.key(version)

    def path(self, audio: Audio) -> Path:
        return self.dir / f"h264_{audio.value}.mkv"

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            video = self.path(Audio.NONE)
            if not video.exists():
                self._encode_video(video)
            for audio, args in _AUDIO_ARGS.items():
                target = self.path(audio)
                if not target.exists():
                    self._add_audio(video, target, args)

    def _run(self, argv: list[str], target: Path) -> None:
        tmp = target.with_suffix(".tmp.mkv")
        result = subprocess.run(
            [*argv, str(tmp)], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise HarnessError(f"generating {target.name} failed:\n{result.stderr[-2000:]}")
        tmp.rename(target)

    def _encode_video(self, target: Path) -> None:
        s = self.spec
        self._run(
            [
                self.tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={s.width}x{s.height}:rate={s.fps}",
                "-t", str(s.seconds),
                "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                "-pix_fmt", "yuv420p",
                "-g", str(s.gop_frames), "-keyint_min", str(s.gop_frames),
                "-sc_threshold", "0", "-bf", "0",
                "-b:v", f"{s.video_bitrate_k}k", "-maxrate", f"{s.video_bitrate_k}k",
                "-bufsize", f"{s.video_bitrate_k}k",
                # Cameras repeat SPS/PPS before every keyframe; readers joining late rely on it.
                "-x264-params", "repeat-headers=1",
            ],
            target,
        )  # fmt: skip

    def _add_audio(self, video: Path, target: Path, audio_args: list[str]) -> None:
        self._run(
            [
                self.tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-i", str(video),
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", str(self.spec.seconds),
                "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", *audio_args,
            ],
            target,
        )  # fmt: skip


@dataclass(frozen=True)
class StreamInfo:
    codec_type: str
    codec_name: str
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None


def probe_streams(tools: Tools, url: str, timeout: float = 20.0) -> list[StreamInfo]:
    """The streams of an RTSP URL (or file) as ffprobe sees them, over TCP."""
    argv = [tools.ffprobe, "-v", "error"]
    if url.startswith(("rtsp://", "rtsps://")):
        argv += ["-rtsp_transport", "tcp", "-timeout", "5000000"]
    argv += ["-show_streams", "-of", "json", url]
    streams = _ffprobe_streams(argv, timeout)
    return [
        StreamInfo(
            codec_type=s.get("codec_type", ""),
            codec_name=s.get("codec_name", ""),
            width=s.get("width"),
            height=s.get("height"),
            sample_rate=int(s["sample_rate"]) if "sample_rate" in s else None,
        )
        for s in streams
    ]


def packets_read(tools: Tools, url: str, seconds: float = 2.0, timeout: float = 20.0) -> list[int]:
    """Packets ffprobe reads from each stream of an RTSP URL in its first `seconds`: a track
    can be announced and still carry nothing."""
    argv = [
        tools.ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
        "-read_intervals", f"%+{seconds:g}", "-count_packets",
        "-show_entries", "stream=nb_read_packets", "-of", "json", url,
    ]  # fmt: skip
    return [int(s.get("nb_read_packets", 0)) for s in _ffprobe_streams(argv, timeout)]


def _ffprobe_streams(argv: list[str], timeout: float) -> list[dict[str, Any]]:
    """Run an ffprobe that prints JSON; its "streams", or a HarnessError saying why not."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"ffprobe did not finish within {timeout}s") from exc
    if result.returncode != 0:
        raise HarnessError(f"ffprobe failed: {result.stderr.strip()[-500:]}")
    streams: list[dict[str, Any]] = json.loads(result.stdout).get("streams", [])
    return streams
