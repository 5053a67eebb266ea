"""Import published weeks (``YEAR-WW.tar.gz`` or a folder of CSVs) and ``metadata.json``.

Imported snapshots behave like scraped ones (status, show, export, analysis); they are kept
as one compact segment per source and week (``store.segments``), without raw payloads.
Importing is idempotent: a snapshot of a source at a time already imported is skipped.
Each file is one transaction, so a corrupt, truncated or implausible file leaves the store
as it was. Import streams: members are decompressed and parsed block by block (rows must
be in time order, as published) and only one small bitmask per location is kept.
Snapshot and slot times must be plausible (``store.plausible``) and lie in the ISO week the
file's name says (``2021-28.tar.gz``, a folder ``2021-28``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..clock import local_now
from ..errors import OfficeScheduleError
from ..store import Store, plausible, segments
from . import metadata as metadata_json
from .archive import MAX_MEMBER_BYTES, csv_members
from .weekfile import WeekBlock, WeekReader

_WEEK_NAME = re.compile(r"^(\d{4})-(\d{2})(\.tar\.gz|\.tgz|\.tar)?$")
#: rows x slots of one bitmask matrix (bool bytes) while a block is converted
_MATRIX_CELLS = 1 << 24


class ImportError_(OfficeScheduleError):
    """A file that cannot be imported; nothing of it was stored."""


@dataclass
class ImportResult:
    path: str
    sources: int = 0
    snapshots: int = 0
    skipped: int = 0
    rows: int = 0


def import_paths(store: Store, paths: list[str | Path]) -> list[ImportResult]:
    return [import_path(store, Path(p)) for p in paths]


def named_week(path: Path) -> tuple[int, int] | None:
    """The ISO week a file or folder name says (``2021-28[.tar.gz]``), else None."""
    match = _WEEK_NAME.match(path.name)
    if not match or (match.group(3) is None) != path.is_dir():
        return None
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ImportError_(
            f"{path}: its name says week {year}-{week:02d}, which does not exist"
        ) from None
    return year, week


def import_path(store: Store, path: Path, now: datetime | None = None) -> ImportResult:
    """Import one week archive, folder of week CSVs, or metadata.json."""
    now = now or local_now()
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files and not (path / "metadata.json").exists():
            raise ImportError_(f"{path}: no week CSV files and no metadata.json")
        result = ImportResult(str(path))
        week = named_week(path)
        with store.transaction():
            for file in files:
                if file.stat().st_size > MAX_MEMBER_BYTES:
                    raise ImportError_(f"{file}: larger than the limit of {MAX_MEMBER_BYTES} bytes")
                with open(file, "rb") as fh:
                    _import_csv(store, fh, str(file), result, week, now)
            if (path / "metadata.json").exists():
                import_metadata(store, path / "metadata.json")
        return result
    if path.name.endswith(".json"):
        import_metadata(store, path)
        return ImportResult(str(path))
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        result = ImportResult(str(path))
        week = named_week(path)
        with store.transaction():
            for name, stream in csv_members(path):
                _import_csv(store, stream, f"{path}:{name}", result, week, now)
        return result
    raise ImportError_(f"{path}: not a .tar.gz week file, a folder of CSVs or metadata.json")


def _import_csv(
    store: Store,
    stream: BinaryIO,
    name: str,
    result: ImportResult,
    week: tuple[int, int] | None,
    now: datetime,
) -> None:
    reader = WeekReader(stream, name)
    columns = np.array([s.replace(" ", "T") for s in reader.slots], dtype="datetime64[m]")
    lo = np.datetime64(plausible.EARLIEST - plausible.SLOT_BEFORE, "m")
    hi = np.datetime64(plausible.latest_snapshot(now) + plausible.SLOT_AFTER, "m")
    outside = np.flatnonzero((columns < lo) | (columns > hi))
    if len(outside):
        col = int(outside[0])
        raise ImportError_(
            f"{name}, row 1, column {col + 4}: implausible slot time {reader.slots[col]!r}"
        )
    expected = Path(name.rsplit(":", 1)[-1]).name.removesuffix(".csv")
    feed = _Feed(store, expected, columns.astype(np.int64).astype("<u4"), name, week, now)
    for block in reader.blocks():
        if reader.source_id != expected:
            raise ImportError_(
                f"{name}: rows name source {reader.source_id!r}, file is {expected!r}"
            )
        feed.block(block, reader.slots)
    new = feed.close()
    result.snapshots += new
    result.skipped += feed.skipped
    result.rows += feed.rows
    if new:
        result.sources += 1


class _Feed:
    """Turns the blocks of one CSV into segments, one ISO week at a time."""

    def __init__(self, store, source_id, columns, name, week, now):
        self.store, self.source_id, self.columns, self.name = store, source_id, columns, name
        self.now = now
        self.week = None if week is None else _week_range(*week)
        self.times: dict[str, tuple[int, int, int, str]] = {}
        self.current = ""  # date of the snapshot being fed
        self.segment = ""  # its ISO week
        self.writer: segments.SegmentWriter | None = None
        self.known: set[str] = set()
        self.pending: deque = deque()  # snapshots of the stored segment not yet merged in
        self.skipping = False
        self.new = self.skipped = self.rows = 0
        self.spans: dict[str, list[str]] = {}

    def _time(self, text: str, row: int) -> tuple[int, int, int, str]:
        """(snapshot minute, first and last plausible slot minute, ISO week) of a date."""
        got = self.times.get(text)
        if got is None:
            taken = datetime.strptime(text, plausible.TIME_FORMAT)
            where = f"{self.name}, row {row}"
            try:
                plausible.check_snapshot_time(taken, self.now, where)
            except plausible.ImplausibleTime as exc:
                raise ImportError_(str(exc)) from None
            if self.week is not None and not self.week[0] <= taken < self.week[1]:
                label, last = self.week[2], self.week[1] - timedelta(days=1)
                raise ImportError_(
                    f"{where}: date {text} is outside week {label} "
                    f"({self.week[0]:%Y-%m-%d}..{last:%Y-%m-%d}) that the file name says"
                )
            first, last = plausible.slot_window(taken)
            minute = lambda t: int(np.datetime64(t, "m").astype(np.int64))  # noqa: E731
            got = (minute(taken), minute(first), minute(last), segments.iso_week(text))
            self.times[text] = got
        return got

    def block(self, block: WeekBlock, slots: list[str]) -> None:
        n = len(block.dates)
        for r, taken in enumerate(block.dates):
            if taken not in self.times:
                self._time(taken, block.first_row + r)
        lo = np.fromiter((self.times[d][1] for d in block.dates), dtype=np.int64, count=n)
        hi = np.fromiter((self.times[d][2] for d in block.dates), dtype=np.int64, count=n)
        # columns are sorted: a row's first and last free slot decide
        free = block.free
        if free.shape[1]:
            any_free = free.any(axis=1)
            first = np.argmax(free, axis=1)
            last = free.shape[1] - 1 - np.argmax(free[:, ::-1], axis=1)
            cols = self.columns.astype(np.int64)
            bad = any_free & ((cols[first] < lo) | (cols[last] > hi))
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                col = int(first[r]) if cols[first[r]] < lo[r] else int(last[r])
                raise ImportError_(
                    f"{self.name}, row {block.first_row + r}: implausible slot time "
                    f"{slots[col]!r} in a snapshot of {block.dates[r]}"
                )
        masks: np.ndarray | None = None
        mask_of: segments.SegmentWriter | None = None
        offset = 0
        for r, (taken, loc) in enumerate(zip(block.dates, block.locations, strict=True)):
            if taken != self.current:
                self._next_snapshot(taken, block.first_row + r)
            if self.skipping:
                continue
            if mask_of is not self.writer:
                mask_of, masks = self.writer, self._masks(block, r)
                offset = r
            assert self.writer is not None and masks is not None
            if not self.writer.put(loc, masks[r - offset].tobytes()):
                raise ImportError_(
                    f"{self.name}, row {block.first_row + r}: location {loc} twice at {taken}"
                )
            self.rows += 1
            span = self.spans.get(loc)
            if span is None:
                self.spans[loc] = [taken, taken]
            else:
                span[1] = taken

    def _masks(self, block: WeekBlock, start: int) -> np.ndarray:
        """Packed bitmasks over the writer's universe of rows ``start..`` of the block."""
        assert self.writer is not None
        universe = self.writer.universe
        free = block.free[start:]
        if len(universe) == len(self.columns):  # nothing merged in: the file's own columns
            return np.packbits(free, axis=1)
        where = np.searchsorted(universe, self.columns)
        out = np.empty((len(free), (len(universe) + 7) // 8), dtype=np.uint8)
        step = max(1, _MATRIX_CELLS // max(len(universe), 1))
        for a in range(0, len(free), step):
            bits = np.zeros((min(step, len(free) - a), len(universe)), dtype=bool)
            bits[:, where] = free[a : a + step]
            out[a : a + step] = np.packbits(bits, axis=1)
        return out

    def _next_snapshot(self, taken: str, row: int) -> None:
        if taken < self.current:
            raise ImportError_(
                f"{self.name}, row {row}: date {taken} is before {self.current}: rows must be "
                "in time order"
            )
        if self.writer is not None and not self.skipping:
            self.writer.end()
        week = self._time(taken, row)[3]
        if week != self.segment:
            self._save()
            self.segment = week
            blob = self._stored()
            self.known = set(segments.times_of(blob)) if blob else set()
            self.pending, self.writer = deque(), None
        self.current = taken
        self.skipping = taken in self.known
        if self.skipping:
            self.skipped += 1
            return
        if self.writer is None:
            self._open_writer()
        assert self.writer is not None
        while self.pending and self.pending[0][0] < taken:
            _replay(self.writer, self.pending.popleft())
        self.writer.begin(taken)
        self.new += 1

    def _stored(self) -> bytes | None:
        return self.store.segment_blob(self.source_id, self.segment)

    def _open_writer(self) -> None:
        """A writer for the current week, merging in the snapshots already stored."""
        blob = self._stored()
        self.pending = deque(segments.decode(blob) if blob else [])
        universe = self.columns
        if self.pending:
            seen: dict[int, np.ndarray] = {}
            for _, _, state in self.pending:
                for minutes in state.values():
                    seen.setdefault(id(minutes), minutes)
            universe = np.unique(np.concatenate([universe, *seen.values()]))
        self.writer = segments.SegmentWriter(universe.astype("<u4"))

    def _save(self) -> None:
        """Store the segment of the current week, if it got new snapshots."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        for snapshot in self.pending:
            _replay(writer, snapshot)
        self.pending = deque()
        blob = writer.finish()
        n_ok = sum(s == segments.STATUS_CODES["ok"] for s in writer.statuses)
        self.store.save_segment_blob(self.source_id, self.segment, blob, writer.times, n_ok)

    def close(self) -> int:
        if self.writer is not None and not self.skipping:
            self.writer.end()
        self._save()
        self.store.add_location_spans(self.source_id, self.spans)
        return self.new


def _replay(writer: segments.SegmentWriter, snapshot: segments.Snapshot) -> None:
    """Feed a stored snapshot (its arrays shared while unchanged) into ``writer``."""
    writer.begin(snapshot[0])
    masks: dict[int, bytes] = {}
    for loc, minutes in snapshot[2].items():
        if id(minutes) not in masks:
            masks[id(minutes)] = writer.mask(minutes)
        writer.put(loc, masks[id(minutes)])
    writer.end()


def _week_range(year: int, week: int) -> tuple[datetime, datetime, str]:
    monday = date.fromisocalendar(year, week, 1)
    start = datetime(monday.year, monday.month, monday.day)
    return start, start + timedelta(days=7), f"{year}-{week:02d}"


def import_metadata(store: Store, path: Path) -> int:
    """Merge a metadata.json into the store's source and location metadata."""
    meta = metadata_json.load(path)
    store.merge_metadata(meta)
    return len(meta)
