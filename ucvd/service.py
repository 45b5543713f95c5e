"""The operator's operations: cameras, targets and publications, as control-socket methods.

Configuration lives in memory (served from there: `status` never touches the disk) and is
written through to the store *before* memory changes, so a change the store refused never
shows, and one it accepted survives any crash. Each camera has a lock (its configuration
and its publication change one request at a time); target changes first switch the active
target in memory, then take each camera's lock to move running publications over, so a
start racing an activation always ends on the new target.

The operator's input is checked here, at the boundary (ucvd.domain.validation), before
it reaches memory, the store or FFmpeg. Operations refuse with `ucvd.domain.refusals`;
`methods()` turns them into the socket's errors (ucvd.control.handlers).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import msgspec
import structlog

from ucvd.api import protocol as p
from ucvd.control.events import EventBus
from ucvd.control.handlers import method
from ucvd.control.server import Connection, Method
from ucvd.control.views import camera_view, iso, session_view, status_list, status_view, target_view
from ucvd.discovery import adoption, rtsp_probe
from ucvd.discovery import results as discovery_results
from ucvd.discovery import scan as discovery
from ucvd.discovery.interfaces import InterfaceError
from ucvd.discovery.probe import ProbeFailed, probe
from ucvd.discovery.request import plan_for
from ucvd.discovery.subnet import InvalidScope
from ucvd.domain import siteplan
from ucvd.domain import validation as valid
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, Target
from ucvd.domain.refusals import (
    AlreadyExists,
    AlreadyPublishing,
    InUse,
    Invalid,
    NotFound,
    NotPublishing,
    NotSaved,
    Refused,
    StateChanged,
)
from ucvd.domain.urls import InvalidURL, publish_path, redact, scheme_of
from ucvd.relay import tlslink
from ucvd.relay.ffmpeg.classify import Endpoint, classify
from ucvd.relay.mediamtx import MediaMTXClient, MediaMTXError
from ucvd.relay.publication import Status
from ucvd.relay.registry import Publications
from ucvd.relay.still import NoPicture, Stills, TooManyAsked
from ucvd.state.history import SessionRecord
from ucvd.state.recent import RecentSamples
from ucvd.state.store import AsyncStore, Conflict, Snapshot, Store, StoreError
from ucvd.state.tally import HOUR_S, Tally

log = structlog.get_logger(__name__)

SUB_NAME = " (sub)"  # a sub stream's name: its main's, and this
MAX_NAME = 200  # protocol.Name: what a site file's name may hold, so that export applies

R = TypeVar("R")
P = ParamSpec("P")
_UNSET = msgspec.UNSET
TLS_CHECK_TIMEOUT_S = 5.0


class Service:
    def __init__(
        self,
        *,
        store: AsyncStore,
        snapshot: Snapshot,
        publications: Publications,
        bus: EventBus,
        ffprobe: str,
        tally: Tally | None = None,
        stills: Stills | None = None,
        recent: RecentSamples | None = None,
        running_session: Callable[[str], SessionRecord | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._running_session = running_session or (lambda _camera_id: None)
        self.store = store
        self.stills = stills if stills is not None else Stills("ffmpeg")
        self.recent = recent if recent is not None else RecentSamples()
        self.tally = tally if tally is not None else Tally()
        self._clock = clock
        self.pubs = publications
        self.bus = bus
        self.ffprobe = ffprobe
        self.cameras: dict[str, Camera] = {c.id: c for c in snapshot.cameras}
        self.targets: dict[str, Target] = {t.name: t for t in snapshot.targets}
        self.active: str | None = snapshot.active_target
        self.desired: dict[str, str] = dict(snapshot.desired)
        self._locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)
        self._targets_lock = anyio.Lock()
        self._scanning = False
        self._plan_key = secrets.token_bytes(32)  # keys plan fingerprints (siteplan)

    # --- plumbing ---------------------------------------------------------------------------
    async def _write(
        self, fn: Callable[Concatenate[Store, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        try:
            return await self.store.call(fn, *args, **kwargs)
        except Conflict:
            raise
        except StoreError as exc:
            log.error("state database refused a write", error=str(exc))
            raise NotSaved(f"the change was not saved: {exc}") from None

    def _camera(self, camera_id: str) -> Camera:
        key = camera_id.lower()
        camera = self.cameras.get(key)
        if camera is None:
            valid.camera_id(camera_id)
            raise NotFound(f"no camera {key!r}")
        return camera

    def _target(self, name: str) -> Target:
        target = self.targets.get(name.lower())
        if target is None:
            valid.target_name(name)
            raise NotFound(f"no target {name.lower()!r}")
        return target

    def active_target(self) -> Target | None:
        return self.targets.get(self.active) if self.active else None

    def status_of(self, camera_id: str) -> p.PublicationStatus:
        state = self.pubs.state(camera_id)
        target = self.pubs.target_of(camera_id) if state is not None else None
        if target is None or state is None or state.status is Status.STOPPED:
            target = self.active_target()  # where it would publish next
        path = None
        if target is not None:
            with contextlib.suppress(InvalidURL):
                path = publish_path(target.path_template, camera_id)
        recent = self.tally.of(camera_id)
        since = self._clock() - HOUR_S
        camera = self.cameras.get(camera_id)
        return status_view(
            camera_id,
            state,
            desired=self.desired.get(camera_id, "stopped"),
            target=target.name if target else None,
            path=path,
            reconnects_last_hour=recent.reconnects_since(since),
            stalls_last_hour=recent.stalls_since(since),
            main_id=camera.main_id if camera is not None else None,
        )

    def statuses(self) -> list[p.PublicationStatus]:
        return [self.status_of(cid) for cid in sorted(self.cameras)]

    def methods(self) -> dict[str, Method]:
        table: dict[str, Callable[[Any, Connection], Awaitable[Any]]] = {
            "camera.add": self.camera_add,
            "camera.update": self.camera_update,
            "camera.remove": self.camera_remove,
            "camera.list": self.camera_list,
            "camera.get": self.camera_get,
            "camera.probe": self.camera_probe,
            "target.add": self.target_add,
            "target.update": self.target_update,
            "target.remove": self.target_remove,
            "target.list": self.target_list,
            "target.get": self.target_get,
            "target.activate": self.target_activate,
            "target.check": self.target_check,
            "publishing.start": self.publishing_start,
            "publishing.stop": self.publishing_stop,
            "publishing.restart": self.publishing_restart,
            "publishing.status": self.publishing_status,
            "publishing.history": self.publishing_history,
            "publishing.logs": self.publishing_logs,
            "events.subscribe": self.events_subscribe,
            "discovery.scan": self.discovery_scan,
            "config.apply": self.config_apply,
            "camera.still": self.camera_still,
            "publishing.samples": self.publishing_samples,
        }
        return {name: method(p.PARAMS[name], call) for name, call in table.items()}

    # --- start-up ---------------------------------------------------------------------------
    async def resume(self) -> list[str]:
        """Start every publication whose desired state is "publishing" (after a restart)."""
        wanted = [cid for cid, d in sorted(self.desired.items()) if d == "publishing"]
        target = self.active_target()
        if not wanted:
            return []
        if target is None:
            log.warning("publications wait for an active target", cameras=len(wanted))
            return []
        async with anyio.create_task_group() as tg:
            for camera_id in wanted:
                camera = self.cameras.get(camera_id)
                if camera is not None:
                    tg.start_soon(self._resume_one, camera, target)
        log.info("saved publications started again", cameras=len(wanted), target=target.name)
        return wanted

    async def _resume_one(self, camera: Camera, target: Target) -> None:
        async with self._locks[camera.id]:
            await self.pubs.start(camera, target)

    async def restart_if_running(self, camera_id: str, target: Target) -> bool:
        """Restart a publication onto `target` if it is still trying to publish, under its
        camera's lock, so that it cannot race an operator's start or stop. False when it is
        stopped or gave up (a failed one waits for an operator)."""
        async with self._locks[camera_id]:
            camera = self.cameras.get(camera_id)
            if camera is None or not self.pubs.status(camera_id).running:
                return False
            await self.pubs.start(camera, target, force=True)
            return True

    # --- cameras ----------------------------------------------------------------------------
    async def camera_add(self, params: p.CameraAdd, _conn: Connection) -> p.CameraView:
        camera = valid.camera(
            id=params.id,
            url=params.url,
            username=params.username,
            password=params.password,
            name=params.name,
            options=params.options,
            main_id=params.main_id,
        )
        sub = _sub_stream(camera, params)
        new = [camera] if sub is None else [camera, sub]
        ids = sorted({c.id for c in new} | ({camera.main_id} if camera.main_id else set()))
        async with contextlib.AsyncExitStack() as locks:
            for camera_id in ids:  # the main's too: it cannot be removed meanwhile
                await locks.enter_async_context(self._locks[camera_id])
            for each in new:
                if each.id in self.cameras:
                    raise AlreadyExists(f"camera {each.id!r} exists")
            if camera.main_id is not None:
                main = self.cameras.get(camera.main_id)
                if main is None:
                    raise NotFound(
                        f"no camera {camera.main_id!r} to be the main stream of {camera.id!r}"
                    )
                if main.main_id is not None:
                    raise Invalid(
                        f"camera {main.id!r} is itself the sub stream of {main.main_id!r}: "
                        f"name {main.main_id!r} as the main camera"
                    )
            try:
                await self._write(Store.add_camera, *new)
            except Conflict:
                raise AlreadyExists(f"camera {camera.id!r} exists") from None
            for each in new:
                self.cameras[each.id] = each
                self.desired[each.id] = "stopped"
        for each in new:
            log.info("camera added", camera_id=each.id, url=each.url, main_id=each.main_id)
        return camera_view(camera, "stopped", [sub.id] if sub is not None else [])

    async def camera_update(self, params: p.CameraUpdate, _conn: Connection) -> p.CameraView:
        old = self._camera(params.id)
        async with self._locks[old.id]:
            old = self._camera(params.id)
            url = old.url if params.url is _UNSET else params.url
            username = old.username if params.username is _UNSET else params.username
            password = old.password if params.password is _UNSET else params.password
            if params.url is not _UNSET and params.username is _UNSET and "@" in url:
                username = password = None  # the URL's credentials replace the old ones
            url, username, password = valid.credentials(url, username, password, "camera URL")
            camera = Camera(
                id=old.id,
                url=url,
                username=username,
                password=password,
                name=old.name if params.name is _UNSET else valid.plain_text(params.name, "name"),
                options=old.options if params.options is _UNSET else params.options,
                main_id=old.main_id,
            )
            if camera == old:
                return self._view(camera)
            await self._write(Store.update_camera, camera)
            self.cameras[camera.id] = camera
            target = self.active_target()
            if self.pubs.status(camera.id) is not Status.STOPPED and target is not None:
                await self.pubs.start(camera, target)  # a new supervisor with the new config
        log.info("camera updated", camera_id=camera.id, url=camera.url)
        return self._view(camera)

    async def camera_remove(self, params: p.CameraRef, _conn: Connection) -> p.Done:
        camera = self._camera(params.id)
        async with self._locks[camera.id]:
            subs = valid.subs_of(self.cameras, camera.id)
            if subs:
                which = ", ".join(repr(s) for s in subs)
                raise InUse(
                    f"camera {camera.id!r} has its sub stream {which} registered; remove "
                    f"that first (ucvctl camera remove {subs[0]})"
                )
            if self.desired.get(camera.id) == "publishing" or (
                self.pubs.status(camera.id) is not Status.STOPPED
            ):
                raise InUse(
                    f"camera {camera.id!r} is publishing; stop it first (ucvctl stop {camera.id})"
                )
            await self._write(Store.remove_camera, camera.id)
            await self.pubs.discard(camera.id, "removed")
            self.tally.forget(camera.id)
            self.cameras.pop(camera.id, None)
            self.desired.pop(camera.id, None)
        log.info("camera removed", camera_id=camera.id)
        return p.Done()

    async def camera_list(self, _params: p.NoParams, _conn: Connection) -> p.CameraList:
        subs: defaultdict[str, list[str]] = defaultdict(list)
        for cid, c in sorted(self.cameras.items()):
            if c.main_id is not None:
                subs[c.main_id].append(cid)
        items = [
            camera_view(c, self.desired.get(c.id, "stopped"), subs.get(c.id, ()))
            for _, c in sorted(self.cameras.items())
        ]
        return p.CameraList(total=len(items), items=items)

    async def camera_get(self, params: p.CameraRef, _conn: Connection) -> p.CameraView:
        return self._view(self._camera(params.id))

    def _view(self, camera: Camera) -> p.CameraView:
        desired = self.desired.get(camera.id, "stopped")
        return camera_view(camera, desired, valid.subs_of(self.cameras, camera.id))

    async def camera_probe(self, params: p.CameraRef, _conn: Connection) -> p.ProbeResult:
        camera = self._camera(params.id)
        try:
            return await probe(self.ffprobe, camera)
        except ProbeFailed as exc:
            fault = classify(
                [str(exc)],
                camera=Endpoint.of(camera.url),
                target=Endpoint("", 0),  # nothing is published while probing
                returncode=1,
                secrets=[camera.password] if camera.password else [],
            )
            kind = fault.kind
            if kind is ErrorKind.PROCESS_CRASHED:
                kind = ErrorKind.STREAM_UNAVAILABLE
            raise Refused(kind, f"probe of {camera.id} failed: {exc}") from None

    # --- targets ----------------------------------------------------------------------------
    async def target_add(self, params: p.TargetAdd, _conn: Connection) -> p.TargetView:
        name = valid.target_name(params.name)
        fields = msgspec.structs.asdict(params)
        fields.pop("activate")
        fields["name"] = name
        target = valid.target(Target(**fields))
        _trust_usable(target)
        async with self._targets_lock:
            if name in self.targets:
                raise AlreadyExists(f"target {name!r} exists")
            active = params.activate or self.active is None
            try:
                await self._write(Store.add_target, target, active=active)
            except Conflict:
                raise AlreadyExists(f"target {name!r} exists") from None
            self.targets[name] = target
            if active:
                await self._switch_to(name)
        log.info("target added", target=name, rtsp_url=target.rtsp_url, active=active)
        return target_view(target, active=active)

    async def target_update(self, params: p.TargetUpdate, _conn: Connection) -> p.TargetView:
        async with self._targets_lock:
            old = self._target(params.name)
            changes = {
                k: v
                for k, v in msgspec.structs.asdict(params).items()
                if v is not _UNSET and k != "name"
            }
            if "rtsp_url" in changes and "username" not in changes and "@" in changes["rtsp_url"]:
                changes |= {"username": None, "password": None}
            changes |= _implied_transport_changes(changes)
            target = valid.target(msgspec.structs.replace(old, **changes))
            _trust_usable(target)
            if target == old:
                return target_view(target, active=self.active == target.name)
            await self._write(Store.update_target, target)
            self.targets[target.name] = target
            # The player URL is for people: a change of it alone restarts nothing.
            if self.active == target.name and target.for_relay() != old.for_relay():
                await self._switch_to(target.name)
        log.info("target updated", target=target.name, rtsp_url=target.rtsp_url)
        return target_view(target, active=self.active == target.name)

    async def target_remove(self, params: p.TargetRef, _conn: Connection) -> p.Done:
        async with self._targets_lock:
            target = self._target(params.name)
            if self.active == target.name:
                raise InUse(f"target {target.name!r} is the active target; activate another first")
            busy = [c for c in self.pubs.started() if self.pubs.publishes_to(c, target)]
            if busy:
                raise InUse(f"target {target.name!r} is in use by {', '.join(busy)}")
            await self._write(Store.remove_target, target.name)
            del self.targets[target.name]
        log.info("target removed", target=target.name)
        return p.Done()

    async def target_list(self, _params: p.NoParams, _conn: Connection) -> p.TargetList:
        items = [target_view(t, active=n == self.active) for n, t in sorted(self.targets.items())]
        return p.TargetList(total=len(items), items=items)

    async def target_get(self, params: p.TargetRef, _conn: Connection) -> p.TargetView:
        target = self._target(params.name)
        return target_view(target, active=target.name == self.active)

    async def target_activate(self, params: p.TargetRef, _conn: Connection) -> p.TargetView:
        async with self._targets_lock:
            target = self._target(params.name)
            if self.active != target.name:
                await self._write(Store.activate_target, target.name)
                await self._switch_to(target.name)
                log.info("target activated", target=target.name)
        return target_view(target, active=True)

    async def _switch_to(self, name: str) -> None:
        """Make `name` active and move every running publication onto it (a restart each)."""
        self.active = name
        target = self.targets[name]

        async def move(camera_id: str) -> None:
            async with self._locks[camera_id]:
                camera = self.cameras.get(camera_id)
                # Failed ones move too (a restart each), like every publication not stopped.
                started = self.pubs.status(camera_id) is not Status.STOPPED
                if camera is not None and started and not self.pubs.publishes_to(camera_id, target):
                    await self.pubs.start(camera, target)

        async with anyio.create_task_group() as tg:
            for camera_id in self.pubs.started():
                tg.start_soon(move, camera_id)

    async def target_check(self, params: p.TargetRef, _conn: Connection) -> p.TargetCheck:
        target = self._target(params.name)
        problems: list[str] = []
        endpoint = Endpoint.of(target.rtsp_url)
        rtsp_ok: bool | None = None
        tls: str | None = None
        if tlslink.needs_link(target):
            try:
                await tlslink.preflight(target, TLS_CHECK_TIMEOUT_S)
            except tlslink.LinkRefused as exc:
                # A refused certificate came from a server that answered.
                rtsp_ok = exc.fault.kind is ErrorKind.CERTIFICATE_REJECTED
                tls = "refused" if rtsp_ok else None
                problems.append(exc.fault.message)
            else:
                rtsp_ok, tls = True, f"trusted ({tlslink.trust_words(target)})"
        # SRT is UDP: nothing answers a probe short of a whole SRT handshake, and a stranger's
        # handshake is what MediaMTX rejects; the API (and the first publication) tell.
        elif scheme_of(target.rtsp_url) != "srt":
            rtsp_ok = await rtsp_probe.answers(endpoint.host, endpoint.port)
            if not rtsp_ok:
                problems.append(f"no RTSP server answers at {endpoint}")
        api_ok: bool | None = None
        auth_ok: bool | None = None
        version: str | None = None
        if target.uses_api and target.api_url:
            async with MediaMTXClient(
                target.api_url, credentials=target.api_credentials(), retries=0
            ) as client:
                try:
                    version = (await client.info()).version
                    api_ok = auth_ok = True
                except MediaMTXError as exc:
                    api_ok = not exc.unreachable
                    auth_ok = False if exc.status in (401, 403) else None
                    problems.append(f"API {target.api_url}: {exc}")
        return p.TargetCheck(
            name=target.name,
            ok=not problems,
            rtsp_reachable=rtsp_ok,
            api_reachable=api_ok,
            api_version=version,
            api_auth_ok=auth_ok,
            problems=problems,
            tls=tls,
        )

    # --- publications -----------------------------------------------------------------------
    async def _set_desired(self, camera_id: str, desired: str) -> None:
        if self.desired.get(camera_id) != desired:
            await self._write(Store.set_desired, camera_id, desired)
            self.desired[camera_id] = desired

    async def publishing_start(
        self, params: p.PublishStart, _conn: Connection
    ) -> p.PublicationStatus:
        camera = self._camera(params.camera_id)
        async with self._locks[camera.id]:
            camera = self._camera(params.camera_id)
            target = self.active_target()
            if target is None:
                raise NotFound(
                    "no target is active: add one with `ucvctl target add NAME --url rtsp://...`"
                )
            status = self.pubs.status(camera.id)
            if status.running and not params.force_restart:
                raise AlreadyPublishing(
                    f"camera {camera.id!r} is already {status}; use --force-restart to restart it"
                )
            await self._set_desired(camera.id, "publishing")
            await self.pubs.start(camera, target, force=params.force_restart)
        log.info("publish requested", camera_id=camera.id, target=target.name)
        return self.status_of(camera.id)

    async def publishing_stop(self, params: p.PublishRef, _conn: Connection) -> p.PublicationStatus:
        camera = self._camera(params.camera_id)
        async with self._locks[camera.id]:
            stopped = self.pubs.status(camera.id) is Status.STOPPED
            if stopped and self.desired.get(camera.id) != "publishing":
                raise NotPublishing(f"camera {camera.id!r} is not publishing")
            await self._set_desired(camera.id, "stopped")
            await self.pubs.stop(camera.id)
        log.info("stop requested", camera_id=camera.id)
        return self.status_of(camera.id)

    async def publishing_restart(
        self, params: p.PublishRef, _conn: Connection
    ) -> p.PublicationStatus:
        camera = self._camera(params.camera_id)
        async with self._locks[camera.id]:
            target = self.active_target()
            if self.pubs.status(camera.id) is Status.STOPPED or target is None:
                raise NotPublishing(
                    f"camera {camera.id!r} is not publishing; start it with ucvctl publish"
                )
            await self.pubs.start(camera, target, force=True)
        log.info("restart requested", camera_id=camera.id)
        return self.status_of(camera.id)

    async def publishing_status(
        self, params: p.StatusQuery, _conn: Connection
    ) -> p.PublicationStatus | p.StatusList:
        if params.camera_id is not None:
            return self.status_of(self._camera(params.camera_id).id)
        return status_list(self.statuses())

    async def publishing_history(self, params: p.HistoryQuery, _conn: Connection) -> p.History:
        camera_id = params.camera_id.lower()
        records = await self._write(Store.history, camera_id, params.limit)
        if not records and camera_id not in self.cameras:
            self._camera(params.camera_id)  # raises not_found (or invalid_argument)
        live = self._running_session(camera_id)
        if (
            records
            and live is not None
            and records[0].ended_at is None
            and records[0].started_at == live.started_at
        ):
            # The stored counters of a running session are a minute old at most; these are now.
            records[0] = msgspec.structs.replace(
                records[0], restarts=live.restarts, frames=live.frames, bytes=live.bytes
            )
        return p.History(camera_id=camera_id, items=[session_view(r) for r in records])

    async def publishing_logs(self, params: p.LogsQuery, _conn: Connection) -> p.Logs:
        camera = self._camera(params.camera_id)
        lines = self.pubs.lines(camera.id)
        fresh = [ln for ln in lines if ln.seq > params.after][-params.lines :]
        # The true last number, even below `after`: numbers start again at 1 when the daemon
        # does, and a follower must see that to start over.
        return p.Logs(
            camera_id=camera.id,
            lines=[p.LogEntry(seq=ln.seq, at=iso(ln.at) or "", text=ln.text) for ln in fresh],
            last_seq=lines[-1].seq if lines else 0,
        )

    async def publishing_samples(self, params: p.SamplesQuery, _conn: Connection) -> p.Samples:
        """The stored samples (one a minute) up to where the recent ones (every few seconds,
        kept in memory for minutes) begin."""
        camera_id = None
        if params.camera_id is not None:
            camera_id = self._camera(params.camera_id).id
        now = self._clock()
        since = now - params.seconds
        recent = self.recent.since(since, camera_id)
        oldest = self.recent.oldest()
        found: dict[str, list[p.SamplePoint]] = {}
        if oldest is None or oldest > since:
            stored = await self._write(Store.samples, since, oldest or now, camera_id)
            for sample in stored:
                found.setdefault(sample.camera_id, []).append(
                    p.SamplePoint(at=sample.at, fps=sample.fps, bitrate_kbps=sample.bitrate_kbps)
                )
        for cid, points in recent.items():
            found.setdefault(cid, []).extend(
                p.SamplePoint(at=at, fps=fps, bitrate_kbps=kbps) for at, fps, kbps in points
            )
        known = {cid: pts for cid, pts in found.items() if cid in self.cameras}
        return p.Samples(seconds=params.seconds, cameras=known)

    async def camera_still(self, params: p.StillQuery, _conn: Connection) -> p.Still:
        camera = self._camera(params.camera_id)
        target = self.active_target()
        publishing = self.pubs.status(camera.id) is Status.PUBLISHING
        try:
            picture = await self.stills.picture(camera, target if publishing else None)
        except TooManyAsked as exc:
            raise InUse(f"too many pictures asked at once ({exc}); try again shortly") from None
        except NoPicture as exc:
            raise Refused(
                ErrorKind.STREAM_UNAVAILABLE, f"no picture of {camera.id}: {exc}"
            ) from None
        return p.Still(
            camera_id=camera.id,
            source="central" if picture.source == "central" else "camera",
            at=iso(picture.at) or "",
            jpeg=picture.jpeg,
        )

    async def events_subscribe(self, params: p.Subscribe, conn: Connection) -> p.Subscribed:
        ids: list[str] | None = None
        if params.camera_ids is not None:
            ids = sorted({valid.camera_id(c) for c in params.camera_ids})
        self.bus.subscribe(conn, ids)
        conn.subscribed = True  # the server neither times it out nor evicts it now
        return p.Subscribed(camera_ids=ids)

    # --- discovery --------------------------------------------------------------------------
    async def discovery_scan(self, params: p.DiscoveryScan, conn: Connection) -> p.DiscoveryResult:
        """One scan at a time: two sweeps of one LAN only double the load for the same news."""
        if self._scanning:
            raise InUse("a discovery scan is already running")
        try:
            plan = plan_for(params)
        except (InvalidScope, InterfaceError) as exc:
            raise Invalid(str(exc)) from None
        prefix = None
        if params.add_prefix is not None:
            prefix = valid.id_prefix(params.add_prefix)
        secrets = [params.password] if params.password else []
        self._scanning = True
        try:
            log.info(
                "discovery scan",
                interface=plan.interface[0] if plan.interface else None,
                subnet=str(plan.subnet) if plan.subnet else None,
                ports=list(plan.ports),
                timeout=plan.timeout,
                credentials=plan.credentials is not None,
            )
            report = await discovery.run(plan)
        finally:
            self._scanning = False
        cameras = {c.id: c.url for c in self.cameras.values()}
        result = discovery_results.build(plan, report, cameras, secrets)
        if prefix is not None:
            await self._add_discovered(prefix, params, report, result, conn)
        return result

    async def _add_discovered(
        self,
        prefix: str,
        params: p.DiscoveryScan,
        report: discovery.Report,
        result: p.DiscoveryResult,
        conn: Connection,
    ) -> None:
        """Register what `adoption` picks; one camera refused is a note, not a failed scan."""
        steps = adoption.adoptions(
            prefix,
            result.devices,
            report.findings,
            set(self.cameras),
            username=params.username,
            password=params.password,
        )
        for step in steps:
            if isinstance(step, adoption.Skip):
                result.notes.append(step.note)
                continue
            device = step.device
            try:
                added = await self.camera_add(step.camera, conn)
            except Refused as exc:
                result.notes.append(adoption.not_added(device.address, exc.message))
                continue
            camera_id = step.camera.id
            device.registered.append(camera_id)
            if device.streams:
                device.streams[0].registered_as = camera_id
            result.added.append(p.AddedCamera(id=camera_id, address=device.address, url=added.url))
            for sub_id in added.sub_ids:
                sub = self.cameras[sub_id]
                device.registered.append(sub_id)
                if step.sub_stream is not None:
                    device.streams[step.sub_stream].registered_as = sub_id
                result.added.append(
                    p.AddedCamera(
                        id=sub_id, address=device.address, url=redact(sub.url), main_id=camera_id
                    )
                )

    # --- configuration as code --------------------------------------------------------------
    async def config_apply(self, params: p.ConfigApply, _conn: Connection) -> p.Plan:
        """A site's whole desired state, planned against the live one under every lock, and
        applied in one store transaction before memory and the publications change."""
        desired = _site_desired(params.desired)
        async with self._targets_lock:
            while True:
                ids = sorted(set(self.cameras) | set(_valid_ids(desired.cameras)))
                async with contextlib.AsyncExitStack() as locks:
                    for camera_id in ids:  # one order for all: no two applies wait on each other
                        await locks.enter_async_context(self._locks[camera_id])
                    # A camera added while we waited has a lock we do not hold: take it too.
                    if set(self.cameras) <= set(ids):
                        return await self._apply_locked(params, desired)

    async def _apply_locked(self, params: p.ConfigApply, desired: siteplan.Desired) -> p.Plan:
        """config.apply once the targets' lock and every camera's lock are held."""
        current = siteplan.Current(
            cameras=dict(self.cameras),
            targets=dict(self.targets),
            active=self.active,
            desired=dict(self.desired),
        )
        plan = siteplan.plan(current, desired, prune=params.prune)
        for target in (*plan.write.add_targets, *plan.write.update_targets):
            _trust_usable(target)
        mark = siteplan.fingerprint(current, plan.changes, self._plan_key)
        if params.expect is not None and params.expect != mark:
            raise StateChanged(
                "the daemon's state changed since the plan was made (or it restarted); "
                "nothing was applied: run the command again to see the new plan"
            )
        changes = [
            p.PlanChange(kind=c.kind, what=c.what, name=c.name, fields=list(c.fields))
            for c in plan.changes
        ]
        if params.dry_run or not changes:
            return p.Plan(changes=changes, fingerprint=mark, applied=False, restarted=[])
        try:
            await self._write(Store.apply_site, plan.write)
        except Conflict as exc:  # memory and store disagree: nothing was written
            raise NotSaved(f"the change was not saved: {exc}") from None
        restarted = await self._enact(plan)
        log.info("site configuration applied", changes=len(changes), restarted=len(restarted))
        return p.Plan(changes=changes, fingerprint=mark, applied=True, restarted=restarted)

    async def _enact(self, plan: siteplan.Plan) -> list[str]:
        """Memory, then the publications: the caller holds every lock. Only what changed
        restarts: a camera whose configuration changed, or every running one when the active
        target (or its settings) changed, as camera.update and target.update do."""
        w = plan.write
        for changed in (*w.add_targets, *w.update_targets):
            self.targets[changed.name] = changed
        for camera, desired in w.add_cameras:
            self.cameras[camera.id] = camera
            self.desired[camera.id] = desired
        for camera in w.update_cameras:
            self.cameras[camera.id] = camera
        self.desired.update(w.desired)
        self.active = plan.active
        for camera_id in w.remove_cameras:
            self.cameras.pop(camera_id, None)
            self.desired.pop(camera_id, None)
        target = self.active_target()
        starts = {cid for cid, d in w.desired if d == siteplan.PUBLISHING}
        starts |= {c.id for c, d in w.add_cameras if d == siteplan.PUBLISHING}
        stops = {cid for cid, d in w.desired if d == siteplan.STOPPED}
        restarted: list[str] = []

        async def settle(camera_id: str) -> None:
            camera = self.cameras.get(camera_id)
            if camera is None:
                await self.pubs.discard(camera_id, "removed")
                self.tally.forget(camera_id)
            elif camera_id in stops:
                await self.pubs.stop(camera_id)
            elif camera_id in starts and target is not None:
                await self.pubs.start(camera, target)
            elif target is not None and self.pubs.status(camera_id) is not Status.STOPPED:
                moved = plan.active_changed and not self.pubs.publishes_to(camera_id, target)
                if moved or camera_id in plan.reconfigured:
                    await self.pubs.start(camera, target)  # a new supervisor: a restart
                    restarted.append(camera_id)

        async with anyio.create_task_group() as tg:
            for camera_id in sorted({*w.remove_cameras, *self.pubs.started(), *starts, *stops}):
                tg.start_soon(settle, camera_id)
        for name in w.remove_targets:
            self.targets.pop(name, None)
        return sorted(restarted)


def _sub_stream(main: Camera, params: p.CameraAdd) -> Camera | None:
    """The sub stream `camera.add` registers beside `main`: its credentials are the main's
    unless its URL carries its own; options the same; a name that says which it is."""
    if params.sub_url is None:
        if params.sub_id is not None:
            raise Invalid("sub_id names a sub stream: give its URL too (sub_url)")
        return None
    if main.main_id is not None:
        raise Invalid(f"camera {main.id!r} is to be a sub stream: it cannot have one itself")
    sub_id = valid.sub_id(main.id, params.sub_id)
    if sub_id == main.id:
        raise Invalid(f"the sub stream needs an id of its own, not {main.id!r}")
    url, username, password = valid.credentials(params.sub_url, None, None, "sub stream URL")
    if username is None:
        username, password = main.username, main.password
    return Camera(
        id=sub_id,
        url=url,
        username=username,
        password=password,
        name=f"{main.name[: MAX_NAME - len(SUB_NAME)]}{SUB_NAME}" if main.name else "",
        options=main.options,
        main_id=main.id,
    )


def _valid_ids(names: Iterable[str]) -> list[str]:
    """The camera ids among `names` (the others only make the plan refused)."""
    ids = []
    for name in names:
        with contextlib.suppress(Invalid):
            ids.append(valid.camera_id(name))
    return ids


def _implied_transport_changes(changes: dict[str, object]) -> dict[str, object]:
    """What an update means without saying it: a new fingerprint replaces the CA file and
    the other way round, and a URL of another scheme drops the settings of the old one
    (else each would be refused as "not both" or "applies only to")."""
    implied: dict[str, object] = {}
    if changes.get("tls_fingerprint") and "tls_ca_file" not in changes:
        implied["tls_ca_file"] = None
    if changes.get("tls_ca_file") and "tls_fingerprint" not in changes:
        implied["tls_fingerprint"] = None
    url = changes.get("rtsp_url")
    if isinstance(url, str):
        # Not urls.scheme_of: the URL is not validated yet, and urlsplit raises on some
        # (an unbalanced '['); valid.target refuses those by name afterwards.
        scheme = url.split(":", 1)[0].lower()
        if scheme != "rtsps":
            implied |= {k: None for k in ("tls_ca_file", "tls_fingerprint") if k not in changes}
        if scheme != "srt" and "srt_passphrase" not in changes:
            implied["srt_passphrase"] = None
    return implied


def _trust_usable(target: Target) -> None:
    """An rtsps:// target's CA file must be one this daemon can read and parse: said now,
    not at the first publication."""
    if tlslink.needs_link(target):
        try:
            tlslink.context_for(target)
        except tlslink.LinkRefused as exc:
            raise Invalid(exc.fault.message) from None


def _site_desired(site: p.SiteConfig) -> siteplan.Desired:
    """The request as the planner takes it; siteplan.plan validates every item."""
    return siteplan.Desired(
        targets={
            name: Target(name=name, **msgspec.structs.asdict(t)) for name, t in site.targets.items()
        },
        cameras={
            cid: siteplan.DesiredCamera(camera=c.camera(cid), publish=c.publish)
            for cid, c in site.cameras.items()
        },
        active=site.active_target,
    )
