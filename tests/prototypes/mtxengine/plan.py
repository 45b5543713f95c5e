"""What the site MediaMTX is told (pure): its own configuration, one path per camera, and
how its log lines read as ucvd's faults.

The site server listens on nothing but a loopback API guarded by a password only ucvd
holds (random per start, stored in the file as its SHA-256, which MediaMTX accepts): the
path configurations carry the cameras' and the target's passwords in clear, and
`/v3/config/paths/get` and `/v3/paths/forward/list` answer them to anyone the API admits.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.model import Camera, Target, Transport
from ucvd.domain.urls import redact, with_credentials
from ucvd.relay.ffmpeg.argv import publish_url

API_USER = "ucvd"


def password_hash(password: str) -> str:
    """MediaMTX's `sha256:` form of an internal user's password."""
    return "sha256:" + base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()


def site_config(*, api_port: int, api_password: str, log_level: str = "info") -> dict[str, Any]:
    """The whole server: every listener off but the API on loopback; no path until ucvd
    adds one. JSON is YAML, so no YAML library is needed."""
    return {
        "logLevel": log_level,
        "logDestinations": ["stdout"],
        "api": True,
        "apiAddress": f"127.0.0.1:{api_port}",
        "rtsp": False,
        "rtmp": False,
        "hls": False,
        "webrtc": False,
        "srt": False,
        "moq": False,
        "playback": False,
        "metrics": False,
        "pprof": False,
        "authMethod": "internal",
        "authInternalUsers": [
            {
                "user": API_USER,
                "pass": password_hash(api_password),
                "permissions": [{"action": "api"}],
            }
        ],
        "pathDefaults": {},
        "paths": {},
    }


class Unsupported(ValueError):
    """A publication this engine cannot carry out as asked (its message says why)."""


def path_config(camera: Camera, target: Target) -> dict[str, Any]:
    """One camera: pulled at once and for good (not on demand), pushed to the target.

    Refuses what the site MediaMTX cannot do the way the default engine does: an SRT
    target (its forward takes no publish credentials in ucvd's form), a TLS target verified
    by CA or system trust (a forward checks only a pinned fingerprint), and an audio policy
    other than copy (a forward copies whatever the source has)."""
    scheme = target.rtsp_url.split("://", 1)[0].lower()
    if scheme not in ("rtsp", "rtsps"):
        raise Unsupported(f"the MediaMTX engine forwards only to rtsp(s) targets, not {scheme}")
    if scheme == "rtsps" and not target.tls_fingerprint:
        raise Unsupported(
            "the MediaMTX engine verifies an rtsps target only by a pinned fingerprint"
        )
    if camera.options.audio_policy.value != "copy":
        raise Unsupported("the MediaMTX engine copies audio as it comes (no drop, no aac)")
    dest: dict[str, Any] = {"dest": publish_url(camera, target)}
    if target.tls_fingerprint:
        dest["destFingerprint"] = target.tls_fingerprint
    return {
        "source": with_credentials(camera.url, camera.username, camera.password),
        "sourceOnDemand": False,
        "rtspTransport": "udp" if camera.options.transport is Transport.UDP else "tcp",
        "forward": [dest],
    }


# --- its log lines ------------------------------------------------------------------------
_LINE = re.compile(
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?P<level>[A-Z]{3}) \[path (?P<path>[^\]]+)\] "
    r"\[(?P<who>[^\]]+)\] (?P<message>.*)$"
)


@dataclass(frozen=True)
class PathLine:
    """One log line of the site MediaMTX about one path, by the side it speaks of."""

    path: str
    side: str  # "source" (the camera leg) or "dest" (the leg to the target)
    error: bool
    message: str


def parse_line(text: str) -> PathLine | None:
    """`... ERR [path camera_x] [RTSP source] dial tcp ...: connection refused` and
    `... [path camera_x] [RTSP dest 1 0a1b2c3d] ...`; None for a line about no path."""
    match = _LINE.match(text)
    if match is None:
        return None
    who = match["who"]
    side = "source" if who.endswith(" source") else "dest" if " dest " in who else "other"
    return PathLine(match["path"], side, match["level"] == "ERR", match["message"])


_REFUSED = re.compile(
    r"connection refused|no route to host|network is unreachable|i/o timeout|"
    r"connection reset|broken pipe|\bEOF\b|request timed out|no such host"
)
_STATUS = re.compile(r"bad status code: (\d{3})")


def source_fault(message: str, secrets: tuple[str, ...] = ()) -> Fault:
    """The camera leg's error, in gortsplib's and Go's words, as a fault."""
    text = redact(message, secrets)
    status = _STATUS.search(message)
    if status is not None and status[1] == "401":
        return Fault(ErrorKind.AUTH_FAILED, f"the camera refused the credentials ({text})")
    if status is not None:
        return Fault(ErrorKind.STREAM_UNAVAILABLE, f"the camera refused the stream ({text})")
    if "TCP timeout" in message or "UDP timeout" in message:
        return Fault(ErrorKind.STREAM_STALLED, f"the camera stopped sending ({text})")
    if _REFUSED.search(message):
        return Fault(ErrorKind.CONNECTION_FAILED, f"camera unreachable ({text})")
    return Fault(ErrorKind.STREAM_UNAVAILABLE, f"the site MediaMTX cannot read the camera ({text})")


def dest_fault(message: str, secrets: tuple[str, ...] = ()) -> Fault:
    """The leg to the target's error as a fault (the uplink rule still applies after)."""
    text = redact(message, secrets)
    status = _STATUS.search(message)
    if status is not None:
        return Fault(ErrorKind.MEDIAMTX_REJECTED, f"MediaMTX refused the stream ({text})")
    if "certificate" in message or "fingerprint" in message or "x509" in message:
        return Fault(ErrorKind.CERTIFICATE_REJECTED, f"the target's certificate ({text})")
    if re.search(r"connection refused|no route to host|network is unreachable|i/o timeout|"
                 r"no such host|request timed out", message):  # fmt: skip
        return Fault(ErrorKind.MEDIAMTX_UNREACHABLE, f"MediaMTX unreachable ({text})")
    return Fault(ErrorKind.MEDIAMTX_CLOSED, f"MediaMTX closed the forward ({text})")
