"""Backends for the tests: a SQLite file, or a database on a throwaway PostgreSQL server.

The server is started once per test session; each test gets a new empty database. Without
server binaries the PostgreSQL cases skip, naming what is missing; under CI they fail,
because CI must test both backends.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from office_schedule.model import Location, ParsedSnapshot
from office_schedule.store import open_store
from office_schedule.store.pg_cluster import ThrowawayPostgres, find_bindir

BACKENDS = ("sqlite", "postgresql")
_numbers = itertools.count(1)
_server: ThrowawayPostgres | None = None


def pg_server() -> ThrowawayPostgres:
    global _server
    if _server is None:
        if find_bindir() is None:
            reason = "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
            if os.environ.get("CI"):
                pytest.fail(f"CI must test PostgreSQL: {reason}")
            pytest.skip(reason)
        _server = ThrowawayPostgres().start()
    return _server


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def new_pg_url() -> str:
    return pg_server().create_database(f"t{os.getpid()}_{next(_numbers)}")


def db_for(backend: str, tmp_path: Path) -> str:
    """A ``--db`` value of a new, empty store of that backend."""
    if backend == "sqlite":
        return str(tmp_path / f"store{next(_numbers)}.db")
    return new_pg_url()


def open_new(backend: str, tmp_path: Path):
    return open_store(db_for(backend, tmp_path))


def dump(store) -> list:
    """Every row of every table, sorted: equal dumps = equal stores, on either backend."""
    tables = ("snapshots", "locations", "slot_sets", "sources", "segments", "location_meta",
              "robots", "health", "health_log", "watches", "watch_cursors", "watch_announced",
              "watch_outbox")  # fmt: skip
    out = []
    for table in tables:
        rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in store.db.execute(f"SELECT * FROM {table}").fetchall()]  # fmt: skip
        out.append((table, sorted(rows, key=repr)))
    return out


#: snapshots of the store tests are taken from T0 on; their free slots lie on DAY
T0 = datetime(2026, 11, 30, 9, 0)
DAY = datetime(2026, 12, 3)


def parsed_at(**locs: list[int]) -> ParsedSnapshot:
    """Locations with free slots at these hours of DAY."""
    return ParsedSnapshot(
        {
            loc: Location(loc, f"Office {loc}", ("passport",),
                          slots=tuple(DAY.replace(hour=h) for h in hours))
            for loc, hours in locs.items()
        }
    )  # fmt: skip


def save_at(store, minute: int, parsed=None, raw=None, source="city", error=None):
    """A snapshot ``minute`` minutes after T0 (raw payload: the minute unless given)."""
    taken = T0 + timedelta(minutes=minute)
    return store.save_snapshot(
        source, taken, taken.timestamp(), raw=raw if raw is not None else {"m": minute},
        parsed=parsed, error=error,
    )  # fmt: skip
