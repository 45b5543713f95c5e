"""What went wrong with a publication, in the product's vocabulary.

Every failure an operator sees is one of these kinds plus a short message written for a
person, with credentials already redacted. The kind is stable (scripts and alerts match on
it); the message may be improved freely.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class ErrorKind(StrEnum):
    CONNECTION_FAILED = "connection_failed"  # camera unreachable, refused, timed out, hung up
    AUTH_FAILED = "auth_failed"  # camera refused the credentials
    STREAM_UNAVAILABLE = "stream_unavailable"  # camera 404, no video track, unreadable data
    MEDIAMTX_UNREACHABLE = "mediamtx_unreachable"  # central server (or the link to it) down
    MEDIAMTX_CLOSED = "mediamtx_closed"  # it answers, but closed our publishing session
    MEDIAMTX_REJECTED = "mediamtx_rejected"  # ANNOUNCE/RECORD refused: credentials, path, busy
    CERTIFICATE_REJECTED = "certificate_rejected"  # an rtsps:// target's certificate failed
    STREAM_STALLED = "stream_stalled"  # no progress within the start or stall timeout
    PROCESS_CRASHED = "process_crashed"  # FFmpeg ended for no reason we can name
    CODEC_UNSUPPORTED = "codec_unsupported"  # the stream cannot be copied to RTSP
    CONFIG_ERROR = "config_error"  # FFmpeg missing or refusing our options
    INTERNAL_ERROR = "internal_error"  # a bug in ucvd


# Retrying cannot fix these: the same argv against the same FFmpeg fails the same way.
PERMANENT_KINDS = frozenset({ErrorKind.CONFIG_ERROR, ErrorKind.CODEC_UNSUPPORTED})


class Fault(msgspec.Struct, frozen=True):
    """One failure: its kind and an operator-friendly, secret-free message."""

    kind: ErrorKind
    message: str

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT_KINDS


# Faults the target could be behind: before one is reported, the target is asked whether it
# answers at all (ucvd.relay.uplink); if not, the link is blamed instead, and the retry waits
# for it.
TARGET_SUSPECT_KINDS = frozenset({
    ErrorKind.MEDIAMTX_UNREACHABLE,
    ErrorKind.MEDIAMTX_CLOSED,
    ErrorKind.STREAM_STALLED,
    ErrorKind.PROCESS_CRASHED,
})  # fmt: skip
