"""The store contract: every backend passes the same tests (``backend`` = sqlite, postgresql)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import numpy as np
import pytest

from office_schedule.errors import ParseError, StoreError
from office_schedule.fetch.robots import RobotsRecord
from office_schedule.store import Store, open_store
from office_schedule.store.codec import slot_minutes
from office_schedule.store.prune import Selection, prune

from .stores import DAY, dump, parsed_at, save_at


def _hours(state: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {loc: [int(m) // 60 % 24 for m in mins] for loc, mins in sorted(state.items())}


def test_is_a_store(any_store):
    assert isinstance(any_store, Store)


def test_snapshots_states_and_summary(any_store):
    s = any_store
    first = save_at(s, 0, parsed_at(a=[9, 10], b=[11]), raw={"v": 1})
    same = save_at(s, 15, parsed_at(a=[9, 10], b=[11]), raw={"v": 1})
    changed = save_at(s, 30, parsed_at(a=[10]), raw={"v": 2})
    failed = save_at(s, 45, error=("ScrapeError", "HTTP 500", "https://x.example/"))
    robots = save_at(s, 50, error=("Disallowed", "Disallow: /", "https://x.example/"))
    assert [r.status for r in (first, same, changed, failed, robots)] == [
        "ok", "unchanged", "ok", "error", "disallowed"]  # fmt: skip
    assert s.snapshot(changed.id) == changed
    assert [r.id for r in s.snapshots("city")] == [first.id, same.id, changed.id, failed.id,
                                                   robots.id]  # fmt: skip
    assert [r.id for r in s.snapshots(statuses=("error",))] == [failed.id]
    assert s.latest_snapshot("city") == changed
    assert s.raw_payload(changed.id) == {"v": 2}
    assert s.raw_payload(same.id) is None
    states = list(s.states("city"))
    assert [(t[-8:], st) for t, st, _ in states] == [
        ("09:00:00", "ok"), ("09:15:00", "unchanged"), ("09:30:00", "ok")]  # fmt: skip
    assert [_hours(st) for _, _, st in states] == [
        {"a": [9, 10], "b": [11]}, {"a": [9, 10], "b": [11]}, {"a": [10]}]  # fmt: skip
    assert [t for t, _, _ in s.states("city", "2026-11-30 09:10", "2026-11-30 09:30")] == [
        "2026-11-30 09:15:00"
    ]
    assert s.state_at("city", first.id).slot_count == 3
    taken_at, status, latest = s.latest_state("city")
    assert (taken_at, status, latest.slot_count) == ("2026-11-30 09:30:00", "ok", 1)
    assert latest.locations["a"].name == "Office a"
    assert latest.locations["a"].services == ("passport",)
    (row,) = s.status_summary()
    assert row["snapshots"] == 5 and row["changed"] == 2 and row["unchanged"] == 1
    assert row["errors"] == 1 and row["last_ok"] == "2026-11-30 09:30:00"
    assert row["last_error"] == "ScrapeError: HTTP 500"
    assert s.snapshot_days("city") == ["2026-11-30"]
    with pytest.raises(StoreError, match="no snapshot 999"):
        s.snapshot(999)


def test_only_changed_slot_sets_are_written(any_store):
    save_at(any_store, 0, parsed_at(a=[9], b=[10]))
    save_at(any_store, 15, parsed_at(a=[9], b=[11]), raw={"other": 1})
    rows = any_store.db.execute("SELECT count(*) FROM slot_sets").fetchone()[0]
    assert rows == 3  # a once, b twice


def test_a_failed_transaction_leaves_nothing(any_store):
    save_at(any_store, 0, parsed_at(a=[9]))
    before = dump(any_store)
    with pytest.raises(RuntimeError):
        with any_store.transaction():
            save_at(any_store, 15, parsed_at(a=[10]), raw={"x": 1})
            any_store.merge_metadata({"city": {"name": "City", "locations": {}}})
            raise RuntimeError("boom")
    assert dump(any_store) == before


def test_implausible_times_are_refused(any_store):
    with pytest.raises(StoreError, match="not stored"):
        any_store.save_snapshot("city", datetime(1999, 1, 1), 0.0, raw={}, parsed=parsed_at())
    assert any_store.snapshots() == []


def test_ids_sort_bytewise_whatever_the_locale(any_store):
    ids = ["b-2", "B_1", "a.1", "a-1", "Z", "~x", "ä"]
    for i, sid in enumerate(ids):
        save_at(any_store, i, parsed_at(a=[9]), source=sid)
    assert any_store.source_ids() == sorted(ids)
    assert [r["source_id"] for r in any_store.status_summary()] == sorted(ids)


def test_imported_segments_merge_with_scraped_states(any_store):
    s = any_store
    a = np.array(slot_minutes([DAY.replace(hour=9)]), dtype="<u4")
    s.save_segment("city", "2026-48", [("2026-11-29 10:00:00", "ok", {"a": a}),
                                       ("2026-11-29 10:15:00", "unchanged", {"a": a})])  # fmt: skip
    save_at(s, 0, parsed_at(a=[10]))
    assert [t for t, _, _ in s.states("city")] == [
        "2026-11-29 10:00:00", "2026-11-29 10:15:00", "2026-11-30 09:00:00"]  # fmt: skip
    assert s.source_ids() == ["city"]
    assert s.segment_blob("city", "2026-48") is not None
    assert s.snapshot_days("city") == ["2026-11-29", "2026-11-30"]
    (row,) = s.status_summary()
    assert row["snapshots"] == 3 and row["changed"] == 2 and row["unchanged"] == 1
    s.save_segment("late", "2026-48", [("2026-11-29 11:00:00", "ok", {"a": a})])
    assert s.latest_state("late")[0] == "2026-11-29 11:00:00"
    s.delete_segment("late", "2026-48")
    assert s.latest_state("late") is None and s.segment_blob("late", "2026-48") is None


def test_metadata_merges_and_keeps_known_fields(any_store):
    s = any_store
    s.merge_metadata({"city": {"name": "City", "scraper": "tevis", "url": "https://c.example/",
                               "locations": {"a": {"name": "A", "services": ["x"]}}}})  # fmt: skip
    s.merge_metadata({"city": {"name": "Other", "scraper": "zms", "url": "https://o.example/",
                               "locations": {"a": {"name": "B", "services": ["y"]},
                                             "b": {"services": []}}}})  # fmt: skip
    assert s.source_metadata() == {"city": ("City", "tevis", "https://c.example/")}
    assert s.location_metadata("city") == [("a", "A", ["x", "y"]), ("b", None, [])]
    save_at(s, 0, parsed_at(a=[9]))
    assert s.location_metadata("city", "locations") == [("a", "Office a", ["passport"])]


def test_robots_and_health_records(any_store):
    s = any_store
    s.robots_put(RobotsRecord("https://x.example", 1.0, 200, "User-agent: *\nDisallow: /a"))
    s.robots_put(RobotsRecord("https://x.example", 2.0, 404, ""))
    assert s.robots_get("https://x.example") == RobotsRecord("https://x.example", 2.0, 404, "")
    assert s.robots_get("https://y.example") is None
    first = s.record_health("city", "failing", "2026-11-30 09:00:00", "HTTP 500", "2026-11-30")
    second = s.record_health("city", "ok", "2026-11-30 10:00:00", "", "2026-11-30")
    assert s.health_state("city") == ("ok", "2026-11-30 10:00:00", "")
    assert [c["old_state"] for c in s.health_changes()] == [None, "failing"]
    s.mark_notified([first])
    assert [c["id"] for c in s.health_changes(unnotified_only=True)] == [second]
    save_at(s, 0, parsed_at(a=[9]))
    assert s.recorded_source_ids() == ["city"]
    assert [r["status"] for r in s.recent_snapshots("city", 0.0)] == ["ok"]


def test_reparse_rebuilds_slot_sets(any_store):
    s = any_store
    save_at(s, 0, parsed_at(a=[9]), raw={"hours": [9, 10]})
    save_at(s, 15, parsed_at(a=[9]), raw={"hours": "broken"})

    def parse(raw):
        if not isinstance(raw["hours"], list):
            raise ParseError("hours is not a list")
        return parsed_at(a=raw["hours"])

    assert s.reparse("city", parse) == {"parsed": 1, "failed": 1}
    assert [r.status for r in s.snapshots("city")] == ["ok", "error"]
    assert _hours(list(s.states("city"))[0][2]) == {"a": [9, 10]}


def test_prune_keeps_what_the_rest_reconstruct(any_store):
    s = any_store
    for minute, hours in ((0, [9]), (15, [9]), (30, [9, 10]), (45, [10])):
        save_at(s, minute, parsed_at(a=hours), raw={"h": hours})
    before = [(t, st) for t, _, st in s.states("city") if t >= "2026-11-30 09:10"]
    removed = prune(s, Selection(start="2026-11-30 09:00", end="2026-11-30 09:10"))
    assert removed.total() == 1
    after = [(t, st) for t, _, st in s.states("city")]
    assert [(t, _hours(st)) for t, st in after] == [(t, _hours(st)) for t, st in before]


def test_read_only_store_refuses_writes(db_url):
    with open_store(db_url) as s:
        save_at(s, 0, parsed_at(a=[9]))
    with open_store(db_url, readonly=True) as s:
        assert len(s.snapshots()) == 1
        with pytest.raises(StoreError):
            save_at(s, 15, parsed_at(a=[9]), raw={"n": 2})


def test_missing_store_is_an_error_naming_it(backend, tmp_path):
    from . import stores

    db = stores.db_for(backend, tmp_path)
    with pytest.raises(StoreError, match="no (office-schedule )?store"):
        open_store(db, readonly=True)


# -- leases --------------------------------------------------------------------------------


def test_leases_are_exclusive_and_expire(any_store):
    s = any_store
    assert s.heartbeat("w1", 60) == 1
    assert s.heartbeat("w2", 60) == 2
    held1 = s.claim_hosts("w1", ["h1", "h2", "h3"], 2, 60)
    held2 = s.claim_hosts("w2", ["h1", "h2", "h3"], 3, 60)
    assert held1 == {"h1", "h2"} and held2 == {"h3"}
    assert {r["host"]: r["worker"] for r in s.leases()} == {"h1": "w1", "h2": "w1", "h3": "w2"}
    s.claim_hosts("w3", ["h9"], 1, 0.2)
    time.sleep(0.3)
    assert s.claim_hosts("w2", ["h9"], 5, 60) == {"h3", "h9"}  # expired: taken over
    s.release_hosts("w1", ["h2"])
    assert s.claim_hosts("w2", ["h2"], 5, 60) == {"h2", "h3", "h9"}
    s.retire("w2")
    assert {r["host"] for r in s.leases()} == {"h1"}
    assert s.heartbeat("w1", 60) == 1


def test_concurrent_claims_never_share_a_host(db_url):
    """Four workers, each with its own connection, race for the same twenty hosts."""
    hosts = [f"h{i:02d}" for i in range(20)]
    won: dict[str, set[str]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        with open_store(db_url) as s:
            barrier.wait()
            for _ in range(5):
                won[name] = s.claim_hosts(name, hosts, 20, 60)

    if db_url.startswith("postgresql"):
        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    else:  # one writer per file: the SQLite lock serialises them, here in turn
        threads = []
        barrier = threading.Barrier(1)
        for i in range(4):
            worker(f"w{i}")
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [h for held in won.values() for h in held]
    assert sorted(claimed) == hosts  # every host won exactly once
