"""Parquet export of the store and the WeekData reader over CSV archives and Parquet."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from office_schedule.exchange import export_weeks, import_paths
from office_schedule.exchange.parquet import export_parquet
from office_schedule.exchange.reader import WeekData, WeekDataError
from office_schedule.exchange.weekfile import read_week_csv
from office_schedule.store import SQLiteStore

from .weekslices import FAMILIES, WEEK, csv_rows, row_count

PUBLISHED_TAR_BYTES = 2_467_281


def triples_of_csv(data: bytes) -> set[tuple[str, str, tuple[str, ...]]]:
    table = read_week_csv(data, "test")
    return {(r.date, r.location_id, tuple(table.slots[i] for i in r.free)) for r in table.rows}


def triples_of_long(frame: pl.DataFrame) -> set[tuple[str, str, tuple[str, ...]]]:
    fmt = "%Y-%m-%d %H:%M:%S"
    out = frame.select(
        pl.col("date").dt.strftime(fmt),
        "location_id",
        pl.col("free_slots").list.eval(pl.element().dt.strftime(fmt)),
    )
    return {(d, loc, tuple(slots)) for d, loc, slots in out.iter_rows()}


@pytest.fixture(scope="module", params=["synthetic", "real"])
def week(request) -> Path:
    """The slice the module's exports are made of: synthetic, then real (needs ../shared)."""
    return request.getfixturevalue(f"{request.param}_slice")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, week) -> Path:
    root = tmp_path_factory.mktemp("exchange")
    with SQLiteStore(root / "x.db") as store:
        import_paths(store, [week])
        export_weeks(store, root / "csv", FAMILIES)
        result = export_parquet(store, root / "pq", FAMILIES)
        assert len(result.partitions) == 4 and result.rows == row_count(week)
        again = export_parquet(store, root / "pq2", FAMILIES)
        assert again.partitions == result.partitions
    return root


def test_layout_and_schema(exported, week):
    files = sorted(p.relative_to(exported / "pq") for p in (exported / "pq").rglob("*.parquet"))
    assert [str(f) for f in files] == [
        f"week={WEEK}/source_id={sid}/part-0.parquet" for sid in sorted(FAMILIES)
    ]
    frame = pl.read_parquet(exported / "pq" / files[0], hive_partitioning=False)
    assert frame.schema == pl.Schema(
        {
            "date": pl.Datetime("ms"),
            "source_id": pl.String,
            "location_id": pl.String,
            "free_slots": pl.List(pl.Datetime("ms")),
            "n_free": pl.UInt32,
        }
    )
    keys = frame.select("date", "location_id")
    assert keys.equals(keys.sort("date", "location_id"))
    assert (frame["free_slots"].list.len() == frame["n_free"]).all()
    assert (exported / "pq" / "metadata.json").read_bytes() == (week / "metadata.json").read_bytes()


def test_export_is_deterministic(exported):
    for path in (exported / "pq").rglob("*.parquet"):
        twin = exported / "pq2" / path.relative_to(exported / "pq")
        assert path.read_bytes() == twin.read_bytes(), path


def test_parquet_content_equals_csv(exported, week):
    with tarfile.open(exported / "csv" / "raw" / "2021" / f"{WEEK}.tar.gz") as tar:
        csvs = {m.name.removesuffix(".csv"): tar.extractfile(m).read() for m in tar}
    assert sorted(csvs) == sorted(FAMILIES)
    for sid, data in csvs.items():
        part = exported / "pq" / f"week={WEEK}" / f"source_id={sid}" / "part-0.parquet"
        frame = pl.read_parquet(part, hive_partitioning=False)
        assert triples_of_long(frame) == triples_of_csv(data), sid
        assert triples_of_csv(data) == triples_of_csv((week / f"{sid}.csv").read_bytes())


def test_readable_by_polars_scan(exported, week):
    glob = str(exported / "pq" / "**" / "*.parquet")
    frame = pl.scan_parquet(glob, hive_partitioning=True).collect()
    assert frame.height == row_count(week)
    assert set(frame["week"]) == {WEEK} and set(frame["source_id"]) == set(FAMILIES)
    jena = (
        pl.scan_parquet(glob, hive_partitioning=True)
        .filter(pl.col("source_id") == "jena")
        .select(pl.col("free_slots").explode())
        .collect()
    )
    assert jena.height == int(frame.filter(source_id="jena")["n_free"].sum())


def test_readable_by_duckdb(exported, week):
    duckdb = pytest.importorskip("duckdb")
    glob = str(exported / "pq" / "*" / "*" / "*.parquet")
    con = duckdb.connect()
    rows = con.execute(
        "SELECT source_id, count(*), sum(n_free), sum(len(free_slots)), min(week) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY source_id "
        "ORDER BY source_id"
    ).fetchall()
    polars_rows = (
        pl.scan_parquet(glob, hive_partitioning=True)
        .group_by("source_id")
        .agg(pl.len(), pl.col("n_free").sum())
        .sort("source_id")
        .collect()
        .rows()
    )
    assert [(s, n, f) for s, n, f, _, _ in rows] == polars_rows
    assert all(f == lens and str(week) == WEEK for _, _, f, lens, week in rows)
    first = con.execute(
        f"SELECT min(s) FROM (SELECT unnest(free_slots) AS s FROM read_parquet('{glob}') "
        "WHERE source_id = 'jena')"
    ).fetchone()[0]
    assert str(first) == csv_rows((week / "jena.csv").read_bytes())[0][3]  # the first slot


def test_week_data_detects_both_layouts_and_tables_agree(exported):
    csv, pq = WeekData(exported / "csv"), WeekData(exported / "pq")
    assert (csv.layout, pq.layout) == ("csv", "parquet")
    assert WeekData(exported / "csv" / "raw").layout == "csv"
    assert csv.weeks() == pq.weeks() == [WEEK]
    assert csv.sources(WEEK) == pq.sources(WEEK) == sorted(FAMILIES)
    for sid in FAMILIES:
        columns, rows = csv.get_table(WEEK, sid)
        assert (columns, rows) == pq.get_table(WEEK, sid), sid
        assert columns[:3] == ["date", "source_id", "location_id"]
        assert all(r[1] == sid and set(r[3:]) <= {0, 1} for r in rows)
        assert csv.get_dataframe(WEEK, sid).equals(pq.get_dataframe(WEEK, sid))
        assert csv.get_long(WEEK, sid).equals(pq.get_long(WEEK, sid))
    loc = csv.get_table(WEEK, "jena")[1][0][2]
    columns, rows = pq.get_table(WEEK, "jena", location_id=loc)
    assert rows and all(r[2] == loc for r in rows)
    assert (columns, rows) == csv.get_table(WEEK, "jena", location_id=loc)
    assert csv.get_table(WEEK, "jena", as_datetime=True)[1][0][0].year == 2021


def test_wide_frame_matches_csv_cells(exported, week):
    frame = WeekData(exported / "pq").get_dataframe(WEEK, "bonn")
    table = read_week_csv((week / "bonn.csv").read_bytes(), "bonn")
    assert frame.columns == ["date", "source_id", "location_id", *table.slots]
    assert all(frame[c].dtype == pl.UInt8 for c in table.slots)
    cells = frame.select(table.slots).to_numpy()
    for i, row in enumerate(table.rows):
        assert np.flatnonzero(cells[i]).tolist() == list(row.free)
    assert frame["date"].dtype == pl.Datetime("ms")


def test_long_frame_of_a_location(exported, week):
    data = WeekData(exported / "csv")
    loc = csv_rows((week / "jena.csv").read_bytes())[1][2]
    long = data.get_long(WEEK, "jena", location_id=loc)
    assert long.height > 0 and set(long["location_id"]) == {loc}


@pytest.mark.parametrize("kind", ["csv", "pq"])
def test_filters(exported, week, kind):
    path = exported / kind

    def listed(**filters):
        return [(w, s) for w, s, _, _ in WeekData(path, **filters).iter_tables()]

    assert listed() == [(WEEK, s) for s in sorted(FAMILIES)]
    assert listed(source_id="j*") == [(WEEK, "jena")]
    assert listed(source_id=["j*", "bonn"]) == [(WEEK, "bonn"), (WEEK, "jena")]
    assert listed(source_id=lambda s: len(s) == 4) == [(WEEK, "bonn"), (WEEK, "jena")]
    assert listed(source_id_not="i*") == [(WEEK, "bonn"), (WEEK, "jena")]
    assert listed(source_id="*i*", source_id_not=["impf*"]) == [(WEEK, "ilmkreis")]
    assert WeekData(path, source_id_not=lambda s: True).sources(WEEK) == []
    assert listed(iso_week=(2021, 28), source_id="bonn") == [(WEEK, "bonn")]
    assert listed(iso_week="2021-28", source_id="bonn") == [(WEEK, "bonn")]
    assert listed(iso_week=[(2021, 27), (2021, 29)]) == []
    assert WeekData(path, iso_week_gte=(2021, 28), iso_week_lte=(2021, 28)).weeks() == [WEEK]
    assert WeekData(path, iso_week_gt=(2021, 27), iso_week_lt=(2021, 29)).weeks() == [WEEK]
    assert WeekData(path, iso_week_gt=(2021, 28)).weeks() == []
    assert WeekData(path, iso_week_lt=(2021, 28)).weeks() == []
    frames = list(WeekData(path, source_id="ilmkreis").iter_dataframes())
    rows = len(csv_rows((week / "ilmkreis.csv").read_bytes())) - 1
    assert [(w, s, f.height) for w, s, f in frames] == [(WEEK, "ilmkreis", rows)]


@pytest.mark.parametrize("kind", ["csv", "pq"])
def test_get_meta_never_raises(exported, kind):
    data = WeekData(exported / kind)
    assert data.meta()["jena"]["name"] == "Stadt Jena"
    assert data.get_meta("jena", key="name") == "Stadt Jena"
    assert data.get_meta("jena")["scraper"] == "tevis"
    loc = next(iter(data.meta()["jena"]["locations"]))
    assert isinstance(data.get_meta("jena", loc, "services"), list)
    assert data.get_meta("nope", default=1) == 1
    assert data.get_meta("jena", "nope", "name", default=2) == 2
    assert data.get_meta("jena", key="nope", default=3) == 3
    assert data.get_meta(None, 5, "x") is None  # type: ignore[arg-type]


def test_missing_or_broken_parts(exported, tmp_path):
    data = WeekData(exported / "pq")
    with pytest.raises(WeekDataError, match="no source"):
        data.get_table(WEEK, "nope")
    with pytest.raises(WeekDataError, match="no source"):
        WeekData(exported / "csv").get_table(WEEK, "nope")
    with pytest.raises(WeekDataError, match="no week"):
        WeekData(exported / "csv").get_table("2020-01", "jena")
    with pytest.raises(WeekDataError, match="neither"):
        WeekData(tmp_path)
    (tmp_path / "raw" / "2021").mkdir(parents=True)
    (tmp_path / "raw" / "metadata.json").write_text("{broken")
    broken = WeekData(tmp_path)
    assert broken.meta() == {} and broken.get_meta("jena", key="name", default="?") == "?"
    archive = exported / "csv" / "raw" / "2021" / f"{WEEK}.tar.gz"
    whole = archive.read_bytes()  # jena.csv is the last member: cut off in the middle
    (tmp_path / "raw" / "2021" / f"{WEEK}.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeekDataError, match="corrupt or truncated"):
        broken.get_table(WEEK, "jena")


def test_real_week(shared_dir, tmp_path):
    raw = shared_dir / "data" / "office-schedule-data" / "raw"
    published = raw / "2021" / f"{WEEK}.tar.gz"
    with SQLiteStore(tmp_path / "x.db") as store:
        import_paths(store, [published, raw / "metadata.json"])
        families = {sid: None for (sid,) in store.conn.execute("SELECT id FROM sources")}
        families["impfthueringen"] = "impfthueringen"
        result = export_parquet(store, tmp_path / "pq", families)
    assert len(result.partitions) == 36
    size = sum(p.stat().st_size for p in (tmp_path / "pq").rglob("*.parquet"))
    assert size < PUBLISHED_TAR_BYTES == published.stat().st_size
    ours, theirs = WeekData(tmp_path / "pq"), WeekData(raw.parent)
    assert ours.sources(WEEK) == theirs.sources(WEEK)
    for sid in ("jena", "bonn"):
        assert ours.get_table(WEEK, sid) == theirs.get_table(WEEK, sid), sid
    for sid in ("jena", "impfthueringen", "frankfurt"):
        assert ours.get_long(WEEK, sid).equals(theirs.get_long(WEEK, sid)), sid
    assert ours.meta() == theirs.meta()
