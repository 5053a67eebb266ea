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

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from ..clock import OFFICE_TZ, local_now
from ..store import Store, segments
from ..store.weeks import week_bounds, week_of, week_rows, weeks_of_sources
from . import metadata as metadata_json
from .archive import write_tar_gz
from .weekfile import by_identity, write_week_states


@dataclass
class ExportResult:
    weeks_written: list[str] = field(default_factory=list)
    weeks_skipped: list[str] = field(default_factory=list)
    weeks_partial: list[str] = field(default_factory=list)
    files: int = 0
    rows: int = 0


def _distinct_states(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """The distinct arrays of a list and the index of each item's one: the slots of each are
    looked up once, its cells rendered once.

    Decoded segments share one array while a location's state is unchanged, so most repeats
    are found by identity; the few distinct objects left are compared by content (e.g. the
    unions of 15-minute buckets).
    """
    shared, of_shared = by_identity(arrays)
    keys = [(m.dtype.str, m.tobytes()) for m in shared]
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    first = dict(zip(keys, shared, strict=True))  # any of equal arrays will do
    of_key = list(map(index.__getitem__, keys))
    return list(map(first.__getitem__, index)), list(map(of_key.__getitem__, of_shared))


def week_csv(
    store: Store, source_id: str, family: str | None, year: int, week: int
) -> tuple[bytes, int] | None:
    """The CSV of one source and week, or None when no snapshot has any location."""
    rows = week_rows(store, source_id, family, year, week)
    if not rows:
        return None
    keys = sorted(rows)
    states, state_of = _distinct_states(list(map(rows.__getitem__, keys)))
    allm, index = segments.distinct_minutes(np.concatenate(states), inverse=True)
    stamps = allm.astype(np.int64).astype("datetime64[m]")
    columns = [str(s).replace("T", " ") + ":00" for s in stamps]
    ends = np.cumsum([len(m) for m in states]).tolist()
    cols = [index[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]  # beats np.split
    del states, index
    dates, locations = [d for d, _ in keys], [loc for _, loc in keys]
    data = write_week_states(source_id, columns, dates, locations, cols, state_of)
    return data, len(keys)


def _week_members(
    store: Store,
    sources: dict[str, str | None],
    ids: list[str],
    year: int,
    week: int,
    result: ExportResult,
) -> Iterator[tuple[str, bytes]]:
    """``(SOURCE.csv, bytes)`` of a week in name order, made one at a time; counts them."""
    for name, source_id in sorted((f"{sid}.csv", sid) for sid in ids):
        made = week_csv(store, source_id, sources[source_id], year, week)
        if made is not None:
            result.rows += made[1]
            result.files += 1
            yield name, made[0]
            del made


def _handed_on(head: list, rest: Iterator) -> Iterator:
    """``head``'s items, taken out of it, then ``rest``: nothing here outlives its turn."""
    while head:
        yield head.pop(0)
    yield from rest


def export_weeks(
    store: Store,
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
        members = _week_members(store, sources, ids, year, week, result)
        head = [m for m in itertools.islice(members, 1)]  # is there any member?
        if not head:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if partial:  # the marker first: a crash never leaves a partial week unmarked
            marker.write_text(
                f"{label} written {now:%Y-%m-%d %H:%M:%S} before the week ended; "
                "the next export writes it again\n",
                encoding="utf-8",
            )
        end = week_bounds(year, week)[1].replace(tzinfo=OFFICE_TZ)
        write_tar_gz(path, _handed_on(head, members), int(end.timestamp()))
        if not partial:
            marker.unlink(missing_ok=True)
        result.weeks_written.append(label)
        if partial:
            result.weeks_partial.append(label)
    write_metadata(store, raw_dir, sources, catalog_fields or {})
    return result


def write_metadata(
    store: Store, raw_dir: Path, sources: Iterable[str], catalog_fields: dict
) -> None:
    path = raw_dir / "metadata.json"
    meta = metadata_json.load(path) if path.exists() else {}
    published = store.source_metadata()
    for source_id in sorted(sources):
        row = published.get(source_id)
        fields = row if row else catalog_fields.get(source_id, (None, None, None))
        locations: dict[str, tuple[str | None, list[str]]] = {}
        for table in ("location_meta", "locations"):
            for loc, name, services in store.location_metadata(source_id, table):
                if name is None and not services and loc not in locations:
                    continue  # seen in snapshots only (e.g. an imported week): no metadata
                old_name, old_services = locations.get(loc, (None, []))
                locations[loc] = (old_name or name, sorted(set(old_services) | set(services)))
        metadata_json.merge_source(meta, source_id, fields, locations)
    if meta:
        raw_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("metadata.json.part")
        tmp.write_text(metadata_json.dumps(meta), encoding="utf-8")
        os.replace(tmp, path)
