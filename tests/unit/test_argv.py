from __future__ import annotations

import pytest

from ucvd.domain.model import Camera, CameraOptions, Target, Transport
from ucvd.relay.ffmpeg.argv import RelaySettings, publish_url, relay_argv

CAM = Camera(id="cam-001", url="rtsp://10.1.1.5:554/Streaming/Channels/101",
             username="admin", password="p@ss word")  # fmt: skip
TARGET = Target(name="central", rtsp_url="rtsp://mtx.example:8554",
                username="ucvd", password="pub:lish")  # fmt: skip


def value_after(argv: list[str], flag: str, occurrence: int = 0) -> str:
    indexes = [i for i, a in enumerate(argv) if a == flag]
    return argv[indexes[occurrence] + 1]


def test_default_argv_shape() -> None:
    argv = relay_argv("/usr/bin/ffmpeg", CAM, TARGET)
    assert argv[0] == "/usr/bin/ffmpeg"
    i = argv.index("-i")
    o = argv.index("-f")
    # Input options precede -i; output options precede the output URL, which is last.
    assert value_after(argv, "-rtsp_transport", 0) == "tcp" and argv.index("-rtsp_transport") < i
    assert value_after(argv, "-rtsp_transport", 1) == "tcp"
    assert [a for a in argv[o:] if a == "-rtsp_transport"] == ["-rtsp_transport"]
    assert value_after(argv, "-timeout", 0) == "5000000"
    assert value_after(argv, "-timeout", 1) == "5000000"
    assert argv[i + 1] == "rtsp://admin:p%40ss%20word@10.1.1.5:554/Streaming/Channels/101"
    assert argv[-1] == "rtsp://ucvd:pub%3Alish@mtx.example:8554/camera_cam-001"
    assert value_after(argv, "-f") == "rtsp"
    assert value_after(argv, "-c") == "copy"
    assert value_after(argv, "-map", 0) == "0:v:0"
    assert value_after(argv, "-map", 1) == "0:a:0?"
    assert value_after(argv, "-progress") == "pipe:1"
    assert value_after(argv, "-stats_period") == "1"
    assert value_after(argv, "-muxdelay") == "0.1"
    assert "-stimeout" not in argv and "-rw_timeout" not in argv
    assert "-nostdin" not in argv, "stdin must stay open: 'q' is the gentle stop"
    for absent in ("-fflags", "-use_wallclock_as_timestamps", "-avoid_negative_ts"):
        assert absent not in argv


@pytest.mark.parametrize(
    ("options", "present", "absent"),
    [
        (CameraOptions(audio=False), [], ["0:a:0?"]),
        (CameraOptions(genpts=True), ["-fflags", "+genpts"], []),
        (CameraOptions(wallclock_timestamps=True), ["-use_wallclock_as_timestamps", "1"], []),
        (CameraOptions(avoid_negative_ts=True), ["-avoid_negative_ts", "make_zero"], []),
    ],
)
def test_camera_options(options: CameraOptions, present: list[str], absent: list[str]) -> None:
    argv = relay_argv("ffmpeg", Camera(id="c", url=CAM.url, options=options), TARGET)
    joined = " ".join(argv)
    assert " ".join(present) in joined
    for token in absent:
        assert token not in argv


def test_timestamp_flags_are_input_options() -> None:
    opts = CameraOptions(genpts=True, wallclock_timestamps=True, avoid_negative_ts=True)
    argv = relay_argv("ffmpeg", Camera(id="c", url=CAM.url, options=opts), TARGET)
    i = argv.index("-i")
    assert argv.index("-fflags") < i
    assert argv.index("-use_wallclock_as_timestamps") < i
    assert argv.index("-avoid_negative_ts") > i  # an output (muxer) option


def test_udp_camera_leg_keeps_tcp_towards_mediamtx() -> None:
    cam = Camera(id="c", url=CAM.url, options=CameraOptions(transport=Transport.UDP))
    argv = relay_argv("ffmpeg", cam, TARGET)
    assert value_after(argv, "-rtsp_transport", 0) == "udp"
    assert value_after(argv, "-rtsp_transport", 1) == "tcp"


def test_settings() -> None:
    settings = RelaySettings(input_timeout_s=2.5, output_timeout_s=7, analyzeduration_us=500000,
                             probesize=32768, muxdelay_s=0.2, loglevel="warning")  # fmt: skip
    argv = relay_argv("ffmpeg", CAM, TARGET, settings)
    i = argv.index("-i")
    assert value_after(argv, "-timeout", 0) == "2500000"
    assert value_after(argv, "-timeout", 1) == "7000000"
    assert argv.index("-analyzeduration") < i and value_after(argv, "-analyzeduration") == "500000"
    assert argv.index("-probesize") < i and value_after(argv, "-probesize") == "32768"
    assert value_after(argv, "-loglevel") == "level+warning"


def test_frame_rate_probing_is_off_by_default_and_can_be_ffmpegs() -> None:
    argv = relay_argv("ffmpeg", CAM, TARGET)
    assert (
        argv.index("-fpsprobesize") < argv.index("-i") and value_after(argv, "-fpsprobesize") == "0"
    )
    assert "-analyzeduration" not in argv  # the analysis time stays FFmpeg's: in-band SPS/PPS
    ffmpegs = relay_argv("ffmpeg", CAM, TARGET, RelaySettings(fpsprobesize=-1))
    assert "-fpsprobesize" not in ffmpegs


def test_the_wait_for_a_first_timestamp_ends_at_the_first_packet_by_default() -> None:
    argv = relay_argv("ffmpeg", CAM, TARGET)
    assert argv.index("-max_ts_probe") < argv.index("-i")
    assert value_after(argv, "-max_ts_probe") == "1"
    ffmpegs = relay_argv("ffmpeg", CAM, TARGET, RelaySettings(max_ts_probe=50))
    assert value_after(ffmpegs, "-max_ts_probe") == "50"


def test_a_camera_with_late_keyframes_is_probed_up_to_its_keyframe() -> None:
    argv = relay_argv("ffmpeg", CAM, TARGET, until_keyframe_s=20.0)
    i = argv.index("-i")
    assert argv.index("-max_ts_probe") < i and value_after(argv, "-max_ts_probe") == "1000000"
    assert (
        argv.index("-analyzeduration") < i and value_after(argv, "-analyzeduration") == "20000000"
    )
    longer = RelaySettings(analyzeduration_us=30_000_000)
    assert value_after(relay_argv("ffmpeg", CAM, TARGET, longer, until_keyframe_s=20.0),
                       "-analyzeduration") == "30000000"  # fmt: skip


def test_no_credentials_means_no_userinfo() -> None:
    argv = relay_argv("ffmpeg", Camera(id="c", url=CAM.url), Target(name="t", rtsp_url="rtsp://m"))
    assert argv[argv.index("-i") + 1] == CAM.url
    assert argv[-1] == "rtsp://m/camera_c"


def test_publish_url_template_and_base_prefix() -> None:
    target = Target(name="t", rtsp_url="rtsp://m:8554/site7/", path_template="{camera_id}/main")
    assert publish_url(Camera(id="door", url=CAM.url), target) == "rtsp://m:8554/site7/door/main"


def test_audio_is_copied_from_its_first_packet() -> None:
    """FFmpeg 7.1's RTSP demuxer flags no AAC packet as a keyframe and stream copy waits for
    one: the audio track would be announced and stay empty. Video still starts at a
    keyframe."""
    argv = relay_argv("ffmpeg", CAM, TARGET)
    assert "-copyinkf:a" in argv and argv.index("-copyinkf:a") > argv.index("-i")
    assert "-copyinkf" not in argv and "-copyinkf:v" not in argv
    mute = relay_argv("ffmpeg", Camera(id="c", url=CAM.url, options=CameraOptions(audio=False)),
                      TARGET)  # fmt: skip
    assert "-copyinkf:a" not in mute
