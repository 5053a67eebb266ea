"""Plausibility of our appointments on the real week: are lead times spread like citizens'?

Citizens book at many different lead times; a source whose "appointments" pile up in a few
5-minute bins of lead time is counting slots the office withdrew (a booking cutoff), not
bookings. For every source with at least 100 appointments in week 2021-28 this prints the
share of its appointments in its three most frequent 5-minute lead bins (target: none above
0.30), with appointments, cancellations and expiries beside the reference rule's counts.
Last line: ``spiky_sources=N of M``.

    python bench/plausibility.py [PATH.tar.gz ...]   # default: the shared week 2021-28
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from office_schedule.analysis import store_events
from office_schedule.exchange import import_paths
from office_schedule.store import SQLiteStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEEK = SHARED / "data/office-schedule-data/raw/2021/2021-28.tar.gz"
MIN_APPOINTMENTS = 100
LIMIT = 0.30


def top_bins_share(leads: pl.Series, bins: int = 3) -> tuple[float, list[int]]:
    """Share of values in the ``bins`` most frequent 5-minute bins, and those bins."""
    counts = (leads // 5).value_counts(sort=True)
    top = counts.head(bins)
    return float(top["count"].sum() / len(leads)), [int(b) * 5 for b in top[leads.name]]


def counts(df: pl.DataFrame) -> dict[str, dict[str, int]]:
    table = df.group_by("source_id", "event").len()
    out: dict[str, dict[str, int]] = {}
    for sid, event, n in table.iter_rows():
        out.setdefault(sid, {})[event] = n
    return out


def main(paths: list[Path]) -> int:
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"missing {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "p.db") as store:
        import_paths(store, paths)
        ids = store.source_ids()
        started = time.perf_counter()
        ours = store_events(store, ids)
        seconds = time.perf_counter() - started
        reference = store_events(store, ids, rule="reference")
    mine, ref = counts(ours), counts(reference)
    booked = ours.filter(pl.col("event") == "booked")
    leads = {sid: g["lead_minutes"] for (sid,), g in booked.group_by("source_id")}
    rows = []
    for sid in ids:
        n = len(leads.get(sid, ()))
        share, top = top_bins_share(leads[sid]) if n >= MIN_APPOINTMENTS else (None, [])
        rows.append((sid, n, share, top))
    rows.sort(key=lambda r: (r[2] is None, -(r[2] or 0), -r[1], r[0]))
    print(f"events of {len(ids)} sources in {seconds:.1f} s (top3: sources with at least "
          f"{MIN_APPOINTMENTS} appointments)")  # fmt: skip
    head = f"{'source':22s}{'appts':>7s}{'cancel':>7s}{'expired':>8s}{'top3':>6s}"
    print(head + f"{'ref appts':>10s}{'ref cancel':>11s}  top bins (min)")
    for sid, n, share, top in rows:
        c, r = mine.get(sid, {}), ref.get(sid, {})
        top3 = f"{share:6.2f}" if share is not None else f"{'-':>6s}"
        print(
            f"{sid:22s}{n:7d}{c.get('cancelled', 0):7d}{c.get('expired', 0):8d}{top3}"
            f"{r.get('booked', 0):10d}{r.get('cancelled', 0):11d}  {top or ''}"
        )
    rows = [row for row in rows if row[2] is not None]
    spiky = sum(share > LIMIT for _, _, share, _ in rows)
    print(f"spiky_sources={spiky} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main([Path(a) for a in sys.argv[1:]] or [WEEK]))
