"""Import published weeks (``YEAR-WW.tar.gz`` or a folder of CSVs) and ``metadata.json``.

Imported snapshots behave like scraped ones (status, show, export, analysis); they are kept
as one compact segment per source and week (``store.segments``), without raw payloads.
Importing is idempotent: a snapshot of a source at a time already imported is skipped.
Each file is one transaction, so a corrupt, truncated or implausible file leaves the store
as it was. Import streams: members are decompressed and parsed block by block (rows must
be in time order, as published) and only one small bitmask per location is kept.
Snapshot and slot times must be plausible (``store.plausible``) and lie in the ISO week the
file's name says (``2021-28.tar.gz``, a folder ``2021-28``). The members of a new week's
archive are parsed over all cores where that is safe (``parallel``).
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
from . import parallel
from .archive import MAX_MEMBER_BYTES, csv_members
from .weekfile import WeekBlock, WeekReader

_WEEK_NAME = re.compile(r"^(\d{4})-(\d{2})(\.tar\.gz|\.tgz|\.tar)?$")


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
                    import_csv(store, fh, str(file), result, week, now)
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
            stored = week is not None and store.week_has_segments(_week_range(*week)[2])
            workers = parallel.workers_for(week, stored)
            if workers:
                parallel.import_archive(store, path, week, now, result, workers)
            else:
                for name, stream in csv_members(path):
                    import_csv(store, stream, f"{path}:{name}", result, week, now)
        return result
    raise ImportError_(f"{path}: not a .tar.gz week file, a folder of CSVs or metadata.json")


def import_csv(
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
        self.week_number = -1
        self.to_universe: np.ndarray | None = None  # file column -> writer position, if not same
        self.from_file = False  # the writer holds nothing but this file's rows
        self.current = ""  # date of the snapshot being fed
        self.segment = ""  # its ISO week
        self.writer: segments.SegmentWriter | None = None
        self.known: set[str] = set()
        self.pending: deque = deque()  # snapshots of the stored segment not yet merged in
        self.skipping = False
        self.new = self.skipped = self.rows = 0
        self.spans: dict[str, list[str]] = {}

    def _check_times(self, block: WeekBlock, slots: list[str]) -> None:
        """Snapshot times plausible and in the file's week, slots plausible for each."""
        secs, n = block.seconds, len(block.dates)
        earliest = int(np.datetime64(plausible.EARLIEST, "s").astype(np.int64))
        latest = int(np.datetime64(plausible.latest_snapshot(self.now), "s").astype(np.int64))
        bad = np.flatnonzero((secs < earliest) | (secs > latest))
        if len(bad):
            r = int(bad[0])
            taken = datetime.strptime(block.dates[r], plausible.TIME_FORMAT)
            where = f"{self.name}, row {block.first_row + r}"
            try:
                plausible.check_snapshot_time(taken, self.now, where)
            except plausible.ImplausibleTime as exc:
                raise ImportError_(str(exc)) from None
        if self.week is not None:
            lo, hi = (int(np.datetime64(t, "s").astype(np.int64)) for t in self.week[:2])
            outside = np.flatnonzero((secs < lo) | (secs >= hi))
            if len(outside):
                r = int(outside[0])
                label, last = self.week[2], self.week[1] - timedelta(days=1)
                raise ImportError_(
                    f"{self.name}, row {block.first_row + r}: date {block.dates[r]} is outside "
                    f"week {label} ({self.week[0]:%Y-%m-%d}..{last:%Y-%m-%d}) that the file "
                    "name says"
                )
        if not n or not len(self.columns):
            return
        # a row's slots are plausible when its first and last free slot are (columns sorted)
        day = secs // 86400 * 86400
        lo_m = (day - int(plausible.SLOT_BEFORE.total_seconds())) // 60
        hi_m = (secs + int(plausible.SLOT_AFTER.total_seconds())) // 60
        cols = self.columns.astype(np.int64)
        first = block.first_col[block.state_of_row]
        last = block.last_col[block.state_of_row]
        has = first >= 0
        early = has & (cols[first] < lo_m)
        late = has & (cols[last] > hi_m)
        bad = np.flatnonzero(early | late)
        if len(bad):
            r = int(bad[0])
            col = int(first[r]) if early[r] else int(last[r])
            raise ImportError_(
                f"{self.name}, row {block.first_row + r}: implausible slot time "
                f"{slots[col]!r} in a snapshot of {block.dates[r]}"
            )

    def block(self, block: WeekBlock, slots: list[str]) -> None:
        self._check_times(block, slots)
        secs, dates, locs = block.seconds, block.dates, block.locations
        back = np.flatnonzero(np.diff(secs) < 0)
        if len(back):
            r = int(back[0]) + 1
            raise ImportError_(
                f"{self.name}, row {block.first_row + r}: date {dates[r]} is before "
                f"{dates[r - 1]}: rows must be in time order"
            )
        # a date's text and its seconds are one to one: runs of equal seconds are snapshots
        starts = [0, *(np.flatnonzero(np.diff(secs)) + 1).tolist()]
        days = (secs[starts] // 86400).tolist()
        row_states = list(map(block.states.__getitem__, block.state_of_row.tolist()))
        new_at = np.searchsorted(block.new_rows, starts).tolist() + [len(block.new_rows)]
        new_rows = block.new_rows.tolist()
        kept: list[tuple[int, int]] = []
        for i, (a, b, day) in enumerate(zip(starts, [*starts[1:], len(dates)], days, strict=True)):
            taken = dates[a]
            if taken != self.current:
                self._next_snapshot(taken, block.first_row + a, day)
            if self.skipping:
                continue
            writer = self.writer
            assert writer is not None
            u = self.to_universe
            seen = set(writer.seen) if writer.seen else set()  # the snapshot's earlier rows
            if self.from_file:  # the writer's states are this file's rows
                run = [r - a for r in new_rows[new_at[i] : new_at[i + 1]]]
                ok = writer.put_run(locs[a:b], row_states[a:b], run)
            elif u is None:
                ok = all(map(writer.put, locs[a:b], row_states[a:b]))
            else:
                ok = all(
                    writer.put_keyed(loc, s, lambda s=s, u=u: u[s])
                    for loc, s in zip(locs[a:b], row_states[a:b], strict=True)
                )
            if not ok:
                r = next(r for r in range(a, b) if locs[r] in seen or seen.add(locs[r]))
                raise ImportError_(
                    f"{self.name}, row {block.first_row + r}: location {locs[r]} twice at {taken}"
                )
            kept.append((a, b))
        if not kept:
            return
        if len(kept) > 1 or kept[0] != (0, len(dates)):
            dates = [d for a, b in kept for d in dates[a:b]]
            locs = [loc for a, b in kept for loc in locs[a:b]]
        self.rows += len(dates)
        firsts = dict(zip(reversed(locs), reversed(dates), strict=True))
        for loc, last in dict(zip(locs, dates, strict=True)).items():
            span = self.spans.get(loc)
            if span is None:
                self.spans[loc] = [firsts[loc], last]
            else:
                span[1] = last

    def _next_snapshot(self, taken: str, row: int, day: int) -> None:
        if taken < self.current:
            raise ImportError_(
                f"{self.name}, row {row}: date {taken} is before {self.current}: rows must be "
                "in time order"
            )
        if self.writer is not None and not self.skipping:
            self.writer.end()
        # ISO weeks start on Mondays; day 0 (1970-01-01) was a Thursday
        if (day + 3) // 7 != self.week_number:
            self.week_number = (day + 3) // 7
            week = segments.iso_week(taken)
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
            self.from_file = False
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
        self.from_file = not self.pending
        same = len(universe) == len(self.columns)
        self.to_universe = None if same else self.writer.positions(self.columns)

    def _save(self) -> None:
        """Store the segment of the current week, if it got new snapshots."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        for snapshot in self.pending:
            _replay(writer, snapshot)
        self.pending = deque()
        blob = writer.finish()
        n_ok = int(np.count_nonzero(writer.statuses == segments.STATUS_CODES["ok"]))
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
    for loc, minutes in snapshot[2].items():
        writer.put_keyed(loc, minutes, lambda m=minutes: writer.positions(m))
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
