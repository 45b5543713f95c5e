"""The classifier against stderr that FFmpeg 5.1 (Debian 12) and 7.1 (Debian 13) really
printed, collected with the harness (`python -m tests.harness.stderr_cases FFMPEG`); only
the credentials, ports and addresses were changed."""

from __future__ import annotations

import pytest

from ucvd.domain.errors import ErrorKind
from ucvd.relay.ffmpeg.classify import Endpoint, Side, classify, side_of

CAM = Endpoint.of("rtsp://127.0.0.1:50545/Streaming/Channels/101")
MTX = Endpoint.of("rtsp://127.0.0.1:39359")
SECRETS = ("Cam#Secret1", "Pub#Secret2")

CASES: list[tuple[str, list[str], int | None, ErrorKind, str]] = [
    (
        "camera wrong password",
        [
            "[rtsp @ 0x559c75924280] [error] method DESCRIBE failed: 401 Unauthorized",
            "[error] rtsp://admin:Cam%23Secret1@127.0.0.1:50545/Streaming/Channels/101: "
            "Server returned 401 Unauthorized (authorization failed)",
        ],
        1, ErrorKind.AUTH_FAILED, "camera 127.0.0.1:50545 refused the username or password",
    ),
    (
        "camera unknown path",
        [
            "[rtsp @ 0x565369bcf280] [error] method DESCRIBE failed: 404 Not Found",
            "[error] rtsp://admin:Cam%23Secret1@127.0.0.1:50545/nope: Server returned 404 Not Found",
        ],
        1, ErrorKind.STREAM_UNAVAILABLE, "camera 127.0.0.1:50545 has no such stream (404 Not Found)",
    ),
    (
        "camera port closed",
        [
            "[tcp @ 0x560dda994080] [error] Connection to tcp://127.0.0.1:50545?timeout=5000000 "
            "failed: Connection refused",
            "[error] rtsp://127.0.0.1:50545/x: Connection refused",
        ],
        1, ErrorKind.CONNECTION_FAILED, "cannot reach camera 127.0.0.1:50545: Connection refused",
    ),
    (
        "camera frozen (socket timeout)",
        ["[error] rtsp://admin:Cam%23Secret1@127.0.0.1:50545/Streaming/Channels/101: "
         "Connection timed out"],
        0, ErrorKind.CONNECTION_FAILED, "Connection timed out",
    ),
    (
        "camera stopped: FFmpeg exits 0 and says nothing",
        ["[rtsp @ 0x55cc] [warning] Timestamps are unset in a packet for stream 0.",
         "[info] video:249kB audio:16kB subtitle:0kB other streams:0kB"],
        0, ErrorKind.CONNECTION_FAILED, "stream ended",
    ),
    (
        "MediaMTX down",
        [
            "[tcp @ 0x563446589700] [error] Connection to tcp://127.0.0.1:39359?timeout=5000000 "
            "failed: Connection refused",
            "[error] Could not write header for output file #0 (incorrect codec parameters ?): "
            "Connection refused",
            "[error] Error initializing output stream 0:1 -- ",
        ],
        1, ErrorKind.MEDIAMTX_UNREACHABLE, "cannot reach MediaMTX 127.0.0.1:39359",
    ),
    (
        "MediaMTX refuses publish credentials",
        [
            "[rtsp @ 0x55ba8f5cd140] [error] method ANNOUNCE failed: 401 Unauthorized",
            "[error] Could not write header for output file #0 (incorrect codec parameters ?): "
            "Server returned 401 Unauthorized (authorization failed)",
        ],
        1, ErrorKind.MEDIAMTX_REJECTED, "refused the publish credentials",
    ),
    (
        "MediaMTX refuses the path",
        ["[error] Could not write header for output file #0 (incorrect codec parameters ?): "
         "Server returned 400 Bad Request"],
        1, ErrorKind.MEDIAMTX_REJECTED, "refused the publication (400 Bad Request)",
    ),
    (
        "kicked by MediaMTX",
        [
            "[error] av_interleaved_write_frame(): Broken pipe",
            "[error] Error writing trailer of rtsp://ucvd:Pub%23Secret2@127.0.0.1:39359/camera_a: "
            "Broken pipe",
            "[info] Conversion failed!",
        ],
        1, ErrorKind.MEDIAMTX_CLOSED, "closed the publishing session while still answering",
    ),
    (
        "MediaMTX path busy (overridePublisher off), or a silent port",
        ["[error] Could not write header for output file #0 (incorrect codec parameters ?): "
         "Invalid data found when processing input"],
        1, ErrorKind.MEDIAMTX_REJECTED, "path is busy with another publisher",
    ),
    (
        "camera has no video",
        ["[error] Stream map '0:v:0' matches no streams."],
        1, ErrorKind.STREAM_UNAVAILABLE, "sends no video track",
    ),
    (
        "old FFmpeg option",
        ["[error] Unrecognized option 'stimeout'.", "[fatal] Error splitting the argument list: "
         "Option not found"],
        1, ErrorKind.CONFIG_ERROR, "FFmpeg refused its options",
    ),
    (
        "codec the RTSP muxer cannot carry",
        ["[rtsp @ 0x1] [error] Could not find tag for codec dvvideo in stream #0, "
         "codec not currently supported in container"],
        1, ErrorKind.CODEC_UNSUPPORTED, "cannot be relayed",
    ),
    (
        "non-monotonous DTS is only a warning",
        ["[rtsp @ 0x5583] [warning] Non-monotonous DTS in output stream 0:0; previous: 82800, "
         "current: 77979; changing to 82801."],
        -9, ErrorKind.PROCESS_CRASHED, "killed by SIGKILL",
    ),
    (
        "FFmpeg binary missing",
        ["setpriv: failed to execute /opt/ffmpeg/bin/ffmpeg: No such file or directory"],
        127, ErrorKind.CONFIG_ERROR, "FFmpeg could not be started",
    ),
    (
        "a sandbox refuses setpriv a system call (capset under SystemCallFilter=~@privileged)",
        ["setpriv: activate capabilities: Operation not permitted"],
        127, ErrorKind.CONFIG_ERROR,
        "FFmpeg could not be started: setpriv: activate capabilities: Operation not permitted",
    ),
    (
        "camera answers a generic server error",
        ["[error] rtsp://127.0.0.1:50545/x: Server returned 5XX Server Error reply"],
        1, ErrorKind.STREAM_UNAVAILABLE, "refused the stream (5XX Server Error reply)",
    ),
    (
        "camera refuses the transport",
        ["[rtsp @ 0x1] [error] method SETUP failed: 461 Unsupported transport"],
        1, ErrorKind.STREAM_UNAVAILABLE, "refused the stream (461 Unsupported transport)",
    ),
    (
        "a warning never explains the exit",
        ["[rtsp @ 0x1] [warning] Invalid data found when processing input"],
        -9, ErrorKind.PROCESS_CRASHED, "killed by SIGKILL",
    ),
    (
        "no keyframe while probing (analyzeduration too short)",
        [
            "[rtsp @ 0x5617396da300] [warning] Could not find codec parameters for stream 0 (Video: h264, none): unspecified size",
            "[rtsp @ 0x5617396f1cc0] [error] dimensions not set",
            "[error] Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument",
            "[error] Error initializing output stream 0:1 -- ",
            "[error] ",
        ],
        1, ErrorKind.STREAM_UNAVAILABLE, "no keyframe arrived while probing",
    ),
    (
        "blank error lines are not a reason",
        ["[error] Conversion went sideways", "[error] ", "[error]"],
        1, ErrorKind.PROCESS_CRASHED, "exited with code 1: Conversion went sideways",
    ),
    (
        "unexplained non-zero exit",
        ["[error] something nobody has seen before rtsp://u:Pub%23Secret2@127.0.0.1:39359/x"],
        3, ErrorKind.PROCESS_CRASHED, "exited with code 3: something nobody",
    ),
]  # fmt: skip


# FFmpeg 7.1: the same failures, in its words and with its exit codes.
CASES_7_1: list[tuple[str, list[str], int | None, ErrorKind, str]] = [
    (
        "7.1 camera wrong password",
        [
            "[rtsp @ 0x55a5e98176c0] [error] method DESCRIBE failed: 401Unauthorized",
            "[in#0 @ 0x55a5e9817400] [error] Error opening input: Server returned 401 Unauthorized (authorization failed)",
            "[error] Error opening input file rtsp://admin:Cam%23Secret1@127.0.0.1:50545/Streaming/Channels/101.",
            "[fatal] Error opening input files: Server returned 401 Unauthorized (authorization failed)",
        ],
        8, ErrorKind.AUTH_FAILED, "camera 127.0.0.1:50545 refused the username or password (401)",
    ),
    (
        "7.1 camera unknown path",
        [
            "[rtsp @ 0x5589fb4396c0] [error] method DESCRIBE failed: 404Not Found",
            "[in#0 @ 0x5589fb439400] [error] Error opening input: Server returned 404 Not Found",
            "[error] Error opening input file rtsp://127.0.0.1:50545/nope.",
            "[fatal] Error opening input files: Server returned 404 Not Found",
        ],
        8, ErrorKind.STREAM_UNAVAILABLE, "camera 127.0.0.1:50545 has no such stream (404 Not Found)",
    ),
    (
        "7.1 camera port closed",
        [
            "[tcp @ 0x5594ad75c480] [error] Connection to tcp://127.0.0.1:50545?timeout=5000000 failed: Connection refused",
            "[in#0 @ 0x5594ad7bb400] [error] Error opening input: Connection refused",
            "[error] Error opening input file rtsp://127.0.0.1:50545/Streaming/Channels/101.",
            "[fatal] Error opening input files: Connection refused",
        ],
        145, ErrorKind.CONNECTION_FAILED, "cannot reach camera 127.0.0.1:50545: Connection refused",
    ),
    (
        "7.1 camera frozen: its timeout, then MediaMTX gone at the trailer",
        [
            "[in#0/rtsp @ 0x560d8a2bd400] [error] Error during demuxing: Connection timed out",
            "[out#0/rtsp @ 0x560d8a427200] [error] Error writing trailer: Broken pipe",
        ],
        224, ErrorKind.CONNECTION_FAILED, "cannot reach camera 127.0.0.1:50545: Connection timed out",
    ),
    (
        "7.1 camera frozen: its timeout alone",
        ["[in#0/rtsp @ 0x561560328400] [error] Error during demuxing: Connection timed out"],
        0, ErrorKind.CONNECTION_FAILED, "cannot reach camera 127.0.0.1:50545: Connection timed out",
    ),
    (
        "7.1 camera has no video",
        [
            "[fatal] Stream map '' matches no streams.",
            "To ignore this, add a trailing '?' to the map.",
            "[error] Failed to set value '0:v:0' for option 'map': Invalid argument",
            "[error] Error parsing options for output file rtsp://ucvd-publisher:Pub%23Secret2@127.0.0.1:39359/camera_a.",
            "[fatal] Error opening output files: Invalid argument",
        ],
        234, ErrorKind.STREAM_UNAVAILABLE, "camera 127.0.0.1:50545 sends no video track",
    ),
    (
        "7.1 MediaMTX down",
        [
            "[tcp @ 0x560397ca1400] [error] Connection to tcp://127.0.0.1:39359?timeout=5000000 failed: Connection refused",
            "[out#0/rtsp @ 0x560397dba500] [error] Could not write header (incorrect codec parameters ?): Connection refused",
        ],
        145, ErrorKind.MEDIAMTX_UNREACHABLE, "cannot reach MediaMTX 127.0.0.1:39359: Connection refused",
    ),
    (
        "7.1 MediaMTX refuses publish credentials",
        [
            "[rtsp @ 0x5627c2c87b40] [error] method ANNOUNCE failed: 401Unauthorized",
            "[out#0/rtsp @ 0x5627c2ce1400] [error] Could not write header (incorrect codec parameters ?): Server returned 401 Unauthorized (authorization failed)",
        ],
        8, ErrorKind.MEDIAMTX_REJECTED, "MediaMTX 127.0.0.1:39359 refused the publish credentials (401)",
    ),
    (
        "7.1 MediaMTX refuses the path",
        ["[out#0/rtsp @ 0x558dad828500] [error] Could not write header (incorrect codec parameters ?): Server returned 400 Bad Request"],
        8, ErrorKind.MEDIAMTX_REJECTED, "MediaMTX 127.0.0.1:39359 refused the publication (400 Bad Request)",
    ),
    (
        "7.1 MediaMTX path busy (overridePublisher off)",
        ["[out#0/rtsp @ 0x55e89f3724c0] [error] Could not write header (incorrect codec parameters ?): Invalid data found when processing input"],
        183, ErrorKind.MEDIAMTX_REJECTED, "path is busy with another publisher",
    ),
    (
        "7.1 kicked by MediaMTX (or MediaMTX stopped)",
        [
            "[vost#0:0/copy @ 0x563a1e849500] [error] Error submitting a packet to the muxer: Broken pipe",
            "[vost#0:0/copy @ 0x563a1e849500] [error] Error submitting a packet to the muxer: Broken pipe",
            "[out#0/rtsp @ 0x563a1e95f540] [error] Error muxing a packet",
            "[out#0/rtsp @ 0x563a1e95f540] [error] Task finished with error code: -32 (Broken pipe)",
            "[out#0/rtsp @ 0x563a1e95f540] [error] Terminating thread with return code -32 (Broken pipe)",
            "[out#0/rtsp @ 0x563a1e95f540] [error] Error writing trailer: Broken pipe",
        ],
        224, ErrorKind.MEDIAMTX_CLOSED, "MediaMTX 127.0.0.1:39359 closed the publishing session",
    ),
    (
        "7.1 old FFmpeg option",
        ["[error] Unrecognized option 'stimeout'.",
         "[fatal] Error splitting the argument list: Option not found"],
        8, ErrorKind.CONFIG_ERROR, "FFmpeg refused its options: Unrecognized option 'stimeout'.",
    ),
    (
        "7.1 camera refuses the transport: the reason phrase keeps its space",
        ["[rtsp @ 0x1] [error] method SETUP failed: 461Unsupported transport"],
        8, ErrorKind.STREAM_UNAVAILABLE, "refused the stream (461 Unsupported transport)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "returncode", "kind", "fragment"),
    [c[1:] for c in CASES + CASES_7_1],
    ids=[c[0] for c in CASES + CASES_7_1],
)
def test_classify(lines: list[str], returncode: int | None, kind: ErrorKind, fragment: str) -> None:
    fault = classify(lines, camera=CAM, target=MTX, returncode=returncode, secrets=SECRETS)
    assert fault.kind is kind
    assert fragment in fault.message
    for secret in ("Cam#Secret1", "Cam%23Secret1", "Pub#Secret2", "Pub%23Secret2"):
        assert secret not in fault.message


def test_highest_priority_wins_whatever_the_order() -> None:
    lines = [
        "[error] rtsp://127.0.0.1:50545/x: Connection refused",
        "[rtsp @ 0x1] [error] method DESCRIBE failed: 401 Unauthorized",
    ]
    for ordered in (lines, lines[::-1]):
        fault = classify(ordered, camera=CAM, target=MTX, returncode=1)
        assert fault.kind is ErrorKind.AUTH_FAILED


@pytest.mark.parametrize(
    ("line", "side"),
    [
        ("Connection to tcp://127.0.0.1:50545?timeout=1 failed", Side.CAMERA),
        ("Connection to tcp://127.0.0.1:39359?timeout=1 failed", Side.TARGET),
        ("rtsp://u:p@127.0.0.1:39359/camera_x: Broken pipe", Side.TARGET),
        ("method ANNOUNCE failed: 400", Side.TARGET),
        ("method DESCRIBE failed: 400", Side.CAMERA),
        ("Could not write header for output file #0", Side.TARGET),
        # FFmpeg 7.1 names the side in its tag instead of the URL.
        ("[in#0/rtsp @ 0x1] [error] Error during demuxing: Connection timed out", Side.CAMERA),
        ("[in#0 @ 0x1] [error] Error opening input: Connection refused", Side.CAMERA),
        (
            "[out#0/rtsp @ 0x1] [error] Could not write header (x ?): Connection refused",
            Side.TARGET,
        ),
        ("[vost#0:0/copy @ 0x1] [error] Error submitting a packet to the muxer: EOF", Side.TARGET),
        ("something else entirely", None),
    ],
)
def test_side_of(line: str, side: Side | None) -> None:
    assert side_of(line, CAM, MTX) is side


def test_default_rtsp_port_and_ipv6() -> None:
    assert Endpoint.of("rtsp://Cam.Example/x") == Endpoint("cam.example", 554)
    assert Endpoint.of("rtsps://[fe80::1]/x") == Endpoint("fe80::1", 322)
    assert str(Endpoint("fe80::1", 322)) == "[fe80::1]:322"
    assert side_of("rtsp://[fe80::1]:554/x: Connection refused",
                   Endpoint("fe80::1", 554), MTX) is Side.CAMERA  # fmt: skip


def test_a_decoders_complaint_never_explains_an_exit() -> None:
    """Probing a stream that starts mid-GOP makes the h264 decoder grumble at error level;
    an operator reading `last error` must not be sent after it."""
    lines = ["[h264 @ 0x55d1] [error] decode_slice_header error",
             "[h264 @ 0x55d1] [error] no frame!"]  # fmt: skip
    fault = classify(lines, camera=CAM, target=MTX, returncode=-9, secrets=SECRETS)
    assert (fault.kind, fault.message) == (
        ErrorKind.PROCESS_CRASHED,
        "FFmpeg was killed by SIGKILL",
    )
    fault = classify([*lines, "[error] Conversion failed!"], camera=CAM, target=MTX,
                     returncode=1, secrets=SECRETS)  # fmt: skip
    assert fault.message == "FFmpeg exited with code 1: Conversion failed!"
