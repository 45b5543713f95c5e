"""What survives a restart: cameras, targets, desired states, history, metric samples.

SQLite through SQLAlchemy 2 (docs/architecture.md §5). Every method here is synchronous and
blocking; the daemon calls them through `AsyncStore`, which runs them in a worker thread one at a
time (a single writer: SQLite allows one anyway, and serialising in-process means no
`database is locked` retries). WAL keeps a reader from ever waiting on that writer.

The schema is created by ordered migrations (`ucvd.state.migrations`), never by
`metadata.create_all`, so that the first release's schema stays reproducible and every
later one is reached the same way on every box. The ORM classes below must describe the
schema the migrations produce; a test compares them.

Passwords are stored as given (FFmpeg needs them in clear); the file and its directory are
private to the daemon's user, and nothing in this module returns a password to anything
but the relay engine (the RPC views carry only `has_password`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import anyio
import msgspec
from sqlalchemy import (
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ucvd.domain.model import Camera, CameraOptions, Target
from ucvd.domain.siteplan import SiteWrite
from ucvd.domain.tokens import TokenKind
from ucvd.state.history import SessionRecord
from ucvd.state.migrations import LATEST, migrate

DB_NAME = "ucvd.db"
BUSY_TIMEOUT_MS = 5000

# Metric retention: raw samples for a day, hourly averages for 90 days.
RAW_KEEP_S = 24 * 3600
HOURLY_KEEP_S = 90 * 24 * 3600
HOUR_S = 3600
# History: sessions kept per camera (a flapping camera must not grow the file forever).
SESSIONS_KEPT = 500


class StoreError(RuntimeError):
    """The database cannot be used; the message says which file, why, and what to do."""


class Conflict(StoreError):
    """A uniqueness or in-use rule refused the write (the caller maps it to a domain kind)."""


class Base(DeclarativeBase):
    pass


class CameraRow(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    url: Mapped[str] = mapped_column(String)
    username: Mapped[str | None] = mapped_column(String)
    password: Mapped[str | None] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    options: Mapped[str] = mapped_column(String)  # CameraOptions as JSON
    main_id: Mapped[str | None] = mapped_column(String)  # of the camera this is the sub of
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class TargetRow(Base):
    __tablename__ = "targets"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    rtsp_url: Mapped[str] = mapped_column(String)
    api_url: Mapped[str | None] = mapped_column(String)
    api_enabled: Mapped[bool] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String)
    password: Mapped[str | None] = mapped_column(String)
    api_username: Mapped[str | None] = mapped_column(String)
    api_password: Mapped[str | None] = mapped_column(String)
    max_reconnects: Mapped[int] = mapped_column(Integer)
    reconnect_delay: Mapped[float] = mapped_column(Float)
    path_template: Mapped[str] = mapped_column(String)
    player_url: Mapped[str | None] = mapped_column(String)
    tls_ca_file: Mapped[str | None] = mapped_column(String)
    tls_fingerprint: Mapped[str | None] = mapped_column(String)
    srt_passphrase: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class DesiredRow(Base):
    """The operator's last word per camera: publish or stop (the plan's publishing_states)."""

    __tablename__ = "publications"
    camera_id: Mapped[str] = mapped_column(
        String, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    desired: Mapped[str] = mapped_column(String)
    updated_at: Mapped[float] = mapped_column(Float)


class SessionRow(Base):
    """One publication session, from start to stop (the plan's publishing_history)."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String)
    target: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String)
    error_kind: Mapped[str | None] = mapped_column(String)
    error_message: Mapped[str | None] = mapped_column(String)
    restarts: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)


class CounterRow(Base):
    """A lifetime counter of one camera: `restarts`, or `error:<kind>` (ucvd.state.tally)."""

    __tablename__ = "camera_counters"
    camera_id: Mapped[str] = mapped_column(String, primary_key=True)
    counter: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class SampleRow(Base):
    """A metric sample (the plan's publishing_metrics): raw, or an hourly average."""

    __tablename__ = "metric_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Float)
    period_s: Mapped[int] = mapped_column(Integer)  # 0: raw sample; 3600: hourly average
    fps: Mapped[float | None] = mapped_column(Float)
    bitrate_kbps: Mapped[float | None] = mapped_column(Float)
    readers: Mapped[int] = mapped_column(Integer)


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    at: float
    fps: float | None
    bitrate_kbps: float | None
    readers: int


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the daemon keeps in memory, read once at start."""

    cameras: list[Camera]
    targets: list[Target]
    active_target: str | None
    desired: dict[str, str]


_options_decoder = msgspec.json.Decoder(CameraOptions)
R = TypeVar("R")
P = ParamSpec("P")


class TokenRow(Base):
    """A dashboard access token: its name, kind and SHA-256, never the token itself."""

    __tablename__ = "access_tokens"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    digest: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: TokenKind
    digest: str
    created_at: float


def _camera(row: CameraRow) -> Camera:
    return Camera(
        id=row.id,
        url=row.url,
        username=row.username,
        password=row.password,
        name=row.name,
        options=_options_decoder.decode(row.options),
        main_id=row.main_id,
    )


def _target(row: TargetRow) -> Target:
    return Target(
        name=row.name,
        rtsp_url=row.rtsp_url,
        api_url=row.api_url,
        api_enabled=bool(row.api_enabled),
        username=row.username,
        password=row.password,
        api_username=row.api_username,
        api_password=row.api_password,
        max_reconnects=row.max_reconnects,
        reconnect_delay=row.reconnect_delay,
        path_template=row.path_template,
        player_url=row.player_url,
        tls_ca_file=row.tls_ca_file,
        tls_fingerprint=row.tls_fingerprint,
        srt_passphrase=row.srt_passphrase,
    )


def _session(row: SessionRow) -> SessionRecord:
    return SessionRecord(**{name: getattr(row, name) for name in SessionRecord.__struct_fields__})


# What closing a session writes: everything but what opening it wrote.
_OUTCOME = tuple(
    name
    for name in SessionRecord.__struct_fields__
    if name not in ("camera_id", "target", "started_at")
)


def _sample_row(sample: Sample) -> dict[str, Any]:
    return msgspec.structs.asdict(sample) | {"period_s": 0}


def _target_fields(target: Target) -> dict[str, Any]:
    return msgspec.structs.asdict(target)


def _no_room(path: Path) -> bool:
    """A full disk often surfaces as a mere `disk I/O error` (SQLite's shared-memory file
    cannot grow); the free space tells."""
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def _explain(path: Path, exc: BaseException) -> str:
    """An operator's reading of a SQLite failure."""
    original = getattr(exc, "orig", exc)
    text_ = str(original)
    code = getattr(original, "sqlite_errorname", "")
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in text_:
        return (
            f"{path} is not a usable SQLite database ({text_}); it was left untouched. "
            "Move it aside to start with an empty state, or restore a backup."
        )
    if code.startswith("SQLITE_READONLY") or "readonly" in text_ or "read-only" in text_:
        return f"{path} is read-only ({text_}); ucvd needs to write its state there."
    if code == "SQLITE_FULL" or "disk is full" in text_ or "No space" in text_ or _no_room(path):
        return (
            f"{path}: the disk is full ({text_}); free some space there. "
            "Nothing was lost: the last saved state stays as it was."
        )
    if code.startswith("SQLITE_IOERR") or "disk I/O error" in text_:
        return (
            f"{path}: the disk refused a write ({text_}): check that the file is writable "
            "(not read-only or immutable) and the disk healthy. Nothing was lost: the last "
            "saved state stays as it was."
        )
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in text_:
        return (
            f"{path} cannot be opened ({text_}): check that the directory exists and is writable."
        )
    return f"{path}: database error: {text_}"


class Store:
    """The state database. Not thread-safe: use from one thread at a time (AsyncStore)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self.engine = self._open(path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # --- opening ----------------------------------------------------------------------------
    @staticmethod
    def _prepare_directory(directory: Path) -> None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {directory}: {exc}") from None
        mode = stat.S_IMODE(directory.stat().st_mode)
        if mode & 0o077:
            with contextlib.suppress(OSError):  # not ours to change (e.g. /tmp): the file is
                directory.chmod(mode & 0o700 or 0o700)  # private anyway

    def _open(self, path: Path) -> Engine:
        self._prepare_directory(path.parent)
        if path.exists() and not path.is_file():
            raise StoreError(f"{path} exists and is not a file")
        fresh = not path.exists()
        if fresh:
            try:  # created private before SQLite writes a byte (and its -wal/-shm follow it)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            except OSError as exc:
                raise StoreError(f"cannot create {path}: {exc}") from None
        elif stat.S_IMODE(path.stat().st_mode) & 0o077:
            with contextlib.suppress(OSError):
                path.chmod(0o600)
        try:
            _check_and_migrate(path)
        except sqlite3.Error as exc:
            raise StoreError(_explain(path, exc)) from None
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _on_connect)
        return engine

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from None
        except DBAPIError as exc:
            raise StoreError(_explain(self.path, exc)) from None

    # --- reading everything at start ----------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._tx() as s:
            targets = s.scalars(select(TargetRow).order_by(TargetRow.name)).all()
            active = next((t.name for t in targets if t.active), None)
            return Snapshot(
                cameras=[_camera(r) for r in s.scalars(select(CameraRow).order_by(CameraRow.id))],
                targets=[_target(t) for t in targets],
                active_target=active,
                desired={r.camera_id: r.desired for r in s.scalars(select(DesiredRow))},
            )

    # --- cameras ----------------------------------------------------------------------------
    def add_camera(self, camera: Camera, *more: Camera) -> None:
        """One camera, or a main and its sub stream: all of them or none."""
        now = self._clock()
        with self._tx() as s:
            for each in (camera, *more):
                if s.get(CameraRow, each.id) is not None:
                    raise Conflict(f"camera {each.id} already exists")
                s.add(CameraRow(**self._camera_fields(each), created_at=now, updated_at=now))
                s.add(DesiredRow(camera_id=each.id, desired="stopped", updated_at=now))

    def update_camera(self, camera: Camera) -> None:
        with self._tx() as s:
            s.execute(
                update(CameraRow)
                .where(CameraRow.id == camera.id)
                .values(**self._camera_fields(camera), updated_at=self._clock())
            )

    @staticmethod
    def _camera_fields(camera: Camera) -> dict[str, Any]:
        return {
            "id": camera.id,
            "url": camera.url,
            "username": camera.username,
            "password": camera.password,
            "name": camera.name,
            "options": msgspec.json.encode(camera.options).decode(),
            "main_id": camera.main_id,
        }

    def remove_camera(self, camera_id: str) -> None:
        with self._tx() as s:
            s.execute(delete(CameraRow).where(CameraRow.id == camera_id))
            s.execute(delete(CounterRow).where(CounterRow.camera_id == camera_id))

    def set_desired(self, camera_id: str, desired: str) -> None:
        with self._tx() as s:
            s.execute(
                update(DesiredRow)
                .where(DesiredRow.camera_id == camera_id)
                .values(desired=desired, updated_at=self._clock())
            )

    # --- targets ----------------------------------------------------------------------------
    def add_target(self, target: Target, *, active: bool) -> None:
        now = self._clock()
        with self._tx() as s:
            if s.get(TargetRow, target.name) is not None:
                raise Conflict(f"target {target.name} already exists")
            if active:
                s.execute(update(TargetRow).values(active=False))
            s.add(
                TargetRow(**_target_fields(target), active=active, created_at=now, updated_at=now)
            )

    def update_target(self, target: Target) -> None:
        with self._tx() as s:
            s.execute(
                update(TargetRow)
                .where(TargetRow.name == target.name)
                .values(**_target_fields(target), updated_at=self._clock())
            )

    def remove_target(self, name: str) -> None:
        with self._tx() as s:
            s.execute(delete(TargetRow).where(TargetRow.name == name))

    def activate_target(self, name: str) -> None:
        with self._tx() as s:
            s.execute(update(TargetRow).where(TargetRow.name != name).values(active=False))
            s.execute(update(TargetRow).where(TargetRow.name == name).values(active=True))

    # --- a whole site at once ----------------------------------------------------------------
    def apply_site(self, write: SiteWrite) -> None:
        """Every change of a `ucvctl apply` in one transaction: all of it lands, or none."""
        now = self._clock()
        with self._tx() as s:
            for target in write.add_targets:
                if s.get(TargetRow, target.name) is not None:
                    raise Conflict(f"target {target.name} already exists")
                s.add(
                    TargetRow(
                        **_target_fields(target), active=False, created_at=now, updated_at=now
                    )
                )
            for target in write.update_targets:
                s.execute(
                    update(TargetRow)
                    .where(TargetRow.name == target.name)
                    .values(**_target_fields(target), updated_at=now)
                )
            s.flush()
            if write.activate is not None:
                s.execute(
                    update(TargetRow).where(TargetRow.name != write.activate).values(active=False)
                )
                s.execute(
                    update(TargetRow).where(TargetRow.name == write.activate).values(active=True)
                )
            for camera, desired in write.add_cameras:
                if s.get(CameraRow, camera.id) is not None:
                    raise Conflict(f"camera {camera.id} already exists")
                s.add(CameraRow(**self._camera_fields(camera), created_at=now, updated_at=now))
                s.add(DesiredRow(camera_id=camera.id, desired=desired, updated_at=now))
            for camera in write.update_cameras:
                s.execute(
                    update(CameraRow)
                    .where(CameraRow.id == camera.id)
                    .values(**self._camera_fields(camera), updated_at=now)
                )
            for camera_id, desired in write.desired:
                s.execute(
                    update(DesiredRow)
                    .where(DesiredRow.camera_id == camera_id)
                    .values(desired=desired, updated_at=now)
                )
            if write.remove_cameras:
                s.execute(delete(CameraRow).where(CameraRow.id.in_(write.remove_cameras)))
                s.execute(delete(CounterRow).where(CounterRow.camera_id.in_(write.remove_cameras)))
            if write.remove_targets:
                s.execute(delete(TargetRow).where(TargetRow.name.in_(write.remove_targets)))

    # --- history ----------------------------------------------------------------------------
    def open_session(self, session: SessionRecord) -> int:
        with self._tx() as s:
            row = SessionRow(**msgspec.structs.asdict(session))
            s.add(row)
            s.flush()
            session_id = row.id
            # Keep the newest SESSIONS_KEPT of this camera.
            cutoff = s.scalar(
                select(SessionRow.id)
                .where(SessionRow.camera_id == session.camera_id)
                .order_by(SessionRow.id.desc())
                .offset(SESSIONS_KEPT)
                .limit(1)
            )
            if cutoff is not None:
                s.execute(
                    delete(SessionRow).where(
                        SessionRow.camera_id == session.camera_id, SessionRow.id <= cutoff
                    )
                )
            return session_id

    def close_session(self, session_id: int, session: SessionRecord) -> None:
        """Write how a session ended; once only (a closed session stays as it was closed)."""
        with self._tx() as s:
            s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.ended_at.is_(None))
                .values({name: getattr(session, name) for name in _OUTCOME})
            )

    def checkpoint(
        self,
        samples: list[Sample],
        counters: list[tuple[int, int, int, int]],
        tallies: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """Metric samples, running sessions' (id, restarts, frames, bytes) and cameras'
        lifetime counters (camera_id, counter, value), in one commit."""
        with self._tx() as s:
            if tallies:
                # Only for cameras that still exist: one removed since it was counted has
                # had its rows deleted, and must not get them back.
                s.execute(
                    text(
                        "INSERT INTO camera_counters (camera_id, counter, value) "
                        "SELECT :c, :n, :v WHERE EXISTS (SELECT 1 FROM cameras WHERE id = :c) "
                        "ON CONFLICT (camera_id, counter) DO UPDATE SET value = excluded.value"
                    ),
                    [{"c": c, "n": n, "v": v} for c, n, v in tallies],
                )
            if samples:
                s.execute(insert(SampleRow), [_sample_row(x) for x in samples])
            if counters:  # one executemany, not a compiled UPDATE per camera
                table = cast(Table, SessionRow.__table__)
                s.execute(
                    update(table)
                    .where(table.c.id == bindparam("sid"), table.c.ended_at.is_(None))
                    .values(restarts=bindparam("r"), frames=bindparam("f"), bytes=bindparam("b")),
                    [{"sid": i, "r": r, "f": f, "b": b} for i, r, f, b in counters],
                )

    def counters(self) -> dict[str, dict[str, int]]:
        """Every camera's lifetime counters, read once at start."""
        saved: dict[str, dict[str, int]] = {}
        with self._tx() as s:
            for row in s.scalars(select(CounterRow)):
                saved.setdefault(row.camera_id, {})[row.counter] = row.value
        return saved

    # --- access tokens ------------------------------------------------------------------------
    def add_token(self, token: TokenRecord) -> None:
        with self._tx() as s:
            if s.get(TokenRow, token.name) is not None:
                raise Conflict(f"a token named {token.name} already exists")
            s.add(TokenRow(**msgspec.structs.asdict(token)))

    def tokens(self) -> list[TokenRecord]:
        with self._tx() as s:
            rows = s.scalars(select(TokenRow).order_by(TokenRow.name)).all()
            return [
                TokenRecord(
                    name=r.name,
                    kind="viewer" if r.kind == "viewer" else "operator",
                    digest=r.digest,
                    created_at=r.created_at,
                )
                for r in rows
            ]

    def remove_token(self, name: str) -> bool:
        with self._tx() as s:
            row = s.get(TokenRow, name)
            if row is None:
                return False
            s.delete(row)
            return True

    def close_interrupted(self, at: float) -> int:
        """Sessions left open by a daemon that died without closing them."""
        with self._tx() as s:
            result = s.execute(
                update(SessionRow)
                .where(SessionRow.ended_at.is_(None))
                .values(ended_at=at, end_reason="interrupted")
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def history(self, camera_id: str, limit: int) -> list[SessionRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(SessionRow)
                .where(SessionRow.camera_id == camera_id)
                .order_by(SessionRow.id.desc())
                .limit(limit)
            ).all()
            return [_session(r) for r in rows]

    # --- metric samples ---------------------------------------------------------------------
    def samples(self, since: float, until: float, camera_id: str | None = None) -> list[Sample]:
        """Raw samples taken in [since, until), oldest first."""
        query = select(SampleRow).where(
            SampleRow.period_s == 0, SampleRow.at >= since, SampleRow.at < until
        )
        if camera_id is not None:
            query = query.where(SampleRow.camera_id == camera_id)
        with self._tx() as s:
            return [
                Sample(
                    camera_id=r.camera_id,
                    at=r.at,
                    fps=r.fps,
                    bitrate_kbps=r.bitrate_kbps,
                    readers=r.readers,
                )
                for r in s.scalars(query.order_by(SampleRow.at))
            ]

    def compact_samples(self, now: float) -> None:
        """Raw samples older than a day become hourly averages; those go after 90 days.
        Bounded whatever the uptime: per camera, 1 day of raw plus 90 days of hours."""
        raw_cutoff = now - RAW_KEEP_S
        raw_cutoff -= raw_cutoff % HOUR_S  # whole hours only, so each hour is averaged once
        with self._tx() as s:
            hour = (func.cast(SampleRow.at / HOUR_S, Integer) * HOUR_S).label("hour")
            rows = s.execute(
                select(
                    SampleRow.camera_id,
                    hour,
                    func.avg(SampleRow.fps),
                    func.avg(SampleRow.bitrate_kbps),
                    func.max(SampleRow.readers),
                )
                .where(SampleRow.period_s == 0, SampleRow.at < raw_cutoff)
                .group_by(SampleRow.camera_id, hour)
            ).all()
            s.add_all(
                SampleRow(
                    camera_id=cam,
                    at=float(at),
                    period_s=HOUR_S,
                    fps=fps,
                    bitrate_kbps=kbps,
                    readers=int(readers or 0),
                )
                for cam, at, fps, kbps, readers in rows
            )
            s.execute(delete(SampleRow).where(SampleRow.period_s == 0, SampleRow.at < raw_cutoff))
            s.execute(delete(SampleRow).where(SampleRow.at < now - HOURLY_KEEP_S))


def _check_and_migrate(path: Path) -> None:
    """Refuse a damaged file before touching it, then bring the schema up to date."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StoreError(
                f"{path} is damaged (quick_check: {check[0] if check else '?'}); it was left "
                "untouched. Move it aside to start with an empty state, or restore a backup."
            )
        conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn)
    finally:
        conn.close()


def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # a power cut loses no committed write
    finally:
        cursor.close()


class AsyncStore:
    """The store from the event loop: each call runs in a worker thread, one at a time.

    Callers name the method on the class, `await db.call(Store.add_camera, camera)`, so
    that mypy checks the arguments against its signature and nobody holds the `Store`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._limiter = anyio.CapacityLimiter(1)

    async def call(
        self, fn: Callable[Concatenate[Store, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def run() -> R:
            return fn(self._store, *args, **kwargs)

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)


__all__ = ["LATEST", "AsyncStore", "Conflict", "Sample", "Store", "StoreError"]
