"""SRT publishing and the audio policy: argv, the automatic choice, FFmpeg's input lines,
redaction, the classifier on FFmpeg 5.1's real SRT lines, old options still read."""

from __future__ import annotations

import msgspec
import pytest

from ucvd.domain import validation
from ucvd.domain.audio import AudioPlan, AudioPolicy, plan_audio
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, CameraOptions, Target
from ucvd.domain.refusals import Invalid
from ucvd.domain.urls import redact
from ucvd.relay.ffmpeg.argv import relay_argv
from ucvd.relay.ffmpeg.classify import Endpoint, classify
from ucvd.relay.ffmpeg.inputs import NOT_YET, input_audio
from ucvd.relay.supervisor import host_port, uplink_connect
from ucvd.relay.uplink import no_probe, tcp_answers

CAM = Camera(id="cam-1", url="rtsp://10.1.1.5:554/live", username="admin", password="cam-secret")
SRT = Target(name="c", rtsp_url="srt://mtx.example:8890", username="ucvd",
             password="P@ss#x&!", srt_passphrase="correct horse 1")  # fmt: skip
RTSP = Target(name="r", rtsp_url="rtsp://mtx.example:8554", username="ucvd", password="pw")


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_srt_output_is_mpegts_with_stream_id_and_passphrase() -> None:
    argv = relay_argv("ffmpeg", CAM, SRT)
    out = argv[argv.index("-map", argv.index("-map") + 1) :]
    assert argv[-1] == "srt://mtx.example:8890"  # nothing secret in the URL FFmpeg echoes
    assert after(out, "-f") == "mpegts"
    assert after(out, "-pkt_size") == "1316"
    assert after(out, "-srt_streamid") == "publish:camera_cam-1:ucvd:P@ss#x&!"
    assert "-streamid" not in argv  # FFmpeg's own option: "Expected number for streamid"
    assert after(out, "-passphrase") == "correct horse 1"
    assert after(out, "-connect_timeout") == "5000"  # milliseconds
    assert after(out, "-timeout") == "5000000"  # microseconds
    assert "-rtsp_transport" not in out


def test_srt_without_credentials_or_passphrase() -> None:
    bare = msgspec.structs.replace(SRT, username=None, password=None, srt_passphrase=None)
    argv = relay_argv("ffmpeg", CAM, bare)
    assert after(argv, "-srt_streamid") == "publish:camera_cam-1"
    assert "-passphrase" not in argv


@pytest.mark.parametrize(
    ("policy", "audio_args"),
    [
        (AudioPolicy.COPY, ["-map", "0:a:0?", "-copyinkf:a"]),
        (AudioPolicy.DROP, []),
        (AudioPolicy.AAC, ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "48k"]),
    ],
)
def test_each_policy(policy: AudioPolicy, audio_args: list[str]) -> None:
    cam = msgspec.structs.replace(CAM, options=CameraOptions(audio=policy))
    argv = relay_argv("ffmpeg", cam, RTSP)
    start = argv.index("copy") + 1  # video is always copied: `-c copy` comes first
    assert after(argv, "-c") == "copy"
    assert argv[start : argv.index("-f")] == audio_args


def test_auto_aac_where_the_transport_cannot_carry_the_codec() -> None:
    plan = plan_audio(AudioPolicy.COPY, "srt", "pcm_mulaw")
    assert plan.mode is AudioPolicy.AAC and plan.policy is AudioPolicy.COPY
    assert plan.describe() == "aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))"
    argv = relay_argv("ffmpeg", CAM, SRT, audio=plan)
    assert after(argv, "-c:a") == "aac"
    # Over RTSP the same camera is copied; AAC over SRT too; unknown codec: copy.
    assert plan_audio(AudioPolicy.COPY, "rtsp", "pcm_mulaw").mode is AudioPolicy.COPY
    assert plan_audio(AudioPolicy.COPY, "srt", "aac").mode is AudioPolicy.COPY
    assert plan_audio(AudioPolicy.COPY, "srt", "opus").reason is None
    assert plan_audio(AudioPolicy.COPY, "srt", None).mode is AudioPolicy.COPY
    # The operator's drop is never overridden.
    assert plan_audio(AudioPolicy.DROP, "srt", "pcm_alaw") == AudioPlan(
        mode=AudioPolicy.DROP, policy=AudioPolicy.DROP, codec="pcm_alaw"
    )


INPUT_51 = [
    "[info] Input #0, rtsp, from 'rtsp://admin:***@127.0.0.1:41234/Streaming/Channels/101':",
    "[info]   Metadata:",
    "[info]     title           : Stream",
    "[info]   Duration: N/A, start: 0.000000, bitrate: 64 kb/s",
    "[info]   Stream #0:0: Video: h264 (Main), yuv420p(progressive), 640x360, 25 tbr, 90k tbn",
    "[info]   Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s",
]


def test_input_audio_from_ffmpegs_description() -> None:
    assert input_audio(INPUT_51) is NOT_YET  # not complete until the mapping is printed
    assert input_audio([*INPUT_51, "[info] Stream mapping:"]) == "pcm_mulaw"
    assert input_audio([*INPUT_51, "[info] Output #0, mpegts, to 'srt://h:1':"]) == "pcm_mulaw"
    video_only = [*INPUT_51[:5], "[info] Stream mapping:"]
    assert input_audio(video_only) is None
    # Output stream lines are not the camera's.
    out = ["[info] Output #0, mpegts, to 'srt://h:1':", "[info]   Stream #0:1: Audio: aac (LC)"]
    assert input_audio(out) is NOT_YET
    tagged = [
        "[in#0/rtsp @ 0x1] [info] Input #0, rtsp, from 'x':",
        "[info]   Stream #0:1[0x2](und): Audio: opus, 48000 Hz",
        "[info] Stream mapping:",
    ]
    assert input_audio(tagged) == "opus"


def test_old_boolean_audio_option_still_reads() -> None:
    decode = msgspec.json.Decoder(CameraOptions).decode
    assert decode(b'{"audio": false}').audio is AudioPolicy.DROP
    assert decode(b'{"audio": true}').audio is AudioPolicy.COPY
    assert decode(b'{"audio": "aac"}').audio_policy is AudioPolicy.AAC
    assert decode(b"{}").audio is AudioPolicy.COPY
    assert msgspec.json.decode(msgspec.json.encode(CameraOptions(audio=False)))["audio"] == "drop"
    with pytest.raises(msgspec.ValidationError):
        decode(b'{"audio": "mp3"}')
    assert "-map" in relay_argv("ffmpeg", CAM, RTSP)[-12:]
    old = msgspec.structs.replace(CAM, options=decode(b'{"audio": false}'))
    assert "0:a:0?" not in relay_argv("ffmpeg", old, RTSP)


def test_srt_secrets_are_redacted() -> None:
    argv = " ".join(relay_argv("ffmpeg", CAM, SRT))
    shown = redact(argv)  # by pattern alone, without knowing the secrets
    assert "P@ss#x&!" not in shown and "x&!" not in shown
    assert "correct" not in shown
    assert "publish:camera_cam-1:ucvd:***" in shown
    assert redact("srt://h:8890?passphrase=abcdefghij&pkt_size=1316") == (
        "srt://h:8890?passphrase=***&pkt_size=1316"
    )
    assert redact("stream ID: #!::r=cam,m=publish,u=pub,s=secret1,t=x") == (
        "stream ID: #!::r=cam,m=publish,u=pub,s=***,t=x"
    )
    assert redact("publish:camera_x") == "publish:camera_x"


def test_srt_credentials_a_stream_id_cannot_hold_are_refused() -> None:
    with pytest.raises(Invalid, match="must not contain ':'"):
        validation.target(msgspec.structs.replace(SRT, password="a:b"))
    with pytest.raises(Invalid, match="512"):
        validation.target(msgspec.structs.replace(SRT, password="x" * 500))
    assert validation.target(SRT).password == "P@ss#x&!"
    # RTSP percent-encodes: a ':' is fine there.
    assert validation.target(msgspec.structs.replace(RTSP, password="a:b")).password == "a:b"


def test_srt_uplink_probes_the_api_or_nothing() -> None:
    api = msgspec.structs.replace(SRT, api_url="http://mtx.example:9997")
    assert host_port(api) == ("mtx.example", 9997)
    assert uplink_connect(api) is tcp_answers
    assert uplink_connect(SRT) is no_probe  # no API: a TCP connect to a UDP port says nothing
    assert host_port(RTSP) == ("mtx.example", 8554)
    assert uplink_connect(RTSP) is tcp_answers


# FFmpeg 5.1 (Debian 12, libsrt 1.5.1) against MediaMTX v1.20.1, recorded by hand with
# ucvd's SRT output options (see tests/harness/stderr_cases.py for the RTSP ones).
_REJECTED = [
    "03:56:42.621012/SRT:RcvQ:w1!W:SRT.cn: processAsyncConnectRequest: REJECT reported from HS "
    "processing: Peer rejected connection - not processing further",
    "[srt @ 0x5618124fa6c0] [error] Connection to srt://127.0.0.1:38890 failed: Input/output error",
    "[error] srt://127.0.0.1:38890: Input/output error",
]
SRT_CASES = [
    # wrong passphrase, no passphrase, wrong credentials: MediaMTX says REJ_PEER to all
    ("rejected", _REJECTED, 1, ErrorKind.MEDIAMTX_REJECTED, "SRT passphrase"),
    (
        "unreachable",
        _REJECTED[1:],
        1,
        ErrorKind.MEDIAMTX_UNREACHABLE,
        "no SRT answer from MediaMTX 127.0.0.1:38890",
    ),
    (
        "kicked",
        [
            "[error] av_interleaved_write_frame(): Input/output error",
            "[error] Error writing trailer of srt://127.0.0.1:38890: Input/output error",
            "[error] Error closing file srt://127.0.0.1:38890: Input/output error",
        ],
        1,
        ErrorKind.MEDIAMTX_CLOSED,
        "closed the publishing session",
    ),
]


@pytest.mark.parametrize(("name", "lines", "code", "kind", "fragment"), SRT_CASES)
def test_classify_srt(
    name: str, lines: list[str], code: int, kind: ErrorKind, fragment: str
) -> None:
    fault = classify(
        lines,
        camera=Endpoint("127.0.0.1", 41234),
        target=Endpoint("127.0.0.1", 38890),
        returncode=code,
    )
    assert fault.kind is kind, name
    assert fragment in fault.message
