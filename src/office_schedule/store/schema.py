"""The SQLite schema, versioned: each migration moves ``PRAGMA user_version`` one step forward."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import StoreError
from .db import SQLiteDB, StoreWriteError
from .imported import pack_location_meta

MIGRATIONS: list[str | Callable[[SQLiteDB], None]] = [
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
    # 4: recorders sharing the store: live workers and the hosts each one holds
    """
    CREATE TABLE workers (
        worker      TEXT PRIMARY KEY,            -- host:pid:nonce
        info        TEXT NOT NULL DEFAULT '',
        seen_ts     REAL NOT NULL,
        expires_ts  REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE leases (
        host        TEXT PRIMARY KEY,
        worker      TEXT NOT NULL,
        since_ts    REAL NOT NULL,
        expires_ts  REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 5: watches (stored slot filters), per watch and source the last snapshot evaluated,
    # the slots each one announced (kept until gone for two snapshots), and its messages
    """
    CREATE TABLE watches (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL DEFAULT '',
        rule        TEXT NOT NULL,               -- JSON: the filters (watch.rules.Rule)
        notify      TEXT NOT NULL DEFAULT '[]',  -- JSON list of Apprise URLs
        created_at  TEXT NOT NULL,
        created_ts  REAL NOT NULL
    );
    CREATE TABLE watch_cursors (
        watch_id     INTEGER NOT NULL,
        source_id    TEXT NOT NULL,
        snapshot_id  INTEGER NOT NULL,
        taken_ts     REAL NOT NULL,
        PRIMARY KEY (watch_id, source_id)
    ) WITHOUT ROWID;
    CREATE TABLE watch_announced (
        watch_id      INTEGER NOT NULL,
        source_id     TEXT NOT NULL,
        location_id   TEXT NOT NULL,
        slot          INTEGER NOT NULL,          -- minutes since 1970, naive local time
        announced_at  TEXT NOT NULL,
        missed        INTEGER NOT NULL DEFAULT 0, -- evaluated snapshots it has been gone
        PRIMARY KEY (watch_id, source_id, location_id, slot)
    ) WITHOUT ROWID;
    CREATE TABLE watch_outbox (
        id           INTEGER PRIMARY KEY,
        watch_id     INTEGER NOT NULL,
        source_id    TEXT NOT NULL,
        snapshot_id  INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        created_ts   REAL NOT NULL,
        n_slots      INTEGER NOT NULL,
        title        TEXT NOT NULL,
        body         TEXT NOT NULL,
        delivered    TEXT NOT NULL DEFAULT '',   -- indices of the URLs that took it
        done         INTEGER NOT NULL DEFAULT 0, -- 1: every URL took it
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_ts      REAL NOT NULL DEFAULT 0,    -- no retry before (store clock)
        last_error   TEXT,
        claimed_by   TEXT,                       -- the process sending it, until claim_ts
        claim_ts     REAL
    );
    CREATE INDEX watch_outbox_open ON watch_outbox (done, id);
    """,
    # 6: metadata.json's locations packed per source (store/imported.py pack_locations)
    pack_location_meta,
]

SCHEMA_VERSION = len(MIGRATIONS)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "StoreWriteError", "check_version", "migrate"]


def check_version(version: int, where: object, readonly: bool = False, latest: int = 0) -> int:
    """A newer schema, or (read-only) an older one, is an error naming the store."""
    latest = latest or SCHEMA_VERSION
    if version > latest:
        raise StoreError(
            f"store {where} has schema version {version}, newer than this office-schedule "
            f"({latest}): upgrade office-schedule"
        )
    if readonly and version < latest:
        raise StoreError(
            f"store {where} has schema version {version}, older than this office-schedule "
            f"({latest}): run any writing command to upgrade it (snapshot, import, "
            "reparse)"
        )
    return version


def sqlite_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: SQLiteDB) -> int:
    """Apply the missing migrations, each in its own transaction; return the version."""
    conn = db.conn
    version = check_version(sqlite_version(conn), db.where)
    if version == SCHEMA_VERSION:
        return version
    # a table rebuild must not cascade into slot_sets; the pragma only works outside a
    # transaction, and foreign_key_check proves nothing dangles before it is turned back on
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        for number in range(version, SCHEMA_VERSION):
            with db.transaction():
                run_migration(db, MIGRATIONS[number])
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"migration {number + 1} left dangling references")
                conn.execute(f"PRAGMA user_version = {number + 1}")
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    return SCHEMA_VERSION


def run_migration(db, step, **types: str) -> None:
    """A migration is a SQL script, or a function of the connection (data to convert)."""
    if callable(step):
        step(db, **types)
        return
    for statement in split_script(step):
        db.execute(statement)


def split_script(script: str) -> list[str]:
    """A migration's statements (``--`` comments dropped)."""
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
