"""Is FFmpeg there, and new enough? (The original plan's "verificación de disponibilidad".)

ucvd's command line needs FFmpeg 5.0 or later: before 5.0, `-timeout` on an RTSP input
meant "listen for an incoming connection", so the argv would turn a camera client into a
server waiting forever. A build whose version cannot be parsed (a git snapshot such as
`N-112345-g…`) is accepted: those are newer than any release we care about.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import msgspec

from ucvd.relay.ffmpeg.process import child_environment

MINIMUM = (5, 0)

_VERSION_LINE = re.compile(r"^ffmpeg version (?P<text>\S+)")
_RELEASE = re.compile(r"^n?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?")


class FFmpegInfo(msgspec.Struct, frozen=True):
    path: str
    version: str  # as FFmpeg prints it, e.g. "5.1.9-0+deb12u1"
    release: tuple[int, int, int] | None  # None for git snapshots


class FFmpegUnavailable(RuntimeError):
    """FFmpeg cannot be used; the message tells the operator what to do."""


def parse_version(output: str) -> tuple[str, tuple[int, int, int] | None]:
    """(version text, (major, minor, patch) or None) from `ffmpeg -version` output."""
    first = output.lstrip().splitlines()[0] if output.strip() else ""
    line = _VERSION_LINE.match(first)
    if not line:
        raise FFmpegUnavailable("the program does not look like FFmpeg (no 'ffmpeg version' line)")
    text = line["text"]
    release = _RELEASE.match(text)
    if not release:
        return text, None
    return text, (int(release["major"]), int(release["minor"]), int(release["patch"] or 0))


def check_version(text: str, release: tuple[int, int, int] | None) -> None:
    if release is not None and release[:2] < MINIMUM:
        need = ".".join(map(str, MINIMUM))
        raise FFmpegUnavailable(
            f"FFmpeg {text} is too old: ucvd needs {need} or later "
            "(Debian 12 ships 5.1, Debian 13 7.1)"
        )


def detect(ffmpeg: str = "ffmpeg", timeout: float = 10.0) -> FFmpegInfo:
    """Find FFmpeg, run `-version`, and refuse one that is missing, broken or too old."""
    path = shutil.which(ffmpeg)
    if path is None:
        raise FFmpegUnavailable(
            f"FFmpeg not found ({ffmpeg!r} is not on PATH): "
            "install it with `apt-get install ffmpeg`"
        )
    try:
        result = subprocess.run(
            [path, "-hide_banner", "-version"],
            capture_output=True, text=True, timeout=timeout, check=False,
            env=child_environment(None),  # no systemd variables reach any child
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FFmpegUnavailable(f"FFmpeg at {path} could not be run: {exc}") from exc
    if result.returncode != 0:
        raise FFmpegUnavailable(f"FFmpeg at {path} failed to report its version")
    text, release = parse_version(result.stdout)
    check_version(text, release)
    return FFmpegInfo(path=path, version=text, release=release)
