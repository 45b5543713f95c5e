"""The state database: rules, migrations, retention, and refusal of damaged files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.harness import store_queries as queries
from ucvd.domain.model import Camera, CameraOptions, Target, Transport
from ucvd.domain.siteplan import SiteWrite
from ucvd.state import migrations, store
from ucvd.state.history import SessionRecord
from ucvd.state.store import Conflict, Sample, Store, StoreError


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def opened(camera_id: str, at: float, target: str | None = "t") -> SessionRecord:
    return SessionRecord(camera_id=camera_id, target=target, started_at=at)


def closed(record: SessionRecord, *, at: float, **outcome: Any) -> SessionRecord:
    return msgspec.structs.replace(record, ended_at=at, **outcome)


@pytest.fixture
def db(tmp_path: Path) -> Store:
    return Store(tmp_path / "state" / "ucvd.db")


def test_files_are_private(tmp_path: Path) -> None:
    s = Store(tmp_path / "state" / "ucvd.db")
    assert (s.path.stat().st_mode & 0o777) == 0o600
    assert (s.path.parent.stat().st_mode & 0o777) == 0o700
    assert queries.schema_version(s) == migrations.LATEST


def test_cameras_targets_and_desired_state_round_trip(db: Store) -> None:
    camera = Camera(
        id="cam", url="rtsp://h/s", username="u", password="p w", name="Hall",
        options=CameraOptions(transport=Transport.UDP, audio=False, max_reconnects=3),
    )  # fmt: skip
    db.add_camera(camera)
    with pytest.raises(Conflict):
        db.add_camera(camera)
    db.set_desired("cam", "publishing")
    db.add_target(Target(name="a", rtsp_url="rtsp://a:8554", password="x"), active=True)
    db.add_target(Target(name="b", rtsp_url="rtsp://b:8554"), active=True)
    snap = db.snapshot()
    assert snap.cameras == [camera] and snap.desired == {"cam": "publishing"}
    assert snap.active_target == "b" and [t.name for t in snap.targets] == ["a", "b"]
    db.activate_target("a")
    assert db.snapshot().active_target == "a"
    db.remove_camera("cam")
    assert db.snapshot().desired == {}  # the desired state goes with its camera


def test_only_one_target_can_be_active(db: Store) -> None:
    db.add_target(Target(name="a", rtsp_url="rtsp://a"), active=True)
    db.add_target(Target(name="b", rtsp_url="rtsp://b"), active=False)
    with pytest.raises(sqlite3.IntegrityError):
        conn = sqlite3.connect(db.path)
        with conn:
            conn.execute("UPDATE targets SET active = 1 WHERE name = 'b'")


def test_sessions_open_close_and_interrupted(tmp_path: Path) -> None:
    clock = Clock()
    db = Store(tmp_path / "ucvd.db", clock=clock)
    first = db.open_session(opened("cam", 100.0))
    db.close_session(first, closed(opened("cam", 100.0), at=200.0, end_reason="failed",
                     error_kind="auth_failed", error_message="camera refused", restarts=3,
                     frames=10, bytes=20))  # fmt: skip
    db.open_session(opened("cam", 300.0))
    assert db.close_interrupted(400.0) == 1
    newest, older = db.history("cam", 10)
    assert (newest.end_reason, newest.ended_at) == ("interrupted", 400.0)
    assert (older.error_kind, older.restarts, older.frames) == ("auth_failed", 3, 10)


def test_checkpoint_updates_running_sessions_only(db: Store) -> None:
    """Counters of running sessions land in one commit with the samples; a session that has
    ended keeps the counters it was closed with."""
    ended = db.open_session(opened("a", 100.0))
    db.close_session(ended, closed(opened("a", 100.0), at=150.0, end_reason="stopped",
                     restarts=1, frames=5, bytes=6))  # fmt: skip
    running_a = db.open_session(opened("a", 200.0))
    running_b = db.open_session(opened("b", 200.0))
    samples = [Sample(camera_id="a", at=260.0, fps=25.0, bitrate_kbps=500.0, readers=1)]
    counters = [(running_a, 2, 1500, 90_000), (running_b, 0, 1400, 80_000), (ended, 9, 9, 9)]
    db.checkpoint(samples, counters)
    (a_now, a_before), (b_now,) = db.history("a", 10), db.history("b", 10)
    assert (a_now.restarts, a_now.frames, a_now.bytes, a_now.ended_at) == (2, 1500, 90_000, None)
    assert (b_now.restarts, b_now.frames, b_now.bytes) == (0, 1400, 80_000)
    assert (a_before.restarts, a_before.frames, a_before.bytes) == (1, 5, 6)
    assert queries.samples(db, "a", 0.0) == [(260.0, 0, 25.0)]


def test_a_session_reads_back_as_it_was_written(db: Store) -> None:
    running = msgspec.structs.replace(opened("cam", 100.0), restarts=2, frames=7, bytes=9)
    session_id = db.open_session(running)
    assert db.history("cam", 10) == [running]
    ended = closed(running, at=200.0, end_reason="failed", error_kind="auth_failed",
                   error_message="camera refused", restarts=3, frames=10, bytes=20)  # fmt: skip
    db.close_session(session_id, ended)
    assert db.history("cam", 10) == [ended]
    db.close_session(session_id, closed(running, at=300.0, end_reason="stopped"))
    assert db.history("cam", 10) == [ended]  # closed once: a second close changes nothing


def test_a_session_record_has_the_columns_of_a_session_row() -> None:
    """The store converts between the two by name; neither may grow a field alone."""
    columns = {c.name for c in store.SessionRow.__table__.columns} - {"id"}
    assert set(SessionRecord.__struct_fields__) == columns


def test_history_is_bounded_per_camera(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "SESSIONS_KEPT", 5)
    for i in range(12):
        db.open_session(opened("cam", float(i), target=None))
    db.open_session(opened("other", 0.0, target=None))
    kept = db.history("cam", 100)
    assert [r.started_at for r in kept] == [11.0, 10.0, 9.0, 8.0, 7.0]
    assert len(db.history("other", 100)) == 1


def test_metric_retention_keeps_the_table_bounded(tmp_path: Path) -> None:
    """Simulated weeks: raw samples a minute apart; the table never grows past a day of raw
    samples plus the hourly averages of the retention window."""
    clock = Clock()
    db = Store(tmp_path / "ucvd.db", clock=clock)
    cameras, day = 5, 24 * 3600
    start = clock.now
    for _ in range(10):  # ten days
        samples = [
            Sample(
                camera_id=f"c{c}", at=clock.now + m * 60, fps=25.0, bitrate_kbps=800.0, readers=1
            )
            for m in range(day // 60)
            for c in range(cameras)
        ]
        db.checkpoint(samples, [])
        clock.now += day
        db.compact_samples(clock.now)
        counts = queries.sample_count(db)
        assert counts.get(0, 0) <= cameras * (day // 60 + 60)
    hourly = queries.sample_count(db)[3600]
    assert hourly == cameras * 9 * 24  # every complete hour older than a day, averaged once
    assert all(fps == 25.0 for _, period, fps in queries.samples(db, "c0", start) if period == 3600)
    # Past the 90-day window even the hourly averages go.
    clock.now += 100 * day
    db.compact_samples(clock.now)
    assert queries.sample_count(db) == {}


def test_a_first_release_database_migrates(tmp_path: Path) -> None:
    path = tmp_path / "ucvd.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, upto=1) == 1
    conn.execute(
        "INSERT INTO cameras (id, url, name, options, created_at, updated_at) "
        "VALUES ('old', 'rtsp://h/s', '', '{}', 1, 1)"
    )
    conn.execute("INSERT INTO publications VALUES ('old', 'publishing', 1)")
    conn.close()
    db = Store(path)
    assert queries.schema_version(db) == migrations.LATEST
    snap = db.snapshot()
    assert [c.id for c in snap.cameras] == ["old"] and snap.desired == {"old": "publishing"}
    db.checkpoint([Sample(camera_id="old", at=1.0, fps=None, bitrate_kbps=None, readers=0)], [])


def test_orm_models_describe_the_migrated_schema(db: Store) -> None:
    conn = sqlite3.connect(db.path)
    for table in store.Base.metadata.sorted_tables:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")}
        assert columns == {c.name for c in table.columns}, table.name


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ucvd.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this ucvd"):
        Store(path)


def test_garbage_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ucvd.db"
    path.write_bytes(b"not sqlite at all" * 64)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(path)
    assert path.read_bytes() == b"not sqlite at all" * 64


def test_a_site_applies_whole_or_not_at_all(db: Store) -> None:
    old, gone = Target(name="old", rtsp_url="rtsp://a"), Camera(id="gone", url="rtsp://h/g")
    db.add_target(old, active=True)
    db.add_camera(gone)
    db.add_camera(Camera(id="kept", url="rtsp://h/k"))
    new = Target(name="new", rtsp_url="rtsp://b", username="u", password="pw")
    cam = Camera(id="cam", url="rtsp://h/s")
    kept = Camera(id="kept", url="rtsp://h/k2", name="Kept")
    write = SiteWrite(
        add_targets=(new,),
        activate="new",
        add_cameras=((cam, "publishing"),),
        update_cameras=(kept,),
        desired=(("kept", "publishing"),),
        remove_cameras=("gone",),
        remove_targets=("old",),
    )
    db.checkpoint([], [], [("gone", "restarts", 2), ("kept", "restarts", 1)])
    before = db.snapshot()
    clash = msgspec.structs.replace(write, add_cameras=((cam, "publishing"), (kept, "stopped")))
    with pytest.raises(Conflict):  # the last write fails: the earlier ones do not land
        db.apply_site(clash)
    assert db.snapshot() == before
    db.apply_site(write)
    after = db.snapshot()
    assert after.targets == [new] and after.active_target == "new"
    assert after.cameras == [cam, kept]
    assert after.desired == {"cam": "publishing", "kept": "publishing"}
    assert db.counters() == {"kept": {"restarts": 1}}  # the removed camera's went with it


def test_camera_counters_are_upserted_kept_and_go_with_their_camera(db: Store) -> None:
    for cid in ("a", "b"):
        db.add_camera(Camera(id=cid, url=f"rtsp://192.0.2.1/{cid}"))
    db.checkpoint([], [], [("a", "restarts", 2), ("a", "error:stream_stalled", 1)])
    db.checkpoint([], [], [("a", "restarts", 5), ("b", "restarts", 1), ("gone", "restarts", 9)])
    # `gone` was never a camera (or was removed since it was counted): no row for it.
    assert db.counters() == {
        "a": {"restarts": 5, "error:stream_stalled": 1},
        "b": {"restarts": 1},
    }
    db.remove_camera("a")
    assert db.counters() == {"b": {"restarts": 1}}
    db.add_camera(Camera(id="a", url="rtsp://192.0.2.1/a"))
    assert "a" not in db.counters()  # a camera added again counts from zero


def test_a_version_2_database_gains_the_counters_table(tmp_path: Path) -> None:
    path = tmp_path / "ucvd.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, upto=2) == 2
    conn.close()
    db = Store(path)
    assert queries.schema_version(db) == migrations.LATEST
    assert db.counters() == {}


def test_a_target_player_url_round_trips(db: Store) -> None:
    shown = Target(name="a", rtsp_url="rtsp://a:8554", player_url="http://a:8889/")
    db.add_target(shown, active=True)
    db.add_target(Target(name="b", rtsp_url="rtsp://b:8554"), active=False)
    assert db.snapshot().targets == [shown, Target(name="b", rtsp_url="rtsp://b:8554")]
    db.update_target(msgspec.structs.replace(shown, player_url="https://a.example/mtx/"))
    assert db.snapshot().targets[0].player_url == "https://a.example/mtx/"
    db.update_target(msgspec.structs.replace(shown, player_url=None))
    assert db.snapshot().targets[0].player_url is None
    db.apply_site(SiteWrite(update_targets=(shown,)))
    assert db.snapshot().targets[0] == shown


def test_a_version_3_database_gains_the_player_url_and_transport_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ucvd.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, upto=3) == 3
    conn.execute(
        "INSERT INTO targets (name, rtsp_url, api_url, username, password, active, "
        "created_at, updated_at) VALUES ('central', 'rtsp://mtx:8554', 'http://mtx:9997', "
        "'pub', 'pw', 1, 1, 1)"
    )
    conn.close()
    db = Store(path)
    assert queries.schema_version(db) == migrations.LATEST >= 7
    snap = db.snapshot()
    old = Target(name="central", rtsp_url="rtsp://mtx:8554", api_url="http://mtx:9997",
                 username="pub", password="pw")  # fmt: skip
    assert snap.targets == [old] and snap.active_target == "central"
    db.update_target(msgspec.structs.replace(old, player_url="http://mtx:8889/"))
    srt = Target(name="srt", rtsp_url="srt://mtx:8890", srt_passphrase="0123456789ab")
    tls = Target(name="tls", rtsp_url="rtsps://mtx:8322", tls_fingerprint="ab" * 32,
                 tls_ca_file="/etc/ucvd/ca.pem")  # fmt: skip
    db.add_target(srt, active=False)
    db.add_target(tls, active=False)
    db.close()
    reopened = {t.name: t for t in Store(path).snapshot().targets}
    assert reopened["central"].player_url == "http://mtx:8889/"
    assert reopened["srt"] == srt and reopened["tls"] == tls


def test_a_main_and_its_sub_stream_are_added_together_or_not_at_all(db: Store) -> None:
    main = Camera(id="gate", url="rtsp://192.0.2.1/main", username="u", password="pw")
    sub = Camera(id="gate-sub", url="rtsp://192.0.2.1/sub", username="u", password="pw",
                 main_id="gate")  # fmt: skip
    db.add_camera(Camera(id="taken", url="rtsp://192.0.2.2/"))
    with pytest.raises(Conflict):
        db.add_camera(main, msgspec.structs.replace(sub, id="taken"))
    assert [c.id for c in db.snapshot().cameras] == ["taken"]  # not the main either
    db.add_camera(main, sub)
    snap = db.snapshot()
    assert snap.cameras == [main, sub, Camera(id="taken", url="rtsp://192.0.2.2/")]
    assert snap.desired == {"gate": "stopped", "gate-sub": "stopped", "taken": "stopped"}
    db.apply_site(SiteWrite(update_cameras=(msgspec.structs.replace(sub, main_id=None),)))
    assert db.snapshot().cameras[1].main_id is None


def test_a_version_5_database_gains_the_main_id(tmp_path: Path) -> None:
    path = tmp_path / "ucvd.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, upto=5) == 5
    conn.execute(
        "INSERT INTO cameras (id, url, created_at, updated_at) VALUES "
        "('gate', 'rtsp://192.0.2.1/main', 1, 1)"
    )
    conn.close()
    db = Store(path)
    assert queries.schema_version(db) == migrations.LATEST
    assert db.snapshot().cameras == [Camera(id="gate", url="rtsp://192.0.2.1/main")]
    db.add_camera(Camera(id="gate-sub", url="rtsp://192.0.2.1/sub", main_id="gate"))
    db.close()
    assert Store(path).snapshot().cameras[1].main_id == "gate"
