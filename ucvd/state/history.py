"""Publication history, sans I/O: supervisor notifications in, history rows out.

A *session* runs from an operator's (or the daemon's) start until the publication stops or
gives up; the restarts in between belong to it. FFmpeg's frame counter and MediaMTX's byte
counter start again with every process, so totals are folded: when a counter goes down, a
new attempt began and the old attempt's last value is banked.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ucvd.relay.publication import Status
from ucvd.relay.status import MetricsSampled, StatusChanged

ENDED = frozenset({Status.STOPPED, Status.FAILED})


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One session of a camera's history: as this book makes it, the store keeps it (a row
    of `sessions`, same names) and `ucvctl history` shows it."""

    camera_id: str
    target: str | None  # the target's name
    started_at: float  # wall clock, like ended_at
    ended_at: float | None = None  # None while it runs
    # stopped, failed, daemon_stopped, reconfigured, removed; or interrupted: left open by
    # a daemon that died, and closed by the next one
    end_reason: str | None = None
    error_kind: str | None = None  # why it failed, when it did
    error_message: str | None = None
    restarts: int = 0
    frames: int = 0  # totals over its FFmpeg processes
    bytes: int = 0


class OpenSession(msgspec.Struct, frozen=True):
    """A session began: record it."""

    session: SessionRecord


class CloseSession(msgspec.Struct, frozen=True):
    """A session ended: its final record."""

    session: SessionRecord


Op = OpenSession | CloseSession


@dataclass
class _Tally:
    opened: SessionRecord
    frames_banked: int = 0
    frames_now: int = 0
    bytes_banked: int = 0
    bytes_now: int = 0
    restarts: int = 0

    def fold(self, frames: int, bytes_: int) -> None:
        if frames < self.frames_now:
            self.frames_banked += self.frames_now
        self.frames_now = frames
        if bytes_ < self.bytes_now:
            self.bytes_banked += self.bytes_now
        self.bytes_now = bytes_

    @property
    def frames(self) -> int:
        return self.frames_banked + self.frames_now

    @property
    def bytes(self) -> int:
        return self.bytes_banked + self.bytes_now

    def now(self) -> SessionRecord:
        return msgspec.structs.replace(
            self.opened, restarts=self.restarts, frames=self.frames, bytes=self.bytes
        )


class SessionBook:
    def __init__(self) -> None:
        self._open: dict[str, _Tally] = {}

    def is_open(self, camera_id: str) -> bool:
        return camera_id in self._open

    def status(self, note: StatusChanged) -> Op | None:
        """The history row this change opens or closes, if any. The note says which target
        it publishes to, how many restarts so far, and why a stop happened (the operator, a
        shutdown, a reconfiguration)."""
        tally = self._open.get(note.camera_id)
        if tally is not None:
            tally.restarts = note.restarts
        if note.new is Status.STARTING and tally is None:
            opened = SessionRecord(camera_id=note.camera_id, target=note.target, started_at=note.at)
            self._open[note.camera_id] = _Tally(opened)
            return OpenSession(opened)
        if note.new in ENDED and tally is not None:
            del self._open[note.camera_id]
            failed = note.new is Status.FAILED
            error = note.error if failed else None
            return CloseSession(
                msgspec.structs.replace(
                    tally.now(),
                    ended_at=note.at,
                    end_reason="failed" if failed else (note.reason or "stopped"),
                    error_kind=str(error.kind) if error else None,
                    error_message=error.message if error else None,
                )
            )
        return None

    def metrics(self, note: MetricsSampled) -> None:
        tally = self._open.get(note.camera_id)
        if tally is not None:
            tally.fold(note.metrics.frames, note.metrics.bytes_in)

    def counters(self) -> list[SessionRecord]:
        """The running sessions as they stand: their counters are saved periodically."""
        return [tally.now() for tally in self._open.values()]

    def running(self, camera_id: str) -> SessionRecord | None:
        """The camera's running session as it stands now (the store's copy lags a minute)."""
        tally = self._open.get(camera_id)
        return tally.now() if tally is not None else None
