"""Every camera's supervisor, kept by camera id, and the shared things they use.

One `Publications` lives inside the daemon's task group. Each supervisor runs in its own
cancel scope in that group, so replacing one (the camera or its target changed) never
touches the others. Supervisors publishing to one target share its API client, its path
watch and, per RTSP host:port, its uplink probe. Their notifications are logged here, told
what only the registry knows (the target's name, why a stop happened), and passed on to
whoever the daemon wired in: the history recorder and the event feed.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.process import LogLine, find_tagged
from ucvd.relay.mediamtx import MediaMTXClient
from ucvd.relay.pathwatch import PathWatch
from ucvd.relay.publication import Status
from ucvd.relay.status import (
    Notification,
    PublicationState,
    StatusChanged,
    SupervisorSettings,
)
from ucvd.relay.supervisor import Supervisor, SupervisorClosed, host_port, uplink_connect
from ucvd.relay.ticker import Ticker
from ucvd.relay.uplink import Connect, Uplink, no_probe, tcp_answers

log = structlog.get_logger(__name__)


class RelaySupervisor(Protocol):
    """What the registry asks of one camera's supervisor, whichever engine relays it."""

    camera: Camera
    ffmpeg: str

    @property
    def status(self) -> Status: ...

    @property
    def restarts(self) -> int: ...

    @property
    def lines(self) -> deque[LogLine]: ...

    def state(self) -> PublicationState: ...

    async def start(self, force: bool = False) -> bool: ...

    async def stop(self) -> bool: ...

    def apply_settings(self, settings: SupervisorSettings) -> None: ...

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None: ...


class Engine(Protocol):
    """Builds one camera's supervisor: the one swap point between relay engines. The
    daemon always uses the FFmpeg engine, `Supervisor` itself; the MediaMTX-driven prototype
    (tests/prototypes/mtxengine) is built only by its benchmark and test (docs/engines.md)."""

    def __call__(
        self,
        camera: Camera,
        target: Target,
        *,
        ffmpeg: str,
        mediamtx: MediaMTXClient | None,
        paths: PathWatch | None,
        uplink: Uplink,
        notify: Callable[[Notification], None],
        settings: SupervisorSettings,
        tag: str,
        ticker: Ticker,
    ) -> RelaySupervisor: ...


@dataclass
class _Pub:
    sup: RelaySupervisor
    target: Target
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    finished: anyio.Event = field(default_factory=anyio.Event)


class Publications:
    def __init__(
        self,
        *,
        settings: SupervisorSettings,
        ffmpeg: str,
        tag_prefix: str,
        notify: Callable[[Notification], None] = lambda _n: None,
        probe_connect: Connect = tcp_answers,
        engine: Engine = Supervisor,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self.ffmpeg = ffmpeg
        self.tag_prefix = tag_prefix
        self._notify = notify
        self._pubs: dict[str, _Pub] = {}
        self._clients: dict[Target, MediaMTXClient] = {}
        self._watches: dict[Target, PathWatch] = {}
        self.ticker = Ticker()  # one clock for every live publication's checks
        self._uplinks: dict[tuple[str, int], Uplink] = {}  # by the target's RTSP host:port
        # Probes asked for by scrapes alone (no camera there): apart from `_uplinks`, so
        # that what the health check reports does not depend on whether anyone scrapes.
        self._lookouts: dict[tuple[str, int], Uplink] = {}
        self._probe_connect = probe_connect
        self._stop_reasons: dict[str, str] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def kill_leftovers(self) -> list[int]:
        """FFmpegs a crashed predecessor left: never two per camera."""
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
            await tg.start(self.ticker.run)
            task_status.started()
            await anyio.sleep_forever()

    async def shutdown(self, reason: str = "daemon_stopped") -> None:
        """Stop every FFmpeg cleanly (all at once)."""
        async with anyio.create_task_group() as tg:
            for camera_id in list(self._pubs):
                tg.start_soon(self.discard, camera_id, reason)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._watches.clear()

    # --- queries ----------------------------------------------------------------------------
    def states(self) -> list[PublicationState]:
        return [pub.sup.state() for pub in self._pubs.values()]

    def state(self, camera_id: str) -> PublicationState | None:
        pub = self._pubs.get(camera_id)
        return pub.sup.state() if pub is not None else None

    def status(self, camera_id: str) -> Status:
        pub = self._pubs.get(camera_id)
        return pub.sup.status if pub is not None else Status.STOPPED

    def target_of(self, camera_id: str) -> Target | None:
        """The target its supervisor was built for, as the relay sees it (Target.for_relay)."""
        pub = self._pubs.get(camera_id)
        return pub.target if pub is not None else None

    def publishes_to(self, camera_id: str, target: Target) -> bool:
        """Was its supervisor built for this target? Settings the relay never reads (the
        player URL) do not count."""
        pub = self._pubs.get(camera_id)
        return pub is not None and pub.target == target.for_relay()

    def lines(self, camera_id: str) -> list[LogLine]:
        pub = self._pubs.get(camera_id)
        return list(pub.sup.lines) if pub is not None else []

    def started(self) -> list[str]:
        """Cameras started and not stopped since: running, stopping, or failed (one that gave
        up still holds its target, and a reload reports it). Not `Status.running`."""
        return [cid for cid, pub in self._pubs.items() if pub.sup.status is not Status.STOPPED]

    # --- commands ---------------------------------------------------------------------------
    async def start(self, camera: Camera, target: Target, *, force: bool = False) -> bool:
        """Start (or force-restart) a camera's publication; False if it was already running.
        A supervisor built for another camera config or target is replaced first; one that
        differs only in what the relay never reads (Target.for_relay) is kept."""
        target = target.for_relay()
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
            pub.sup.apply_settings(settings)

    # --- supervisors ------------------------------------------------------------------------
    async def _spawn_supervisor(self, camera: Camera, target: Target) -> _Pub:
        assert self._tg is not None, "Publications.run() is not running"
        sup = self._engine(
            camera,
            target,
            ffmpeg=self.ffmpeg,
            mediamtx=self._client(target),
            paths=self._watch(target),
            ticker=self.ticker,
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
            uplink = self._uplinks[key] = Uplink(*key, connect=uplink_connect(target))
        return uplink

    def uplinks_down(self) -> list[tuple[Uplink, list[str]]]:
        """Targets that did not answer their last probe, with the cameras publishing there."""
        down = []
        for key, uplink in self._uplinks.items():
            if uplink.down:
                cameras = [c for c, pub in self._pubs.items() if host_port(pub.target) == key]
                down.append((uplink, sorted(cameras)))
        return down

    async def reachable(self, target: Target, max_age: float) -> bool:
        """Does the target's RTSP port answer? A camera confirmed publishing there says yes;
        cameras waiting for it to answer (their probe asks every second) say no; else it is
        asked by a probe of its own (at most once per `max_age`), never through the cameras'
        shared one, so that a scrape never leaves them, or `health`, a stale answer."""
        key = host_port(target)
        if any(
            host_port(pub.target) == key and pub.sup.status is Status.PUBLISHING
            for pub in self._pubs.values()
        ):
            return True
        uplink = self._uplinks.get(key)
        if uplink is not None and uplink.down and uplink.waiting:
            return False
        probe = self._lookouts.get(key)
        if probe is None:  # only the active target is asked: one probe is kept
            connect = self._probe_connect if uplink_connect(target) is tcp_answers else no_probe
            probe = Uplink(*key, connect=connect)
            self._lookouts = {key: probe}
        return await probe.check(max_age=max_age)

    def api_latency(self, target: Target) -> float | None:
        """The last MediaMTX API call's round trip to the target, if one was made."""
        client = self._clients.get(target.for_relay())
        return client.latency_s if client is not None else None

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
        if isinstance(note, StatusChanged):
            pub = self._pubs.get(note.camera_id)
            stopped = note.new is Status.STOPPED
            note = msgspec.structs.replace(
                note,
                target=pub.target.name if pub is not None else None,
                restarts=pub.sup.restarts if pub is not None else 0,
                reason=self._stop_reasons.pop(note.camera_id, "stopped") if stopped else None,
            )
            self._log(note)
        self._notify(note)

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
