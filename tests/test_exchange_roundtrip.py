"""Import and export of the office-schedule-data layout, byte for byte."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import OfficeScheduleError
from office_schedule.exchange import export_weeks, import_paths
from office_schedule.store import SQLiteStore

from .conftest import FIXTURES

SLICE = FIXTURES / "office-schedule-data" / "2021-28"
FAMILIES = {"bonn": "netappoint", "jena": "tevis", "ilmkreis": "tevis"}
FAMILIES["impfthueringen"] = "impfthueringen"


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def count(store: SQLiteStore) -> int:
    return sum(
        store.conn.execute(
            "SELECT (SELECT count(*) FROM snapshots) + "
            "(SELECT coalesce(sum(n_ok + n_unchanged), 0) FROM segments)"
        ).fetchone()
    )


def test_slice_round_trip_is_byte_identical(store, tmp_path):
    (result,) = import_paths(store, [SLICE])
    assert result.sources == 4 and result.rows == 8 + 32 + 12 + 90
    export_weeks(store, tmp_path / "out", FAMILIES)
    week = tmp_path / "out" / "raw" / "2021" / "2021-28.tar.gz"
    got = members(week)
    assert sorted(got) == ["bonn.csv", "ilmkreis.csv", "impfthueringen.csv", "jena.csv"]
    for name, data in got.items():
        assert data == (SLICE / name).read_bytes(), name
    meta = (tmp_path / "out" / "raw" / "metadata.json").read_bytes()
    assert meta == (SLICE / "metadata.json").read_bytes()


def test_import_is_idempotent_and_export_deterministic(store, tmp_path):
    import_paths(store, [SLICE])
    before = count(store)
    (again,) = import_paths(store, [SLICE])
    assert count(store) == before and again.snapshots == 0 and again.skipped == before
    export_weeks(store, tmp_path / "a", FAMILIES)
    export_weeks(store, tmp_path / "b", FAMILIES)
    week = Path("raw") / "2021" / "2021-28.tar.gz"
    assert (tmp_path / "a" / week).read_bytes() == (tmp_path / "b" / week).read_bytes()
    # a finished week is never rewritten
    (tmp_path / "a" / week).write_bytes(b"kept")
    result = export_weeks(store, tmp_path / "a", FAMILIES)
    assert result.weeks_skipped == ["2021-28"] and (tmp_path / "a" / week).read_bytes() == b"kept"


def test_imported_week_behaves_like_scraped_data(tmp_path):
    db = tmp_path / "i.db"
    runner = CliRunner()
    result = runner.invoke(main, ["import", "--db", str(db), str(SLICE)], catch_exceptions=False)
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


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


GOOD = (SLICE / "jena.csv").read_bytes()


@pytest.mark.parametrize(
    "files, message",
    [
        ({"../evil.csv": GOOD}, "unsafe member name"),
        ({"jena.csv": GOOD.replace(b"2021-07-13 08:0", b"2021-13-13 08:0", 1)}, "bad date"),
        ({"jena.csv": GOOD.replace(b"location_id,", b"location_id,Montag,", 1)}, "column 4"),
        ({"jena.csv": GOOD.replace(b",1,", b",2,", 1)}, "cells must be '1' or empty"),
        ({"jena.csv": GOOD[:-30]}, "truncated"),
        ({"bonn.csv": GOOD}, "rows name source 'jena'"),
    ],
)
def test_bad_archives_name_the_problem_and_change_nothing(store, tmp_path, files, message):
    good = _tar(tmp_path / "good.tar.gz", {"ilmkreis.csv": (SLICE / "ilmkreis.csv").read_bytes()})
    import_paths(store, [good])
    before = count(store)
    bad = _tar(
        tmp_path / "bad.tar.gz", {"ilmkreis.csv": (SLICE / "ilmkreis.csv").read_bytes()} | files
    )
    with pytest.raises(OfficeScheduleError, match=message) as info:
        import_paths(store, [bad])
    assert "bad.tar.gz" in str(info.value)
    assert count(store) == before


def test_truncated_gzip_is_a_clear_error(store, tmp_path):
    good = _tar(tmp_path / "w.tar.gz", {"jena.csv": GOOD})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(OfficeScheduleError, match="corrupt or truncated") as info:
        import_paths(store, [cut])
    assert "cut.tar.gz" in str(info.value) and count(store) == 0


def test_real_week_round_trip(shared_dir, tmp_path):
    raw = shared_dir / "data" / "office-schedule-data" / "raw"
    with SQLiteStore(tmp_path / "week.db") as store:
        import_paths(store, [raw / "2021" / "2021-28.tar.gz", raw / "metadata.json"])
        sources = {sid: None for (sid,) in store.conn.execute("SELECT id FROM sources")}
        sources.update({sid: None for sid in store.source_ids()})
        sources["impfthueringen"] = "impfthueringen"
        export_weeks(store, tmp_path / "out", sources)
    published = members(raw / "2021" / "2021-28.tar.gz")
    ours = members(tmp_path / "out" / "raw" / "2021" / "2021-28.tar.gz")
    assert sorted(ours) == sorted(published)
    for name in published:
        assert ours[name] == published[name], name
    assert (tmp_path / "out" / "raw" / "metadata.json").read_bytes() == (
        raw / "metadata.json"
    ).read_bytes()


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
