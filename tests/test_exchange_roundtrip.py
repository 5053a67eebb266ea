"""Import and export of the office-schedule-data layout, byte for byte."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import OfficeScheduleError
from office_schedule.exchange import export_weeks, import_paths
from office_schedule.store import open_store

from .weekslices import FAMILIES, assert_exports_the_published_week, members, row_count, tar_gz


def count(store) -> int:
    return sum(
        store.db.execute(
            "SELECT (SELECT count(*) FROM snapshots) + "
            "(SELECT coalesce(sum(n_ok + n_unchanged), 0) FROM segments)"
        ).fetchone()
    )


def test_slice_round_trip_is_byte_identical(any_store, tmp_path, week_slice):
    store = any_store
    (result,) = import_paths(store, [week_slice])
    assert result.sources == 4 and result.rows == row_count(week_slice)
    export_weeks(store, tmp_path / "out", FAMILIES)
    week = tmp_path / "out" / "raw" / "2021" / "2021-28.tar.gz"
    got = members(week)
    assert sorted(got) == ["bonn.csv", "ilmkreis.csv", "impfthueringen.csv", "jena.csv"]
    for name, data in got.items():
        assert data == (week_slice / name).read_bytes(), name
    meta = (tmp_path / "out" / "raw" / "metadata.json").read_bytes()
    assert meta == (week_slice / "metadata.json").read_bytes()


def test_import_is_idempotent_and_export_deterministic(any_store, tmp_path, week_slice):
    store = any_store
    import_paths(store, [week_slice])
    before = count(store)
    (again,) = import_paths(store, [week_slice])
    assert count(store) == before and again.snapshots == 0 and again.skipped == before
    export_weeks(store, tmp_path / "a", FAMILIES)
    export_weeks(store, tmp_path / "b", FAMILIES)
    week = Path("raw") / "2021" / "2021-28.tar.gz"
    assert (tmp_path / "a" / week).read_bytes() == (tmp_path / "b" / week).read_bytes()
    # a finished week is never rewritten
    (tmp_path / "a" / week).write_bytes(b"kept")
    result = export_weeks(store, tmp_path / "a", FAMILIES)
    assert result.weeks_skipped == ["2021-28"] and (tmp_path / "a" / week).read_bytes() == b"kept"


def test_imported_week_behaves_like_scraped_data(tmp_path, week_slice):
    db = tmp_path / "i.db"
    runner = CliRunner()
    args = ["import", "--db", str(db), str(week_slice)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0 and "imported" in result.output
    status = json.loads(runner.invoke(main, ["status", "--db", str(db), "--format", "json"]).output)
    assert {r["source_id"] for r in status} == set(FAMILIES)
    shown = json.loads(
        runner.invoke(main, ["show", "jena", "--db", str(db), "--format", "json"]).output
    )
    assert shown and all(isinstance(v, list) for v in shown.values())
    out = tmp_path / "out"
    result = runner.invoke(main, ["export", "--db", str(db), "--out", str(out), "-i", "jena,bonn"])
    assert result.exit_code == 0, result.output
    assert sorted(members(out / "raw" / "2021" / "2021-28.tar.gz")) == ["bonn.csv", "jena.csv"]


def _jena(folder: Path, old: bytes = b"", new: bytes = b"", cut: int = 0) -> bytes:
    data = (folder / "jena.csv").read_bytes()
    assert old in data
    data = data.replace(old, new, 1)
    return data[: len(data) - cut]


# format errors: on the synthetic week, which runs in every clone
@pytest.mark.parametrize(
    "name, change, message",
    [
        ("../evil.csv", {}, "unsafe member name"),
        ("jena.csv", {"old": b"2021-07-13 08:0", "new": b"2021-13-13 08:0"}, "bad date"),
        ("jena.csv", {"old": b"location_id,", "new": b"location_id,Montag,"}, "column 4"),
        ("jena.csv", {"old": b",1,", "new": b",2,"}, "cells must be '1' or empty"),
        ("jena.csv", {"cut": 30}, "truncated"),
        ("bonn.csv", {}, "rows name source 'jena'"),
    ],
)
def test_bad_archives_name_the_problem_and_change_nothing(
    store, tmp_path, synthetic_slice, name, change, message
):
    ilmkreis = {"ilmkreis.csv": (synthetic_slice / "ilmkreis.csv").read_bytes()}
    good = tar_gz(tmp_path / "good.tar.gz", ilmkreis)
    import_paths(store, [good])
    before = count(store)
    bad = tar_gz(tmp_path / "bad.tar.gz", ilmkreis | {name: _jena(synthetic_slice, **change)})
    with pytest.raises(OfficeScheduleError, match=message) as info:
        import_paths(store, [bad])
    assert "bad.tar.gz" in str(info.value)
    assert count(store) == before


def test_truncated_gzip_is_a_clear_error(store, tmp_path, synthetic_slice):
    good = tar_gz(tmp_path / "w.tar.gz", {"jena.csv": _jena(synthetic_slice)})
    data = good.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(OfficeScheduleError, match="corrupt or truncated") as info:
        import_paths(store, [cut])
    assert "cut.tar.gz" in str(info.value) and count(store) == 0


def test_real_week_round_trip(shared_dir, tmp_path, db_url):
    raw = shared_dir / "data" / "office-schedule-data" / "raw"
    with open_store(db_url) as store:
        import_paths(store, [raw / "2021" / "2021-28.tar.gz", raw / "metadata.json"])
        assert_exports_the_published_week(store, tmp_path / "out", raw)


def test_scraped_snapshots_export_and_reimport_identically(tmp_path):
    from office_schedule.simulate import SimServer, SimWorld

    world = SimWorld(seed=4, families={"tevis": 2, "netappoint": 1}, frozen=True)
    db = tmp_path / "scraped.db"
    runner = CliRunner()
    with SimServer(world) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        for _ in range(3):  # the 2nd and 3rd snapshots are "unchanged" and still exported
            time.sleep(1.05)  # snapshot times have second precision
            args = ["snapshot", "--catalog", str(catalog), "--db", str(db), "-i", "sim-*"]
            assert runner.invoke(main, [*args, "--gap", "0", "-q"]).exit_code == 0
    out1, out2 = tmp_path / "one", tmp_path / "two"
    export = ["export", "--catalog", str(catalog), "--incomplete", "--out"]
    assert runner.invoke(main, [*export, str(out1), "--db", str(db)]).exit_code == 0
    (week,) = (out1 / "raw").glob("*/*.tar.gz")
    files = members(week)
    assert sorted(files) == sorted(f"{sid}.csv" for sid in world.sources)
    for sid in world.sources:
        lines = files[f"{sid}.csv"].split(b"\r\n")[1:-1]
        assert len(lines) == 3 * len(world.sources[sid].locations)
    meta = json.loads((out1 / "raw" / "metadata.json").read_text())
    assert meta["sim-tevis-01"]["scraper"] == "tevis"
    db2 = tmp_path / "again.db"
    assert runner.invoke(main, ["import", "--db", str(db2), str(week)]).exit_code == 0
    assert runner.invoke(main, [*export, str(out2), "--db", str(db2)]).exit_code == 0
    assert members(out2 / "raw" / week.parent.name / week.name) == files


def test_partial_week_is_marked_and_rewritten_once_complete(store, tmp_path, synthetic_slice):
    import_paths(store, [synthetic_slice])
    out = tmp_path / "out"
    week = out / "raw" / "2021" / "2021-28.tar.gz"
    marker = week.with_name("2021-28.partial")
    during = datetime(2021, 7, 14, 12, 0)
    assert export_weeks(store, out, FAMILIES, now=during).weeks_written == []
    result = export_weeks(store, out, FAMILIES, incomplete=True, now=during)
    assert result.weeks_partial == ["2021-28"] and marker.is_file()
    week.write_bytes(b"stale")  # a partial week is written again, with more data or not
    export_weeks(store, out, FAMILIES, incomplete=True, now=during)
    assert week.read_bytes() != b"stale" and marker.is_file()
    week.write_bytes(b"stale")
    after = datetime(2021, 7, 20, 9, 0)
    result = export_weeks(store, out, FAMILIES, now=after)
    assert result.weeks_written == ["2021-28"] and result.weeks_partial == []
    assert not marker.exists()
    assert members(week) == {p.name: p.read_bytes() for p in synthetic_slice.glob("*.csv")}
    week.write_bytes(b"kept")  # complete now: never rewritten
    assert export_weeks(store, out, FAMILIES, now=after).weeks_skipped == ["2021-28"]
    assert week.read_bytes() == b"kept"
