"""Ordered schema migrations, from the first release on (docs/architecture.md §5).

The schema version is SQLite's `PRAGMA user_version`. Migration N takes a database at
version N-1 to N inside one transaction, so a crash mid-migration leaves the old version
intact. Migrations are plain SQL and never edited once released: a new schema is a new
entry at the end. A database newer than this build is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: cameras, targets, desired state per camera, session history.
    """
    CREATE TABLE cameras (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        username TEXT,
        password TEXT,
        name TEXT NOT NULL DEFAULT '',
        options TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE targets (
        name TEXT PRIMARY KEY,
        rtsp_url TEXT NOT NULL,
        api_url TEXT,
        api_enabled INTEGER NOT NULL DEFAULT 1,
        username TEXT,
        password TEXT,
        api_username TEXT,
        api_password TEXT,
        max_reconnects INTEGER NOT NULL DEFAULT 0,
        reconnect_delay REAL NOT NULL DEFAULT 1.0,
        path_template TEXT NOT NULL DEFAULT 'camera_{camera_id}',
        active INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX one_active_target ON targets (active) WHERE active = 1;
    CREATE TABLE publications (
        camera_id TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
        desired TEXT NOT NULL CHECK (desired IN ('publishing', 'stopped')),
        updated_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL,
        target TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        end_reason TEXT,
        error_kind TEXT,
        error_message TEXT,
        restarts INTEGER NOT NULL DEFAULT 0,
        frames INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_by_camera ON sessions (camera_id, id);
    """,
    # 2: metric samples with retention (raw and hourly), and open sessions found fast.
    """
    CREATE TABLE metric_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL,
        at REAL NOT NULL,
        period_s INTEGER NOT NULL DEFAULT 0,
        fps REAL,
        bitrate_kbps REAL,
        readers INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX samples_by_age ON metric_samples (period_s, at);
    CREATE INDEX samples_by_camera ON metric_samples (camera_id, at);
    CREATE INDEX sessions_open ON sessions (ended_at) WHERE ended_at IS NULL;
    """,
    # 3: each camera's lifetime counters (restarts, errors by kind), kept across restarts.
    """
    CREATE TABLE camera_counters (
        camera_id TEXT NOT NULL,
        counter TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (camera_id, counter)
    );
    """,
    # 4: the dashboard's access tokens, kept only as their SHA-256 (ucvd.domain.tokens).
    """
    CREATE TABLE access_tokens (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('operator', 'viewer')),
        digest TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    """,
    # 5: a target's web player URL, shown as a link (NULL: none).
    """
    ALTER TABLE targets ADD COLUMN player_url TEXT;
    """,
    # 6: how an rtsps:// target's certificate is checked; an srt:// target's passphrase.
    """
    ALTER TABLE targets ADD COLUMN tls_ca_file TEXT;
    ALTER TABLE targets ADD COLUMN tls_fingerprint TEXT;
    ALTER TABLE targets ADD COLUMN srt_passphrase TEXT;
    """,
    # 7: a camera that is another camera's sub stream names it (NULL: a camera on its own).
    """
    ALTER TABLE cameras ADD COLUMN main_id TEXT;
    """,
)

LATEST = len(MIGRATIONS)


class SchemaTooNew(sqlite3.DatabaseError):
    pass


def version_of(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, upto: int = LATEST) -> int:
    """Apply every pending migration up to `upto`; returns the version reached.

    `conn` must be in autocommit mode (isolation_level=None): each step manages its own
    transaction, and `user_version` is set inside it.
    """
    current = version_of(conn)
    if current > LATEST:
        raise SchemaTooNew(
            f"schema version {current} is newer than this ucvd understands ({LATEST}); "
            "was it opened by a newer release?"
        )
    for number in range(current + 1, upto + 1):
        statements = [s.strip() for s in MIGRATIONS[number - 1].split(";") if s.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return version_of(conn)
