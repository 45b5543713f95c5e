"""One supervisor task per publication: it runs the state machine against the real world.

Everything that happens to a publication (an operator's command, a confirmation from
MediaMTX, a stall, an exit, a retry timer) becomes an event on one queue, handled one at a
time by `run()`. That queue is the per-camera lock (docs/architecture.md §3): twenty
concurrent `start` calls are twenty events, the first spawns, the others find the
publication already starting. Actions the machine returns are carried out in that same
loop; a `Terminate` is awaited there (stop ladder and reap) before anything else happens,
so there are never two FFmpeg processes for one camera.

An *attempt* is one FFmpeg process from spawn to exit: it ensures the MediaMTX path,
spawns, confirms readiness (MediaMTX says the path is online; with the API off, the first
progress block), watches for stalls, and samples metrics every second.
"""

from __future__ import annotations

import functools
import math
import random
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.domain.audio import AudioPlan, plan_audio
from ucvd.domain.errors import TARGET_SUSPECT_KINDS, ErrorKind, Fault
from ucvd.domain.model import Camera, Target, secrets_of
from ucvd.domain.urls import publish_path, redact, scheme_of
from ucvd.relay.backoff import BackoffPolicy
from ucvd.relay.ffmpeg.argv import relay_argv
from ucvd.relay.ffmpeg.classify import Endpoint, classify
from ucvd.relay.ffmpeg.inputs import NotYet, input_audio
from ucvd.relay.ffmpeg.process import STDERR_LINES, FFmpegProcess, LogLine, SpawnError
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.mediamtx import MediaMTXClient, MediaMTXError, PathInfo
from ucvd.relay.pathwatch import PathWatch, Snapshot
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
from ucvd.relay.ticker import SLACK_S, TICK_S, Ticker
from ucvd.relay.tlslink import LinkRefused, TlsLink, needs_link, open_link
from ucvd.relay.uplink import Connect, Uplink, no_probe, tcp_answers
from ucvd.relay.watchdog import ApiWord, Confirm, Fail, ProgressWatch, Wait, check_every, judge

log = structlog.get_logger(__name__)

# A live attempt reads MediaMTX's path snapshot only while it is younger than this many
# periods (of metrics or ticks, the longer): beyond, the API is taken as not answering.
STALE_PERIODS = 3


class RelayProcess(Protocol):
    """What a supervisor needs of a running FFmpeg (`FFmpegProcess`)."""

    @property
    def pid(self) -> int: ...

    @property
    def running(self) -> bool: ...

    @property
    def stop_requested(self) -> bool: ...  # its exit was asked for, so it explains nothing

    @property
    def own_lines(self) -> Iterable[LogLine]: ...  # this process's stderr, redacted

    async def finished(self) -> int: ...

    def read_progress_by_calls(self) -> None: ...  # no task waits for progress from now on

    def read_progress(self) -> None: ...  # what it wrote: the newest block to on_progress


class Starter(Protocol):
    """Spawns an FFmpeg for the length of a block and stops and reaps it on leaving
    (`FFmpegProcess.run`); raises `SpawnError` when it cannot start one at all."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        secrets: Sequence[str],
        on_progress: Callable[[ProgressBlock], None],
        lines: deque[LogLine],
        tag: str | None,
    ) -> AbstractAsyncContextManager[RelayProcess]: ...


class SupervisorClosed(RuntimeError):
    """A command reached a supervisor whose loop is not (or no longer) running."""


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
    proc: RelayProcess | None = None
    link: TlsLink | None = None  # the verified TLS leg of an rtsps:// target


def host_port(target: Target) -> tuple[str, int]:
    """Where the target's uplink probe knocks (TCP): its RTSP(S) port; for an SRT target,
    whose port is UDP and answers no TCP connect, its API's port when it has an API."""
    if scheme_of(target.rtsp_url) == "srt" and target.uses_api and target.api_url:
        api = urllib.parse.urlsplit(target.api_url)
        port = api.port or (443 if api.scheme == "https" else 80)
        return (api.hostname or "").lower(), port
    endpoint = Endpoint.of(target.rtsp_url)
    return endpoint.host, endpoint.port


def uplink_connect(target: Target) -> Connect:
    """An SRT target without an API cannot be probed (a TCP connect to a UDP port says
    nothing): it always "answers", and its faults go through the backoff like any other."""
    if scheme_of(target.rtsp_url) == "srt" and not target.uses_api:
        return no_probe
    return tcp_answers


def _policy(camera: Camera, target: Target, settings: SupervisorSettings) -> BackoffPolicy:
    limit = camera.options.max_reconnects
    return BackoffPolicy(
        initial_s=target.reconnect_delay,
        cap_s=max(settings.backoff_cap_s, target.reconnect_delay),
        healthy_after_s=settings.healthy_after_s,
        max_reconnects=target.max_reconnects if limit is None else limit,
    )


class Supervisor:
    def __init__(
        self,
        camera: Camera,
        target: Target,
        *,
        ffmpeg: str,
        mediamtx: MediaMTXClient | None,
        paths: PathWatch | None = None,
        ticker: Ticker | None = None,
        uplink: Uplink | None = None,
        notify: Callable[[Notification], None] = lambda _n: None,
        settings: SupervisorSettings | None = None,
        tag: str | None = None,
        rng: Callable[[], float] = random.random,
        starter: Starter = FFmpegProcess.run,
    ) -> None:
        self.camera = camera
        self.target = target
        self.settings = settings or SupervisorSettings()
        self.ffmpeg = ffmpeg
        self.mediamtx = mediamtx if target.uses_api else None
        # Shared with the other publications on this server when the caller has one.
        self.paths = None if self.mediamtx is None else (paths or PathWatch(self.mediamtx))
        self.path = publish_path(target.path_template, camera.id)
        # Shared with every publication when the caller has one; else run by this one.
        self.ticker = ticker if ticker is not None else Ticker()
        self._own_ticker = ticker is None
        # Shared with the other publications on this server when the caller has one.
        self.uplink = uplink or Uplink(*host_port(target), connect=uplink_connect(target))
        self._notify = notify
        self.tag = tag  # marks our FFmpeg children (ffmpeg.process.find_tagged)
        self._rng = rng
        self._starter = starter  # a test passes a stand-in, to check ordering without FFmpeg
        self._secrets = secrets_of(camera, target)
        self._camera_ep = Endpoint.of(camera.url)
        self._target_ep = Endpoint.of(target.rtsp_url)
        self._scheme = scheme_of(target.rtsp_url)
        # The camera's first audio codec as its last FFmpeg described it (None: no audio, or
        # not seen yet), and the audio handling of the running FFmpeg.
        self._audio_codec: str | None = None
        self.audio: AudioPlan | None = None
        # MediaMTX dropped an attempt that had sent no picture: the camera's keyframes come
        # later than the central waits for a silent publisher, so later attempts probe up
        # to the keyframe (once per supervisor, as the audio codec).
        self._keyframe_late = False
        self.machine = Publication(_policy(camera, target, self.settings))
        self.lines: deque[LogLine] = deque(maxlen=STDERR_LINES)
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

    # --- the operator's side ----------------------------------------------------------------
    async def start(self, force: bool = False) -> bool:
        """Start (or with `force`, restart). False when it was already running."""
        return await self._command(Start(force=force))

    async def stop(self) -> bool:
        """Stop and wait until FFmpeg is gone. False when it was not running."""
        return await self._command(Stop())

    async def restart(self) -> bool:
        return await self._command(Start(force=True))

    async def _command(self, event: Start | Stop) -> bool:
        if self._closed:
            raise SupervisorClosed(f"the supervisor of {self.camera.id} is not running")
        command = _Command(event)
        self._send.send_nowait((None, command))  # no checkpoint between the check and the send
        await command.done.wait()
        if command.rejected:
            raise SupervisorClosed(f"the supervisor of {self.camera.id} stopped")
        return command.changed

    def _pid(self) -> int | None:
        proc = self._attempt.proc if self._attempt is not None else None
        return proc.pid if proc is not None and proc.running else None

    @property
    def status(self) -> Status:
        return self.machine.status

    @property
    def restarts(self) -> int:
        return self.machine.restarts

    def apply_settings(self, settings: SupervisorSettings) -> None:
        """New supervision settings: timeouts and the backoff's cap and forgiveness apply
        from now on, relay (argv) settings from the next FFmpeg."""
        self.settings = settings
        self.machine.policy = _policy(self.camera, self.target, settings)

    def state(self) -> PublicationState:
        m = self.machine
        return PublicationState(
            camera_id=self.camera.id,
            status=m.status,
            path=self.path,
            pid=self._pid(),
            restarts=m.restarts,
            error_count=m.error_count,
            failures=m.unforgiven(time.monotonic()),
            last_error=m.last_error,
            last_error_at=self._last_error_at,
            retry_in_s=m.retry_in,
            waiting_for_target=m.awaiting_target and m.status is Status.RECONNECTING,
            metrics=self.metrics,
            audio=self.audio if self._pid() is not None else None,
            probe_to_keyframe=self._keyframe_late,
        )

    # --- the loop ---------------------------------------------------------------------------
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve this publication until cancelled; on the way out, stop FFmpeg cleanly."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self._own_ticker:
                    await tg.start(self.ticker.run)
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
            self._release_pending()
            with anyio.CancelScope(shield=True):
                await self._terminate_attempt()

    def _release_pending(self) -> None:
        """Answer every command still queued, so that no caller waits forever."""
        while True:
            try:
                _attempt_no, item = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            if isinstance(item, _Command):
                item.rejected = True
                item.done.set()

    async def _handle(self, event: Event) -> bool:
        """Feed one event to the machine and carry out its actions; True if it acted."""
        before = self.machine.status
        actions = self.machine.handle(event)
        if self.machine.status is not before:
            self._status_changed(before)
        for action in actions:
            await self._perform(action)
        return bool(actions)

    def _status_changed(self, before: Status) -> None:
        new = self.machine.status
        error = self.machine.last_error if new in (Status.RECONNECTING, Status.FAILED) else None
        now = time.time()
        if error is not None:
            self._last_error_at = now
        self._safe_notify(
            StatusChanged(camera_id=self.camera.id, old=before, new=new, error=error, at=now)
        )

    def _safe_notify(self, note: Notification) -> None:
        """A failing subscriber is the subscriber's problem, never the publication's."""
        try:
            self._notify(note)
        except Exception:
            log.exception("notification callback failed", camera_id=self.camera.id)

    async def _perform(self, action: Action) -> None:
        assert self._tg is not None
        match action:
            case Spawn():
                await self._terminate_attempt()  # a finished attempt may still be unwinding
                self._attempts += 1
                attempt = _Attempt(self._attempts, anyio.CancelScope())
                self._attempt = attempt
                self.metrics = PublicationMetrics()
                self._tg.start_soon(self._run_attempt, attempt)
            case Terminate():
                await self._terminate_attempt()
                await self._handle(Stopped())
            case Schedule(delay_s=delay):
                self._start_retry(functools.partial(anyio.sleep, delay))
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
        self._post(
            attempt,
            Failed(
                fault=fault,
                now=time.monotonic(),
                draw=self._rng(),
                process_running=running,
                target_down=target_down,
            ),
        )

    async def _fail_checked(
        self,
        attempt: _Attempt,
        fault: Fault,
        *,
        running: bool,
        watch: ProgressWatch | None = None,
    ) -> None:
        """Report a fault, unless the target behind it does not answer at all: then the
        link is reported (the camera may be fine) and the retry waits for the target.
        With the attempt's `watch` (FFmpeg ended by itself), a close by an answering
        MediaMTX before the first picture is told as such."""
        if fault.kind in TARGET_SUSPECT_KINDS and not await self.uplink.check():
            fault = self._unreachable(fault)
            self._fail(attempt, fault, running=running, target_down=True)
        else:
            if watch is not None:
                fault = self._before_picture(fault, watch)
            self._fail(attempt, fault, running=running)

    def _unreachable(self, fault: Fault) -> Fault:
        if fault.kind is ErrorKind.MEDIAMTX_UNREACHABLE:
            return fault  # already says so, in FFmpeg's or the API's own words
        why = self.uplink.reason or "no answer"
        probed = self._target_ep if self._scheme != "srt" else f"(API) {self.uplink.endpoint}"
        return Fault(
            ErrorKind.MEDIAMTX_UNREACHABLE,
            f"MediaMTX {probed} does not answer ({why}): the link to it, or the "
            f"server, is down; retrying as soon as it answers (seen here as: {fault.message})",
        )

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
        foreign: str | None = None
        if self.mediamtx is not None:
            try:
                await self.mediamtx.ensure_path(self.path)
                before = await self.mediamtx.get_path(self.path)
            except MediaMTXError as exc:
                kind = (
                    ErrorKind.MEDIAMTX_UNREACHABLE
                    if exc.unreachable
                    else ErrorKind.MEDIAMTX_REJECTED
                )
                fault = Fault(
                    kind, redact(f"cannot prepare path {self.path}: {exc}", self._secrets)
                )
                await self._fail_checked(attempt, fault, running=False)
                return
            # Someone else publishes there now: their readiness must not count as ours.
            foreign = before.source_id if before is not None and before.online else None
        replan: AudioPlan | None = self._plan_audio()
        while replan is not None:
            plan, replan = replan, None
            self.audio = plan
            watch = ProgressWatch(time.monotonic())
            api = _ApiView(foreign=foreign)
            attempt.link = None
            try:
                async with AsyncExitStack() as stack:
                    if needs_link(self.target):
                        attempt.link = await stack.enter_async_context(
                            open_link(self.target, self.settings.relay.output_timeout_s)
                        )
                    argv = relay_argv(
                        self.ffmpeg,
                        self.camera,
                        self.target,
                        self.settings.relay,
                        plan,
                        via_port=attempt.link.port if attempt.link else None,
                        until_keyframe_s=(
                            self.settings.start_timeout_s if self._keyframe_late else None
                        ),
                    )
                    proc = await stack.enter_async_context(
                        self._starter(
                            argv,
                            secrets=self._secrets,
                            on_progress=functools.partial(self._on_progress, watch, api),
                            lines=self.lines,
                            tag=self.tag,
                        )
                    )
                    attempt.proc = proc
                    async with anyio.create_task_group() as tg:
                        if attempt.link is not None:
                            tg.start_soon(attempt.link.serve)
                        tg.start_soon(self._watch_exit, attempt, proc, watch, tg.cancel_scope)
                        if self.paths is not None:
                            tg.start_soon(self._poll_api, self.paths, api)
                        replan = await self._watch_health(attempt, watch, api, plan, proc)
                        tg.cancel_scope.cancel()
            except LinkRefused as exc:
                # FFmpeg was not started: the camera was not asked, the target sent nothing.
                await self._fail_checked(attempt, exc.fault, running=False)
                return
            except SpawnError as exc:
                self._fail(attempt, Fault(ErrorKind.CONFIG_ERROR, str(exc)), running=False)
                return
            attempt.proc = None
            if replan is not None:
                # The one we stopped may still be listed as the path's publisher for a moment:
                # its readiness must not confirm the next one.
                if api.path is not None and api.path.online:
                    foreign = api.path.source_id
                log.info(
                    "audio reconfigured",
                    camera_id=self.camera.id,
                    audio=replan.describe(),
                )

    @staticmethod
    def _on_progress(watch: ProgressWatch, api: _ApiView, block: ProgressBlock) -> None:
        watch.progress(block, time.monotonic())
        if api.confirmed_at is None:
            # FFmpeg writes its first block once MediaMTX answered RECORD: the path is
            # ready now, and asking the API at once saves up to a poll period.
            api.progressed.set()

    def _plan_audio(self) -> AudioPlan:
        """From the codec the camera's last FFmpeg saw: a camera whose audio the target
        cannot carry pays the restart below once per supervisor, not once per attempt."""
        return plan_audio(self.camera.options.audio_policy, self._scheme, self._audio_codec)

    def _learn_audio(self, plan: AudioPlan, proc: RelayProcess) -> AudioPlan | NotYet | None:
        """Once FFmpeg has described the camera's input: remember its audio codec, and
        return the plan to restart with when it calls for other audio handling (else
        None). NOT_YET while the description is incomplete."""
        codec = input_audio(line.text for line in proc.own_lines)
        if isinstance(codec, NotYet):
            return codec
        self._audio_codec = codec
        learnt = plan_audio(self.camera.options.audio_policy, self._scheme, codec)
        self.audio = msgspec.structs.replace(plan, codec=codec)
        return learnt if learnt.mode is not plan.mode else None

    async def _watch_exit(
        self,
        attempt: _Attempt,
        proc: RelayProcess,
        watch: ProgressWatch,
        scope: anyio.CancelScope,
    ) -> None:
        code = await proc.finished()
        if not proc.stop_requested:
            link = attempt.link
            fault = (link.fault if link is not None else None) or self._as_target(
                classify(
                    [line.text for line in proc.own_lines],  # this process's lines only
                    camera=self._camera_ep,
                    target=self._ffmpeg_target_ep(attempt),
                    returncode=code,
                    secrets=self._secrets,
                ),
                attempt,
            )
            await self._fail_checked(attempt, fault, running=False, watch=watch)
        scope.cancel()

    def _before_picture(self, fault: Fault, watch: ProgressWatch) -> Fault:
        """The fault, or, when MediaMTX closed an attempt after RECORD (FFmpeg reported
        progress) and before its first picture, the fault that says so. FFmpeg learns of
        the close only when it writes that picture, which its count may then include: at
        most one picture counted is "before".

        MediaMTX closes a publisher that sends nothing for its `readTimeout` (10 s by
        default), and ucvd's probe usually ends before the camera's keyframe: a camera
        whose keyframes come further apart than that is dropped before its first picture,
        on every attempt that joins early in its GOP. From now on this camera's FFmpeg
        probes up to the keyframe, so that the picture follows RECORD at once."""
        if not (
            fault.kind is ErrorKind.MEDIAMTX_CLOSED
            and watch.last_block is not None
            and watch.frames <= 1
        ):
            return fault
        if not self._keyframe_late:
            self._keyframe_late = True
            log.warning("probing up to the keyframe from now on", camera_id=self.camera.id)
        return Fault(
            fault.kind,
            f"{fault.message}; no picture had been sent: the camera's keyframes may come "
            "later than MediaMTX waits for a silent publisher (its readTimeout), so the "
            "next attempts wait for the keyframe before publishing",
        )

    def _ffmpeg_target_ep(self, attempt: _Attempt) -> Endpoint:
        """The target as FFmpeg names it in its lines: the link's port when there is one."""
        return Endpoint("127.0.0.1", attempt.link.port) if attempt.link else self._target_ep

    def _as_target(self, fault: Fault, attempt: _Attempt) -> Fault:
        """FFmpeg only knows the link's loopback port; operators know the target."""
        if attempt.link is None:
            return fault
        via = str(self._ffmpeg_target_ep(attempt))
        return Fault(fault.kind, fault.message.replace(via, str(self._target_ep)))

    async def _poll_api(self, paths: PathWatch, api: _ApiView) -> None:
        """Keep `api` fresh until confirmed (then the ticker does, for every publication at
        once). Apart from the watchdog, so that a slow or hung API never delays the start
        timeout. The snapshot is shared by every publication on this server (see
        pathwatch), which is what makes asking twice per poll period while starting cheap."""
        fresh = False
        while api.confirmed_at is None:  # then the ticker keeps it fresh (see _check)
            period = self.settings.poll_s / 2
            # Waiting to be confirmed takes only an answer younger than half that period, so
            # that another publication's older snapshot does not delay the confirmation;
            # after FFmpeg's first progress block, only one asked for after it.
            snap = await paths.snapshot(max_age=0.0 if fresh else period / 2)
            api.read(snap, self.path)
            api.updated.set()  # the watchdog confirms at once instead of at its next tick
            api.updated = anyio.Event()
            with anyio.move_on_after(period):
                await api.progressed.wait()
            fresh = api.progressed.is_set()
            api.progressed = anyio.Event()  # later blocks (one a second) may wake it again

    async def _watch_health(
        self,
        attempt: _Attempt,
        watch: ProgressWatch,
        api: _ApiView,
        plan: AudioPlan,
        proc: RelayProcess,
    ) -> AudioPlan:
        """Confirm, then watch for stalls, sampling metrics as it goes; what to make of
        what it sees is the watchdog module's judgement. Returns only when FFmpeg's
        description of the camera calls for other audio handling (the plan to restart
        with); otherwise a fault is posted and the attempt waits to be terminated (or the
        process exits)."""
        live = _Live(attempt=attempt, watch=watch, api=api, proc=proc, plan=plan)
        while api.confirmed_at is None:
            with anyio.move_on_after(check_every(self.settings, confirmed=False)):
                # A fresh word from MediaMTX wakes it early: ready is acted on when it is
                # seen, not up to a poll period later.
                await api.updated.wait()
            self._check(live, time.monotonic())
            if live.outcome is not None:
                break
        else:
            # Live: from now on the shared ticker runs the same check once a period, for
            # every publication in one wake-up (ticker.py).
            check = functools.partial(self._check, live)
            proc.read_progress_by_calls()  # the check reads it: no wake-up per block
            with self.ticker.enrolled(check, self.paths, lambda: self.settings.metrics_every_s):
                await live.decided.wait()
        if isinstance(live.outcome, AudioPlan):
            return live.outcome
        assert live.outcome is not None
        await self._fail_checked(attempt, live.outcome, running=True)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover - sleep_forever never returns

    def _check(self, live: _Live, now: float) -> None:
        """One look at the attempt: learn its audio, judge it, sample its metrics. Plain
        code, so that the ticker can run it for every live publication in one wake-up; what
        it decides (a fault, or audio to restart with) goes to `live.outcome`."""
        if live.outcome is not None:
            return
        watch, api = live.watch, live.api
        try:
            if api.confirmed_at is not None:
                if now + SLACK_S < live.next_check:
                    return
                live.next_check = _next_due(
                    live.next_check, check_every(self.settings, confirmed=True), now
                )
                now = self._read_live(live)
            if not live.audio_known:
                learnt = self._learn_audio(live.plan, live.proc)
                if isinstance(learnt, AudioPlan):
                    live.decide(learnt)
                    return
                live.audio_known = not isinstance(learnt, NotYet)
            look = watch.look(now, confirmed_at=api.confirmed_at, api=api.word())
            match judge(look, self.settings):
                case Confirm():
                    api.confirmed_at = watch.advanced_at = watch.heard_at = live.last_read = now
                    live.next_check = now + check_every(self.settings, confirmed=True)
                    self._post(live.attempt, Confirmed(now))
                case Fail(fault=fault):
                    live.decide(fault)
                    return
                case Wait():
                    pass
            if now + SLACK_S >= live.next_metrics:
                live.next_metrics = _next_due(live.next_metrics, self.settings.metrics_every_s, now)
                self._sample(watch, api, now, live)
        except Exception as exc:  # one camera's bug must not stop the others' checks
            log.exception("publication check failed", camera_id=self.camera.id)
            message = redact(f"unexpected {type(exc).__name__}: {exc}", self._secrets)[:300]
            live.decide(Fault(ErrorKind.INTERNAL_ERROR, message))

    def _read_live(self, live: _Live) -> float:
        """What a live attempt's check goes by: FFmpeg's progress since the last check and
        the latest path snapshot. Returns the time after the read, which stamps what it
        found."""
        before, heard = live.watch.advanced_at, live.watch.heard_at
        live.proc.read_progress()
        now = time.monotonic()
        # Read once a tick, a block that moved was written after the previous read, not
        # when this one found it: the stall clock starts there, so that a stall is
        # declared within a tick of stall_timeout_s, as when each block was read on
        # arrival (never later; up to a tick earlier). The same for any block at all.
        if live.watch.advanced_at != before:
            live.watch.advanced_at = max(before, live.last_read)
        if live.watch.heard_at != heard:
            live.watch.heard_at = max(heard, live.last_read)
        live.last_read = now
        if self.paths is not None and (snap := self.paths.latest) is not None:
            # A snapshot this old means the API has stopped answering (a fetch hangs): no
            # word from it, rather than an old one that looks fresh.
            if now - snap.at <= STALE_PERIODS * max(self.settings.metrics_every_s, TICK_S):
                live.api.read(snap, self.path)
            else:
                live.api.ok = False
        return now

    def _sample(self, watch: ProgressWatch, api: _ApiView, now: float, live: _Live) -> None:
        m = self.metrics
        block = watch.last_block
        m.frames = watch.frames
        m.speed = block.speed if block else None
        m.fps = watch.fps()
        m.uptime_s = None if api.confirmed_at is None else now - api.confirmed_at
        m.since_progress_s = now - watch.advanced_at if block else None
        path = api.path
        if not api.ok:
            m.bitrate_kbps = None  # nothing known: not the last rate, which would look live
        if path is not None and api.ok:
            m.tracks, m.readers, m.bytes_in = path.tracks, path.readers, path.inbound_bytes
            # Timed by when MediaMTX answered, not by this sample: the snapshot read may be
            # up to a period old, and a sample's own clock would skew the rate.
            last, at = live.last_bytes, api.at
            if last is not None and at > last[0] and m.bytes_in >= last[1]:
                m.bitrate_kbps = (m.bytes_in - last[1]) * 8 / 1000 / (at - last[0])
            if last is None or at > last[0]:
                live.last_bytes = (at, m.bytes_in)
        self._safe_notify(MetricsSampled(camera_id=self.camera.id, metrics=m, at=time.time()))


def _next_due(due: float, every: float, now: float) -> float:
    """When a periodic check is next due: on its own grid, so that one tick a little late
    does not push the next check a whole period away; from now once it fell a period
    behind (or had never run)."""
    following = due + every
    return following if following > now else now + every


@dataclass
class _Live:
    """One attempt as its checks see it, what they carry from one to the next, and what
    they decided."""

    attempt: _Attempt
    watch: ProgressWatch
    api: _ApiView
    proc: RelayProcess
    plan: AudioPlan
    audio_known: bool = False
    next_check: float = 0.0  # once confirmed (monotonic)
    next_metrics: float = 0.0
    last_bytes: tuple[float, int] | None = None  # (MediaMTX's answer time, inbound bytes)
    last_read: float = 0.0  # when a live check last read FFmpeg's progress (monotonic)
    outcome: Fault | AudioPlan | None = None  # a fault, or the audio plan to restart with
    decided: anyio.Event = field(default_factory=anyio.Event)

    def decide(self, outcome: Fault | AudioPlan) -> None:
        self.outcome = outcome
        self.decided.set()


@dataclass
class _ApiView:
    """The latest word from MediaMTX on this attempt's path."""

    foreign: str | None  # the session publishing there before we spawned, if any
    path: PathInfo | None = None
    ok: bool = False
    at: float = 0.0  # monotonic time of the snapshot read
    confirmed_at: float | None = None
    updated: anyio.Event = field(default_factory=anyio.Event)  # set on each unconfirmed poll
    progressed: anyio.Event = field(default_factory=anyio.Event)  # a block while unconfirmed

    def read(self, snap: Snapshot, path: str) -> None:
        self.ok = snap.ok  # when False, the RTSP leg decides; the API may be away a while
        self.at = snap.at
        if snap.ok:
            self.path = snap.path(path)

    def word(self) -> ApiWord | None:
        """The watchdog's input: None while there is no answer to go by."""
        return ApiWord(path=self.path, foreign=self.foreign) if self.ok else None
