"""Benchmark: the static report of the real week 2021-28 (target: report_s <= 10).

Imports ``raw/2021/2021-28.tar.gz`` and ``raw/metadata.json`` of ``../shared`` into a
temporary store (not timed), then times ``write_report`` over every source the store knows,
the metadata-only ones included (as ``office-schedule report`` does), and prints the number
of charts. Last line ``report_s=X charts=N``.

    python bench/report.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from office_schedule.catalog import load_catalog
from office_schedule.exchange import import_paths
from office_schedule.report import write_report
from office_schedule.store import SQLiteStore

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "office-schedule-data" / "raw"


def main() -> int:
    week = RAW / "2021" / "2021-28.tar.gz"
    if not week.is_file():
        print(f"{week} not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with SQLiteStore(work / "bench.db") as store:
            import_paths(store, [week, RAW / "metadata.json"])
            sources = sorted(set(store.source_metadata()) | set(store.source_ids()))
        with SQLiteStore(work / "bench.db") as store:  # a cold store, as for the command
            start = time.perf_counter()
            write_report(store, load_catalog(), sources, work / "report")
            seconds = time.perf_counter() - start
        charts = len(list((work / "report" / "charts").glob("*.png")))
    print(f"report of {len(sources)} known sources: {charts} charts (PNG and SVG each)")
    print(f"report_s={seconds:.2f} charts={charts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
