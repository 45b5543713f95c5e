"""Every camera's supervisor, and what follows their notifications: history, events, samples.

One `Publications` lives inside the daemon's task group. Each supervisor runs in its own
cancel scope in that group, so replacing one (the camera or its target changed) never
touches the others. History rows go through one writer task, in the order the changes
happened, so a session is always opened before it is closed, and the event loop never
waits for the disk.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.api import protocol as p
from ucvd.control.events import EventBus
from ucvd.control.views import iso, last_error, metrics_view
from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.process import LogLine, find_tagged
from ucvd.relay.mediamtx import MediaMTXClient
from ucvd.relay.pathwatch import PathWatch
from ucvd.relay.publication import Status
from ucvd.relay.status import (
    MetricsSampled,
    Notification,
    PublicationState,
    StatusChanged,
    SupervisorSettings,
)
from ucvd.relay.supervisor import Supervisor, SupervisorClosed, host_port
from ucvd.relay.uplink import Uplink
from ucvd.state.history import CloseSession, OpenSession, SessionBook
from ucvd.state.store import AsyncStore, Sample, StoreError

log = structlog.get_logger(__name__)

EVENT_METRICS_EVERY_S = 2.0
SAMPLE_EVERY_S = 60.0
COMPACT_EVERY_S = 3600.0


class _Checkpoint(msgspec.Struct, frozen=True):
    samples: list[Sample]
    counters: list[tuple[str, int, int, int]]  # camera_id, restarts, frames, bytes


class _Compact(msgspec.Struct, frozen=True):
    now: float


_Op = OpenSession | CloseSession | _Checkpoint | _Compact


@dataclass
class _Pub:
    sup: Supervisor
    target: Target
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    finished: anyio.Event = field(default_factory=anyio.Event)


class Publications:
    def __init__(
        self,
        store: AsyncStore,
        *,
        settings: SupervisorSettings,
        ffmpeg: str,
        tag_prefix: str,
        bus: EventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.ffmpeg = ffmpeg
        self.tag_prefix = tag_prefix
        self.bus = bus
        self._clock = clock
        self._pubs: dict[str, _Pub] = {}
        self._clients: dict[Target, MediaMTXClient] = {}
        self._watches: dict[Target, PathWatch] = {}
        self._uplinks: dict[tuple[str, int], Uplink] = {}  # by the target's RTSP host:port
        self._book = SessionBook()
        self._stop_reasons: dict[str, str] = {}
        self._session_ids: dict[str, int] = {}  # owned by the writer task
        self._ops_send, self._ops_recv = anyio.create_memory_object_stream[_Op](math.inf)
        self._tg: anyio.abc.TaskGroup | None = None
        self._writer_done = anyio.Event()
        self.writer_failures = 0

    # --- lifecycle --------------------------------------------------------------------------
    def kill_leftovers(self) -> list[int]:
        """FFmpegs a crashed predecessor left (design.md §4 rule 2): never two per camera."""
        pids = find_tagged(self.tag_prefix, prefix=True)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        return pids

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._writer)
            tg.start_soon(self._tick)
            task_status.started()
            await anyio.sleep_forever()

    async def shutdown(self, reason: str = "daemon_stopped") -> None:
        """Stop every FFmpeg cleanly (all at once), then let the history writer finish."""
        async with anyio.create_task_group() as tg:
            for camera_id in list(self._pubs):
                tg.start_soon(self.discard, camera_id, reason)
        self._ops_send.close()
        with anyio.move_on_after(10):
            await self._writer_done.wait()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._watches.clear()

    # --- queries ----------------------------------------------------------------------------
    def state(self, camera_id: str) -> PublicationState | None:
        pub = self._pubs.get(camera_id)
        return pub.sup.state() if pub is not None else None

    def status(self, camera_id: str) -> Status:
        pub = self._pubs.get(camera_id)
        return pub.sup.machine.status if pub is not None else Status.STOPPED

    def target_of(self, camera_id: str) -> Target | None:
        pub = self._pubs.get(camera_id)
        return pub.target if pub is not None else None

    def lines(self, camera_id: str) -> list[LogLine]:
        pub = self._pubs.get(camera_id)
        return list(pub.sup.lines) if pub is not None else []

    def running(self) -> list[str]:
        return [
            cid for cid, pub in self._pubs.items() if pub.sup.machine.status is not Status.STOPPED
        ]

    # --- commands ---------------------------------------------------------------------------
    async def start(self, camera: Camera, target: Target, *, force: bool = False) -> bool:
        """Start (or force-restart) a camera's publication; False if it was already running.
        A supervisor built for another camera config or target is replaced first."""
        pub = self._pubs.get(camera.id)
        if pub is not None and (pub.sup.camera != camera or pub.target != target):
            await self.discard(camera.id, "reconfigured")
            pub = None
        if pub is None:
            pub = await self._spawn_supervisor(camera, target)
        try:
            return await pub.sup.start(force=force)
        except SupervisorClosed:
            self._pubs.pop(camera.id, None)
            raise

    async def stop(self, camera_id: str, reason: str = "stopped") -> bool:
        pub = self._pubs.get(camera_id)
        if pub is None:
            return False
        self._stop_reasons[camera_id] = reason
        try:
            return await pub.sup.stop()
        except SupervisorClosed:
            return False

    async def discard(self, camera_id: str, reason: str) -> None:
        """Stop a camera's publication and forget its supervisor (removed or replaced)."""
        pub = self._pubs.get(camera_id)
        if pub is None:
            return
        await self.stop(camera_id, reason)
        self._stop_reasons.pop(camera_id, None)  # unused when it was not running
        pub.scope.cancel()
        await pub.finished.wait()
        if self._pubs.get(camera_id) is pub:
            del self._pubs[camera_id]
        await self._release(pub.target)

    def set_ffmpeg(self, ffmpeg: str) -> None:
        """The FFmpeg every publication's next attempt runs (the running ones keep theirs
        until restarted)."""
        self.ffmpeg = ffmpeg
        for pub in self._pubs.values():
            pub.sup.ffmpeg = ffmpeg

    def apply_settings(self, settings: SupervisorSettings) -> None:
        """Supervision timeouts apply at once; relay (argv) settings to the next FFmpeg."""
        self.settings = settings
        for pub in self._pubs.values():
            pub.sup.settings = settings

    # --- supervisors ------------------------------------------------------------------------
    async def _spawn_supervisor(self, camera: Camera, target: Target) -> _Pub:
        assert self._tg is not None, "Publications.run() is not running"
        sup = Supervisor(
            camera,
            target,
            ffmpeg=self.ffmpeg,
            mediamtx=self._client(target),
            paths=self._watch(target),
            uplink=self._uplink(target),
            notify=self._notified,
            settings=self.settings,
            tag=f"{self.tag_prefix}{camera.id}",
        )
        pub = _Pub(sup=sup, target=target)
        self._pubs[camera.id] = pub
        await self._tg.start(self._run_supervisor, pub)
        return pub

    async def _run_supervisor(
        self, pub: _Pub, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            with pub.scope:
                await pub.sup.run(task_status=task_status)
        finally:
            pub.finished.set()

    def _client(self, target: Target) -> MediaMTXClient | None:
        if not target.uses_api or target.api_url is None:
            return None
        client = self._clients.get(target)
        if client is None:
            client = MediaMTXClient(target.api_url, credentials=target.api_credentials())
            self._clients[target] = client
        return client

    def _watch(self, target: Target) -> PathWatch | None:
        client = self._client(target)
        if client is None:
            return None
        watch = self._watches.get(target)
        if watch is None or watch.client is not client:
            watch = self._watches[target] = PathWatch(client)
        return watch

    def _uplink(self, target: Target) -> Uplink:
        key = host_port(target)
        uplink = self._uplinks.get(key)
        if uplink is None:
            uplink = self._uplinks[key] = Uplink(*key)
        return uplink

    def uplinks_down(self) -> list[tuple[Uplink, list[str]]]:
        """Targets that did not answer their last probe, with the cameras publishing there."""
        down = []
        for key, uplink in self._uplinks.items():
            if uplink.down:
                cameras = [c for c, pub in self._pubs.items() if host_port(pub.target) == key]
                down.append((uplink, sorted(cameras)))
        return down

    async def _release(self, target: Target) -> None:
        key = host_port(target)
        if not any(host_port(pub.target) == key for pub in self._pubs.values()):
            self._uplinks.pop(key, None)
        if any(pub.target == target for pub in self._pubs.values()):
            return
        self._watches.pop(target, None)
        client = self._clients.pop(target, None)
        if client is not None:
            await client.aclose()

    # --- notifications ----------------------------------------------------------------------
    def _notified(self, note: Notification) -> None:
        if isinstance(note, MetricsSampled):
            self._book.metrics(note)
            return
        pub = self._pubs.get(note.camera_id)
        restarts = pub.sup.machine.restarts if pub is not None else 0
        reason = (
            self._stop_reasons.pop(note.camera_id, "stopped")
            if note.new is Status.STOPPED
            else "stopped"
        )
        op = self._book.status(
            note,
            target=pub.target.name if pub is not None else None,
            restarts=restarts,
            stop_reason=reason,
        )
        if op is not None:
            self._queue(op)
        self._log(note)
        self.bus.publish(
            p.STATUS_EVENT,
            note.camera_id,
            p.StatusEvent(
                camera_id=note.camera_id,
                old=str(note.old),
                new=str(note.new),
                error=last_error(note.error, note.at),
                at=iso(note.at) or "",
            ),
        )

    @staticmethod
    def _log(note: StatusChanged) -> None:
        fields: dict[str, object] = {
            "camera_id": note.camera_id,
            "status": str(note.new),
            "old_status": str(note.old),
        }
        if note.error is not None:
            fields |= {"error_kind": str(note.error.kind), "reason": note.error.message}
        if note.new is Status.FAILED:
            log.error("publication gave up", **fields)
        elif note.new is Status.RECONNECTING:
            log.warning("publication interrupted; will retry", **fields)
        else:
            log.info("publication status changed", **fields)

    def _queue(self, op: _Op) -> None:
        try:
            self._ops_send.send_nowait(op)
        except anyio.ClosedResourceError:
            log.warning("history write after shutdown dropped", op=type(op).__name__)

    # --- background tasks -------------------------------------------------------------------
    async def _tick(self) -> None:
        """Metrics to subscribers every 2 s; samples to the database every minute."""
        next_sample = time.monotonic() + SAMPLE_EVERY_S
        next_compact = time.monotonic() + 60.0
        while True:
            await anyio.sleep(EVENT_METRICS_EVERY_S)
            now = time.monotonic()
            states = [pub.sup.state() for pub in self._pubs.values()]
            at = iso(self._clock()) or ""
            for state in states:
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
            if now >= next_sample:
                next_sample = now + SAMPLE_EVERY_S
                wall = self._clock()
                samples = [
                    Sample(
                        camera_id=s.camera_id,
                        at=wall,
                        fps=s.metrics.fps,
                        bitrate_kbps=s.metrics.bitrate_kbps,
                        readers=s.metrics.readers,
                    )
                    for s in states
                    if s.status is Status.PUBLISHING
                ]
                counters = [
                    (c.camera_id, c.restarts, c.frames, c.bytes) for c in self._book.counters()
                ]
                self._queue(_Checkpoint(samples, counters))
            if now >= next_compact:
                next_compact = now + COMPACT_EVERY_S
                self._queue(_Compact(self._clock()))

    async def _writer(self) -> None:
        """The only task that writes history; a failed write is logged, never fatal."""
        try:
            async for op in self._ops_recv:
                try:
                    await self._write(op)
                except StoreError as exc:
                    self.writer_failures += 1
                    log.error("could not record history", error=str(exc), op=type(op).__name__)
        finally:
            self._writer_done.set()

    async def _write(self, op: _Op) -> None:
        store = self.store.store
        match op:
            case OpenSession(session=session):
                self._session_ids[session.camera_id] = await self.store.call(
                    store.open_session, session
                )
            case CloseSession(session=session):
                session_id = self._session_ids.pop(session.camera_id, None)
                if session_id is not None:
                    await self.store.call(store.close_session, session_id, session)
            case _Checkpoint():
                counters = [
                    (self._session_ids[cam], restarts, frames, bytes_)
                    for cam, restarts, frames, bytes_ in op.counters
                    if cam in self._session_ids
                ]
                await self.store.call(store.checkpoint, op.samples, counters)
            case _Compact():
                await self.store.call(store.compact_samples, op.now)
