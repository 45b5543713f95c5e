"""The history recorder: the engine's notifications in, sessions and samples on disk.

Fed by the registry's notifications, it keeps the session book (state.history) and writes
through one writer task, in the order the changes happened: a session is always opened
before it is closed, and the event loop never waits for the disk. Every minute it saves a
sample per publishing camera and the running sessions' counters (so a crash loses at most
a minute of them); every hour it compacts old samples. It also keeps each camera's
lifetime counters (state.tally): read at start, saved with every checkpoint and at close.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import anyio
import anyio.abc
import msgspec
import structlog

from ucvd.relay.publication import Status
from ucvd.relay.status import MetricsSampled, Notification, PublicationState
from ucvd.state.history import CloseSession, OpenSession, SessionBook, SessionRecord
from ucvd.state.store import AsyncStore, Sample, Store, StoreError
from ucvd.state.tally import Tally

log = structlog.get_logger(__name__)

SAMPLE_EVERY_S = 60.0
FIRST_COMPACT_S = 60.0  # soon after start: a daemon restarted often still compacts
COMPACT_EVERY_S = 3600.0
DRAIN_S = 10.0  # at shutdown, how long the last writes may take


class _Checkpoint(msgspec.Struct, frozen=True):
    samples: list[Sample]
    counters: list[tuple[str, int, int, int]]  # camera_id, restarts, frames, bytes
    tallies: list[tuple[str, str, int]]  # camera_id, counter, value


class _Compact(msgspec.Struct, frozen=True):
    now: float


_Op = OpenSession | CloseSession | _Checkpoint | _Compact


class Recorder:
    def __init__(
        self,
        store: AsyncStore,
        states: Callable[[], Iterable[PublicationState]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._states = states
        self._clock = clock
        self._book = SessionBook()
        self.tally = Tally()  # the saved counters are loaded when run() starts
        self._session_ids: dict[str, int] = {}  # owned by the writer task
        self._ops_send, self._ops_recv = anyio.create_memory_object_stream[_Op](math.inf)
        self._writer_done = anyio.Event()
        self.failures = 0  # history writes that failed (daemon.health reports them)

    def running_session(self, camera_id: str) -> SessionRecord | None:
        return self._book.running(camera_id)

    def notified(self, note: Notification) -> None:
        if isinstance(note, MetricsSampled):
            self._book.metrics(note)
            return
        self.tally.status(note)
        op = self._book.status(note)
        if op is not None:
            self._queue(op)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.tally.load(await self.store.call(Store.counters))
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer)
            task_status.started()
            await self._sample_and_compact()

    async def close(self) -> None:
        """No more writes: let the writer finish what is queued (bounded), then return.
        Called once every publication has stopped, so their sessions are closed on disk."""
        self._queue(_Checkpoint([], [], self.tally.changed()))
        self._ops_send.close()
        with anyio.move_on_after(DRAIN_S):
            await self._writer_done.wait()

    def _queue(self, op: _Op) -> None:
        try:
            self._ops_send.send_nowait(op)
        except anyio.ClosedResourceError:
            log.warning("history write after shutdown dropped", op=type(op).__name__)

    async def _sample_and_compact(self) -> None:
        next_compact = time.monotonic() + FIRST_COMPACT_S
        while True:
            await anyio.sleep(SAMPLE_EVERY_S)
            wall = self._clock()
            samples = [
                Sample(
                    camera_id=s.camera_id,
                    at=wall,
                    fps=s.metrics.fps,
                    bitrate_kbps=s.metrics.bitrate_kbps,
                    readers=s.metrics.readers,
                )
                for s in self._states()
                if s.status is Status.PUBLISHING
            ]
            counters = [(c.camera_id, c.restarts, c.frames, c.bytes) for c in self._book.counters()]
            self._queue(_Checkpoint(samples, counters, self.tally.changed()))
            if time.monotonic() >= next_compact:
                next_compact = time.monotonic() + COMPACT_EVERY_S
                self._queue(_Compact(wall))

    async def _writer(self) -> None:
        """The only task that writes history; a failed write is logged, never fatal."""
        try:
            async for op in self._ops_recv:
                try:
                    await self._write(op)
                except StoreError as exc:
                    if isinstance(op, _Checkpoint):
                        self.tally.unsaved(op.tallies)
                    self.failures += 1
                    log.error("could not record history", error=str(exc), op=type(op).__name__)
        finally:
            self._writer_done.set()

    async def _write(self, op: _Op) -> None:
        match op:
            case OpenSession(session=session):
                self._session_ids[session.camera_id] = await self.store.call(
                    Store.open_session, session
                )
            case CloseSession(session=session):
                session_id = self._session_ids.pop(session.camera_id, None)
                if session_id is not None:
                    await self.store.call(Store.close_session, session_id, session)
            case _Checkpoint():
                counters = [
                    (self._session_ids[cam], restarts, frames, bytes_)
                    for cam, restarts, frames, bytes_ in op.counters
                    if cam in self._session_ids
                ]
                await self.store.call(Store.checkpoint, op.samples, counters, op.tallies)
            case _Compact():
                await self.store.call(Store.compact_samples, op.now)
