"""The fast week reader and segment writer against plain reference versions.

The reader parses only cells unlike their location's previous row, and the writer diffs
states in batches; both must give exactly what a row-by-row reading gives: the same rows,
the same stored states, the same errors for bad rows. Small blocks make snapshots and
repeated states straddle block boundaries.
"""

from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from office_schedule.exchange import import_paths, parallel
from office_schedule.exchange.weekfile import WeekFileError, WeekReader, read_week_csv
from office_schedule.store import SQLiteStore, segments
from office_schedule.store.weeks import week_rows

from .weekslices import tar_gz

EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
START = datetime(2021, 7, 13, 8, 0)
SLOT_TIMES = [f"2021-07-13 {h:02d}:{m:02d}:00" for h in range(9, 12) for m in (0, 20, 40)]


@st.composite
def weeks(draw):
    """(slot columns, rows (date, location, free column indices)) in time order."""
    slots = sorted(draw(st.sets(st.sampled_from(SLOT_TIMES), min_size=0, max_size=7)))
    names = ["a", "b", "c-ü", "d"]
    state: dict[str, tuple[int, ...]] = {}
    rows = []
    for i in range(draw(st.integers(1, 14))):
        taken = (START + timedelta(minutes=15 * i, seconds=i % 3)).strftime("%Y-%m-%d %H:%M:%S")
        for loc in draw(st.lists(st.sampled_from(names), unique=True, max_size=4)):
            if draw(st.booleans()) or loc not in state:  # else: the same cells again
                free = draw(st.sets(st.integers(0, max(len(slots) - 1, 0)), max_size=len(slots)))
                state[loc] = tuple(sorted(free)) if slots else ()
            rows.append((taken, loc, state[loc]))
    return slots, rows


def week_csv(slots, rows, source="jena") -> bytes:
    lines = [",".join(["date", "source_id", "location_id", *slots])]
    for taken, loc, free in rows:
        cells = ["1" if c in free else "" for c in range(len(slots))]
        lines.append(",".join([taken, source, loc, *cells]))
    return "".join(f"{line}\r\n" for line in lines).encode()


@EXAMPLES
@given(weeks(), st.sampled_from([64, 200, 1 << 20]))
def test_reader_gives_every_row_as_written(week, chunk):
    slots, rows = week
    table = read_week_csv(week_csv(slots, rows), "jena.csv", chunk_bytes=chunk)
    assert table.slots == slots and table.source_id == ("jena" if rows else "")
    got = [(r.date, r.location_id, tuple(r.free.tolist())) for r in table.rows]
    assert got == rows


@EXAMPLES
@given(weeks())
def test_imported_states_are_the_rows(tmp_path_factory, week):
    slots, rows = week
    tmp = tmp_path_factory.mktemp("eq")
    path = tar_gz(tmp / "2021-28.tar.gz", {"jena.csv": week_csv(slots, rows)})
    with SQLiteStore(tmp / "s.db") as store:
        import_paths(store, [path])
        import_paths(store, [path])  # idempotent: nothing new, nothing changed
        stored = {}
        blob = store.segment_blob("jena", "2021-28")
        for taken, _status, state in segments.decode(blob) if rows else []:
            stored[taken] = {loc: m.tolist() for loc, m in state.items()}
        exported = week_rows(store, "jena", None, 2021, 28)
    minutes = np.array([s.replace(" ", "T") for s in slots], dtype="datetime64[m]")
    want: dict[str, dict[str, list[int]]] = {}
    for taken, loc, free in rows:
        want.setdefault(taken, {})[loc] = minutes[list(free)].astype(np.int64).tolist()
    assert stored == want
    assert len(exported) == len({(t, loc) for t, loc, _ in rows})


@EXAMPLES
@given(weeks(), st.integers(0, 3))
def test_writer_batches_equal_encode(week, flushes):
    """Diffing in batches of any size gives what the in-memory encoder gives."""
    slots, rows = week
    universe = np.arange(len(slots), dtype="<u4") + 27_000_000
    snaps: list[tuple[str, dict[str, np.ndarray]]] = []
    for taken, loc, free in rows:
        if not snaps or snaps[-1][0] != taken:
            snaps.append((taken, {}))
        snaps[-1][1][loc] = universe[list(free)]
    writer = segments.SegmentWriter(universe)
    for i, (taken, state) in enumerate(snaps):
        writer.begin(taken)
        for loc, minutes in state.items():
            assert writer.put(loc, writer.positions(minutes))
        if flushes and i % flushes == 0:
            writer._flush()
        writer.end()
    got = segments.decode(writer.finish())
    want = segments.decode(segments.encode(segments.with_statuses(snaps)))
    assert [(t, s, sorted(x)) for t, s, x in got] == [(t, s, sorted(x)) for t, s, x in want]
    for (_, _, a), (_, _, b) in zip(got, want, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in b)


GOOD = [
    "2021-07-13 08:00:00,jena,a,1,",
    "2021-07-13 08:00:00,jena,b,,1",
    "2021-07-13 08:15:00,jena,a,1,",
]


@pytest.mark.parametrize(
    "line, message",
    [
        ("2021-07-13 08:30:00,jena,a,2,", "row 5: cells must be '1' or empty"),
        ("2021-07-13 08:30:00,jena,a,11,", "row 5: cells must be '1' or empty"),
        ("2021-07-13 08:30:00,jena,a,1", "row 5: 4 fields, header has 5"),
        ("2021-07-13 08:30:00,jena,a,1,,", "row 5: 6 fields, header has 5"),
        ("2021-07-13 08:30:00,jena,,1,", "row 5: empty location_id"),
        ("2021-07-13 08:30:00,bonn,a,1,", "row 5: source_id 'bonn', expected 'jena'"),
        ("2021-02-30 08:30:00,jena,a,1,", "row 5: bad date '2021-02-30 08:30:00'"),
        ("2021-07-13T08:30:00,jena,a,1,", "row 5: bad date"),
    ],
)
@pytest.mark.parametrize("chunk", [16, 1 << 20])
def test_a_bad_row_is_named_whichever_block_it_is_in(line, message, chunk):
    slots = "date,source_id,location_id,2021-07-13 09:00:00,2021-07-13 09:30:00"
    data = "".join(f"{x}\r\n" for x in [slots, *GOOD, line, GOOD[-1]]).encode()
    with pytest.raises(WeekFileError, match=message):
        read_week_csv(data, "jena.csv", chunk_bytes=chunk)


@pytest.mark.parametrize("chunk", [16, 1 << 20])
def test_a_line_without_cr_is_named(chunk):
    head = b"date,source_id,location_id,2021-07-13 09:00:00\r\n"
    data = head + b"2021-07-13 08:00:00,jena,a,1\r\n2021-07-13 08:15:00,jena,a,1\n"
    data += b"2021-07-13 08:30:00,jena,a,1\r\n"
    with pytest.raises(WeekFileError, match="row 3: line does not end with CRLF"):
        read_week_csv(data, "jena.csv", chunk_bytes=chunk)


def test_a_cell_that_repeats_a_bad_row_is_still_refused():
    """A bad row is refused even when the next row repeats it exactly."""
    head = b"date,source_id,location_id,2021-07-13 09:00:00\r\n"
    bad = b"2021-07-13 08:00:00,jena,a,x\r\n2021-07-13 08:15:00,jena,a,x\r\n"
    with pytest.raises(WeekFileError, match="row 2: cells must be '1' or empty"):
        read_week_csv(head + bad, "jena.csv")


def test_no_slot_columns():
    data = b"date,source_id,location_id\r\n2021-07-13 08:00:00,jena,a\r\n"
    reader = WeekReader(io.BytesIO(data), "jena.csv")
    (block,) = list(reader.blocks())
    assert block.locations == ["a"] and block.states[block.state_of_row[0]].size == 0
    with pytest.raises(WeekFileError, match="row 3: 4 fields, header has 3"):
        read_week_csv(data + b"2021-07-13 08:15:00,jena,a,1\r\n", "jena.csv")


# --- members over worker processes ------------------------------------------------------


def _members(n: int, bad: dict[int, str] | None = None) -> dict[str, bytes]:
    """``n`` members s00.csv.. of week 2021-28; ``bad`` appends a line to some of them."""
    files = {}
    for i in range(n):
        lines = ["date,source_id,location_id,2021-07-13 09:00:00,2021-07-13 09:30:00"]
        for k in range(40 + 7 * i):
            taken = f"2021-07-13 {8 + k // 60:02d}:{k % 60:02d}:00"
            lines.append(f"{taken},s{i:02d},l{k % 3},{'1' * (k % 2)},1")
        if bad and i in bad:
            lines.append(bad[i].format(source=f"s{i:02d}"))
        files[f"s{i:02d}.csv"] = "".join(f"{x}\r\n" for x in lines).encode()
    return files


def _dump(store: SQLiteStore) -> str:
    return "\n".join(store.conn.iterdump())


@pytest.mark.parametrize("n", [1, 2, 7])
def test_workers_store_what_one_process_stores(tmp_path, monkeypatch, n):
    path = tar_gz(tmp_path / "2021-28.tar.gz", _members(n))
    dumps, results = [], []
    for workers in (0, 2):
        monkeypatch.setattr(parallel, "workers_for", lambda *a, w=workers: w)
        with SQLiteStore(tmp_path / f"w{workers}.db") as store:
            results.append(import_paths(store, [path])[0])
            dumps.append(_dump(store))
    assert dumps[0] == dumps[1]
    assert [vars(r) for r in results[:1]] == [vars(r) for r in results[1:]]
    assert results[0].sources == n


def test_workers_report_the_first_bad_member_and_store_nothing(tmp_path, monkeypatch):
    bad = {
        2: "2021-07-13 09:00:00,{source},l0,2,",
        5: "2021-07-13 09:00:00,{source},l0,1",
    }
    path = tar_gz(tmp_path / "2021-28.tar.gz", _members(7, bad))
    monkeypatch.setattr(parallel, "workers_for", lambda *a: 2)
    with SQLiteStore(tmp_path / "s.db") as store:
        before = _dump(store)
        with pytest.raises(WeekFileError, match=r"2021-28.tar.gz:s02.csv, row 56: cells must"):
            import_paths(store, [path])
        assert _dump(store) == before


def test_one_process_when_threads_run_or_the_week_has_segments():
    assert parallel.workers_for((2021, 28), False) in (0, 2)
    assert parallel.workers_for((2021, 28), True) == 0
    assert parallel.workers_for(None, False) == 0
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.workers_for((2021, 28), False) == 0
    finally:
        stop.set()
        thread.join()
