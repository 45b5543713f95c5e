"""The daemon: one anyio task group owning the socket, the supervisors, the bus, the ticks.

Start-up order matters: the state directory's lock is taken (ucvd.host.statelock: a second
daemon on the same state refuses there) and the database opened (a damaged one refused)
before anything else; FFmpegs left by a crashed predecessor are killed before any new one
is spawned (never two per camera); sessions it left open are closed as `interrupted`; then
the socket listens and the saved publications start again.

Shutdown (SIGTERM/SIGINT): the socket stops accepting first, then every FFmpeg gets the
clean stop ladder at once (bounded by the ladder's graces), history is flushed, exit 0.
SIGHUP and `daemon.reload` re-read the config file and apply what can be applied live;
only publications whose FFmpeg command line changes are restarted.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.api import protocol as p
from ucvd.config import Config, ConfigError, load
from ucvd.control.events import EventBus
from ucvd.control.feed import EventFeed
from ucvd.control.handlers import method
from ucvd.control.server import AccessPolicy, Connection, ControlServer, give_to_group
from ucvd.control.tokens import TokenBook
from ucvd.control.views import camera_problem, counts, iso
from ucvd.discovery.probe import ffprobe_next_to
from ucvd.domain.refusals import ConfigRefused
from ucvd.host import exposure
from ucvd.host.notify import Notifier, status_line
from ucvd.relay.ffmpeg.version import FFmpegInfo, FFmpegUnavailable, detect
from ucvd.relay.publication import Status
from ucvd.relay.registry import Publications
from ucvd.relay.status import Notification
from ucvd.relay.still import Stills
from ucvd.service import Service
from ucvd.state.recorder import Recorder
from ucvd.state.store import DB_NAME, AsyncStore, Store
from ucvd.version import __version__

log = structlog.get_logger(__name__)

# A scrape every 15 s with several Prometheus servers must not knock at the centre more.
REACHABLE_MAX_AGE_S = 10.0


@dataclass(frozen=True)
class Paths:
    config: Path | None  # None: the default location (missing means defaults)
    socket: Path
    state_dir: Path

    @property
    def database(self) -> Path:
        return self.state_dir / DB_NAME


class Daemon:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        store: Store,
        *,
        inherited: socket.socket | None = None,
    ) -> None:
        self.config = config
        self.inherited = inherited  # the listening socket from ucvd.socket, if any
        self.notify = Notifier()
        self.paths = paths
        self.store = AsyncStore(store)
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self.bus = EventBus()
        self.ffmpeg: FFmpegInfo | None = None
        self.ffmpeg_problem: str | None = None
        self.pubs = Publications(
            settings=config.supervisor_settings(),
            ffmpeg=config.daemon.ffmpeg,
            tag_prefix=f"ucvd:{paths.state_dir.resolve()}:",
            notify=self._notified,
        )
        self.recorder = Recorder(self.store, self.pubs.states)
        self.feed = EventFeed(self.bus, self.pubs.states)
        self.service: Service | None = None
        self.server: ControlServer | None = None
        self._stopping = anyio.Event()
        self._reload_lock = anyio.Lock()

    # --- running ----------------------------------------------------------------------------
    async def run(self) -> int:
        await self._detect_ffmpeg(self.config.daemon.ffmpeg)
        killed = self.pubs.kill_leftovers()
        if killed:
            log.warning("killed FFmpeg processes left by a previous ucvd", pids=killed)
        interrupted = await self.store.call(Store.close_interrupted, time.time())
        if interrupted:
            log.warning("sessions interrupted by an unclean stop were closed", sessions=interrupted)
        snapshot = await self.store.call(Store.snapshot)
        self.service = Service(
            store=self.store,
            snapshot=snapshot,
            publications=self.pubs,
            bus=self.bus,
            ffprobe=ffprobe_next_to(self.config.daemon.ffmpeg),
            tally=self.recorder.tally,
            stills=Stills(self.config.daemon.ffmpeg),
            recent=self.feed.recent,
            running_session=self.recorder.running_session,
        )
        self.feed.status_of = self.service.status_of
        self.tokens = TokenBook(self.store, await self.store.call(Store.tokens))
        methods = (
            self.service.methods()
            | self.tokens.methods()
            | {
                "daemon.info": method(p.NoParams, self.info),
                "daemon.health": method(p.NoParams, self.health),
                "daemon.reload": method(p.NoParams, self.reload_rpc),
                "daemon.metrics": method(p.NoParams, self.metrics),
            }
        )
        assert set(methods) == set(p.PARAMS), "every protocol method has a handler"
        self.tokens.serve(methods)
        d = self.config.daemon
        self.server = ControlServer(
            self.paths.socket,
            methods,
            AccessPolicy.for_group(d.operator_group, d.read_only_users),
            max_connections=d.max_connections,
            max_message_bytes=d.max_message_bytes,
            idle_timeout_s=d.idle_timeout_s,
            inherited=self.inherited,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(self.recorder.run)
            await tg.start(self.pubs.run)
            await tg.start(self.feed.run)
            server_scope = anyio.CancelScope()
            await tg.start(self._serve, server_scope)
            tg.start_soon(self._signals)
            wanted = sum(1 for d in snapshot.desired.values() if d == "publishing")
            self.notify.status(f"starting: resuming {wanted} saved publications")
            resumed = await self.service.resume()
            log.info(
                "ucvd ready",
                version=__version__,
                socket=str(self.paths.socket),
                cameras=len(snapshot.cameras),
                resumed=len(resumed),
            )
            self.notify.ready(self._status_line())
            heartbeat = anyio.CancelScope()
            tg.start_soon(self._heartbeat, heartbeat)
            await self._stopping.wait()
            heartbeat.cancel()  # STOPPING=1 is the last word systemd hears
            running = len(self.pubs.started())
            log.info("stopping", publications=running)
            self.notify.stopping(f"stopping {running} publications")
            server_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self.pubs.shutdown()
                await self.recorder.close()
            tg.cancel_scope.cancel()
        await self.store.call(Store.close)
        log.info("stopped")
        return 0

    def _notified(self, note: Notification) -> None:
        self.recorder.notified(note)
        self.feed.notified(note)

    def _status_line(self) -> str:
        return status_line(self._counts(), target=self.service.active if self.service else None)

    async def _heartbeat(self, scope: anyio.CancelScope) -> None:
        """Runs on the event loop: the watchdog ping proves the loop is alive, and STATUS=
        follows the publications (sent only when it changes)."""
        every = min(1.0, self.notify.watchdog_s or 1.0)
        with scope:
            while True:
                self.notify.status(self._status_line())
                self.notify.watchdog()
                await anyio.sleep(every)

    async def _serve(
        self,
        scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self.server is not None
        with scope:
            await self.server.serve(task_status=task_status)

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    try:
                        await self.reload()
                    except ConfigError as exc:
                        log.error("reload refused; the running settings stay", error=str(exc))
                else:
                    log.info("signal received", signal=signal.Signals(signum).name)
                    self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()

    async def _detect_ffmpeg(self, name: str) -> None:
        try:
            self.ffmpeg = await anyio.to_thread.run_sync(detect, name)
            self.ffmpeg_problem = None
        except FFmpegUnavailable as exc:
            self.ffmpeg, self.ffmpeg_problem = None, str(exc)
            log.error("FFmpeg is unavailable; publications will fail", reason=str(exc))

    # --- daemon.* ---------------------------------------------------------------------------
    def _counts(self) -> p.Counts:
        assert self.service is not None
        service = self.service
        return counts(
            (service.pubs.status(cid) for cid in service.cameras),
            desired_publishing=sum(
                1 for cid in service.cameras if service.desired.get(cid) == "publishing"
            ),
            cameras=len(service.cameras),
            targets=len(service.targets),
        )

    async def info(self, _params: p.NoParams, _conn: Connection) -> p.DaemonInfo:
        assert self.service is not None
        return p.DaemonInfo(
            version=__version__,
            pid=os.getpid(),
            uptime_seconds=round(time.monotonic() - self._started_mono, 1),
            started_at=iso(self.started_at) or "",
            ffmpeg_version=self.ffmpeg.version if self.ffmpeg else "unavailable",
            ffmpeg_path=self.ffmpeg.path if self.ffmpeg else self.config.daemon.ffmpeg,
            active_target=self.service.active,
            socket=str(self.paths.socket),
            state_dir=str(self.paths.state_dir),
            config_file=str(self.paths.config) if self.paths.config else None,
            counts=self._counts(),
            warnings=exposure.warnings(),
        )

    async def metrics(self, _params: p.NoParams, _conn: Connection) -> p.MetricsSnapshot:
        """One scrape's worth: every camera's status and lifetime counters, each target's
        health. Only the active target is probed (at most once per REACHABLE_MAX_AGE_S)."""
        assert self.service is not None
        service = self.service
        targets = []
        for name, target in sorted(service.targets.items()):
            active = name == service.active
            targets.append(
                p.TargetHealth(
                    name=name,
                    active=active,
                    reachable=(
                        await self.pubs.reachable(target, REACHABLE_MAX_AGE_S) if active else None
                    ),
                    api_latency_seconds=self.pubs.api_latency(target),
                )
            )
        counted = {cid: service.tally.of(cid) for cid in sorted(service.cameras)}
        return p.MetricsSnapshot(
            version=__version__,
            ffmpeg_version=self.ffmpeg.version if self.ffmpeg else "unavailable",
            started_at=self.started_at,
            counts=self._counts(),
            cameras=service.statuses(),
            counters={
                cid: p.CameraCounters(restarts=t.restarts, errors=t.errors)
                for cid, t in counted.items()
            },
            targets=targets,
        )

    async def health(self, _params: p.NoParams, _conn: Connection) -> p.Health:
        assert self.service is not None
        problems: list[str] = []
        if self.ffmpeg_problem:
            problems.append(self.ffmpeg_problem)
        if self.recorder.failures:
            problems.append(f"{self.recorder.failures} history writes failed (see the log)")
        wanted = [c for c, d in self.service.desired.items() if d == "publishing"]
        if wanted and self.service.active_target() is None:
            problems.append(f"{len(wanted)} cameras wait for an active target")
        statuses = self.service.statuses()
        for uplink, cameras in self.pubs.uplinks_down():
            names = sorted({t.name for c in cameras if (t := self.pubs.target_of(c)) is not None})
            waiting = sum(1 for s in statuses if s.waiting_for_target and s.camera_id in cameras)
            dark = time.monotonic() - (uplink.down_since or time.monotonic())
            problems.append(
                f"MediaMTX {uplink} (target {', '.join(names)}) has not answered for "
                f"{dark:.0f} s ({uplink.reason}): the link to it, or the server, is down; "
                f"{waiting} cameras wait for it and retry as soon as it answers"
            )
        problems += [problem for status in statuses if (problem := camera_problem(status))]
        return p.Health(
            healthy=not problems,
            problems=problems,
            counts=self._counts(),
            warnings=exposure.warnings(),
        )

    async def reload_rpc(self, _params: p.NoParams, _conn: Connection) -> p.ReloadResult:
        try:
            return await self.reload()
        except ConfigError as exc:
            raise ConfigRefused(str(exc)) from None

    async def reload(self) -> p.ReloadResult:
        """Re-read the config file and apply it; raises ConfigError (nothing changes then)."""
        async with self._reload_lock:
            self.notify.reloading()
            try:
                return await self._reload()
            finally:
                self.notify.ready(self._status_line())

    async def _reload(self) -> p.ReloadResult:
        new = await anyio.to_thread.run_sync(load, self.paths.config)
        old = self.config
        changed = _changed_keys(old, new)
        if not changed:
            log.info("reload: nothing changed")
            return p.ReloadResult(changed=[], restarted=[])
        needs_restart = [k for k in changed if k in ("daemon.socket", "daemon.state_dir")]
        if needs_restart:
            log.warning("reload: these settings apply at the next start", keys=needs_restart)
        assert self.server is not None and self.service is not None
        d = new.daemon
        self.server.max_connections = d.max_connections
        self.server.max_message_bytes = d.max_message_bytes
        self.server.idle_timeout_s = d.idle_timeout_s
        if (d.operator_group, d.read_only_users) != (
            old.daemon.operator_group,
            old.daemon.read_only_users,
        ):
            self.server.policy = AccessPolicy.for_group(d.operator_group, d.read_only_users)
            if self.server.policy.operator_gid is not None and self.server.owns_path:
                give_to_group(self.paths.socket, self.server.policy.operator_gid)
        if d.ffmpeg != old.daemon.ffmpeg:
            await self._detect_ffmpeg(d.ffmpeg)
            self.pubs.set_ffmpeg(d.ffmpeg)
            self.service.ffprobe = ffprobe_next_to(d.ffmpeg)
            self.service.stills.ffmpeg = d.ffmpeg
        self.config = new
        self.pubs.apply_settings(new.supervisor_settings())
        restarted: list[str] = []
        left_failed: list[str] = []
        if new.relay != old.relay or d.ffmpeg != old.daemon.ffmpeg:
            restarted, left_failed = await self._restart_running()
        if left_failed:
            log.warning("reload: failed publications stay failed; `ucvctl restart` retries one",
                        cameras=left_failed)  # fmt: skip
        log.info("configuration reloaded", changed=changed, restarted=len(restarted))
        return p.ReloadResult(changed=changed, restarted=restarted, left_failed=left_failed)

    async def _restart_running(self) -> tuple[list[str], list[str]]:
        """Retry what is still trying, with the new settings; leave what gave up alone.

        Publications with an FFmpeg (starting, publishing) are restarted so that it runs the
        new command line, and those waiting out a backoff are retried now with it: the
        change may be the fix they wait for. A failed publication (reconnect limit reached,
        or a fault retrying cannot cure) stays failed: a reload changes settings, not an
        operator's decisions, and bringing back every camera that gave up whenever a
        setting changes would hide that they did. Returns (restarted, left failed)."""
        assert self.service is not None
        service = self.service
        target = service.active_target()
        cameras = [c for c in self.pubs.started() if c in service.cameras]
        failed = sorted(c for c in cameras if self.pubs.status(c) is Status.FAILED)
        if target is None:
            return [], failed
        trying = [c for c in cameras if c not in failed]
        restarted: list[str] = []

        async def restart(camera_id: str) -> None:
            if await service.restart_if_running(camera_id, target):
                restarted.append(camera_id)

        async with anyio.create_task_group() as tg:
            for camera_id in trying:
                tg.start_soon(restart, camera_id)
        return sorted(restarted), failed


def _changed_keys(old: Config, new: Config) -> list[str]:
    changed = []
    for section in ("daemon", "relay", "supervision"):
        a = msgspec.structs.asdict(getattr(old, section))
        b = msgspec.structs.asdict(getattr(new, section))
        changed += [f"{section}.{k}" for k in a if a[k] != b[k]]
    return changed
