from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from office_schedule.errors import ParseError, StoreError
from office_schedule.model import Location, ParsedSnapshot
from office_schedule.store import SQLiteStore
from office_schedule.store.codec import decode_slots, encode_slots
from office_schedule.store.schema import SCHEMA_VERSION

T0 = datetime(2021, 7, 12, 8, 0)


def snap(**locs: list[str]) -> ParsedSnapshot:
    return ParsedSnapshot(
        {
            lid: Location(lid, f"Amt {lid}", ("Pass",), tuple(datetime.fromisoformat(s) for s in v))
            for lid, v in locs.items()
        }
    )


def save(store: SQLiteStore, minute: int, raw, parsed=None, error=None):
    taken = T0.replace(minute=minute)
    return store.save_snapshot(
        "src", taken, taken.timestamp(), requests=3, weeks=4, raw=raw, parsed=parsed, error=error
    )


def test_slot_codec_roundtrip():
    slots = (datetime(2021, 7, 12, 8, 5), datetime(2021, 7, 12, 8, 0), datetime(2030, 1, 1))
    assert decode_slots(encode_slots(slots)) == tuple(sorted(slots))
    assert decode_slots(encode_slots(())) == ()


def test_ok_unchanged_error_and_state(store):
    a = snap(**{"1": ["2021-07-13 08:00", "2021-07-13 08:05"], "2": ["2021-07-14 09:00"]})
    r1 = save(store, 0, {"x": 1}, a)
    assert r1.status == "ok" and r1.n_slots == 3 and r1.n_locations == 2
    r2 = save(store, 15, {"x": 1}, a)
    assert r2.status == "unchanged"
    r3 = save(store, 30, None, error=("ScrapeError", "HTTP 500", "http://x/"))
    assert r3.status == "error" and r3.error_url == "http://x/"
    b = snap(**{"1": ["2021-07-13 08:05"]})  # location 2 vanished, 1 lost a slot
    r4 = save(store, 45, {"x": 2}, b)
    assert r4.status == "ok"
    assert store.state_at("src", r1.id).to_truth() == a.to_truth()
    assert store.state_at("src", r2.id).to_truth() == a.to_truth()
    assert store.state_at("src", r4.id).to_truth() == b.to_truth()
    assert store.latest_snapshot("src").id == r4.id
    # only changed slot sets are stored: 2 (first) + 1 changed + 1 vanished marker
    assert store.conn.execute("SELECT count(*) FROM slot_sets").fetchone()[0] == 4
    (row,) = store.status_summary()
    assert row["snapshots"] == 4 and row["changed"] == 2 and row["unchanged"] == 1
    assert row["errors"] == 1 and row["last_error"] == "ScrapeError: HTTP 500"
    loc = store.state_at("src", r1.id).locations["1"]
    assert loc.name == "Amt 1" and loc.services == ("Pass",)


def test_location_reappears(store):
    save(store, 0, {"a": 1}, snap(**{"1": ["2021-07-13 08:00"]}))
    save(store, 15, {"a": 2}, snap())
    r = save(store, 30, {"a": 1}, snap(**{"1": ["2021-07-13 08:00"]}))
    assert store.state_at("src", r.id).to_truth() == {"1": ["2021-07-13 08:00:00"]}


def test_reparse_rebuilds_and_records_failures(store):
    save(store, 0, {"slots": ["2021-07-13 08:00"]}, snap(**{"1": []}))
    save(store, 15, {"slots": "broken"}, snap(**{"1": []}))

    def parse(raw):
        if not isinstance(raw["slots"], list):
            raise ParseError("slots must be a list")
        return snap(**{"1": raw["slots"]})

    assert store.reparse("src", parse) == {"parsed": 1, "failed": 1}
    first, second = store.snapshots("src")
    assert store.state_at("src", first.id).to_truth() == {"1": ["2021-07-13 08:00:00"]}
    assert second.status == "error" and second.error_class == "ParseError"


def test_schema_version_and_wal(tmp_path):
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_paths(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStore(tmp_path / "missing" / "x.db")
    with pytest.raises(StoreError, match="is a directory"):
        SQLiteStore(tmp_path)
    with pytest.raises(StoreError, match="no store at"):
        SQLiteStore(tmp_path / "absent.db", create=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        SQLiteStore(junk)


def test_lock_is_exclusive(tmp_path):
    a = SQLiteStore(tmp_path / "l.db")
    b = SQLiteStore(tmp_path / "l.db")
    a.acquire_lock()
    with pytest.raises(StoreError, match="locked by another"):
        b.acquire_lock()
    a.release_lock()
    b.acquire_lock()
    a.close()
    b.close()


def test_migration_3_keeps_every_snapshot_and_slot_set(tmp_path):
    """The snapshots table is rebuilt for the 'disallowed' status; nothing cascades away."""
    from office_schedule.store import schema

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, script in enumerate(schema.MIGRATIONS[:2]):
        for statement in schema.split_script(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number + 1}")
    conn.execute(
        "INSERT INTO snapshots (id, source_id, taken_at, taken_ts, status) "
        "VALUES (1, 's', '2026-12-01 10:00:00', 1.0, 'ok')"
    )
    conn.execute(
        "INSERT INTO slot_sets (source_id, location_id, snapshot_id, present, slots) "
        "VALUES ('s', 'l', 1, 1, x'00')"
    )
    conn.close()
    with SQLiteStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert store.conn.execute("SELECT count(*) FROM slot_sets").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        store.conn.execute(
            "INSERT INTO snapshots (source_id, taken_at, taken_ts, status) "
            "VALUES ('s', '2026-12-01 10:15:00', 2.0, 'disallowed')"
        )


def test_migration_6_packs_metadata_locations_per_source(tmp_path):
    """metadata.json locations move from one row per location into one blob per source."""
    from office_schedule.store import schema

    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(schema.MIGRATIONS[:5]):
        for statement in schema.split_script(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number + 1}")
    conn.executemany(
        "INSERT INTO location_meta (source_id, location_id, name, services) VALUES (?, ?, ?, ?)",
        [("a", "2", "Zwei", '["x", "y"]'), ("a", "1", None, "[]"), ("b", "9", "Neun", '["ü"]')],
    )
    conn.close()
    with SQLiteStore(path) as store:
        assert store.location_metadata("a") == [("1", None, []), ("2", "Zwei", ["x", "y"])]
        assert store.location_metadata("b") == [("9", "Neun", ["ü"])]
        assert store.location_metadata("c") == []


def test_published_metadata_adds_at_most_300_kb(shared_dir, tmp_path):
    """The published metadata.json (2.3 MB of JSON) is stored compactly, byte-identical out."""
    from office_schedule.exchange import import_paths

    raw = shared_dir / "data" / "office-schedule-data" / "raw" / "metadata.json"

    def size(store) -> int:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.execute("VACUUM")
        return store.conn.execute("PRAGMA page_count").fetchone()[0] * 4096

    with SQLiteStore(tmp_path / "m.db") as store:
        empty = size(store)
        import_paths(store, [raw])
        added = size(store) - empty
    assert added <= 300_000, added
