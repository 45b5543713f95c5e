"""The last few minutes of each running camera's fps and bitrate, in memory: what the
dashboard's sparklines start from. The store keeps a sample a minute, which is too coarse
for ten minutes and too slow to read on every page load; this keeps one every
`every_s`, for `keep_s`, per camera (100 cameras: 6,000 small tuples).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ucvd.relay.status import PublicationState

EVERY_S = 10.0
KEEP_S = 600.0

Point = tuple[float, float | None, float | None]  # at (Unix time), fps, bitrate_kbps


class RecentSamples:
    def __init__(self, *, every_s: float = EVERY_S, keep_s: float = KEEP_S) -> None:
        self.every_s = every_s
        self.keep_s = keep_s
        self._size = max(1, round(keep_s / every_s))
        self._points: dict[str, deque[Point]] = {}
        self._last = float("-inf")

    def due(self, now: float) -> bool:
        return now - self._last >= self.every_s

    def take(self, now: float, states: Iterable[PublicationState]) -> None:
        """One point per camera with a running FFmpeg; the others keep theirs, which age out."""
        self._last = now
        for state in states:
            if state.pid is None:
                continue
            ring = self._points.get(state.camera_id)
            if ring is None:
                ring = self._points[state.camera_id] = deque(maxlen=self._size)
            ring.append((now, state.metrics.fps, state.metrics.bitrate_kbps))
        # By age, every ring: a camera back after a gap must not keep points older than
        # keep_s, or `oldest()` would reach back past what the other cameras kept.
        cutoff = now - self.keep_s
        for camera_id in list(self._points):
            ring = self._points[camera_id]
            while ring and ring[0][0] < cutoff:
                ring.popleft()
            if not ring:
                del self._points[camera_id]

    def since(self, at: float, camera_id: str | None = None) -> dict[str, list[Point]]:
        ids = [camera_id] if camera_id is not None else list(self._points)
        found: dict[str, list[Point]] = {}
        for cid in ids:
            points = [pt for pt in self._points.get(cid, ()) if pt[0] >= at]
            if points:
                found[cid] = points
        return found

    def oldest(self) -> float | None:
        """When the oldest point kept was taken (None: nothing kept)."""
        firsts = [ring[0][0] for ring in self._points.values() if ring]
        return min(firsts) if firsts else None
