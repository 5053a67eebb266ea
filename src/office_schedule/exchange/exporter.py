"""Export the store as the office-schedule-data layout.

``DIR/raw/YEAR/YEAR-WW.tar.gz`` holds one ``SOURCE.csv`` per source with snapshots in that
ISO week (see ``weekfile``), ``DIR/raw/metadata.json`` the merged metadata. Only complete
weeks are written unless ``incomplete``; an existing week file is never rewritten, unless a
marker ``DIR/raw/YEAR/YEAR-WW.partial`` beside it says it was written before the week ended
(``incomplete``): such a week is written again, and the marker removed once the week is
complete (a complete week's files are exactly the published layout). Output is
deterministic: members sorted by name, every mtime (tar and gzip header) set to the end of
the week, owner root, mode 0644, GNU tar format.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from ..clock import OFFICE_TZ, local_now
from ..store import SQLiteStore
from . import metadata as metadata_json
from .weekfile import write_week_csv

#: gzip level of the week archives: 6 is 6x faster than the published files' 9 for a
#: third more bytes; readers depend on member names and contents only
GZIP_LEVEL = 6
#: families exported in 15-minute buckets (the union of the bucket's snapshots), as published
BUCKETED_FAMILIES = {"impfthueringen": 15}


@dataclass
class ExportResult:
    weeks_written: list[str] = field(default_factory=list)
    weeks_skipped: list[str] = field(default_factory=list)
    weeks_partial: list[str] = field(default_factory=list)
    files: int = 0
    rows: int = 0


def week_of(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def week_bounds(year: int, week: int) -> tuple[datetime, datetime]:
    monday = date.fromisocalendar(year, week, 1)
    start = datetime(monday.year, monday.month, monday.day)
    return start, start + timedelta(days=7)


def _bucket(taken_at: str, minutes: int) -> str:
    t = datetime.fromisoformat(taken_at)
    return t.replace(minute=t.minute // minutes * minutes, second=0).strftime("%Y-%m-%d %H:%M:%S")


def week_rows(
    store: SQLiteStore, source_id: str, family: str | None, year: int, week: int
) -> dict[tuple[str, str], np.ndarray]:
    """{(date, location_id): free minutes} of one source and week, bucketed where published."""
    start, end = week_bounds(year, week)
    fmt = "%Y-%m-%d %H:%M:%S"
    rows: dict[tuple[str, str], np.ndarray] = {}
    bucket = BUCKETED_FAMILIES.get(family or "")
    for taken_at, _, state in store.states(source_id, start.strftime(fmt), end.strftime(fmt)):
        stamp = _bucket(taken_at, bucket) if bucket else taken_at
        for loc, minutes in state.items():
            key = (stamp, loc)
            rows[key] = np.union1d(rows[key], minutes) if key in rows else minutes
    return rows


def week_csv(
    store: SQLiteStore, source_id: str, family: str | None, year: int, week: int
) -> tuple[bytes, int] | None:
    """The CSV of one source and week, or None when no snapshot has any location."""
    rows = week_rows(store, source_id, family, year, week)
    if not rows:
        return None
    keys = sorted(rows)
    allm = np.unique(np.concatenate([rows[k] for k in keys]))
    stamps = allm.astype(np.int64).astype("datetime64[m]")
    columns = [str(s).replace("T", " ") + ":00" for s in stamps]
    data = write_week_csv(
        source_id,
        columns,
        ((d, loc, np.searchsorted(allm, rows[(d, loc)])) for d, loc in keys),
    )
    return data, len(keys)


def weeks_of_sources(
    store: SQLiteStore,
    sources: Iterable[str],
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[tuple[int, int], list[str]]:
    """ISO week -> the sources with a snapshot that week (within [date_from, date_to))."""
    weeks: dict[tuple[int, int], list[str]] = defaultdict(list)
    for source_id in sorted(sources):
        seen = set()
        for (day,) in store.conn.execute(
            "SELECT DISTINCT substr(taken_at, 1, 10) FROM snapshots WHERE source_id = ? "
            "AND status IN ('ok', 'unchanged') "
            "UNION SELECT DISTINCT substr(first_at, 1, 10) FROM segments "
            "WHERE source_id = ? UNION SELECT DISTINCT substr(last_at, 1, 10) FROM segments "
            "WHERE source_id = ?",
            (source_id, source_id, source_id),
        ):
            d = date.fromisoformat(day)
            if (date_from and d < date_from) or (date_to and d >= date_to):
                continue
            seen.add(week_of(d))
        for wk in sorted(seen):
            weeks[wk].append(source_id)
    return dict(weeks)


def _tar_gz(path: Path, members: list[tuple[str, bytes]], mtime: int) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        with gzip.GzipFile(
            filename=path.name.removesuffix(".gz"), mode="wb", fileobj=fh, compresslevel=GZIP_LEVEL,
            mtime=mtime,
        ) as gz:  # fmt: skip
            gz.write(raw.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def export_weeks(
    store: SQLiteStore,
    out_dir: str | Path,
    sources: dict[str, str | None],
    date_from: date | None = None,
    date_to: date | None = None,
    incomplete: bool = False,
    now: datetime | None = None,
    catalog_fields: dict[str, tuple[str, str, str]] | None = None,
) -> ExportResult:
    """Write the week files of ``sources`` ({source_id: family}) and merge metadata.json."""
    raw_dir = Path(out_dir) / "raw"
    now = now or local_now()
    current = week_of(now.date())
    weeks = {
        wk: ids
        for wk, ids in weeks_of_sources(store, sources, date_from, date_to).items()
        if wk < current or incomplete
    }
    result = ExportResult()
    for (year, week), ids in sorted(weeks.items()):
        label = f"{year}-{week:02d}"
        path = raw_dir / str(year) / f"{label}.tar.gz"
        marker = path.with_name(f"{label}.partial")
        if path.exists() and not marker.exists():
            result.weeks_skipped.append(label)
            continue
        partial = (year, week) >= current
        members = []
        for source_id in sorted(ids):
            made = week_csv(store, source_id, sources[source_id], year, week)
            if made is not None:
                members.append((f"{source_id}.csv", made[0]))
                result.rows += made[1]
        if not members:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if partial:  # the marker first: a crash never leaves a partial week unmarked
            marker.write_text(
                f"{label} written {now:%Y-%m-%d %H:%M:%S} before the week ended; "
                "the next export writes it again\n",
                encoding="utf-8",
            )
        end = week_bounds(year, week)[1].replace(tzinfo=OFFICE_TZ)
        _tar_gz(path, members, int(end.timestamp()))
        if not partial:
            marker.unlink(missing_ok=True)
        result.weeks_written.append(label)
        if partial:
            result.weeks_partial.append(label)
        result.files += len(members)
    write_metadata(store, raw_dir, sources, catalog_fields or {})
    return result


def write_metadata(
    store: SQLiteStore, raw_dir: Path, sources: Iterable[str], catalog_fields: dict
) -> None:
    path = raw_dir / "metadata.json"
    meta = metadata_json.load(path) if path.exists() else {}
    for source_id in sorted(sources):
        row = store.conn.execute(
            "SELECT name, scraper, url FROM sources WHERE id = ?", (source_id,)
        ).fetchone()
        fields = tuple(row) if row else catalog_fields.get(source_id, (None, None, None))
        locations: dict[str, tuple[str | None, list[str]]] = {}
        for table in ("location_meta", "locations"):
            for loc, name, services in store.conn.execute(
                f"SELECT location_id, name, services FROM {table} WHERE source_id = ?",
                (source_id,),
            ):
                if name is None and services == "[]" and loc not in locations:
                    continue  # seen in snapshots only (e.g. an imported week): no metadata
                old_name, old_services = locations.get(loc, (None, []))
                locations[loc] = (
                    old_name or name,
                    sorted(set(old_services) | set(json.loads(services))),
                )
        metadata_json.merge_source(meta, source_id, fields, locations)
    if meta:
        raw_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("metadata.json.part")
        tmp.write_text(metadata_json.dumps(meta), encoding="utf-8")
        os.replace(tmp, path)
