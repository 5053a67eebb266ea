"""The fast CSV week export against straightforward references.

The references write a row cell by cell and an archive with ``tarfile``, as the code did
before it rendered each distinct state once and compressed one member while making the next;
hypothesis feeds both the same rows, with arrays shared between rows as decoded segments
share them.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.exchange.archive import write_tar_gz
from office_schedule.exchange.exporter import week_csv
from office_schedule.exchange.weekfile import (
    HEADER,
    WeekFileError,
    read_week_csv,
    write_week_csv,
)
from office_schedule.store.segments import distinct_minutes
from office_schedule.store.weeks import week_rows

EXAMPLES = settings(max_examples=150, deadline=None, database=None)
T0 = 27_138_240  # 2021-08-07 00:00 in minutes since the epoch


# -- references ------------------------------------------------------------------------------
def reference_csv(source_id: str, slots: list[str], rows) -> bytes:
    lines = [",".join((*HEADER, *slots))]
    for d, loc, free in rows:
        free = {int(c) for c in free}
        cells = "".join(",1" if c in free else "," for c in range(len(slots)))
        lines.append(f"{d},{source_id},{loc}{cells}")
    return "".join(line + "\r\n" for line in lines).encode()


def reference_week_csv(rows: dict[tuple[str, str], np.ndarray], source_id: str) -> bytes:
    keys = sorted(rows)
    allm = np.unique(np.concatenate([rows[k] for k in keys]))
    stamps = allm.astype(np.int64).astype("datetime64[m]")
    slots = [str(s).replace("T", " ") + ":00" for s in stamps]
    body = ((d, loc, np.searchsorted(allm, rows[(d, loc)])) for d, loc in keys)
    return reference_csv(source_id, slots, body)


def reference_tar(members: list[tuple[str, bytes]], mtime: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def slot_names(n: int) -> list[str]:
    stamps = (T0 + 5 * np.arange(n)).astype("datetime64[m]")
    return [str(s).replace("T", " ") + ":00" for s in stamps]


# -- strategies ------------------------------------------------------------------------------
@st.composite
def week_tables(draw):
    """(slots, rows): rows draw their free columns from a few arrays, shared by identity,
    as equal copies, or as plain lists (unsorted, with repeats)."""
    n = draw(st.integers(0, 40))
    column = st.integers(0, n - 1) if n else st.nothing()
    pool = [
        np.unique(np.array(draw(st.lists(column, max_size=n)), dtype=np.int64))
        for _ in range(draw(st.integers(1, 5)))
    ]
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        d = f"2021-08-{draw(st.integers(9, 15)):02d} {draw(st.sampled_from([7, 12])):02d}:00:00"
        loc = draw(st.sampled_from(["a", "b-2", "Bürgeramt 7", "x y"]))
        how = draw(st.sampled_from(["shared", "copy", "uint32", "list"]))
        free = pool[draw(st.integers(0, len(pool) - 1))]
        if how == "copy":
            free = free.copy()
        elif how == "uint32":
            free = free.astype(np.uint32)
        elif how == "list":
            free = draw(st.permutations(free.tolist() * draw(st.integers(1, 2))))
        rows.append((d, loc, free))
    return slot_names(n), rows


@st.composite
def snapshots(draw):
    """Snapshots as ``store.states`` yields them: a location's array object is shared while
    its state is unchanged; some snapshots share a 15-minute bucket."""
    universe = T0 + 10 * np.arange(draw(st.integers(1, 30)))
    state: dict[str, np.ndarray] = {}
    out = []
    minute = 7 * 60
    for _ in range(draw(st.integers(1, 25))):
        minute += draw(st.sampled_from([1, 5, 15, 60]))
        state = dict(state)
        for loc in draw(st.sets(st.sampled_from(["a", "b", "c"]))):
            if draw(st.booleans()) and loc in state:
                del state[loc]
            else:
                picks = draw(st.lists(st.sampled_from(universe.tolist()), unique=True))
                state[loc] = np.array(sorted(picks), dtype="<u4")
        taken_at = f"2021-08-10 {minute // 60:02d}:{minute % 60:02d}:00"
        out.append((taken_at, "ok", state))
    return out


class FakeStore:
    def __init__(self, snaps):
        self.snaps = snaps

    def states(self, source_id, start="", end="9999"):
        return iter([s for s in self.snaps if start <= s[0] < end])


# -- the writer ------------------------------------------------------------------------------
@EXAMPLES
@given(week_tables())
def test_writer_equals_reference(table):
    slots, rows = table
    got = write_week_csv("src", slots, iter(rows))
    assert got == reference_csv("src", slots, rows)
    if rows:  # and it reads back as written
        back = read_week_csv(got, "test")
        assert [(r.date, r.location_id) for r in back.rows] == [(d, loc) for d, loc, _ in rows]
        for row, (_, _, free) in zip(back.rows, rows, strict=True):
            assert row.free.tolist() == sorted(set(int(c) for c in free))


def test_writer_edge_cases():
    slots = slot_names(3)
    none = np.empty(0, dtype=np.int64)
    assert write_week_csv("s", slots, []) == reference_csv("s", slots, [])
    assert write_week_csv("s", [], []) == b"date,source_id,location_id\r\n"
    rows = [("2021-08-09 07:00:00", "a", none)] * 3 + [("2021-08-09 07:00:00", "b", [])]
    assert write_week_csv("s", slots, rows) == reference_csv("s", slots, rows)
    assert write_week_csv("s", [], rows) == reference_csv("s", [], rows)
    every = [("2021-08-09 07:00:00", "a", np.arange(3))]
    assert write_week_csv("s", slots, every).endswith(b",s,a,1,1,1\r\n")


@pytest.mark.parametrize("free", [[3], [-1], [0, 7]])
def test_writer_refuses_columns_out_of_range(free):
    with pytest.raises(WeekFileError, match="out of range"):
        write_week_csv("s", slot_names(3), [("2021-08-09 07:00:00", "a", np.array(free))])


@pytest.mark.parametrize("source, loc", [("s", "a,b"), ("s", 'a"'), ("s,t", "a"), ("s", "a\n")])
def test_writer_refuses_fields_needing_quotes(source, loc):
    with pytest.raises(WeekFileError, match="quoting"):
        write_week_csv(source, slot_names(2), [("2021-08-09 07:00:00", loc, [0])])


# -- the exporter ----------------------------------------------------------------------------
@EXAMPLES
@given(st.lists(st.integers(0, 2000), max_size=200), st.integers(0, 1 << 30))
def test_distinct_minutes_equals_unique(values, base):
    flat = np.array(values, dtype=np.int64) + base
    for dtype in ("<u4", np.int64):
        allm, index = distinct_minutes(flat.astype(dtype), inverse=True)
        want, inverse = np.unique(flat, return_inverse=True)
        assert allm.tolist() == want.tolist() and index.tolist() == inverse.tolist()
        assert distinct_minutes(flat.astype(dtype)).tolist() == want.tolist()
    wide = np.array([0, 1 << 30, *values])  # slots decades apart: sorted, not a bitmap
    allm, index = distinct_minutes(wide, inverse=True)
    assert allm[index].tolist() == wide.tolist() and allm.tolist() == sorted(set(wide.tolist()))


@EXAMPLES
@given(snapshots(), st.sampled_from([None, "impfthueringen"]))
def test_week_csv_equals_reference(snaps, family):
    store = FakeStore(snaps)
    rows = week_rows(store, "src", family, 2021, 32)
    made = week_csv(store, "src", family, 2021, 32)
    if not rows:
        assert made is None
        return
    assert made == (reference_week_csv(rows, "src"), len(rows))


# -- the archive -----------------------------------------------------------------------------
MEMBERS = st.dictionaries(
    st.text("abcxyz-_.", min_size=1, max_size=120).map(lambda s: s + ".csv"),
    st.binary(max_size=3000),
    max_size=6,
)


@settings(max_examples=40, deadline=None, database=None)
@given(MEMBERS)
def test_archive_equals_tarfile(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("tar")
    members = list(files.items())
    listed, streamed = folder / "a" / "w.tar.gz", folder / "b" / "w.tar.gz"
    listed.parent.mkdir()
    streamed.parent.mkdir()
    write_tar_gz(listed, members, 1628460000)
    write_tar_gz(streamed, iter(sorted(members)), 1628460000)
    assert listed.read_bytes() == streamed.read_bytes()
    assert gzip.decompress(listed.read_bytes()) == reference_tar(members, 1628460000)
    with tarfile.open(listed) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar} == files


def test_archive_of_big_members_is_deterministic(tmp_path):
    rng = np.random.default_rng(16)
    members = [(f"m{i}.csv", rng.integers(44, 50, 3_000_000, dtype=np.uint8).tobytes())
               for i in range(3)]  # fmt: skip
    out = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_tar_gz(tmp_path / name / "w.tar.gz", iter(members), 0)
        out.append((tmp_path / name / "w.tar.gz").read_bytes())
    assert out[0] == out[1]
    assert gzip.decompress(out[0]) == reference_tar(members, 0)


def test_archive_refuses_unsorted_stream_and_leaves_nothing(tmp_path: Path):
    path = tmp_path / "w.tar.gz"
    with pytest.raises(ValueError, match="not sorted"):
        write_tar_gz(path, iter([("b.csv", b"1"), ("a.csv", b"2")]), 0)
    assert list(tmp_path.iterdir()) == []


def test_archive_failing_member_leaves_nothing(tmp_path: Path):
    path = tmp_path / "w.tar.gz"
    path.write_bytes(b"old")

    def members():
        yield "a.csv", b"x" * 100_000
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_tar_gz(path, members(), 0)
    assert [p.name for p in tmp_path.iterdir()] == ["w.tar.gz"] and path.read_bytes() == b"old"
