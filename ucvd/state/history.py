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


class OpenSession(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    target: str | None
    at: float


class CloseSession(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    at: float
    reason: str  # stopped, failed, daemon_stopped, reconfigured, removed
    error_kind: str | None
    error_message: str | None
    restarts: int
    frames: int
    bytes: int


class Counters(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    restarts: int
    frames: int
    bytes: int


Op = OpenSession | CloseSession


@dataclass
class _Tally:
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


class SessionBook:
    def __init__(self) -> None:
        self._open: dict[str, _Tally] = {}

    def is_open(self, camera_id: str) -> bool:
        return camera_id in self._open

    def status(
        self, note: StatusChanged, *, target: str | None, restarts: int, stop_reason: str
    ) -> Op | None:
        """The history row this change opens or closes, if any. `stop_reason` says why a
        stop happened (the operator, a shutdown, a reconfiguration)."""
        tally = self._open.get(note.camera_id)
        if tally is not None:
            tally.restarts = restarts
        if note.new is Status.STARTING and tally is None:
            self._open[note.camera_id] = _Tally()
            return OpenSession(camera_id=note.camera_id, target=target, at=note.at)
        if note.new in ENDED and tally is not None:
            del self._open[note.camera_id]
            failed = note.new is Status.FAILED
            error = note.error if failed else None
            return CloseSession(
                camera_id=note.camera_id,
                at=note.at,
                reason="failed" if failed else stop_reason,
                error_kind=str(error.kind) if error else None,
                error_message=error.message if error else None,
                restarts=restarts,
                frames=tally.frames,
                bytes=tally.bytes,
            )
        return None

    def metrics(self, note: MetricsSampled) -> None:
        tally = self._open.get(note.camera_id)
        if tally is not None:
            tally.fold(note.metrics.frames, note.metrics.bytes_in)

    def counters(self) -> list[Counters]:
        return [
            Counters(camera_id=cam, restarts=t.restarts, frames=t.frames, bytes=t.bytes)
            for cam, t in self._open.items()
        ]
