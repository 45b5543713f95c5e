from __future__ import annotations

import os

import pytest

from tests.harness.tools import ffmpeg_under_test
from ucvd.relay.ffmpeg.version import FFmpegUnavailable, check_version, detect, parse_version


@pytest.mark.parametrize(
    ("output", "text", "release"),
    [
        ("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026", "5.1.9-0+deb12u1", (5, 1, 9)),
        ("ffmpeg version 7.1.5-0+deb13u1 Copyright (c) 2000-2026", "7.1.5-0+deb13u1", (7, 1, 5)),
        ("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright", "4.4.2-0ubuntu0.22.04.1", (4, 4, 2)),
        ("ffmpeg version n6.1 Copyright", "n6.1", (6, 1, 0)),
        ("ffmpeg version 7.0.2-static https://johnvansickle.com", "7.0.2-static", (7, 0, 2)),
        ("ffmpeg version N-112345-gabcdef Copyright", "N-112345-gabcdef", None),
        ("\nffmpeg version 5.0 Copyright\nbuilt with gcc", "5.0", (5, 0, 0)),
    ],
)
def test_parse_version(output: str, text: str, release: tuple[int, int, int] | None) -> None:
    assert parse_version(output) == (text, release)


@pytest.mark.parametrize("output", ["", "avconv version 12", "Usage: something"])
def test_not_ffmpeg(output: str) -> None:
    with pytest.raises(FFmpegUnavailable, match="does not look like FFmpeg"):
        parse_version(output)


@pytest.mark.parametrize(
    ("release", "ok"), [((5, 0, 0), True), ((5, 1, 9), True), ((4, 4, 2), False), (None, True)]
)
def test_minimum(release: tuple[int, int, int] | None, ok: bool) -> None:
    if ok:
        check_version("x", release)
    else:
        with pytest.raises(FFmpegUnavailable, match=r"too old: ucvd needs 5\.0 or later"):
            check_version("4.4.2", release)


def test_detect_the_installed_ffmpeg() -> None:
    info = detect("ffmpeg")
    assert info.path.endswith("ffmpeg")
    assert info.release is not None and info.release >= (5, 0, 0)


def test_detect_the_ffmpeg_under_test() -> None:
    """The FFmpeg the tests run ucvd with is the release they say (`make test-ffmpeg71` sets
    UCVD_TEST_FFMPEG_RELEASE=7.1), so a run against 7.1 cannot quietly use another."""
    info = detect(ffmpeg_under_test())
    assert info.release is not None and info.release >= (5, 0, 0)
    expected = os.environ.get("UCVD_TEST_FFMPEG_RELEASE")
    if expected:
        assert ".".join(map(str, info.release[:2])) == expected, info.version


def test_detect_missing() -> None:
    with pytest.raises(FFmpegUnavailable, match=r"is not on PATH\): install it"):
        detect("ffmpeg-that-does-not-exist")


def test_detect_not_ffmpeg() -> None:
    with pytest.raises(FFmpegUnavailable):
        detect("true")  # exits 0 with no version line
