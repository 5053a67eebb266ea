"""``prune``: dry run, deleting by source, day and status, scraped and imported, with the
remaining snapshots reconstructing exactly the states they had."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.clock import local_now
from office_schedule.model import Location, ParsedSnapshot
from office_schedule.store import SQLiteStore
from office_schedule.store.prune import Selection, plan, prune

from .stores import dump

DAY = timedelta(days=1)


@pytest.fixture
def store(any_store):
    """Every test here runs on each backend."""
    return any_store


def parsed(**locs: list[int]) -> ParsedSnapshot:
    base = local_now().replace(hour=0, minute=0, second=0) + 3 * DAY
    return ParsedSnapshot(
        {
            loc: Location(loc, None, slots=tuple(base + timedelta(hours=h) for h in hours))
            for loc, hours in locs.items()
        }
    )


def fill(store: SQLiteStore) -> datetime:
    """Five days of one source: ok, unchanged, ok, error, ok; and a second source."""
    t0 = local_now().replace(hour=8, minute=0, second=0) - 6 * DAY
    states = [
        ({"a": [1, 2], "b": [3]}, None),
        ({"a": [1, 2], "b": [3]}, None),
        ({"a": [2], "b": [3], "c": [5]}, None),
        (None, ("ScrapeError", "offline", "http://x")),
        ({"a": [2, 4], "c": [5]}, None),
    ]
    for day, (state, error) in enumerate(states):
        t = t0 + day * DAY
        store.save_snapshot(
            "s", t, t.timestamp(), raw=state, parsed=parsed(**state) if state else None,
            error=error,
        )  # fmt: skip
        store.save_snapshot("other", t, t.timestamp(), error=("ScrapeError", "offline", None))
    return t0


def states(store: SQLiteStore, source: str = "s") -> dict[str, dict[str, list[int]]]:
    return {t: {k: v.tolist() for k, v in st.items()} for t, _, st in store.states(source)}


def locations(store: SQLiteStore) -> list[tuple]:
    return store.db.execute(
        "SELECT location_id, present, slots_hash FROM locations WHERE source_id = 's' "
        "ORDER BY location_id"
    ).fetchall()


def test_dry_run_changes_nothing_and_counts_per_source(store, tmp_path):
    t0 = fill(store)
    before = dump(store)
    runner = CliRunner()
    db = str(store.path)
    out = runner.invoke(main, ["prune", "--db", db, "--errors"], catch_exceptions=False).output
    assert "other: 5 error" in out and "s: 1 error" in out and "would delete 6" in out
    assert dump(store) == before
    day = (t0 + 3 * DAY).strftime("%Y-%m-%d")
    result = runner.invoke(main, ["prune", "--db", db, "--errors", "--from", day, "--yes"])
    assert result.exit_code == 0, result.output
    assert "deleted 3 snapshots of 2 sources" in result.output
    assert [r.status for r in store.snapshots("s")] == ["ok", "unchanged", "ok", "ok"]
    assert len(store.snapshots("other")) == 3
    assert runner.invoke(main, ["prune", "--db", db]).exit_code == 2  # says what to prune


def test_deleting_ok_snapshots_in_the_middle_keeps_later_states(store):
    t0 = fill(store)
    want = states(store)
    latest = locations(store)
    day = [(t0 + n * DAY).strftime("%Y-%m-%d") for n in range(4)]
    # the first ok snapshot (its unchanged successor becomes ok) and the third (day 2)
    for start, end in ((day[0], day[1]), (day[2], day[3])):
        prune(store, Selection(include=["s"], start=start, end=end))
    got = states(store)
    assert len(got) == 2 and all(got[t] == want[t] for t in got)
    assert [r.status for r in store.snapshots("s")] == ["ok", "error", "ok"]
    assert store.raw_payload(store.snapshots("s")[0].id) == {"a": [1, 2], "b": [3]}
    assert locations(store) == latest


def test_deleting_the_latest_snapshot_rolls_locations_back(store):
    t0 = fill(store)
    prune(store, Selection(start=(t0 + 4 * DAY).strftime("%Y-%m-%d"), statuses=("ok",)))
    present = {loc: bool(p) for loc, p, _ in locations(store)}
    assert present == {"a": True, "b": True, "c": True}
    # the next scrape compares against that state: an unchanged 'a' stores no slot set
    t = t0 + 5 * DAY
    state = {"a": [2], "b": [3], "c": [5]}
    store.save_snapshot("s", t, t.timestamp(), raw={"x": 1}, parsed=parsed(**state))
    last = store.snapshots("s")[-1]
    assert store.db.execute(
        "SELECT count(*) FROM slot_sets WHERE snapshot_id = ?", (last.id,)
    ).fetchone() == (0,)
    got = states(store)
    assert got[last.taken_at] == got[store.snapshots("s")[-3].taken_at]  # day 2, the same


def test_everything_of_a_source_removes_its_locations(store):
    fill(store)
    prune(store, Selection(include=["s"]))
    assert store.snapshots("s") == [] and locations(store) == []
    assert store.db.execute("SELECT count(*) FROM slot_sets").fetchone() == (0,)


def test_imported_absurd_weeks_can_be_pruned(store, tmp_path: Path):
    """A store that took year-9999 and 1970 rows (before import checked times) is fixed."""
    minutes = np.array([60_000_000], dtype="<u4")
    for week, taken in (("9999-52", "9999-12-31 23:59:59"), ("1970-01", "1970-01-01 00:00:00")):
        store.save_segment("evil", week, [(taken, "ok", {"x": minutes})])
    store.save_segment(
        "evil", "2021-28",
        [("2021-07-13 08:00:00", "ok", {"x": minutes}), ("2021-07-13 08:15:00", "ok", {})],
    )  # fmt: skip
    sel = Selection(include=["evil"], start="2030-01-01", imported=True)
    assert plan(store, sel).imported == {"evil": 1}
    prune(store, sel)
    prune(store, Selection(include=["evil"], end="2020-01-01", imported=True))
    prune(store, Selection(include=["evil"], start="2021-07-13 08:10", imported=True))
    weeks = store.db.execute("SELECT week, n_ok FROM segments").fetchall()
    assert weeks == [("2021-28", 1)]
    assert store.status_summary()[0]["last_ok"] == "2021-07-13 08:00:00"
    runner = CliRunner()
    args = ["prune", "--db", str(store.path), "-i", "evil", "--imported"]
    assert "evil: 1 imported" in runner.invoke(main, args).output
