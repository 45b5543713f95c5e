"""What `events.subscribe` callers hear: every status change as it happens, and the running
publications' metrics every few seconds.

Fed by the registry's notifications, it turns them into the protocol's events (through the
views, so nothing secret leaves) and hands them to the bus. Metrics go out on a timer rather
than with every supervisor sample: a subscriber wants a steady pulse, not a burst per camera.
The same pulse keeps the last minutes of samples the dashboard's sparklines start from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import anyio
import anyio.abc

from ucvd.api import protocol as p
from ucvd.control.events import EventBus
from ucvd.control.views import iso, last_error, metrics_view
from ucvd.relay.status import Notification, PublicationState, StatusChanged
from ucvd.state.recent import RecentSamples

METRICS_EVERY_S = 2.0


class EventFeed:
    def __init__(
        self,
        bus: EventBus,
        states: Callable[[], Iterable[PublicationState]],
        *,
        recent: RecentSamples | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self._states = states
        self.recent = recent if recent is not None else RecentSamples()
        self._clock = clock
        # Set once the operations exist (the daemon's Service): each status event then
        # carries the camera's whole status.
        self.status_of: Callable[[str], p.PublicationStatus] | None = None

    def notified(self, note: Notification) -> None:
        if not isinstance(note, StatusChanged) or not self.bus.wants(note.camera_id):
            return
        whole = self.status_of(note.camera_id) if self.status_of is not None else None
        self.bus.publish(
            p.STATUS_EVENT,
            note.camera_id,
            p.StatusEvent(
                camera_id=note.camera_id,
                old=str(note.old),
                new=str(note.new),
                error=last_error(note.error, note.at),
                at=iso(note.at) or "",
                status=whole,
            ),
        )

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await anyio.sleep(METRICS_EVERY_S)
            now = self._clock()
            if self.recent.due(now):
                self.recent.take(now, self._states())
            if not self.bus.listening:
                continue  # 100 cameras' states every period, for nobody: not built
            at = iso(now) or ""
            for state in self._states():
                if state.pid is not None and self.bus.wants(state.camera_id):
                    self.bus.publish(
                        p.METRICS_EVENT,
                        state.camera_id,
                        p.MetricsEvent(
                            camera_id=state.camera_id,
                            metrics=metrics_view(state.metrics),
                            uptime_seconds=state.metrics.uptime_s,
                            at=at,
                        ),
                    )
