"""Where the real components live: FFmpeg, ffprobe and the pinned MediaMTX build."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.errors import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_MEDIAMTX = REPO_ROOT / ".ci" / "build-mediamtx.sh"


def cache_dir() -> Path:
    """The cache shared with .ci/build-mediamtx.sh: outside the repo, survives clean clones."""
    explicit = os.environ.get("UCVD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ucvd"


# The FFmpeg that ucvd itself runs in the tests (the relays, `camera.probe` through the
# ffprobe beside it, the version check), when not the machine's: a path, e.g. a wrapper
# of tests/harness/foreign_ffmpeg.py for Debian 13's FFmpeg 7.1.
UNDER_TEST_VARIABLE = "UCVD_TEST_FFMPEG"


@dataclass(frozen=True)
class Tools:
    ffmpeg: str  # the harness's own: simulated cameras, reading streams back
    ffprobe: str
    mediamtx: str
    ffmpeg_under_test: str  # what ucvd is configured with; ffprobe is found next to it


def _require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise HarnessError(f"{name} not found on PATH; run `make deps`")
    return path


@functools.cache
def find_tools() -> Tools:
    """Locate every tool once; the MediaMTX path comes from the build script itself.

    The script is the only place the pinned version is written down; asking it keeps the
    tests and CI on the same binary, and with a warm cache it answers in milliseconds.
    `UCVD_MEDIAMTX_BIN` points at another build for experiments.
    """
    mediamtx = os.environ.get("UCVD_MEDIAMTX_BIN")
    if not mediamtx:
        result = subprocess.run(
            ["bash", str(BUILD_MEDIAMTX)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise HarnessError(f"could not obtain MediaMTX:\n{result.stderr.strip()}")
        mediamtx = result.stdout.strip().splitlines()[-1]
    if not os.access(mediamtx, os.X_OK):
        raise HarnessError(f"MediaMTX binary {mediamtx} is not executable")
    return Tools(
        ffmpeg=_require("ffmpeg"),
        ffprobe=_require("ffprobe"),
        mediamtx=mediamtx,
        ffmpeg_under_test=ffmpeg_under_test(),
    )


def ffmpeg_under_test() -> str:
    """`UCVD_TEST_FFMPEG` if set (it must run), else "ffmpeg" from PATH as ucvd's default
    configuration has it."""
    chosen = os.environ.get(UNDER_TEST_VARIABLE)
    if not chosen:
        return "ffmpeg"
    if not Path(chosen).is_absolute() or not os.access(chosen, os.X_OK):
        raise HarnessError(f"{UNDER_TEST_VARIABLE}={chosen} is not an executable absolute path")
    return chosen
