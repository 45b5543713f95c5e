"""What follows the engine's notifications, without an engine: the history recorder writes
sessions and samples to a real store, the event feed hands subscribers their events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.harness.store_queries import samples
from tests.harness.waiting import wait_until_async
from ucvd.api import protocol as p
from ucvd.control import feed as feed_module
from ucvd.control.events import EventBus
from ucvd.control.feed import EventFeed
from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.hints import hint
from ucvd.domain.model import Camera
from ucvd.relay.publication import Status
from ucvd.relay.status import MetricsSampled, PublicationMetrics, PublicationState, StatusChanged
from ucvd.state import recorder as recorder_module
from ucvd.state.recent import RecentSamples
from ucvd.state.recorder import Recorder
from ucvd.state.store import AsyncStore, Store

pytestmark = pytest.mark.anyio


def change(old: Status, new: Status, *, at: float, **more: Any) -> StatusChanged:
    return StatusChanged(camera_id="cam", old=old, new=new, error=None, at=at, **more)


def publishing(camera_id: str, *, pid: int | None = 42) -> PublicationState:
    return PublicationState(
        camera_id=camera_id, status=Status.PUBLISHING, path=f"camera_{camera_id}", pid=pid,
        restarts=0, error_count=0, failures=0, last_error=None, last_error_at=None,
        retry_in_s=None, waiting_for_target=False,
        metrics=PublicationMetrics(fps=25.0, frames=10, uptime_s=3.0),
    )  # fmt: skip


async def test_the_recorder_opens_and_closes_a_session_and_drains_before_close_returns(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "ucvd.db")
    recorder = Recorder(AsyncStore(store), states=list)
    async with anyio.create_task_group() as tg:
        await tg.start(recorder.run)
        recorder.notified(change(Status.STOPPED, Status.STARTING, at=100.0, target="central"))
        recorder.notified(
            MetricsSampled(camera_id="cam", at=101.0,
                           metrics=PublicationMetrics(frames=50, bytes_in=1000))
        )  # fmt: skip
        recorder.notified(
            change(Status.PUBLISHING, Status.STOPPED, at=110.0, target="central", restarts=2,
                   reason="daemon_stopped")
        )  # fmt: skip
        await recorder.close()  # returns once the queued writes are on disk
        tg.cancel_scope.cancel()
    [session] = store.history("cam", 10)
    assert (session.target, session.started_at, session.ended_at, session.end_reason) == (
        "central", 100.0, 110.0, "daemon_stopped",
    )  # fmt: skip
    assert (session.restarts, session.frames, session.bytes) == (2, 50, 1000)
    assert recorder.failures == 0
    # After close, a late notification is dropped with a log line, never raised.
    recorder.notified(change(Status.STOPPED, Status.STARTING, at=120.0, target="central"))
    assert len(store.history("cam", 10)) == 1


async def test_the_recorder_keeps_lifetime_counters_across_daemons(tmp_path: Path) -> None:
    """Counted by one recorder, saved when it closes, continued by the next one."""
    store = Store(tmp_path / "ucvd.db")
    store.add_camera(Camera(id="cam", url="rtsp://192.0.2.1/s"))
    stall = Fault(ErrorKind.STREAM_STALLED, "no new frames for 10 s")
    for first_run in (True, False):
        recorder = Recorder(AsyncStore(store), states=list)
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            recorder.notified(
                StatusChanged(camera_id="cam", old=Status.PUBLISHING,
                              new=Status.RECONNECTING, error=stall, at=100.0)
            )  # fmt: skip
            recorder.notified(change(Status.RECONNECTING, Status.STARTING, at=101.0))
            await recorder.close()
            tg.cancel_scope.cancel()
        expected = 1 if first_run else 2
        assert store.counters() == {"cam": {"restarts": expected, "error:stream_stalled": expected}}
        assert recorder.tally.of("cam").stalls == expected


async def test_the_recorder_samples_publishing_cameras_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "SAMPLE_EVERY_S", 0.01)
    store = Store(tmp_path / "ucvd.db")
    waiting = publishing("idle")
    waiting.status = Status.RECONNECTING
    recorder = Recorder(
        AsyncStore(store), states=lambda: [publishing("cam"), waiting], clock=lambda: 500.0
    )
    async with anyio.create_task_group() as tg:
        await tg.start(recorder.run)
        await wait_until_async(lambda: samples(store, "cam", 0), timeout=5, what="a sample")
        tg.cancel_scope.cancel()
    at, period, fps = samples(store, "cam", 0)[0]
    assert (at, period, fps) == (500.0, 0, 25.0)
    assert samples(store, "idle", 0) == []


class Subscriber:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.gone = False

    def push(self, message: bytes) -> bool:
        self.messages.append(json.loads(message))
        return True


async def test_the_feed_sends_status_changes_with_the_error_and_iso_times() -> None:
    bus, peer = EventBus(), Subscriber()
    bus.subscribe(peer, ["cam"])
    feed = EventFeed(bus, states=list)
    fault = Fault(ErrorKind.STREAM_STALLED, "no new frames for 10 s")
    feed.notified(
        StatusChanged(camera_id="cam", old=Status.PUBLISHING, new=Status.RECONNECTING,
                      error=fault, at=1_800_000_000.0)
    )  # fmt: skip
    other = StatusChanged(camera_id="other", old=Status.STOPPED, new=Status.STARTING,
                          error=None, at=1.0)  # fmt: skip
    feed.notified(other)  # a camera the peer did not subscribe to: not sent
    feed.notified(
        MetricsSampled(camera_id="cam", metrics=PublicationMetrics(), at=2.0)
    )  # samples are not events: the feed's own beat sends metrics
    [message] = peer.messages
    assert message["method"] == p.STATUS_EVENT
    assert message["params"] == {
        "camera_id": "cam", "old": "publishing", "new": "reconnecting",
        "error": {"kind": "stream_stalled", "message": "no new frames for 10 s",
                  "at": "2027-01-15T08:00:00.000Z", "hint": hint(ErrorKind.STREAM_STALLED)},
        "at": "2027-01-15T08:00:00.000Z", "status": None,
    }  # fmt: skip


async def test_a_status_event_carries_the_whole_status_only_for_cameras_someone_hears() -> None:
    bus, peer = EventBus(), Subscriber()
    bus.subscribe(peer, ["cam"])
    feed = EventFeed(bus, states=list)
    asked: list[str] = []

    def status_of(camera_id: str) -> p.PublicationStatus:
        asked.append(camera_id)
        return p.PublicationStatus(
            camera_id=camera_id, status="reconnecting", desired="publishing",
            publish_path="camera_cam", target="central", uptime_seconds=None, error_count=2,
            restarts=3, last_error=None, metrics=None, pid=None, retry_in_seconds=4.0,
            quality="down", reconnects_last_hour=3,
        )  # fmt: skip

    feed.status_of = status_of
    for camera_id in ("other", "cam"):
        feed.notified(
            StatusChanged(camera_id=camera_id, old=Status.PUBLISHING, new=Status.RECONNECTING,
                          error=None, at=1.0)
        )  # fmt: skip
    [message] = peer.messages
    whole = message["params"]["status"]
    assert (whole["camera_id"], whole["restarts"], whole["retry_in_seconds"]) == ("cam", 3, 4.0)
    assert whole["quality"] == "down" and whole["reconnects_last_hour"] == 3
    assert asked == ["cam"]  # nobody hears "other": its status is not even built


async def test_the_feed_beats_metrics_for_cameras_with_a_process_and_a_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "METRICS_EVERY_S", 0.01)
    bus, peer = EventBus(), Subscriber()
    bus.subscribe(peer, None)
    states = [publishing("cam"), publishing("between", pid=None)]
    feed = EventFeed(bus, states=lambda: states, clock=lambda: 1_800_000_000.0)
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        await wait_until_async(lambda: len(peer.messages) >= 2, timeout=5, what="two beats")
        tg.cancel_scope.cancel()
    assert {m["method"] for m in peer.messages} == {p.METRICS_EVENT}
    assert {m["params"]["camera_id"] for m in peer.messages} == {"cam"}  # no pid: no metrics
    first = peer.messages[0]["params"]
    assert (first["metrics"]["fps"], first["uptime_seconds"], first["at"]) == (
        25.0, 3.0, "2027-01-15T08:00:00.000Z",
    )  # fmt: skip


async def test_with_nobody_listening_the_feed_builds_no_states_but_keeps_its_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "METRICS_EVERY_S", 0.01)
    asked: list[float] = []
    taken: list[float] = []

    class Recent(RecentSamples):
        def due(self, now: float) -> bool:
            return len(taken) < 3  # the sparklines' own period: every beat, three times

        def take(self, now: float, states: Iterable[PublicationState]) -> None:
            taken.append(now)
            list(states)

    def states() -> list[PublicationState]:
        asked.append(time.monotonic())
        return [publishing("cam")]

    bus, gone = EventBus(), Subscriber()
    gone.gone = True  # subscribed once, left since
    bus.subscribe(gone, None)
    feed = EventFeed(bus, states=states, recent=Recent(), clock=lambda: 1_800_000_000.0)
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        await wait_until_async(lambda: len(taken) >= 3, timeout=5, what="three samples")
        beats = len(asked)
        peer = Subscriber()
        bus.subscribe(peer, None)  # someone listens: the states are built again
        await wait_until_async(lambda: peer.messages, timeout=5, what="a beat for the peer")
        tg.cancel_scope.cancel()
    assert beats == 3  # only for the samples the sparklines took
    assert len(asked) > beats
