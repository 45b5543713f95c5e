"""The dashboard's sparklines: recent samples kept in memory every few seconds, the stored
ones (a minute apart), and `publishing.samples`, which joins the two without overlap."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import anyio
import pytest

from tests.harness import store_queries as queries
from tests.harness.waiting import wait_until_async
from ucvd.api import protocol as p
from ucvd.control import feed as feed_module
from ucvd.control.events import EventBus
from ucvd.control.feed import EventFeed
from ucvd.control.server import Connection
from ucvd.domain.model import Camera
from ucvd.domain.refusals import NotFound
from ucvd.relay.publication import Status
from ucvd.relay.registry import Publications
from ucvd.relay.status import PublicationMetrics, PublicationState, SupervisorSettings
from ucvd.service import Service
from ucvd.state.recent import RecentSamples
from ucvd.state.store import AsyncStore, Sample, Store

pytestmark = pytest.mark.anyio

NO_CONNECTION = cast(Connection, None)
NOW = 1_800_000_000.0


def running(camera_id: str, fps: float = 25.0, kbps: float | None = 800.0) -> PublicationState:
    return PublicationState(
        camera_id=camera_id, status=Status.PUBLISHING, path=f"camera_{camera_id}", pid=42,
        restarts=0, error_count=0, failures=0, last_error=None, last_error_at=None,
        retry_in_s=None, waiting_for_target=False,
        metrics=PublicationMetrics(fps=fps, bitrate_kbps=kbps),
    )  # fmt: skip


def between_attempts(camera_id: str) -> PublicationState:
    state = running(camera_id)
    state.status, state.pid = Status.RECONNECTING, None
    return state


# --- in memory ----------------------------------------------------------------------------
def test_a_point_per_running_camera_every_every_s() -> None:
    recent = RecentSamples(every_s=10.0, keep_s=600.0)
    assert recent.due(0.0) and recent.oldest() is None
    recent.take(100.0, [running("a", fps=25.0, kbps=800.0), between_attempts("b")])
    assert not recent.due(109.9) and recent.due(110.0)
    recent.take(110.0, [running("a", fps=24.0, kbps=700.0), running("b", fps=12.0, kbps=None)])
    assert recent.since(0.0) == {
        "a": [(100.0, 25.0, 800.0), (110.0, 24.0, 700.0)],
        "b": [(110.0, 12.0, None)],  # no FFmpeg at 100: no point then
    }
    assert recent.oldest() == 100.0


def test_a_running_camera_keeps_keep_s_of_points() -> None:
    recent = RecentSamples(every_s=10.0, keep_s=60.0)
    for i in range(20):
        recent.take(1000.0 + 10 * i, [running("a", fps=float(i))])
    points = recent.since(0.0)["a"]
    assert [at for at, _, _ in points] == [1000.0 + 10 * i for i in range(14, 20)]
    assert [fps for _, fps, _ in points] == [float(i) for i in range(14, 20)]
    assert recent.oldest() == 1140.0


def test_a_stopped_cameras_points_age_out() -> None:
    recent = RecentSamples(every_s=10.0, keep_s=60.0)
    recent.take(0.0, [running("gone"), running("stays")])
    recent.take(10.0, [running("gone"), running("stays")])
    for at in (20.0, 30.0, 40.0, 50.0, 60.0):  # at 60 the cutoff is 0: gone's points stay
        recent.take(at, [running("stays")])
    assert [at for at, _, _ in recent.since(0.0)["gone"]] == [0.0, 10.0]
    assert recent.oldest() == 0.0
    recent.take(70.0, [running("stays")])  # cutoff 10: the point at 0 is older than keep_s
    assert [at for at, _, _ in recent.since(0.0)["gone"]] == [10.0]
    assert recent.oldest() == 10.0
    recent.take(80.0, [running("stays")])
    assert "gone" not in recent.since(0.0)
    assert [at for at, _, _ in recent.since(0.0)["stays"]] == [30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    assert recent.oldest() == 30.0


def test_since_filters_by_time_and_camera() -> None:
    recent = RecentSamples(every_s=10.0, keep_s=600.0)
    for at in (100.0, 110.0, 120.0):
        recent.take(at, [running("a"), running("b")])
    assert {cid: [pt[0] for pt in pts] for cid, pts in recent.since(110.0).items()} == {
        "a": [110.0, 120.0],
        "b": [110.0, 120.0],
    }
    assert list(recent.since(0.0, "b")) == ["b"]
    assert recent.since(121.0) == {}
    assert recent.since(0.0, "nobody") == {}


async def test_the_feed_takes_recent_samples_on_its_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "METRICS_EVERY_S", 0.01)
    clock = [NOW]

    def tick() -> float:
        clock[0] += 5.0
        return clock[0]

    recent = RecentSamples(every_s=10.0, keep_s=600.0)
    feed = EventFeed(EventBus(), lambda: [running("a"), between_attempts("b")], recent=recent,
                     clock=tick)  # fmt: skip
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        await wait_until_async(lambda: len(recent.since(0.0).get("a", [])) >= 3, timeout=5,
                               what="three recent points")  # fmt: skip
        tg.cancel_scope.cancel()
    ats = [at for at, _, _ in recent.since(0.0)["a"]]
    assert all(b - a >= 10.0 for a, b in itertools.pairwise(ats))  # every_s, not each beat
    assert "b" not in recent.since(0.0)


# --- stored -------------------------------------------------------------------------------
def sample(camera_id: str, at: float, fps: float = 25.0) -> Sample:
    return Sample(camera_id=camera_id, at=at, fps=fps, bitrate_kbps=fps * 32, readers=1)


def test_stored_samples_by_range_and_camera_raw_only_oldest_first(tmp_path: Path) -> None:
    db = Store(tmp_path / "ucvd.db")
    day = 86_400.0
    db.checkpoint([sample("a", NOW - 3 * day + 60 * i) for i in range(120)], [])
    db.compact_samples(NOW)  # two days old: hourly averages now
    assert queries.sample_count(db) == {3600: 2}
    db.checkpoint([sample("a", NOW + 300, 3.0), sample("b", NOW + 120, 2.0),
                   sample("a", NOW + 60, 1.0), sample("a", NOW + 180, 2.0)], [])  # fmt: skip
    everything = db.samples(0.0, NOW + day)
    assert [(s.camera_id, s.at) for s in everything] == [
        ("a", NOW + 60), ("b", NOW + 120), ("a", NOW + 180), ("a", NOW + 300),
    ]  # fmt: skip
    assert [(s.fps, s.bitrate_kbps) for s in everything][:2] == [(1.0, 32.0), (2.0, 64.0)]
    # [since, until): the first bound is in, the second out.
    assert [s.at for s in db.samples(NOW + 60, NOW + 300, "a")] == [NOW + 60, NOW + 180]
    assert [s.at for s in db.samples(NOW + 61, NOW + 301, "a")] == [NOW + 180, NOW + 300]
    assert [s.camera_id for s in db.samples(0.0, NOW + day, "b")] == ["b"]
    assert db.samples(0.0, NOW + day, "nobody") == []


# --- publishing.samples -------------------------------------------------------------------
class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def service(db: Store, recent: RecentSamples) -> Service:
    for cid in ("a", "b"):
        db.add_camera(Camera(id=cid, url=f"rtsp://192.0.2.1/{cid}"))
    pubs = Publications(settings=SupervisorSettings(), ffmpeg="ffmpeg", tag_prefix="test")
    return Service(store=AsyncStore(db), snapshot=db.snapshot(), publications=pubs,
                   bus=EventBus(), ffprobe="ffprobe", recent=recent, clock=Clock(NOW))  # fmt: skip


def points(answer: p.Samples) -> dict[str, list[float]]:
    return {cid: [pt.at - NOW for pt in pts] for cid, pts in answer.cameras.items()}


async def test_samples_are_the_stored_ones_up_to_where_the_recent_ones_begin(
    tmp_path: Path,
) -> None:
    db, recent = Store(tmp_path / "ucvd.db"), RecentSamples(every_s=10.0, keep_s=600.0)
    svc = service(db, recent)
    stored = [sample(cid, NOW + d) for cid in ("a", "removed") for d in range(-720, 0, 60)]
    stored += [sample("b", NOW + d) for d in range(-720, -240, 60)]  # b stopped at -300
    db.checkpoint(stored, [])
    for d in range(-150, 1, 10):  # the daemon has run for 150 s
        recent.take(NOW + d, [running("a", fps=30.0)])
    answer = await svc.publishing_samples(p.SamplesQuery(seconds=600), NO_CONNECTION)
    assert answer.seconds == 600
    got = points(answer)
    assert got["a"] == [-600, -540, -480, -420, -360, -300, -240, -180, *range(-150, 1, 10)]
    assert got["b"] == [-600, -540, -480, -420, -360, -300]  # stopped: nothing recent
    assert "removed" not in got  # samples of a camera that is no more
    recent_fps = [pt.fps for pt in answer.cameras["a"]][-16:]
    assert recent_fps == [30.0] * 16  # from memory, not the store's 25
    only_a = await svc.publishing_samples(p.SamplesQuery(camera_id="A", seconds=200), NO_CONNECTION)
    assert points(only_a) == {"a": [-180, *range(-150, 1, 10)]}


async def test_a_window_within_the_recent_samples_comes_from_memory(tmp_path: Path) -> None:
    db, recent = Store(tmp_path / "ucvd.db"), RecentSamples(every_s=10.0, keep_s=600.0)
    svc = service(db, recent)
    db.checkpoint([sample("a", NOW + d) for d in (-90, -30)], [])
    for d in range(-150, 1, 10):
        recent.take(NOW + d, [running("a")])
    answer = await svc.publishing_samples(p.SamplesQuery(seconds=60), NO_CONNECTION)
    assert points(answer) == {"a": list(range(-60, 1, 10))}


async def test_a_daemon_just_started_answers_from_the_store(tmp_path: Path) -> None:
    db = Store(tmp_path / "ucvd.db")
    svc = service(db, RecentSamples())
    db.checkpoint([sample("a", NOW + d) for d in (-700, -600, -60, 0)], [])
    answer = await svc.publishing_samples(p.SamplesQuery(seconds=600), NO_CONNECTION)
    assert points(answer) == {"a": [-600, -60]}  # [now - seconds, now)
    with pytest.raises(NotFound, match="no camera 'nobody'"):
        await svc.publishing_samples(p.SamplesQuery(camera_id="nobody"), NO_CONNECTION)


async def test_one_cameras_gap_leaves_no_hole_in_anothers_samples(tmp_path: Path) -> None:
    db, recent = Store(tmp_path / "ucvd.db"), RecentSamples(every_s=10.0, keep_s=60.0)
    svc = service(db, recent)
    db.checkpoint([sample("a", NOW + d) for d in range(-300, 0, 60)], [])
    for d in range(-100, 1, 10):
        b = running("b") if d == -100 or d >= -40 else between_attempts("b")
        recent.take(NOW + d, [running("a"), b])
    answer = await svc.publishing_samples(p.SamplesQuery(seconds=300), NO_CONNECTION)
    # a's recent points start at -50 (keep_s); the stored one at -60 is the one before them.
    assert points(answer)["a"] == [-300, -240, -180, -120, -60, *range(-50, 1, 10)]
