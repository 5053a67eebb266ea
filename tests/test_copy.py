"""``office-schedule copy``: one store into another, across backends, idempotently."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import StoreError
from office_schedule.fetch.robots import RobotsRecord
from office_schedule.store import copy as store_copy
from office_schedule.store import open_store
from office_schedule.store.codec import slot_minutes
from office_schedule.store.copy import copy_store

from . import stores
from .stores import DAY, parsed_at, save_at
from .weekslices import assert_exports_the_published_week

DIRECTIONS = [("sqlite", "postgresql"), ("postgresql", "sqlite")]


def _minutes(*hours: int) -> np.ndarray:
    return slot_minutes([DAY.replace(hour=h) for h in hours])


def _fill(s) -> None:
    """Scraped snapshots of two sources (unchanged, errors, a vanishing location), an
    imported week, metadata, robots.txt reads and health."""
    save_at(s, 0, parsed_at(a=[9, 10], b=[11]), raw={"v": 1})
    save_at(s, 15, parsed_at(a=[9, 10], b=[11]), raw={"v": 1})  # unchanged
    save_at(s, 20, parsed_at(a=[9]), raw={"v": 1}, source="town")
    save_at(s, 30, parsed_at(a=[10]), raw={"v": 2})  # b vanishes
    save_at(s, 45, error=("ScrapeError", "HTTP 500", "https://x.example/"))
    save_at(s, 50, error=("Disallowed", "Disallow: /", "https://x.example/"))
    save_at(s, 55, raw={"broken": True}, error=("ParseError", "no rows", None))
    save_at(s, 70, parsed_at(a=[10], b=[12], c=[13]), raw={"v": 3})  # b is back
    save_at(s, 80, parsed_at(a=[10], b=[12], c=[13]), raw={"v": 3})
    save_at(s, 90, parsed_at(a=[11]), raw={"v": 4}, source="town")
    a, b = _minutes(9), _minutes(9, 10)
    s.save_segment("city", "2026-48", [("2026-11-29 10:00:00", "ok", {"a": a, "z": b}),
                                       ("2026-11-29 10:15:00", "unchanged", {"a": a, "z": b}),
                                       ("2026-11-29 10:30:00", "ok", {"a": b})])  # fmt: skip
    s.save_segment("village", "2026-47", [("2026-11-20 08:00:00", "ok", {"x": a})])
    s.add_location_spans("city", {"z": ("2026-11-29 10:00:00", "2026-11-29 10:15:00")})
    s.add_location_spans("village", {"x": ("2026-11-20 08:00:00", "2026-11-20 08:00:00")})
    s.merge_metadata({
        "city": {"name": "City", "scraper": "tevis", "url": "https://c.example/",
                 "locations": {"a": {"name": "A", "services": ["x"]}, "z": {"services": []}}},
        "village": {"name": "Village", "scraper": "zms", "url": None,
                    "locations": {"x": {"name": "X", "services": ["id"]}}},
    })  # fmt: skip
    s.robots_put(RobotsRecord("https://x.example", 5.0, 200, "User-agent: *\nDisallow: /"))
    s.robots_put(RobotsRecord("https://y.example", 6.0, None, "timed out"))
    first = s.record_health("city", "failing", "2026-11-30 09:45:00", "HTTP 500", "2026-11-30")
    s.record_health("city", "ok", "2026-11-30 10:10:00", "", "2026-11-30 10:10:00")
    s.mark_notified([first])


def _states(store, sid: str) -> list:
    return [(t, st, {k: v.tolist() for k, v in sorted(state.items())})
            for t, st, state in store.states(sid)]  # fmt: skip


def normal(store) -> list:
    """``stores.dump`` without the ids the destination assigns anew."""
    out = dict(stores.dump(store))
    keys = {
        i: (t, ts, st)
        for i, t, ts, st in store.db.execute("SELECT id, taken_at, taken_ts, status FROM snapshots")
    }
    out["snapshots"] = sorted((r[1:] for r in out["snapshots"]), key=repr)
    out["slot_sets"] = sorted(((s, loc, keys[i], p, b) for s, loc, i, p, b in out["slot_sets"]),
                              key=repr)  # fmt: skip
    out["health_log"] = sorted((r[1:] for r in out["health_log"]), key=repr)
    return sorted(out.items())


def _assert_same(src_db: str, dest_db: str) -> None:
    with open_store(src_db, readonly=True) as src, open_store(dest_db, readonly=True) as dest:
        assert dest.source_ids() == src.source_ids()
        for sid in src.source_ids():
            assert _states(dest, sid) == _states(src, sid), sid
            ours, theirs = src.snapshots(sid), dest.snapshots(sid)
            assert [(r.taken_at, r.status, r.error_message) for r in theirs] == [
                (r.taken_at, r.status, r.error_message) for r in ours
            ]
            for a, b in zip(ours, theirs, strict=True):
                assert dest.raw_payload(b.id) == src.raw_payload(a.id)
            for table in ("location_meta", "locations"):
                assert dest.location_metadata(sid, table) == src.location_metadata(sid, table)
        assert dest.status_summary() == src.status_summary()
        assert dest.source_metadata() == src.source_metadata()
        assert dest.health_changes() == src.health_changes()
        assert dest.robots_get("https://y.example") == src.robots_get("https://y.example")
        assert normal(dest) == normal(src)


def _db(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        stores.pg_server()
    return stores.db_for(backend, tmp_path)


@pytest.mark.parametrize("source, dest", DIRECTIONS)
def test_copy_across_backends_equals_the_source(tmp_path, source, dest):
    src_db, dest_db = _db(source, tmp_path), _db(dest, tmp_path)
    with open_store(src_db) as s:
        _fill(s)
    summary = copy_store(src_db, dest_db, chunk=3)
    assert summary.sources == ["city", "town", "village"] and not summary.refused
    assert summary.counts["snapshots"] == {"copied": 10}
    assert summary.counts["segments"] == {"copied": 2}
    assert summary.counts["locations"] == {"copied": 6}  # a, b, c, z; a; x
    assert summary.counts["location_meta"] == {"copied": 3}
    assert summary.counts["robots"] == {"copied": 2}
    assert summary.counts["health_log"] == {"copied": 2}
    _assert_same(src_db, dest_db)
    with open_store(src_db, readonly=True) as src, open_store(dest_db, readonly=True) as d:
        raw = "SELECT raw FROM snapshots WHERE raw IS NOT NULL ORDER BY taken_ts"
        assert [bytes(r[0]) for r in d.db.execute(raw)] == [
            bytes(r[0]) for r in src.db.execute(raw)
        ]  # the compressed payloads as they were, not compressed again
        assert len(_states(d, "city")) == 8  # 3 imported, 5 scraped ok/unchanged


@pytest.mark.parametrize("source, dest", DIRECTIONS)
def test_second_copy_changes_nothing_and_later_snapshots_append(tmp_path, source, dest):
    src_db, dest_db = _db(source, tmp_path), _db(dest, tmp_path)
    with open_store(src_db) as s:
        _fill(s)
    copy_store(src_db, dest_db, chunk=4)
    with open_store(dest_db) as d:
        before = stores.dump(d)
    again = copy_store(src_db, dest_db, chunk=4)
    assert all(not c["copied"] and not c["merged"] for c in again.counts.values())
    assert again.counts["snapshots"] == {"skipped": 10}
    with open_store(dest_db) as d:
        assert stores.dump(d) == before
    with open_store(src_db) as s:
        save_at(s, 100, parsed_at(a=[11], c=[13]), raw={"v": 5})  # b vanishes again
        save_at(s, 105, parsed_at(a=[11], c=[13]), raw={"v": 5})
        save_at(s, 110, error=("ScrapeError", "timeout", None))
        save_at(s, 120, parsed_at(b=[14]), raw={"v": 6})
        save_at(s, 125, parsed_at(a=[12]), raw={"w": 1}, source="town")
        s.save_segment("village", "2026-49", [("2026-12-01 08:00:00", "ok", {"x": _minutes(9)})])
        s.record_health("town", "stale", "2026-11-30 11:00:00", "no data", "2026-11-30 11:00")
    third = copy_store(src_db, dest_db, chunk=4)
    assert third.counts["snapshots"] == {"copied": 5, "skipped": 10}
    assert third.counts["segments"] == {"copied": 1, "skipped": 2}
    _assert_same(src_db, dest_db)


@pytest.mark.parametrize("chunk", [2, 500])
def test_the_repeated_hour_of_autumn_copies_exactly(tmp_path, chunk):
    """Local times repeat at the end of summer time: last_seen follows the source's rules
    (later-of for ok snapshots, set by unchanged ones), chunk boundaries or not."""
    src_db, dest_db = _db("sqlite", tmp_path), _db("postgresql", tmp_path)
    utc = datetime(2026, 10, 24, 23, 50).timestamp() - time.timezone  # 01:50 CEST
    steps = [  # (local time, minutes after the first, raw, locations or None: unchanged)
        ("01:50", 0, 1, {"a": [9], "b": [10]}),
        ("02:40", 50, 2, {"a": [9], "b": [10], "c": [8]}),
        ("02:10", 80, 3, {"a": [9], "b": [11]}),  # CET: the hour again
        ("02:15", 85, 4, {"b": [11]}),
        ("02:20", 90, 4, {"b": [11]}),  # unchanged
        ("02:30", 100, 5, {}),
    ]
    with open_store(src_db) as s:
        for local, minutes, raw, locs in steps:
            taken = datetime.fromisoformat(f"2026-10-25 {local}")
            s.save_snapshot(
                "dst", taken, utc + 60 * minutes, raw={"v": raw}, parsed=parsed_at(**locs)
            )
        assert [r.status for r in s.snapshots("dst")][-2:] == ["unchanged", "ok"]
    copy_store(src_db, dest_db, chunk=chunk)
    with open_store(dest_db, readonly=True) as d:
        seen = {r[0]: r[1] for r in d.db.execute("SELECT location_id, last_seen FROM locations")}
    assert seen == {"a": "2026-10-25 02:40:00", "b": "2026-10-25 02:20:00",
                    "c": "2026-10-25 02:40:00"}  # fmt: skip
    _assert_same(src_db, dest_db)


def test_an_interrupted_copy_resumes(tmp_path, monkeypatch):
    src_db, dest_db = _db("sqlite", tmp_path), _db("postgresql", tmp_path)
    with open_store(src_db) as s:
        _fill(s)
    real_write, calls = store_copy._Scraped.write, []

    def failing_write(self, ids):
        calls.append(ids)
        if len(calls) == 2:
            raise RuntimeError("killed")
        real_write(self, ids)

    monkeypatch.setattr(store_copy._Scraped, "write", failing_write)
    with pytest.raises(RuntimeError, match="killed"):
        copy_store(src_db, dest_db, chunk=2)
    with open_store(dest_db, readonly=True) as d:
        assert len(d.snapshots("city")) == 2  # the first chunk, committed; not the second
    monkeypatch.setattr(store_copy._Scraped, "write", real_write)
    summary = copy_store(src_db, dest_db, chunk=2)
    assert summary.counts["snapshots"] == {"copied": 8, "skipped": 2}
    _assert_same(src_db, dest_db)


def test_interleaved_recordings_refuse_that_source_only(tmp_path):
    src_db, dest_db = _db("sqlite", tmp_path), _db("postgresql", tmp_path)
    with open_store(src_db) as s:
        _fill(s)
    with open_store(dest_db) as d:
        save_at(d, 60, parsed_at(a=[9]), raw={"theirs": 1})  # between the source's city snapshots
        before = d.snapshots("city")
    result = CliRunner().invoke(main, ["copy", "--from", src_db, "--to", dest_db])
    assert result.exit_code == 1, result.output
    assert "source city refused" in result.output and "2026-11-30 09:00:00" in result.output
    assert "2026-11-30 10:00:00" in result.output  # the destination's latest snapshot
    with open_store(dest_db, readonly=True) as d:
        assert d.snapshots("city") == before
        assert d.segment_blob("city", "2026-48") is None  # nothing of the refused source
        assert len(d.snapshots("town")) == 2 and d.segment_blob("village", "2026-47")
        assert [t for t, _, _ in d.states("town")] == ["2026-11-30 09:20:00", "2026-11-30 10:30:00"]


def test_segments_merge_with_the_destinations_week(tmp_path):
    src_db, dest_db = _db("postgresql", tmp_path), _db("sqlite", tmp_path)
    a, b, c = _minutes(9), _minutes(10), _minutes(11)
    with open_store(src_db) as s:
        s.save_segment("city", "2026-48", [("2026-11-29 10:00:00", "ok", {"a": a}),
                                           ("2026-11-29 10:30:00", "ok", {"a": b})])  # fmt: skip
    with open_store(dest_db) as d:
        d.save_segment("city", "2026-48", [("2026-11-29 10:15:00", "ok", {"a": a}),
                                           ("2026-11-29 10:30:00", "ok", {"a": c})])  # fmt: skip
    summary = copy_store(src_db, dest_db)
    assert summary.counts["segments"] == {"merged": 1}
    with open_store(dest_db, readonly=True) as d:
        assert _states(d, "city") == [
            ("2026-11-29 10:00:00", "ok", {"a": a.tolist()}),
            ("2026-11-29 10:15:00", "unchanged", {"a": a.tolist()}),
            ("2026-11-29 10:30:00", "ok", {"a": c.tolist()}),  # the destination's wins
        ]
        blob = d.segment_blob("city", "2026-48")
    assert copy_store(src_db, dest_db).counts["segments"] == {"skipped": 1}
    with open_store(dest_db, readonly=True) as d:
        assert d.segment_blob("city", "2026-48") == blob


def test_cli_copies_filters_and_refuses_itself(tmp_path):
    src_db, dest_db = _db("sqlite", tmp_path), _db("postgresql", tmp_path)
    with open_store(src_db) as s:
        _fill(s)
        watch = s.add_watch("passport", {}, ["json://127.0.0.1:9/"], "2026-11-30 08:00:00", 0.0)
    runner = CliRunner()
    result = runner.invoke(main, ["copy", "--from", src_db, "--to", dest_db, "-i", "c*,v*"])
    assert result.exit_code == 0, result.output
    assert "2 sources" in result.output and "snapshots" in result.output
    assert "1 watches of" in result.output and "are not copied" in result.output
    with open_store(src_db) as s:
        s.remove_watch(watch)  # the rest compares whole stores
    with open_store(dest_db, readonly=True) as d:
        assert d.source_ids() == ["city", "village"]
    result = runner.invoke(main, ["copy", "--from", src_db, "--to", dest_db])
    assert result.exit_code == 0 and "3 sources" in result.output
    _assert_same(src_db, dest_db)
    same = str(Path(src_db).parent / "." / Path(src_db).name)
    result = runner.invoke(main, ["copy", "--from", src_db, "--to", same])
    assert result.exit_code == 2 and "onto itself" in result.output
    result = runner.invoke(main, ["copy", "--from", dest_db, "--to", dest_db + "?sslmode=disable"])
    assert result.exit_code == 2 and "onto itself" in result.output
    missing = str(tmp_path / "missing.db")
    result = runner.invoke(main, ["copy", "--from", missing, "--to", str(tmp_path / "new.db")])
    assert result.exit_code == 2 and "no store at" in result.output
    assert not (tmp_path / "new.db").exists()
    assert "--from DB" in runner.invoke(main, ["copy", "--help"]).output


def test_same_store():
    assert store_copy.same_store("postgresql://u@h/db", "postgresql://u:pw@h:5432/db")
    assert not store_copy.same_store("postgresql://u@h/db", "postgresql://u@h/other")
    assert not store_copy.same_store("postgresql://u@h/db", "db")
    with pytest.raises(StoreError, match="onto itself"):
        copy_store("x.db", "./x.db")


def test_real_week_through_postgresql_exports_identically(shared_dir, tmp_path):
    from office_schedule.exchange import import_paths

    raw = shared_dir / "data" / "office-schedule-data" / "raw"
    sqlite_db, pg_db = str(tmp_path / "week.db"), _db("postgresql", tmp_path)
    with open_store(sqlite_db) as store:
        import_paths(store, [raw / "2021" / "2021-28.tar.gz", raw / "metadata.json"])
    started = time.monotonic()
    summary = copy_store(sqlite_db, pg_db)
    took = time.monotonic() - started
    assert summary.counts["segments"]["copied"] > 0 and not summary.refused
    with open_store(pg_db, readonly=True) as store:
        assert_exports_the_published_week(store, tmp_path / "out", raw)
    assert took < 30, f"copy took {took:.1f} s"
