"""FFmpeg's stderr, read like an operator would: which side failed, and why.

FFmpeg says nothing structured about failures; its text does, and the same text means a
different thing on the camera leg than on the MediaMTX leg ("Connection refused" is a dark
camera on one side, a down server on the other). So each line is first placed on a side,
from the URL or `tcp://host:port` it names or from the RTSP method it reports, and then
matched against rules in priority order. Stderr decides first; the exit code only when no
line explains the exit (255 merely means "FFmpeg got a signal"; FFmpeg 7 exits with the
low byte of its error code, 8 or 183 or 224, where 5.1 said 1).

The rules hold the wording of FFmpeg 5.1 (Debian 12) and 7.1 (Debian 13), each taken from
real runs (tests/harness/stderr_cases.py). FFmpeg 7 names the part speaking in its tag
("[in#0/rtsp @ ..]", "[out#0/rtsp @ ..]", "[vost#0:0/copy @ ..]") where 5.1 printed the
URL, and leaves out the space between an RTSP status code and its reason phrase in
"method DESCRIBE failed: 401Unauthorized".
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.urls import redact

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


class Side(Enum):
    CAMERA = "camera"
    TARGET = "target"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Endpoint:
        """host:port of an rtsp(s) URL, default port filled in; the host is lower-cased."""
        match = _URL_HOSTPORT.search(url)
        if not match:
            raise ValueError("not a URL with a host")
        return cls._from_match(match)

    @classmethod
    def _from_match(cls, match: re.Match[str]) -> Endpoint:
        host = (match["host6"] or match["host"]).lower()
        port = int(match["port"]) if match["port"] else _DEFAULT_PORTS.get(match["scheme"], 0)
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_URL_HOSTPORT = re.compile(
    r"(?P<scheme>rtsps?|tcp|tls|srt)://(?:[^\s/@]*@)?(?:\[(?P<host6>[0-9a-fA-F:.]+)\]|(?P<host>[^\s/:?\[\]]+))"
    r"(?::(?P<port>\d+))?"
)
_CAMERA_HINTS = re.compile(
    r"method (?:DESCRIBE|PLAY|OPTIONS) |Error opening input|^\[in#\d+|Error during demuxing"
)
_TARGET_HINTS = re.compile(
    r"method (?:ANNOUNCE|RECORD) |output file|av_interleaved_write_frame|Error writing trailer"
    r"|Error muxing|Error initializing output|^\[(?:out#|[vas]ost#)\d+|Could not write header"
    r"|Error submitting a packet to the muxer"
)


def side_of(line: str, camera: Endpoint, target: Endpoint) -> Side | None:
    """Which leg a line speaks of: by the endpoint it names, else by what it reports."""
    for match in _URL_HOSTPORT.finditer(line):
        try:
            endpoint = Endpoint._from_match(match)
        except ValueError:
            continue
        if endpoint == target and endpoint != camera:
            return Side.TARGET
        if endpoint == camera and endpoint != target:
            return Side.CAMERA
    if _TARGET_HINTS.search(line):
        return Side.TARGET
    if _CAMERA_HINTS.search(line):
        return Side.CAMERA
    return None


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    camera: tuple[ErrorKind, str] | None  # kind and message when the line is about the camera
    target: tuple[ErrorKind, str] | None  # ... about MediaMTX
    default: Side | None = None  # the side to assume when the line names none
    quote_match: bool = False  # {reason} is the matched words, not the whole line


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CONN = r"Connection refused|Connection timed out|Operation timed out|No route to host|Network is unreachable|Name or service not known|Temporary failure in name resolution|Connection reset by peer"  # noqa: E501

# The server hung up on a session it had accepted. When it then does not answer at all, the
# supervisor's probe turns this into mediamtx_unreachable; when it does, someone there
# ended the session (its API, or a publisher that took the path over) or it restarted.
_CLOSED_BY_MEDIAMTX = (
    ErrorKind.MEDIAMTX_CLOSED,
    "MediaMTX {target} closed the publishing session while still answering: kicked through "
    "its API, replaced by another publisher, or restarted",
)

# Highest priority first. Messages may use {camera}, {target}, {status}, {reason}.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        # setpriv, which ties FFmpeg to the daemon's life, failed before FFmpeg ran: FFmpeg
        # is missing or not executable, or a sandbox refused setpriv a system call. Its own
        # words name the cause; FFmpeg's exit code (127) would only blame FFmpeg.
        _r(r"^setpriv: "),
        (ErrorKind.CONFIG_ERROR, "FFmpeg could not be started: {reason}"),
        (ErrorKind.CONFIG_ERROR, "FFmpeg could not be started: {reason}"),
        Side.CAMERA,
    ),
    _Rule(
        _r(
            r"Unrecognized option|Option \S+ not found|Error splitting the argument list"
            r"|Invalid value .* for option|Protocol not found"
        ),
        (ErrorKind.CONFIG_ERROR, "FFmpeg refused its options: {reason}"),
        (ErrorKind.CONFIG_ERROR, "FFmpeg refused its options: {reason}"),
        Side.CAMERA,
    ),
    _Rule(
        # libsrt's own line when the server answers the handshake with a rejection. MediaMTX
        # v1.20.1 rejects every refusal alike (REJ_PEER): wrong user or password, missing or
        # wrong passphrase, a path nothing serves; only its own log tells them apart.
        _r(r"Peer rejected connection"),
        None,
        (
            ErrorKind.MEDIAMTX_REJECTED,
            "MediaMTX {target} refused the SRT connection: the publish user or password, or "
            "the SRT passphrase (wrong, or missing when the path requires one), or a path it "
            "does not serve; SRT does not say which, MediaMTX's log does",
        ),
        Side.TARGET,
    ),
    _Rule(
        # Without the rejection above: nothing answered the SRT handshake (UDP: no refusal
        # ever comes back) within -connect_timeout.
        _r(r"Connection to srt://\S+ failed"),
        None,
        (
            ErrorKind.MEDIAMTX_UNREACHABLE,
            "no SRT answer from MediaMTX {target} within the connect timeout: the server is "
            "down, its SRT server is off or on another port, or the link drops UDP",
        ),
        Side.TARGET,
    ),
    _Rule(
        # No \b after the code: 7.1 writes "401Unauthorized".
        _r(r"(?:method \w+ failed:|Server returned) 401(?!\d)"),
        (ErrorKind.AUTH_FAILED, "camera {camera} refused the username or password (401)"),
        (ErrorKind.MEDIAMTX_REJECTED, "MediaMTX {target} refused the publish credentials (401)"),
        Side.CAMERA,
    ),
    _Rule(
        # 7.1 prints the map it could not satisfy as '' (and "Failed to set value '0:v:0'").
        _r(
            r"Stream map '(?:0:v:0)?' matches no streams"
            r"|Output file #0 does not contain any stream"
        ),
        (ErrorKind.STREAM_UNAVAILABLE, "camera {camera} sends no video track"),
        None,
        Side.CAMERA,
    ),
    _Rule(
        _r(r"(?:method \w+ failed|Server returned):? 404(?!\d)"),
        (ErrorKind.STREAM_UNAVAILABLE, "camera {camera} has no such stream (404 Not Found)"),
        (ErrorKind.MEDIAMTX_REJECTED, "MediaMTX {target} has no such path (404 Not Found)"),
        Side.CAMERA,
    ),
    _Rule(
        _r(r"(?:method \w+ failed|Server returned):? (?P<status>\d{3}|[45]XX)(?P<reason>[^\r\n]*)"),
        (ErrorKind.STREAM_UNAVAILABLE, "camera {camera} refused the stream ({status}{reason})"),
        (
            ErrorKind.MEDIAMTX_REJECTED,
            "MediaMTX {target} refused the publication ({status}{reason}): path not allowed, "
            "publisher not permitted, or path busy",
        ),
        Side.CAMERA,
    ),
    _Rule(
        # The video's size is only known once an SPS arrives; none came while probing.
        _r(r"dimensions not set"),
        (
            ErrorKind.STREAM_UNAVAILABLE,
            "FFmpeg could not learn the video size from camera {camera}: no keyframe arrived "
            "while probing (raise the probe time, or shorten the camera's keyframe interval)",
        ),
        None,
        Side.CAMERA,
    ),
    _Rule(
        _r(
            r"Could not find tag for codec|codec not currently supported in container"
            r"|incompatible with output codec|Unsupported codec"
        ),
        (ErrorKind.CODEC_UNSUPPORTED, "the camera's codec cannot be relayed over RTSP: {reason}"),
        (ErrorKind.CODEC_UNSUPPORTED, "the camera's codec cannot be relayed over RTSP: {reason}"),
        Side.TARGET,
    ),
    _Rule(
        # A packet could not be sent: the server went away while FFmpeg was publishing.
        _r(
            r"(?:av_interleaved_write_frame\(\)|Error submitting a packet to the muxer): "
            # SRT's closed connection is an I/O error.
            r"(?:Broken pipe|Connection reset by peer|End of file|Input/output error)"
        ),
        None,
        _CLOSED_BY_MEDIAMTX,
        Side.TARGET,
    ),
    _Rule(
        _r(_CONN),
        (ErrorKind.CONNECTION_FAILED, "cannot reach camera {camera}: {reason}"),
        (ErrorKind.MEDIAMTX_UNREACHABLE, "cannot reach MediaMTX {target}: {reason}"),
        Side.CAMERA,
        quote_match=True,
    ),
    _Rule(
        # Only the trailer failed: a consequence when the camera's side ended the relay first
        # (7.1 reports both when a frozen camera times out), the cause when nothing else
        # is said.
        _r(r"Error writing trailer.*(?:Broken pipe|Connection reset)"),
        None,
        _CLOSED_BY_MEDIAMTX,
        Side.TARGET,
    ),
    _Rule(
        _r(r"Invalid data found when processing input"),
        (ErrorKind.STREAM_UNAVAILABLE, "camera {camera} sent data FFmpeg cannot read"),
        # What FFmpeg 5.1 says when MediaMTX closes the connection on ANNOUNCE because
        # someone is already publishing (overridePublisher off); also a non-RTSP server.
        (
            ErrorKind.MEDIAMTX_REJECTED,
            "MediaMTX {target} refused the publication: the path is busy with another "
            "publisher (or the server is not RTSP)",
        ),
        Side.CAMERA,
    ),
    _Rule(
        _r(r"End of file"),
        (ErrorKind.CONNECTION_FAILED, "camera {camera} ended the stream"),
        (ErrorKind.MEDIAMTX_CLOSED, "MediaMTX {target} closed the connection"),
        Side.CAMERA,
    ),
)

_LEVEL_TAG = re.compile(r"\[(?:error|fatal|panic)\]")
# Lines FFmpeg tagged below error level never explain an exit (`-loglevel level+...`).
_MINOR_TAG = re.compile(r"\[(?:warning|info|verbose|debug|trace)\]")
# A decoder's complaint ("[h264 @ 0x..] [error] decode_slice_header error") comes from
# FFmpeg probing a stream that started mid-GOP; with `-c copy` it never ends the relay.
_DECODER_TAG = re.compile(
    r"^\[(?:h264|hevc|h265|aac|mp3\w*|opus|pcm_\w+|mjpeg|mpeg4|vp8|vp9|av1)\s+@"
)


def _reason(line: str, match: re.Match[str], rule: _Rule) -> str:
    groups = match.groupdict()
    if groups.get("status"):  # an RTSP status line: its own reason phrase says it best
        phrase = (groups.get("reason") or "").strip()
        return f" {phrase}" if phrase else ""
    return match.group(0) if rule.quote_match else _strip_tags(line)[:200]


def classify(
    lines: Sequence[str],
    *,
    camera: Endpoint,
    target: Endpoint,
    returncode: int | None,
    secrets: Sequence[str] = (),
) -> Fault:
    """Why FFmpeg ended, from its last stderr lines and exit code. Never returns a secret."""
    best: tuple[int, Fault] | None = None
    for line in lines:
        if _MINOR_TAG.search(line):
            continue
        for priority, rule in enumerate(_RULES):
            if best is not None and priority >= best[0]:
                break
            match = rule.pattern.search(line)
            if not match:
                continue
            side = side_of(line, camera, target) or rule.default
            verdict = rule.target if side is Side.TARGET else rule.camera
            if verdict is None:
                verdict = rule.camera or rule.target
            assert verdict is not None
            kind, template = verdict
            groups = match.groupdict()
            message = template.format(
                camera=camera,
                target=target,
                status=groups.get("status") or "",
                reason=_reason(line, match, rule),
            )
            best = (priority, Fault(kind, redact(message, secrets)))
            break
    if best is not None:
        return best[1]
    return _from_exit(lines, returncode, secrets)


def _from_exit(lines: Sequence[str], returncode: int | None, secrets: Sequence[str]) -> Fault:
    last_error = next(
        (
            ln
            for ln in reversed(lines)
            if _LEVEL_TAG.search(ln) and _strip_tags(ln) and not _DECODER_TAG.match(ln)
        ),
        None,
    )
    detail = f": {redact(_strip_tags(last_error), secrets)[:200]}" if last_error else ""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Fault(ErrorKind.PROCESS_CRASHED, f"FFmpeg was killed by {name}{detail}")
    if returncode == 0:
        return Fault(
            ErrorKind.CONNECTION_FAILED, f"FFmpeg stopped: the camera's stream ended{detail}"
        )
    code = "unknown" if returncode is None else str(returncode)
    return Fault(ErrorKind.PROCESS_CRASHED, f"FFmpeg exited with code {code}{detail}")


def _strip_tags(line: str) -> str:
    """The text of a line without FFmpeg's "[rtsp @ 0x..] [error]" prefixes."""
    return re.sub(r"^(?:\[[^\]]*\]\s*)+", "", line).strip()
