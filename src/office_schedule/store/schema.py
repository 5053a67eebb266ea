"""Versioned schema: each migration moves ``PRAGMA user_version`` one step forward."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import StoreError

MIGRATIONS: list[str] = [
    # 1: snapshots, locations, slot sets stored only when a location's slots change
    """
    CREATE TABLE snapshots (
        id            INTEGER PRIMARY KEY,
        source_id     TEXT NOT NULL,
        taken_at      TEXT NOT NULL,          -- local time Europe/Berlin, 'YYYY-MM-DD HH:MM:SS'
        taken_ts      REAL NOT NULL,          -- unix time of the same moment
        status        TEXT NOT NULL CHECK (status IN ('ok', 'unchanged', 'error')),
        duration      REAL,
        requests      INTEGER,
        weeks         INTEGER,
        n_locations   INTEGER,
        n_slots       INTEGER,
        error_class   TEXT,
        error_message TEXT,
        error_url     TEXT,
        raw           BLOB,                   -- zlib(canonical JSON), absent when unchanged
        raw_hash      TEXT
    );
    CREATE INDEX snapshots_source_time ON snapshots (source_id, taken_ts);
    CREATE TABLE locations (
        source_id    TEXT NOT NULL,
        location_id  TEXT NOT NULL,
        name         TEXT,
        services     TEXT NOT NULL DEFAULT '[]',   -- JSON list
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL,
        present      INTEGER NOT NULL DEFAULT 1,   -- in the latest ok snapshot
        slots_hash   TEXT,                         -- of the latest stored slot set
        PRIMARY KEY (source_id, location_id)
    ) WITHOUT ROWID;
    CREATE TABLE slot_sets (
        source_id    TEXT NOT NULL,
        location_id  TEXT NOT NULL,
        snapshot_id  INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
        present      INTEGER NOT NULL,             -- 0: the location vanished in this snapshot
        slots        BLOB,                         -- codec.encode_slots
        PRIMARY KEY (source_id, location_id, snapshot_id)
    ) WITHOUT ROWID;
    CREATE INDEX slot_sets_snapshot ON slot_sets (snapshot_id);
    """,
    # 2: source metadata (name, scraper, url) as published in metadata.json; imported weeks
    # as one self-contained compressed segment per source and ISO week (see segments.py)
    """
    CREATE TABLE sources (
        id       TEXT PRIMARY KEY,
        name     TEXT,
        scraper  TEXT,
        url      TEXT
    ) WITHOUT ROWID;
    CREATE TABLE segments (
        source_id    TEXT NOT NULL,
        week         TEXT NOT NULL,              -- 'YYYY-WW' (ISO)
        first_at     TEXT NOT NULL,
        last_at      TEXT NOT NULL,
        n_ok         INTEGER NOT NULL,
        n_unchanged  INTEGER NOT NULL,
        data         BLOB NOT NULL,
        PRIMARY KEY (source_id, week)
    ) WITHOUT ROWID;
    CREATE TABLE location_meta (
        source_id    TEXT NOT NULL,
        location_id  TEXT NOT NULL,
        name         TEXT,
        services     TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (source_id, location_id)
    ) WITHOUT ROWID;
    """,
    # 3: a snapshot may be 'disallowed' (robots.txt; the rule in error_message), so the
    # table is rebuilt with the wider CHECK (SQLite's documented procedure, foreign keys
    # off, see migrate); robots.txt reads per origin; the health state of each source and
    # the log of its changes
    """
    CREATE TABLE snapshots_v3 (
        id            INTEGER PRIMARY KEY,
        source_id     TEXT NOT NULL,
        taken_at      TEXT NOT NULL,
        taken_ts      REAL NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('ok', 'unchanged', 'error', 'disallowed')),
        duration      REAL,
        requests      INTEGER,
        weeks         INTEGER,
        n_locations   INTEGER,
        n_slots       INTEGER,
        error_class   TEXT,
        error_message TEXT,
        error_url     TEXT,
        raw           BLOB,
        raw_hash      TEXT
    );
    INSERT INTO snapshots_v3 SELECT * FROM snapshots;
    DROP TABLE snapshots;
    ALTER TABLE snapshots_v3 RENAME TO snapshots;
    CREATE INDEX snapshots_source_time ON snapshots (source_id, taken_ts);
    CREATE TABLE robots (
        origin      TEXT PRIMARY KEY,            -- scheme://host[:port]
        fetched_ts  REAL NOT NULL,
        status      INTEGER,                     -- HTTP status; NULL: no connection
        body        TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE health (
        source_id   TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        since       TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE TABLE health_log (
        id          INTEGER PRIMARY KEY,
        source_id   TEXT NOT NULL,
        at          TEXT NOT NULL,
        old_state   TEXT,
        new_state   TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT '',
        notified    INTEGER NOT NULL DEFAULT 0   -- 1: every notification URL took it
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class StoreWriteError(StoreError):
    """A write to the store failed (disk full, read-only file, locked): a runtime failure."""

    exit_code = 1


_HINTS = {
    "disk is full": "free some disk space",
    "readonly": "the file or its folder is read-only",
    "locked": "another process holds the database",
}


def store_path(conn: sqlite3.Connection) -> str:
    """The file behind a connection, for messages."""
    try:
        return conn.execute("PRAGMA database_list").fetchone()[2] or "(memory)"
    except sqlite3.Error:
        return "(unknown file)"


def write_error(conn: sqlite3.Connection, exc: sqlite3.Error) -> StoreWriteError:
    text = str(exc)
    hint = next((h for key, h in _HINTS.items() if key in text), "")
    return StoreWriteError(
        f"cannot write to store {store_path(conn)}: {text}" + (f" ({hint})" if hint else "")
    )


def _is_store_failure(exc: BaseException) -> bool:
    # OperationalError: full, read-only, locked, I/O; a bare DatabaseError: a damaged file.
    # Integrity and programming errors are bugs and keep their traceback.
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (autocommit connections).

    A failing write (disk full, read-only, locked) becomes a :class:`StoreWriteError`
    naming the file; the transaction is rolled back, so nothing committed is touched.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if _is_store_failure(exc):
            raise write_error(conn, exc) from exc
        raise
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL)
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if _is_store_failure(exc):
            raise write_error(conn, exc) from exc
        raise


def check_version(conn: sqlite3.Connection, path: object, readonly: bool = False) -> int:
    """The store's schema version; a newer one, or (read-only) an older one, is an error."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}, newer than this office-schedule "
            f"({SCHEMA_VERSION}): upgrade office-schedule"
        )
    if readonly and version < SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}, older than this office-schedule "
            f"({SCHEMA_VERSION}): run any writing command to upgrade it (snapshot, import, "
            "reparse)"
        )
    return version


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in its own transaction; return the version."""
    version = check_version(conn, store_path(conn))
    if version == SCHEMA_VERSION:
        return version
    # a table rebuild must not cascade into slot_sets; the pragma only works outside a
    # transaction, and foreign_key_check proves nothing dangles before it is turned back on
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        for number in range(version, SCHEMA_VERSION):
            with transaction(conn):
                for statement in _split(MIGRATIONS[number]):
                    conn.execute(statement)
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"migration {number + 1} left dangling references")
                conn.execute(f"PRAGMA user_version = {number + 1}")
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    return SCHEMA_VERSION


def _split(script: str) -> list[str]:
    statements, buf = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                statements.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        statements.append(rest)
    return statements
