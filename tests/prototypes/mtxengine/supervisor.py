"""One camera's supervisor in the MediaMTX-driven engine: the same state machine, backoff,
uplink rule, error kinds and notifications as the FFmpeg engine's (relay/supervisor.py),
with a site MediaMTX path in place of an FFmpeg process.

An attempt is one configuration of the camera's path at the site (camera as `source`,
target as `forward` dest), from `put_path` to `remove_path`. Removing the path on every
failure is what keeps ucvd's backoff in charge: MediaMTX would otherwise retry a dead
source or destination itself every 5 s (its fixed `retryPause`), whatever ucvd decided.

What it judges by: the target's API (the path online with a publisher that was not there
before, its inbound bytes moving), and the site's log lines about the path (the first
error of the source or of the forward after the attempt began). It has no FFmpeg progress:
frames, fps and speed are unknown, and a stall is "the target's byte counter stopped".
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

import anyio
import anyio.abc
import structlog

from tests.prototypes.mtxengine.plan import Unsupported, dest_fault, path_config, source_fault
from tests.prototypes.mtxengine.site import SiteDown, SiteMediaMTX
from ucvd.domain.errors import TARGET_SUSPECT_KINDS, ErrorKind, Fault
from ucvd.domain.model import Camera, Target, secrets_of
from ucvd.domain.urls import publish_path, redact
from ucvd.relay.backoff import BackoffPolicy
from ucvd.relay.ffmpeg.classify import Endpoint
from ucvd.relay.ffmpeg.process import LogLine
from ucvd.relay.mediamtx import MediaMTXClient, MediaMTXError, PathInfo
from ucvd.relay.pathwatch import PathWatch
from ucvd.relay.publication import (
    Action,
    AwaitTarget,
    CancelRetry,
    Confirmed,
    Event,
    Failed,
    Publication,
    RetryDue,
    Schedule,
    Spawn,
    Start,
    Status,
    Stop,
    Stopped,
    Terminate,
)
from ucvd.relay.status import (
    MetricsSampled,
    Notification,
    PublicationMetrics,
    PublicationState,
    StatusChanged,
    SupervisorSettings,
)
from ucvd.relay.supervisor import SupervisorClosed
from ucvd.relay.ticker import Ticker
from ucvd.relay.uplink import Uplink

log = structlog.get_logger(__name__)


@dataclass
class _Command:
    event: Start | Stop
    done: anyio.Event = field(default_factory=anyio.Event)
    changed: bool = False
    rejected: bool = False


@dataclass
class _Attempt:
    number: int
    scope: anyio.CancelScope
    done: anyio.Event = field(default_factory=anyio.Event)


def _policy(camera: Camera, target: Target, settings: SupervisorSettings) -> BackoffPolicy:
    limit = camera.options.max_reconnects
    return BackoffPolicy(
        initial_s=target.reconnect_delay,
        cap_s=max(settings.backoff_cap_s, target.reconnect_delay),
        healthy_after_s=settings.healthy_after_s,
        max_reconnects=target.max_reconnects if limit is None else limit,
    )


class MtxSupervisor:
    def __init__(
        self,
        camera: Camera,
        target: Target,
        *,
        site: SiteMediaMTX,
        mediamtx: MediaMTXClient | None,
        paths: PathWatch | None,
        uplink: Uplink,
        notify: Callable[[Notification], None] = lambda _n: None,
        settings: SupervisorSettings | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.camera = camera
        self.target = target
        self.ffmpeg = ""  # the registry sets it on every supervisor; this engine runs none
        self.site = site
        self.settings = settings or SupervisorSettings()
        self.mediamtx = mediamtx if target.uses_api else None
        self.paths = None if self.mediamtx is None else (paths or PathWatch(self.mediamtx))
        self.path = publish_path(target.path_template, camera.id)
        self.uplink = uplink
        self._notify = notify
        self._rng = rng
        self._secrets = secrets_of(camera, target)
        self._target_ep = Endpoint.of(target.rtsp_url)
        self.machine = Publication(_policy(camera, target, self.settings))
        self.metrics = PublicationMetrics()
        self._send, self._receive = anyio.create_memory_object_stream[
            tuple[int | None, Event | _Command]
        ](math.inf)
        self._tg: anyio.abc.TaskGroup | None = None
        self._attempt: _Attempt | None = None
        self._attempts = 0
        self._retry_scope: anyio.CancelScope | None = None
        self._closed = False
        self._last_error_at: float | None = None

    # --- what the registry asks -------------------------------------------------------------
    @property
    def lines(self) -> deque[LogLine]:
        return self.site.lines_of(self.path)

    @property
    def status(self) -> Status:
        return self.machine.status

    @property
    def restarts(self) -> int:
        return self.machine.restarts

    async def start(self, force: bool = False) -> bool:
        return await self._command(Start(force=force))

    async def stop(self) -> bool:
        return await self._command(Stop())

    def apply_settings(self, settings: SupervisorSettings) -> None:
        self.settings = settings
        self.machine.policy = _policy(self.camera, self.target, settings)

    def state(self) -> PublicationState:
        m = self.machine
        return PublicationState(
            camera_id=self.camera.id,
            status=m.status,
            path=self.path,
            # The one shared process: there is no per-camera pid to give.
            pid=self.site.pid if m.status.has_process else None,
            restarts=m.restarts,
            error_count=m.error_count,
            failures=m.failures,
            last_error=m.last_error,
            last_error_at=self._last_error_at,
            retry_in_s=m.retry_in,
            waiting_for_target=m.awaiting_target and m.status is Status.RECONNECTING,
            metrics=self.metrics,
        )

    async def _command(self, event: Start | Stop) -> bool:
        if self._closed:
            raise SupervisorClosed(f"the supervisor of {self.camera.id} is not running")
        command = _Command(event)
        self._send.send_nowait((None, command))
        await command.done.wait()
        if command.rejected:
            raise SupervisorClosed(f"the supervisor of {self.camera.id} stopped")
        return command.changed

    # --- the loop (as the FFmpeg engine's) --------------------------------------------------
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                async for attempt_no, item in self._receive:
                    if isinstance(item, _Command):
                        before = self.machine.status
                        acted = await self._handle(item.event)
                        item.changed = acted or self.machine.status is not before
                        item.done.set()
                    elif attempt_no is None or (
                        self._attempt is not None and attempt_no == self._attempt.number
                    ):
                        await self._handle(item)
        finally:
            self._closed = True
            while True:
                try:
                    _n, item = self._receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                if isinstance(item, _Command):
                    item.rejected = True
                    item.done.set()
            with anyio.CancelScope(shield=True):
                await self._terminate_attempt()

    async def _handle(self, event: Event) -> bool:
        before = self.machine.status
        actions = self.machine.handle(event)
        if self.machine.status is not before:
            new = self.machine.status
            error = self.machine.last_error if new in (Status.RECONNECTING, Status.FAILED) else None
            now = time.time()
            if error is not None:
                self._last_error_at = now
            self._safe_notify(
                StatusChanged(camera_id=self.camera.id, old=before, new=new, error=error, at=now)
            )
        for action in actions:
            await self._perform(action)
        return bool(actions)

    def _safe_notify(self, note: Notification) -> None:
        try:
            self._notify(note)
        except Exception:
            log.exception("notification callback failed", camera_id=self.camera.id)

    async def _perform(self, action: Action) -> None:
        assert self._tg is not None
        match action:
            case Spawn():
                await self._terminate_attempt()
                self._attempts += 1
                attempt = _Attempt(self._attempts, anyio.CancelScope())
                self._attempt = attempt
                self.metrics = PublicationMetrics()
                self._tg.start_soon(self._run_attempt, attempt)
            case Terminate():
                await self._terminate_attempt()
                await self._handle(Stopped())
            case Schedule(delay_s=delay):
                self._start_retry(lambda: anyio.sleep(delay))
            case AwaitTarget():
                self._start_retry(self.uplink.wait_up)
            case CancelRetry():
                self._cancel_retry()

    async def _terminate_attempt(self) -> None:
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.scope.cancel()
            await attempt.done.wait()

    def _cancel_retry(self) -> None:
        if self._retry_scope is not None:
            self._retry_scope.cancel()
            self._retry_scope = None

    def _start_retry(self, wait: Callable[[], Awaitable[None]]) -> None:
        assert self._tg is not None
        self._cancel_retry()
        scope = self._retry_scope = anyio.CancelScope()
        self._tg.start_soon(self._retry_after, scope, wait)

    async def _retry_after(
        self, scope: anyio.CancelScope, wait: Callable[[], Awaitable[None]]
    ) -> None:
        with scope:
            await wait()
            await self._send.send((None, RetryDue()))

    def _post(self, attempt: _Attempt, event: Event) -> None:
        self._send.send_nowait((attempt.number, event))

    def _fail(
        self, attempt: _Attempt, fault: Fault, *, running: bool, target_down: bool = False
    ) -> None:
        failed = Failed(
            fault=fault,
            now=time.monotonic(),
            draw=self._rng(),
            process_running=running,
            target_down=target_down,
        )
        self._post(attempt, failed)

    async def _fail_checked(self, attempt: _Attempt, fault: Fault, *, running: bool) -> None:
        """The uplink rule, as in the FFmpeg engine."""
        if fault.kind in TARGET_SUSPECT_KINDS and not await self.uplink.check():
            if fault.kind is not ErrorKind.MEDIAMTX_UNREACHABLE:
                why = self.uplink.reason or "no answer"
                fault = Fault(
                    ErrorKind.MEDIAMTX_UNREACHABLE,
                    f"MediaMTX {self._target_ep} does not answer ({why}): the link to it, or "
                    f"the server, is down; retrying as soon as it answers (seen here as: "
                    f"{fault.message})",
                )
            self._fail(attempt, fault, running=running, target_down=True)
        else:
            self._fail(attempt, fault, running=running)

    # --- one attempt ------------------------------------------------------------------------
    async def _run_attempt(self, attempt: _Attempt) -> None:
        try:
            with attempt.scope:
                await self._attempt_body(attempt)
        except Exception as exc:  # one camera's bug must not stop the others
            log.exception("attempt failed unexpectedly", camera_id=self.camera.id)
            message = redact(f"unexpected {type(exc).__name__}: {exc}", self._secrets)[:300]
            self._fail(attempt, Fault(ErrorKind.INTERNAL_ERROR, message), running=False)
        finally:
            attempt.done.set()

    async def _attempt_body(self, attempt: _Attempt) -> None:
        if self.mediamtx is None or self.paths is None:
            fault = Fault(
                ErrorKind.CONFIG_ERROR,
                "the MediaMTX engine needs the target's API: it has no other word that the "
                "stream arrived",
            )
            self._fail(attempt, fault, running=False)
            return
        try:
            body = path_config(self.camera, self.target)
        except Unsupported as exc:
            self._fail(attempt, Fault(ErrorKind.CONFIG_ERROR, str(exc)), running=False)
            return
        try:
            await self.mediamtx.ensure_path(self.path)
            before = await self.mediamtx.get_path(self.path)
        except MediaMTXError as exc:
            unreachable = exc.unreachable
            kind = ErrorKind.MEDIAMTX_UNREACHABLE if unreachable else ErrorKind.MEDIAMTX_REJECTED
            fault = Fault(kind, redact(f"cannot prepare path {self.path}: {exc}", self._secrets))
            await self._fail_checked(attempt, fault, running=False)
            return
        foreign = before.source_id if before is not None and before.online else None
        mark = self.site.mark(self.path)
        try:
            generation = await self.site.put_path(self.path, body, self._secrets)
        except (SiteDown, MediaMTXError) as exc:
            fault = Fault(
                ErrorKind.PROCESS_CRASHED,
                redact(f"the site MediaMTX cannot take the path: {exc}", self._secrets),
            )
            self._fail(attempt, fault, running=False)
            return
        try:
            await self._watch(attempt, foreign, mark, generation)
        finally:
            # Whatever ended the attempt: MediaMTX must not keep pulling and forwarding.
            # A dead site has no path left to remove.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5), suppress(MediaMTXError):
                await self.site.remove_path(self.path)

    async def _watch(
        self, attempt: _Attempt, foreign: str | None, mark: int, generation: int
    ) -> None:
        assert self.paths is not None
        spawned = time.monotonic()
        confirmed_at: float | None = None
        moved_at = spawned
        last_bytes: tuple[float, int] | None = None
        while True:
            poll = self.settings.poll_s
            period = poll if confirmed_at is None else max(poll, 1.0)
            await anyio.sleep(period)
            now = time.monotonic()
            fault: Fault | None = None
            if self.site.generation != generation or self.site.client is None:
                code = self.site.exit_code
                fault = Fault(ErrorKind.PROCESS_CRASHED, f"the site MediaMTX exited (code {code})")
            elif (line := self.site.error_since(self.path, mark)) is not None:
                fault = (
                    source_fault(line.message, self._secrets)
                    if line.side == "source"
                    else dest_fault(line.message, self._secrets)
                )
            snap = await self.paths.snapshot(max_age=period / 2)
            path: PathInfo | None = snap.path(self.path) if snap.ok else None
            if fault is None and confirmed_at is None:
                if path is not None and path.online and path.source_id != foreign:
                    confirmed_at = moved_at = now
                    self._post(attempt, Confirmed(now))
                elif now - spawned > self.settings.start_timeout_s:
                    fault = Fault(
                        ErrorKind.STREAM_STALLED,
                        f"no stream reached MediaMTX within {self.settings.start_timeout_s:g} s",
                    )
            elif fault is None and snap.ok:
                if path is None or not path.online:
                    fault = Fault(ErrorKind.MEDIAMTX_CLOSED, "the path at MediaMTX went offline")
                elif last_bytes is not None and path.inbound_bytes != last_bytes[1]:
                    moved_at = now
                elif now - moved_at > self.settings.stall_timeout_s:
                    fault = Fault(
                        ErrorKind.STREAM_STALLED,
                        f"no new bytes at MediaMTX for {self.settings.stall_timeout_s:g} s",
                    )
            if fault is not None:
                await self._fail_checked(attempt, fault, running=True)
                await anyio.sleep_forever()
            if path is not None and snap.ok:
                last_bytes = self._sample(path, now, confirmed_at, last_bytes)

    def _sample(
        self,
        path: PathInfo,
        now: float,
        confirmed_at: float | None,
        last_bytes: tuple[float, int] | None,
    ) -> tuple[float, int]:
        m = self.metrics
        m.uptime_s = None if confirmed_at is None else now - confirmed_at
        m.tracks, m.readers, m.bytes_in = path.tracks, path.readers, path.inbound_bytes
        if last_bytes is not None and now > last_bytes[0] and m.bytes_in >= last_bytes[1]:
            m.bitrate_kbps = (m.bytes_in - last_bytes[1]) * 8 / 1000 / (now - last_bytes[0])
        self._safe_notify(MetricsSampled(camera_id=self.camera.id, metrics=m, at=time.time()))
        return (now, m.bytes_in)


class MtxEngine:
    """The registry's supervisor factory (`Publications(engine=MtxEngine(site))`)."""

    def __init__(self, site: SiteMediaMTX) -> None:
        self.site = site

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
    ) -> MtxSupervisor:
        # No FFmpeg; the site process carries the daemon's tag; the prototype keeps its own
        # per-camera timers (its cost is measured with them).
        del ffmpeg, tag, ticker
        return MtxSupervisor(
            camera,
            target,
            site=self.site,
            mediamtx=mediamtx,
            paths=paths,
            uplink=uplink,
            notify=notify,
            settings=settings,
        )
