"""Each camera's restarts and errors, counted for good and for the last hour, sans I/O.

Operators (and Prometheus) need to see a camera that keeps failing behind an "online"
badge: a publication back in seconds after each stall still looks fine in `status`. These
counters say how often it happened. The lifetime ones are kept on disk by the recorder, so
a daemon restart does not reset them (a crash loses what was counted since the last
checkpoint, at most a minute); the last-hour ones live in memory only.

Counted from the engine's status notifications, each failure exactly once: a failure
always moves a publication from a running status to `reconnecting` or `failed`, with the
fault in the note. A restart is a spawn that is not an operator's first start: `starting`
entered from `reconnecting` (a retry) or from `stopping` (a forced restart).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ucvd.domain.errors import ErrorKind
from ucvd.relay.publication import Status
from ucvd.relay.status import StatusChanged

HOUR_S = 3600.0
RESTARTS = "restarts"  # the counter's name on disk; errors are "error:<kind>"
_ERROR = "error:"
_RESTART_FROM = frozenset({Status.RECONNECTING, Status.STOPPING})
_FAILED_TO = frozenset({Status.RECONNECTING, Status.FAILED})
# A camera that fails every second keeps at most this many times for its last hour.
RECENT_KEPT = 4096


@dataclass
class CameraTally:
    restarts: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by ErrorKind value
    recent_reconnects: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))
    recent_stalls: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))

    @property
    def stalls(self) -> int:
        return self.errors.get(ErrorKind.STREAM_STALLED.value, 0)

    def reconnects_since(self, since: float) -> int:
        return _count_since(self.recent_reconnects, since)

    def stalls_since(self, since: float) -> int:
        return _count_since(self.recent_stalls, since)


def _count_since(times: deque[float], since: float) -> int:
    while times and times[0] < since:
        times.popleft()
    return len(times)


class Tally:
    def __init__(self) -> None:
        self._cameras: dict[str, CameraTally] = {}
        self._dirty: set[str] = set()

    def load(self, saved: dict[str, dict[str, int]]) -> None:
        """The counters kept on disk: (camera_id -> counter -> value), as the store reads them."""
        for camera_id, counters in saved.items():
            tally = self._cameras[camera_id] = CameraTally()
            for name, value in counters.items():
                if name == RESTARTS:
                    tally.restarts = value
                elif name.startswith(_ERROR):
                    tally.errors[name.removeprefix(_ERROR)] = value

    def of(self, camera_id: str) -> CameraTally:
        """The camera's counters (zeros for one never counted)."""
        return self._cameras.get(camera_id) or CameraTally()

    def status(self, note: StatusChanged) -> None:
        if note.new is Status.STARTING and note.old in _RESTART_FROM:
            tally = self._counted(note.camera_id)
            tally.restarts += 1
            if note.old is Status.RECONNECTING:
                tally.recent_reconnects.append(note.at)
        elif note.new in _FAILED_TO and note.error is not None:
            tally = self._counted(note.camera_id)
            kind = note.error.kind.value
            tally.errors[kind] = tally.errors.get(kind, 0) + 1
            if note.error.kind is ErrorKind.STREAM_STALLED:
                tally.recent_stalls.append(note.at)

    def forget(self, camera_id: str) -> None:
        """A removed camera: its counters go with it (the store drops its rows), so that a
        camera added again under the same id counts from zero."""
        self._cameras.pop(camera_id, None)
        self._dirty.discard(camera_id)

    def changed(self) -> list[tuple[str, str, int]]:
        """(camera_id, counter, value) for every counter of the cameras counted since the
        last call: what the next checkpoint saves."""
        rows: list[tuple[str, str, int]] = []
        for camera_id in sorted(self._dirty):
            tally = self._cameras[camera_id]
            rows.append((camera_id, RESTARTS, tally.restarts))
            rows.extend((camera_id, _ERROR + kind, n) for kind, n in sorted(tally.errors.items()))
        self._dirty.clear()
        return rows

    def unsaved(self, rows: list[tuple[str, str, int]]) -> None:
        """A checkpoint carrying these rows failed: their cameras are saved again next time
        (with whatever they count by then), unless they were forgotten meanwhile."""
        self._dirty.update(c for c, _name, _value in rows if c in self._cameras)

    def _counted(self, camera_id: str) -> CameraTally:
        self._dirty.add(camera_id)
        tally = self._cameras.get(camera_id)
        if tally is None:
            tally = self._cameras[camera_id] = CameraTally()
        return tally
