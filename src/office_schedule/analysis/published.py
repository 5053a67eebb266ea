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
from ..store.weeks import week_rows, weeks_of_sources
from .metric_rows import NAMES, SPANS, LocState, source_rows

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
    parts = []
    for sid, family in sorted(_families(source_ids).items()):
        found = week_rows(store, sid, family, year, week)
        rows = [(d, loc, found[(d, loc)]) for d, loc in sorted(found)]
        state = dict(carry_out.get(sid, {}))
        parts.append((sid, source_rows(rows, state)))
        carry_out[sid] = state
    parts = [(sid, p) for sid, p in parts if len(p.bucket)]
    if not parts:
        return {}, carry_out
    bucket = np.concatenate([p.bucket for _, p in parts])
    values = np.concatenate([p.values for _, p in parts])
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
    sums = np.zeros((n_b * n_k, len(NAMES)), dtype=np.int64)
    np.add.at(sums, cell, values)
    filled = np.bincount(cell, minlength=n_b * n_k).reshape(n_b, n_k) > 0
    stamps = np.char.add(
        np.char.replace(buckets.astype("datetime64[m]").astype(str), "T", " "), ":00"
    )
    files = {}
    for m, name in enumerate(NAMES):
        grid = np.where(filled, sums[:, m].reshape(n_b, n_k).astype(np.float64), np.nan)
        files[f"{name}.csv"] = _csv(stamps, names, grid)
    for s in SPANS:
        files[f"cancellations_{s}.csv"] = files[f"appointments_{s}.csv"]
    return {f"{n}.csv": files[f"{n}.csv"] for n in FILES}, carry_out


def _csv(stamps: np.ndarray, names: list[str], grid: np.ndarray) -> bytes:
    """pandas-like CSV: ``\\n`` line ends, minimal quoting, empty cell for no row."""
    frame = pl.from_numpy(grid, schema=names, orient="row").with_columns(
        pl.all().fill_nan(None).cast(pl.Int64)
    )
    frame = frame.insert_column(0, pl.Series("date", stamps.tolist(), dtype=pl.String))
    return frame.write_csv(line_terminator="\n").encode()


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
