"""The office-schedule-data metrics weeks (``metrics/YEAR/YEAR-WW.tar.gz``), exactly.

49 CSVs per week, rows = 15-minute buckets in first-seen order, columns ``source/location``
in first-seen order, empty cell = no snapshot; ``cancellations_X`` repeat ``appointments_X``
as published. The counting state (FREE/APPOINTED sets, previous bucket) is carried from
week to week of one run; ``changed`` never is. Rules: ``docs/protocols/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ..exchange.archive import write_tar_gz
from ..store import Store
from ..store.weeks import BUCKETED_FAMILIES, week_bounds, week_rows, weeks_of_sources
from .metric_rows import (
    NAMES,
    SPANS,
    LocState,
    Runs,
    SourceRows,
    build_runs,
    metric_values,
    row_items,
)

#: member order of a published metrics week
FILES = (
    "changed",
    "appointments",
    "cancellations",
    "free_dates",
    *(f"{m}_{s}" for m in ("free_dates", "appointments", "cancellations") for s in SPANS),
)
Carry = dict[str, dict[str, LocState]]


def _families(source_ids: Iterable[str] | Mapping[str, str | None]) -> dict[str, str | None]:
    if isinstance(source_ids, Mapping):
        return dict(source_ids)
    return {s: None for s in source_ids}


def published_metrics(
    store: Store,
    source_ids: Iterable[str] | Mapping[str, str | None],
    year: int,
    week: int,
    carry: Carry | None = None,
) -> tuple[dict[str, bytes], Carry]:
    """``({"changed.csv": bytes, ...}, carry_out)`` of one ISO week.

    ``source_ids``: ids, or {id: family} so bucketed families are read as exported.
    ``carry``: the ``carry_out`` of the previous week of the same run (None = empty state,
    like the first week of a reference run). Files are empty when the week has no rows.
    """
    carry_out: Carry = dict(carry or {})
    parts = _source_rows(store, _families(source_ids), year, week, carry_out)
    if not parts:
        return {}, carry_out
    bucket = np.concatenate([p.bucket for _, p in parts])
    key_names = [f"{sid}/{k}" for sid, p in parts for k in p.keys]
    shift = np.cumsum([0] + [len(p.keys) for _, p in parts])[:-1]
    row_key = np.concatenate([p.row_loc + s for (_, p), s in zip(parts, shift, strict=True)])

    # rows: buckets in first-seen order; columns: keys in the order a scan meets them going
    # bucket by bucket in that row order (a key's first row may sit in a bucket that an
    # earlier source never had, i.e. a late row; its column is where its first row in ROW
    # order is), and within a bucket in row order
    uniq, first_pos, row_b = np.unique(bucket, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first_pos, kind="stable")] = np.arange(len(uniq))
    row_b = rank[row_b]
    buckets = uniq[np.argsort(first_pos, kind="stable")]
    scan = np.lexsort((np.arange(len(bucket)), row_b))
    _, met = np.unique(row_key[scan], return_index=True)
    col_order = np.argsort(met, kind="stable")
    col_of_key = np.empty(len(key_names), dtype=np.int64)
    col_of_key[col_order] = np.arange(len(key_names))
    names = [key_names[k] for k in col_order]

    n_b, n_k = len(buckets), len(names)
    cell = row_b * n_k + col_of_key[row_key]
    filled = np.flatnonzero(np.bincount(cell, minlength=n_b * n_k))
    at = np.empty(n_b * n_k, dtype=np.int64)
    at[filled] = np.arange(len(filled))
    grids = np.zeros((len(NAMES), len(filled)), dtype=np.int32)
    start = 0
    for _, p in parts:  # each source's rows straight into their cells
        into = at[cell[start : start + len(p.bucket)]]
        start += len(p.bucket)
        if len(filled) == len(cell):
            grids[:, into] = p.values
        else:  # Q4: rows of one location in one bucket add up
            for m, row in enumerate(p.values):
                np.add.at(grids[m], into, row)
    stamps = [str(b).replace("T", " ") + ":00" for b in buckets.astype("datetime64[m]")]
    files = dict(zip((f"{n}.csv" for n in NAMES), _csv(stamps, names, filled, grids), strict=True))
    for s in SPANS:
        files[f"cancellations_{s}.csv"] = files[f"appointments_{s}.csv"]
    return {f"{n}.csv": files[f"{n}.csv"] for n in FILES}, carry_out


def _source_rows(
    store: Store, families: dict[str, str | None], year: int, week: int, carry_out: Carry
) -> list[tuple[str, SourceRows]]:
    """The sources with rows this week, in source order, counted."""
    read = []
    for sid, family in sorted(families.items()):
        carry_out[sid] = dict(carry_out.get(sid, {}))
        read.append((sid, week_runs(store, sid, family, year, week)))
    values = [metric_values(rows, carry_out[sid]) for sid, rows in read]
    return [
        (sid, SourceRows(runs.keys, runs.row_loc, runs.bucket, v))
        for (sid, runs), v in zip(read, values, strict=True)
        if len(runs.bucket)
    ]


def _csv(stamps: list[str], names: list[str], cells: np.ndarray, grids: np.ndarray) -> list[bytes]:
    """pandas-like CSVs, one per row of ``grids`` (the numbers of the filled ``cells``,
    bucket-major): ``\\n`` line ends, minimal quoting, integers, empty cell for no row."""
    header = pl.DataFrame(schema=["date", *names]).write_csv(line_terminator="\n").encode()
    lead = np.frombuffer("".join(stamps).encode(), dtype=np.uint8)
    n_b, n_k = len(stamps), len(names)
    if len(lead) != 19 * n_b or (grids.size and grids.min() < 0):
        return [_csv_polars(stamps, names, cells, v) for v in grids]
    # every filled cell 0 first: a cell is its comma and digit, a line's first cell also
    # carries the stamp and the previous line's newline
    width = np.ones(n_b * n_k, dtype=np.int64)
    width[cells] += 1
    width[::n_k] += 20
    width[0] -= 1
    ends = np.cumsum(width) - 1
    zero = np.full(ends[-1] + 2, ord(","), dtype=np.uint8)
    zero[ends[cells]] = ord("0")
    start = ends[::n_k] - width[::n_k] + 1
    start[1:] += 1
    zero[start[1:] - 1] = zero[-1] = ord("\n")
    zero[start[:, None] + np.arange(19)] = lead.reshape(n_b, 19)
    zero_at = ends[cells]

    def one(v: np.ndarray) -> bytes:
        """The zero file with the nonzero cells written in (longer ones widen it)."""
        nz = np.flatnonzero(v)
        q, at = v[nz], zero_at[nz]
        wider = _digits(q) - 1
        if wider.any():
            count = np.ones(len(zero), dtype=np.intp)
            count[at] += wider
            buf = np.repeat(zero, count)
            at = at + np.cumsum(wider)
        else:
            buf = zero.copy()
        q = q.astype(np.uint32) if q.max(initial=0) < 1 << 32 else q
        while len(q):  # digits from the last one
            tens = q // 10
            buf[at] = 48 + (q - tens * 10)
            more = np.flatnonzero(tens)
            q, at = tens[more], at[more] - 1
        return header + buf.tobytes()

    return [one(grid) for grid in grids]


def _digits(v: np.ndarray) -> np.ndarray:
    n = np.ones(len(v), dtype=np.int64)
    p = 10
    while len(v) and p <= v.max():
        n += v >= p
        p *= 10
    return n


def _csv_polars(stamps: list[str], names: list[str], cells: np.ndarray, v: np.ndarray) -> bytes:
    """The same CSV through polars (stamps of another width, negative numbers)."""
    grid = np.full(len(stamps) * len(names), np.nan)
    grid[cells] = v
    frame = pl.from_numpy(grid.reshape(len(stamps), -1), schema=names, orient="row")
    frame = frame.with_columns(pl.all().fill_nan(None).cast(pl.Int64))
    frame = frame.insert_column(0, pl.Series("date", stamps, dtype=pl.String))
    return frame.write_csv(line_terminator="\n").encode()


def week_runs(store: Store, source_id: str, family: str | None, year: int, week: int) -> Runs:
    """The rows of ``week_rows`` as runs, read straight from ``store.states`` (bucketed
    families and two snapshots of one time, which ``week_rows`` merges, go through it)."""
    if not BUCKETED_FAMILIES.get(family or ""):
        start, end = (t.strftime("%Y-%m-%d %H:%M:%S") for t in week_bounds(year, week))
        items: list = []
        last = ""
        for taken_at, _, state in store.states(source_id, start, end):
            if taken_at <= last:
                break
            items.append((taken_at, state))
            last = taken_at
        else:
            return build_runs(items)
    found = week_rows(store, source_id, family, year, week)
    return build_runs(row_items((d, loc, found[(d, loc)]) for d, loc in sorted(found)))


def write_metrics_week(
    store: Store,
    out_dir: str | Path,
    source_ids: Iterable[str] | Mapping[str, str | None],
    year: int,
    week: int,
    carry: Carry | None = None,
) -> tuple[Path | None, Carry]:
    """Write ``out_dir/metrics/YEAR/YEAR-WW.tar.gz`` (deterministic); None if no rows."""
    files, carry_out = published_metrics(store, source_ids, year, week, carry)
    if not files:
        return None, carry_out
    path = Path(out_dir) / "metrics" / str(year) / f"{year}-{week:02d}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tar_gz(path, list(files.items()), 0)
    return path, carry_out


def write_metrics_weeks(
    store: Store,
    out_dir: str | Path,
    source_ids: Iterable[str] | Mapping[str, str | None],
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[Path]:
    """Every week with data in [date_from, date_to), in order, as ONE run carrying the state."""
    families = _families(source_ids)
    carry: Carry = {}
    written = []
    for (year, week), ids in sorted(weeks_of_sources(store, families, date_from, date_to).items()):
        chosen = {s: families[s] for s in ids}
        path, carry = write_metrics_week(store, out_dir, chosen, year, week, carry)
        if path is not None:
            written.append(path)
    return written
