"""Python API over a week dataset: the office-schedule-data layout or our Parquet export.

``WeekData(path)`` detects the layout: a directory with ``week=YYYY-WW/source_id=ID/*.parquet``
partitions (``export_parquet``) or an office-schedule-data directory (``raw/YEAR/*.tar.gz``
and ``raw/metadata.json``; the ``raw`` folder itself is accepted too). Like the published
dataset's reader it filters by source id (``source_id`` / ``source_id_not``: a wildcard, a
list of wildcards or a predicate) and ISO week (``iso_week``, ``iso_week_gt/gte/lt/lte`` as
``(year, week)``). Week labels are ``"YYYY-WW"``. Asking for one source of a week streams the
archive and reads only that member.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..errors import OfficeScheduleError
from .parquet import (
    PART_NAME,
    TIME_UNIT,
    assemble_long,
    minutes_of,
    parse_minutes,
    partition_path,
    slot_label,
)
from .weekfile import HEADER, WeekRow, WeekTable, read_week_csv

IsoWeek = tuple[int, int]
SourceFilter = str | Sequence[str] | Callable[[str], bool] | None
_WEEK_RE = re.compile(r"^\d{4}-\d\d$")


class WeekDataError(OfficeScheduleError):
    """A dataset directory, week or source that cannot be read."""


def _matcher(spec: SourceFilter) -> Callable[[str], bool] | None:
    if spec is None:
        return None
    if callable(spec):
        return spec
    patterns = [spec] if isinstance(spec, str) else list(spec)
    return lambda sid: any(fnmatch.fnmatchcase(sid, p) for p in patterns)


def _as_week(value: IsoWeek | str) -> IsoWeek:
    if isinstance(value, str):
        year, week = value.split("-")
        return int(year), int(week)
    return int(value[0]), int(value[1])


def week_tuple(label: str) -> IsoWeek:
    """``"2021-28"`` -> ``(2021, 28)``."""
    return _as_week(label)


class WeekData:
    """Weeks and per-source tables of a dataset directory (CSV archives or Parquet)."""

    def __init__(
        self,
        path: str | Path,
        source_id: SourceFilter = None,
        source_id_not: SourceFilter = None,
        iso_week: IsoWeek | str | Sequence[IsoWeek | str] | None = None,
        iso_week_gt: IsoWeek | None = None,
        iso_week_gte: IsoWeek | None = None,
        iso_week_lt: IsoWeek | None = None,
        iso_week_lte: IsoWeek | None = None,
    ):
        self.path = Path(path)
        self.layout, self.root = self._detect(self.path)
        self._include = _matcher(source_id)
        self._exclude = _matcher(source_id_not)
        if iso_week is None:
            self._weeks = None
        elif isinstance(iso_week, str) or (
            isinstance(iso_week, tuple) and len(iso_week) == 2 and isinstance(iso_week[0], int)
        ):
            self._weeks = {_as_week(iso_week)}
        else:
            self._weeks = {_as_week(w) for w in iso_week}
        self._bounds = (iso_week_gt, iso_week_gte, iso_week_lt, iso_week_lte)
        self._meta: dict | None = None
        self._members: dict[str, list[str]] = {}

    @staticmethod
    def _detect(path: Path) -> tuple[str, Path]:
        if any(p.is_dir() for p in path.glob("week=*")):
            return "parquet", path
        for raw in (path / "raw", path):
            if any(raw.glob("*/*.tar.gz")) or (raw / "metadata.json").is_file():
                return "csv", raw
        raise WeekDataError(f"{path}: neither a Parquet dataset nor an office-schedule-data folder")

    # -- filters ---------------------------------------------------------------------------

    def _week_ok(self, label: str) -> bool:
        wk = week_tuple(label)
        gt, gte, lt, lte = self._bounds
        return not (
            (self._weeks is not None and wk not in self._weeks)
            or (gt and not wk > tuple(gt))
            or (gte and not wk >= tuple(gte))
            or (lt and not wk < tuple(lt))
            or (lte and not wk <= tuple(lte))
        )

    def _source_ok(self, source_id: str) -> bool:
        if self._include is not None and not self._include(source_id):
            return False
        return self._exclude is None or not self._exclude(source_id)

    # -- listing ---------------------------------------------------------------------------

    def weeks(self) -> list[str]:
        """Labels ``YYYY-WW`` of the weeks that pass the week filters, sorted."""
        if self.layout == "parquet":
            labels = [p.name[5:] for p in self.root.glob("week=*") if p.is_dir()]
        else:
            labels = [p.name[: -len(".tar.gz")] for p in self.root.glob("*/*.tar.gz")]
        return sorted(w for w in labels if _WEEK_RE.match(w) and self._week_ok(w))

    def sources(self, week: str) -> list[str]:
        """Source ids of ``week`` that pass the source filters, sorted."""
        if self.layout == "parquet":
            base = self.root / f"week={week}"
            ids = [p.name[10:] for p in base.glob("source_id=*") if (p / PART_NAME).is_file()]
        else:
            if week not in self._members:
                self._members[week] = [name for name, _ in self._stream(week, lambda _: False)]
            ids = self._members[week]
        return sorted(sid for sid in ids if self._source_ok(sid))

    def _archive(self, week: str) -> Path:
        path = self.root / week[:4] / f"{week}.tar.gz"
        if not path.is_file():
            raise WeekDataError(f"{self.path}: no week {week}")
        return path

    def _stream(
        self, week: str, wanted: Callable[[str], bool]
    ) -> Iterator[tuple[str, bytes | None]]:
        """(source_id, member bytes or None when not wanted), one member at a time."""
        path = self._archive(week)
        try:
            with tarfile.open(path, "r|*") as archive:
                for member in archive:
                    name = member.name.rsplit("/", 1)[-1]
                    if not member.isfile() or not name.endswith(".csv"):
                        continue
                    sid = name[: -len(".csv")]
                    if not wanted(sid):
                        yield sid, None
                        continue
                    handle = archive.extractfile(member)
                    yield sid, handle.read() if handle else b""
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise WeekDataError(f"{path}: corrupt or truncated archive ({exc})") from None

    # -- tables ----------------------------------------------------------------------------

    def _week_table(self, week: str, source_id: str) -> WeekTable:
        if self.layout == "parquet":
            return _table_of_long(self._read_long(week, source_id), source_id)
        for sid, data in self._stream(week, lambda s: s == source_id):
            if sid == source_id and data is not None:
                table = read_week_csv(data, f"{self._archive(week)}:{sid}.csv")
                table.source_id = table.source_id or source_id
                return table
        raise WeekDataError(f"{self.path}: no source {source_id} in week {week}")

    def _iter_week_tables(self) -> Iterator[tuple[str, str, WeekTable]]:
        for week in self.weeks():
            if self.layout == "parquet":
                for sid in self.sources(week):
                    yield week, sid, self._week_table(week, sid)
                continue
            for sid, data in self._stream(week, self._source_ok):
                if data is not None:
                    table = read_week_csv(data, f"{self._archive(week)}:{sid}.csv")
                    table.source_id = table.source_id or sid
                    yield week, sid, table

    def iter_tables(
        self, as_datetime: bool = False
    ) -> Iterator[tuple[str, str, list[str], list[list]]]:
        """(week, source_id, columns, rows) of every table passing the filters.

        Rows are ``[date, source_id, location_id, 0/1, ...]``; dates stay strings unless
        ``as_datetime``.
        """
        for week, sid, table in self._iter_week_tables():
            yield (week, sid, *_columns_rows(table, None, as_datetime))

    def iter_dataframes(self) -> Iterator[tuple[str, str, pl.DataFrame]]:
        for week, sid, table in self._iter_week_tables():
            yield week, sid, _wide_frame(table, None)

    def get_table(
        self, week: str, source_id: str, location_id: str | None = None, as_datetime: bool = False
    ) -> tuple[list[str], list[list]]:
        """(columns, rows) of one source and week, optionally one location's rows only.

        The slot columns are always those of the whole source week, as in the CSV.
        """
        return _columns_rows(self._week_table(week, source_id), location_id, as_datetime)

    def get_dataframe(
        self, week: str, source_id: str, location_id: str | None = None
    ) -> pl.DataFrame:
        """Wide frame: date, source_id, location_id, one UInt8 column per slot."""
        return _wide_frame(self._week_table(week, source_id), location_id)

    def get_long(self, week: str, source_id: str, location_id: str | None = None) -> pl.DataFrame:
        """Long frame: date, source_id, location_id, free_slots (list), n_free."""
        if self.layout == "parquet":
            frame = self._read_long(week, source_id)
        else:
            frame = _long_of_table(self._week_table(week, source_id))
        if location_id is not None:
            frame = frame.filter(pl.col("location_id") == str(location_id))
        return frame

    def _read_long(self, week: str, source_id: str) -> pl.DataFrame:
        path = partition_path(self.root, week, source_id)
        if not path.is_file():
            raise WeekDataError(f"{self.path}: no source {source_id} in week {week}")
        return pl.read_parquet(path, hive_partitioning=False)

    # -- metadata --------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The dataset's metadata.json ({} when missing or unreadable)."""
        if self._meta is None:
            try:
                data = json.loads((self.root / "metadata.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            self._meta = data if isinstance(data, dict) else {}
        return self._meta

    def get_meta(
        self,
        source_id: str,
        location_id: str | None = None,
        key: str | None = None,
        default: Any = None,
    ) -> Any:
        """A source's (or location's) metadata entry or one of its keys; never raises."""
        try:
            entry = self.meta().get(source_id)
            if location_id is not None and isinstance(entry, dict):
                entry = (entry.get("locations") or {}).get(str(location_id))
            if not isinstance(entry, dict):
                return default
            return entry if key is None else entry.get(key, default)
        except Exception:  # noqa: BLE001 - metadata lookups must never fail
            return default


def _columns_rows(
    table: WeekTable, location_id: str | None, as_datetime: bool
) -> tuple[list[str], list[list]]:
    columns = [*HEADER, *table.slots]
    n = len(table.slots)
    rows = []
    for row in table.rows:
        if location_id is not None and row.location_id != str(location_id):
            continue
        cells = np.zeros(n, dtype=np.int64)
        cells[row.free] = 1
        date: Any = row.date
        if as_datetime:
            date = np.datetime64(row.date.replace(" ", "T")).astype(object)
        rows.append([date, table.source_id, row.location_id, *cells.tolist()])
    return columns, rows


def _wide_frame(table: WeekTable, location_id: str | None) -> pl.DataFrame:
    rows = [r for r in table.rows if location_id is None or r.location_id == str(location_id)]
    cells = np.zeros((len(rows), len(table.slots)), dtype=np.uint8)
    if rows:
        counts = [len(r.free) for r in rows]
        r_idx = np.repeat(np.arange(len(rows)), counts)
        c_idx = np.concatenate([np.asarray(r.free, dtype=np.int64) for r in rows])
        cells[r_idx, c_idx] = 1
    base = pl.DataFrame(
        {
            "date": pl.Series([r.date for r in rows], dtype=pl.String).str.to_datetime(
                "%Y-%m-%d %H:%M:%S", time_unit=TIME_UNIT
            ),
            "source_id": pl.Series([table.source_id] * len(rows), dtype=pl.String),
            "location_id": pl.Series([r.location_id for r in rows], dtype=pl.String),
        }
    )
    if not table.slots:
        return base
    slots = pl.from_numpy(cells, schema=table.slots, orient="row")
    return pl.concat([base, slots], how="horizontal")


def _long_of_table(table: WeekTable) -> pl.DataFrame:
    minutes = parse_minutes(table.slots) if table.slots else np.empty(0, dtype=np.uint32)
    counts = np.fromiter((len(r.free) for r in table.rows), dtype=np.int64)
    parts = [minutes[np.asarray(r.free, dtype=np.int64)] for r in table.rows]
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    dates = [r.date for r in table.rows]
    return assemble_long(table.source_id, dates, [r.location_id for r in table.rows], flat, counts)


def _table_of_long(frame: pl.DataFrame, source_id: str) -> WeekTable:
    counts = frame["free_slots"].list.len().to_numpy().astype(np.int64)
    flat = minutes_of(frame["free_slots"].explode().drop_nulls())
    slots = np.unique(flat)
    idx = np.searchsorted(slots, flat)
    split = np.split(idx, np.cumsum(counts)[:-1]) if len(counts) else []
    dates = frame["date"].dt.strftime("%Y-%m-%d %H:%M:%S").to_list()
    rows = [
        WeekRow(d, loc, free)
        for d, loc, free in zip(dates, frame["location_id"].to_list(), split, strict=True)
    ]
    return WeekTable(source_id=source_id, slots=slot_label(slots), rows=rows)
