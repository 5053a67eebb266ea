"""Bench: published metrics of the real week 2021-28 from a store, against the true floor.

Imports the raw week into a temporary store (not timed), times ``published_metrics`` for
2021-28, then events and insights of the week on a newly opened store (nothing decoded yet),
and the floor measured in the same run (``floor.py``: decompressing the week and splitting it
into lines with the standard library). Targets (issue 16): metrics <= 2x the floor, events +
insights <= 1.5 s. Prints ``events_insights_s=E`` on its own line; last line:
``seconds=X peak_mb=Y floor_seconds=Z ratio_to_floor=R``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from floor import floor_seconds

from office_schedule.analysis import insights, published_metrics, store_events
from office_schedule.catalog import load_catalog
from office_schedule.exchange import import_paths
from office_schedule.store import SQLiteStore

RAW = (
    Path(__file__).resolve().parents[2] / "shared/data/office-schedule-data/raw/2021/2021-28.tar.gz"
)


def main() -> int:
    if not RAW.exists():
        print(f"missing {RAW}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        with SQLiteStore(Path(tmp) / "bench.db") as store:
            import_paths(store, [RAW])
            start = time.perf_counter()
            files, _ = published_metrics(store, store.source_ids(), 2021, 28)
            seconds = time.perf_counter() - start
        print(f"metrics: {len(files)} files, {sum(map(len, files.values()))} bytes")
        with SQLiteStore(Path(tmp) / "bench.db") as store:  # its segment cache is cold
            start = time.perf_counter()
            ids = store.source_ids()
            events = store_events(store, ids)
            tables = insights(store, load_catalog(), ids, events=events)
            both = time.perf_counter() - start
        print(
            f"events and insights: {events.height} events, {len(tables)} tables in {both:.2f} s "
            "(target 1.5 s)"
        )
        print(f"events_insights_s={both:.2f}")
    floor = floor_seconds(RAW)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"seconds={seconds:.2f} peak_mb={peak_mb:.0f} floor_seconds={floor:.2f} "
        f"ratio_to_floor={seconds / floor:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
