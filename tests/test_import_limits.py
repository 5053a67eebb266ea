"""Hostile week files: absurd times, rows outside the week, bombs, bad bytes and metadata.

Each is refused naming file and row, the store unchanged (compared as an SQL dump), or
imported within bounded memory (a 1 GB member, measured in a subprocess).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from office_schedule.clock import local_now
from office_schedule.errors import OfficeScheduleError, StoreError
from office_schedule.exchange import archive, import_paths
from office_schedule.model import Location, ParsedSnapshot
from office_schedule.store import SQLiteStore, segments

from .weekslices import tar_gz

SRC = Path(__file__).resolve().parent.parent / "src"
TIME = "%Y-%m-%d %H:%M:%S"
SLOTS = ["2021-07-13 09:00:00", "2021-07-13 09:30:00"]


def dump(store: SQLiteStore) -> str:
    return "\n".join(store.conn.iterdump())


def csv(rows: list[str], slots: list[str] = SLOTS) -> bytes:
    head = ",".join(["date", "source_id", "location_id", *slots])
    return "".join(f"{line}\r\n" for line in [head, *rows]).encode()


GOOD = ["2021-07-13 08:00:00,jena,a,1,", "2021-07-13 08:15:00,jena,a,,1"]


@pytest.fixture
def seeded(store, tmp_path):
    import_paths(store, [tar_gz(tmp_path / "2021-28.tar.gz", {"jena.csv": csv(GOOD)})])
    return store


@pytest.mark.parametrize(
    "rows, slots, message",
    [
        (["1970-01-01 00:00:00,jena,a,1,"], SLOTS, "row 2: implausible snapshot time 1970"),
        (["9999-12-31 23:59:59,jena,a,1,"], SLOTS, "row 2: implausible snapshot time 9999"),
        (
            [*GOOD, "2021-07-14 08:00:00,jena,a,1,"],
            ["2021-07-13 09:00:00", "9999-12-31 23:59:59"],
            "row 1, column 5: implausible slot time '9999-12-31 23:59:59'",
        ),
        (
            ["2021-07-14 08:00:00,jena,a,1,"],
            ["2021-07-01 09:00:00", "2021-07-13 09:00:00"],
            "row 2: implausible slot time '2021-07-01 09:00:00'",
        ),
        (
            ["2021-07-19 00:00:00,jena,a,1,"],
            SLOTS,
            "row 2: date 2021-07-19 00:00:00 is outside week 2021-28",
        ),
        (["2021-07-11 23:59:59,jena,a,1,"], SLOTS, "outside week 2021-28"),
        (["2021-07-14 08:00:00,jena,a,1,", "2021-07-14 07:00:00,jena,a,,1"], SLOTS, "time order"),
        (["2021-07-14 08:00:00,jena,a,1,", "2021-07-14 08:00:00,jena,a,,1"], SLOTS, "a twice"),
    ],
)
def test_implausible_rows_are_refused_and_change_nothing(seeded, tmp_path, rows, slots, message):
    before = dump(seeded)
    (tmp_path / "w").mkdir()
    bad = tar_gz(tmp_path / "w" / "2021-28.tar.gz", {"jena.csv": csv(rows, slots)})
    with pytest.raises(OfficeScheduleError, match=message) as info:
        import_paths(seeded, [bad])
    assert "2021-28.tar.gz:jena.csv" in str(info.value)
    assert dump(seeded) == before


def test_folder_named_as_a_week_is_checked_other_folders_not(store, tmp_path):
    rows = ["2021-07-20 08:00:00,jena,a,,1"]
    for name in ("2021-28", "any"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "jena.csv").write_bytes(
            csv(rows, ["2021-07-21 09:00:00", "2021-07-21 09:30:00"])
        )
    with pytest.raises(OfficeScheduleError, match=r"2021-28/jena.csv, row 2: .*outside week"):
        import_paths(store, [tmp_path / "2021-28"])
    (result,) = import_paths(store, [tmp_path / "any"])
    assert result.snapshots == 1


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            b"2021-07-13 08:00:00,jena,caf\xe9,1,",
            r"row 4: not UTF-8 \(byte b'\\xe9' at byte offset",
        ),
        (b"2021-07-13 08:00:00,jen\xffa,a,1,", "row 4: not UTF-8"),
    ],
)
def test_non_utf8_ids_are_refused_not_replaced(seeded, tmp_path, raw, message):
    before = dump(seeded)
    data = csv(GOOD) + raw + b"\r\n"
    offset = data.index(b"\xe9" if b"\xe9" in raw else b"\xff")
    bad = tar_gz(tmp_path / "bad.tar.gz", {"jena.csv": data})
    with pytest.raises(OfficeScheduleError, match=message) as info:
        import_paths(seeded, [bad])
    assert "bad.tar.gz:jena.csv" in str(info.value)
    if b"\xe9" in raw:
        assert f"byte offset {offset} " in str(info.value)
    assert dump(seeded) == before


def test_zero_member_is_refused_quickly(store, tmp_path):
    """1 GB of zeros, declared as a CSV member: refused at its header, nothing held."""
    path = tmp_path / "2021-28.tar.gz"
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
        info = tarfile.TarInfo("jena.csv")
        info.size = 1 << 30
        t.addfile(info, _Zeros(info.size))
    with pytest.raises(OfficeScheduleError, match="jena.csv, row 1: header longer than"):
        import_paths(store, [path])
    assert store.source_ids() == []


def test_compression_ratio_and_size_limits_name_the_member(tmp_path, monkeypatch):
    path = tmp_path / "bomb.tar.gz"
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
        info = tarfile.TarInfo("bomb.csv")
        info.size = 200 << 20
        t.addfile(info, _Zeros(info.size))
    with pytest.raises(archive.ArchiveError, match=r"member 'bomb.csv': compression ratio"):
        for _, stream in archive.csv_members(path):
            while stream.read(1 << 20):
                pass
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 100 << 20)
    with pytest.raises(archive.ArchiveError, match=r"member 'bomb.csv' is 209715200 bytes"):
        list(archive.csv_members(path))


class _Zeros:
    def __init__(self, size: int):
        self.left = size

    def read(self, n: int) -> bytes:
        n = min(n, self.left)
        self.left -= n
        return bytes(n)


# --- a valid 1 GB member, imported in a subprocess within 1 GB peak RSS --------------------

N_SLOTS, N_LOCS, N_SNAPS = 2000, 100, 2662


class _BigWeek:
    """A valid week CSV of ~1.06 GB, generated while it is read (never held whole)."""

    def __init__(self):
        self.lines, self.buf, self.pos = self._lines(), b"", 0

    @staticmethod
    def _lines():
        slot0 = datetime(2021, 7, 19)
        cols = [(slot0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in
                range(N_SLOTS)]  # fmt: skip
        yield (",".join(["date", "source_id", "location_id", *cols]) + "\r\n").encode()
        ones = b",1" * N_SLOTS
        for s in range(N_SNAPS):
            stamp = (datetime(2021, 7, 12) + timedelta(seconds=227 * s)).strftime(TIME)
            out = []
            for loc in range(N_LOCS):
                p = (s * 7 + loc * 13) % (N_SLOTS - 60)  # 50 taken slots, moving
                cells = ones[: 2 * p] + b"," * 50 + ones[2 * (p + 50) :]
                out.append(b"%s,big,loc%03d%s\r\n" % (stamp.encode(), loc, cells))
            yield b"".join(out)

    def read(self, n: int) -> bytes:
        parts, have = [], 0
        while have < n:
            if self.pos >= len(self.buf):
                self.buf, self.pos = next(self.lines, b""), 0
                if not self.buf:
                    break
            piece = self.buf[self.pos : self.pos + n - have]
            self.pos += len(piece)
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)


def test_one_gigabyte_member_imports_within_one_gigabyte(tmp_path):
    size = sum(len(chunk) for chunk in _BigWeek._lines())
    assert size > 10**9
    path = tmp_path / "2021-28.tar.gz"
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w|") as tar:
            info = tarfile.TarInfo("big.csv")
            info.size = size
            tar.addfile(info, _BigWeek())
    code = (
        "import sys; from pathlib import Path\n"
        "from office_schedule.store import SQLiteStore\n"
        "from office_schedule.exchange import import_paths\n"
        "with SQLiteStore(Path(sys.argv[1])) as s:\n"
        "    (r,) = import_paths(s, [Path(sys.argv[2])])\n"
        "print(r.snapshots, r.rows)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "big.db"), str(path)],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    ).stdout.split("\n")  # fmt: skip
    assert out[0] == f"{N_SNAPS} {N_SNAPS * N_LOCS}"
    peak_kb = int(out[1])
    assert peak_kb < 1 << 20, f"peak RSS {peak_kb} kB"
    with SQLiteStore(tmp_path / "big.db") as store:
        week, n_ok, n_unchanged, blob = store.conn.execute(
            "SELECT week, n_ok, n_unchanged, data FROM segments WHERE source_id = 'big'"
        ).fetchone()
    # every snapshot moves the taken slots (the contents are checked on small weeks: full
    # decoding of 266,200 changes is slow)
    assert (week, n_ok, n_unchanged) == ("2021-28", N_SNAPS, 0)
    times = segments.times_of(blob)
    assert times[0] == "2021-07-12 00:00:00" and len(times) == N_SNAPS


# --- the streamed segment writer against the in-memory encoder ----------------------------


def test_segment_writer_matches_encode():
    rng = np.random.default_rng(5)
    minutes = np.arange(27000000, 27000000 + 600, 5, dtype="<u4")
    snaps = []
    for i in range(40):
        state = {
            f"l{j}": np.sort(rng.choice(minutes, rng.integers(0, 30), replace=False))
            for j in range(6)
            if rng.random() > 0.2
        }
        snaps.append((f"2021-07-13 08:{i:02d}:00", state))
    want = segments.decode(segments.encode(segments.with_statuses(snaps)))
    writer = segments.SegmentWriter(minutes)
    for taken, state in snaps:
        writer.begin(taken)
        for loc, m in state.items():
            assert writer.put(loc, writer.positions(m))
        writer.end()
    got = segments.decode(writer.finish())
    assert [(t, s, sorted(st)) for t, s, st in got] == [(t, s, sorted(st)) for t, s, st in want]
    for (_, _, a), (_, _, b) in zip(got, want, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_import_merges_into_a_stored_week(store, tmp_path):
    rows = [f"2021-07-13 0{h}:00:00,jena,a,{'1' if h % 2 else ''},1" for h in range(8)]
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "jena.csv").write_bytes(csv(rows[::2]))
    import_paths(store, [tmp_path / "half"])
    (result,) = import_paths(store, [tar_gz(tmp_path / "2021-28.tar.gz", {"jena.csv": csv(rows)})])
    assert (result.snapshots, result.skipped) == (4, 4)
    states = list(store.states("jena"))
    assert [t[11:13] for t, _, _ in states] == [f"0{h}" for h in range(8)]
    assert [len(s["a"]) for _, _, s in states] == [1 + h % 2 for h in range(8)]


# --- metadata.json types and bytes ----------------------------------------------------------


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"jena": {"name": 5, "locations": {}}}, "jena.name must be a string or null, got int"),
        ({"jena": {"name": "J", "locations": []}}, "jena.locations must be an object, got list"),
        ([{"jena": {}}], "expected an object of sources, got list"),
        ({"jena": None}, "'jena' must be an object, got null"),
        ({"jena": {"url": {"a": 1}}}, "jena.url must be a string or null, got dict"),
        ({"jena": {"locations": {"a": {"name": {"x": 1}}}}}, "jena.locations.a.name must be"),
        ({"jena": {"locations": {"a": {"services": [{"x": 1}]}}}}, "a.services must be a list"),
        ({"jena": {"locations": {"a": {"services": "Pass"}}}}, "a.services must be a list"),
        ({"jena": {"locations": {"a": None}}}, "jena.locations.a must be an object, got null"),
        ({"jena": {"scraper": ["tevis"]}}, "jena.scraper must be a string or null, got list"),
    ],
)
def test_metadata_with_wrong_types_is_one_clear_error(seeded, tmp_path, meta, message):
    before = dump(seeded)
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(meta))
    with pytest.raises(OfficeScheduleError, match=message) as info:
        import_paths(seeded, [path])
    assert str(path) in str(info.value)
    assert dump(seeded) == before


def test_metadata_non_utf8_is_refused_with_offset(store, tmp_path):
    path = tmp_path / "metadata.json"
    path.write_bytes(b'{"jena": {"name": "Jen\xe4"}}')
    with pytest.raises(OfficeScheduleError, match="not UTF-8 .* at byte offset 22"):
        import_paths(store, [path])


# --- store time ---------------------------------------------------------------------------


def test_save_snapshot_refuses_implausible_times(store):
    now = local_now()
    far = ParsedSnapshot({"a": Location("a", None, slots=(datetime(9999, 12, 31, 23, 59),))})
    with pytest.raises(StoreError, match="implausible slot time 9999-12-31 23:59:00 .* at jena"):
        store.save_snapshot("jena", now, now.timestamp(), raw={}, parsed=far)
    with pytest.raises(StoreError, match="implausible snapshot time 1970-01-01"):
        store.save_snapshot("jena", datetime(1970, 1, 1), 0.0, error=("X", "y", None))
    ok = ParsedSnapshot({"a": Location("a", None, slots=(now + timedelta(days=3),))})
    assert store.save_snapshot("jena", now, now.timestamp(), raw={}, parsed=ok).status == "ok"
    assert len(store.snapshots()) == 1
