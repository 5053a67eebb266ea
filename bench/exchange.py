"""Benchmark: import and export of the real published week 2021-28.

Imports ``raw/2021/2021-28.tar.gz`` and ``raw/metadata.json`` of ``../shared`` into a
temporary store, exports the CSV week (+ metadata.json) and the Parquet dataset, checks that
the CSV round trip is byte-identical and prints seconds, peak memory, store and Parquet size.
Every time is also given as a ratio to the floor measured in the same run (``floor.py``:
decompressing the week and splitting it into lines). Targets (issue 16): import <= 3x and
export of the CSV week <= 4x the floor; store under 1 MB, Parquet smaller than the tar.gz;
the import (run in a process of its own) peaks under 500 MB. Import and export are timed
best of 2, each import into a fresh store. Last line ``floor_seconds=F
import_s=X import_ratio=.. export_s=Y export_ratio=.. store_mb=Z parquet_mb=W
import_peak_mb=I peak_mb=V`` (V: this process, export and Parquet included).

    python bench/exchange.py
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from floor import floor_seconds

from office_schedule.catalog import load_catalog
from office_schedule.exchange import export_weeks, import_paths
from office_schedule.exchange.parallel import MAX_WORKERS
from office_schedule.exchange.parquet import export_parquet
from office_schedule.store import SQLiteStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
RAW = SHARED / "data" / "office-schedule-data" / "raw"
WEEK = Path("2021") / "2021-28.tar.gz"
MB = 1024 * 1024
REPEAT = 2  # import and export are timed best of 2 (the floor: best of 3)


def members(path: Path) -> dict[str, str]:
    """Member name -> SHA-256, read in pieces (the check holds no member whole)."""
    out = {}
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isfile():
                digest, stream = hashlib.sha256(), tar.extractfile(m)
                while piece := stream.read(1 << 20):
                    digest.update(piece)
                out[m.name] = digest.hexdigest()
    return out


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _import_child(db: str, paths: list[str], out) -> None:
    with SQLiteStore(Path(db)) as store:
        t0 = time.perf_counter()
        import_paths(store, [paths[0]])
        seconds = time.perf_counter() - t0
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        week_bytes = sum(p.stat().st_size for p in Path(db).parent.glob("bench.db*"))
        t0 = time.perf_counter()
        import_paths(store, [paths[1]])
        meta_seconds = time.perf_counter() - t0
    # its worker processes (exchange/parallel.py) too: at most MAX_WORKERS of the largest
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out.send((seconds, meta_seconds, week_bytes, peak_mb() + MAX_WORKERS * workers))


def import_in_child(db: Path, paths: list[Path]) -> tuple[float, float, int, float]:
    """(seconds for the week, for metadata.json, store bytes holding the week, peak MB): the
    import in a process of its own, so its peak memory is the import's alone."""
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_import_child, args=(str(db), [str(p) for p in paths], there))
    child.start()
    got = here.recv()
    child.join()
    return got


def main() -> int:
    published = RAW / WEEK
    if not published.is_file():
        print(f"{published} not found", file=sys.stderr)
        return 1
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # best of REPEAT, like the floor: each time a fresh store in a fresh process
        runs = []
        for i in range(REPEAT):
            (work / f"try{i}").mkdir()
            db = work / f"try{i}" / "bench.db"
            runs.append(import_in_child(db, [published, RAW / "metadata.json"]))
        import_s, meta_s, week_bytes, import_peak = min(runs)
        import_peak = max(r[3] for r in runs)
        with SQLiteStore(work / f"try{REPEAT - 1}" / "bench.db") as store:
            # every source of the store, metadata-only ones included (like the CLI export)
            ids = {sid for (sid,) in store.conn.execute("SELECT id FROM sources")}
            ids.update(store.source_ids())
            families = {sid: catalog[sid].family if sid in catalog else None for sid in ids}
            csv_s = float("inf")
            for _ in range(REPEAT):
                shutil.rmtree(work / "csv", ignore_errors=True)
                t0 = time.perf_counter()
                csv = export_weeks(store, work / "csv", families)
                csv_s = min(csv_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            pq = export_parquet(store, work / "pq", families)
            parquet_s = time.perf_counter() - t0
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db_dir = work / f"try{REPEAT - 1}"
            store_bytes = sum(p.stat().st_size for p in db_dir.glob("bench.db*") if p.is_file())
        ours, theirs = members(work / "csv" / "raw" / WEEK), members(published)
        same = sorted(ours) == sorted(theirs) and all(ours[n] == theirs[n] for n in theirs)
        differ = sorted(n for n in theirs if ours.get(n) != theirs[n])
        meta_same = (work / "csv" / "raw" / "metadata.json").read_bytes() == (
            RAW / "metadata.json"
        ).read_bytes()
        parquet_bytes = sum(p.stat().st_size for p in (work / "pq").rglob("*.parquet"))
    print(
        f"sources: {len(families)} ({len(pq.partitions)} with data), "
        f"csv rows: {csv.rows}, parquet rows: {pq.rows}"
    )
    print(f"import: {import_s:.2f} s the week, {meta_s:.2f} s metadata.json")
    print(f"export csv week + metadata.json: {csv_s:.2f} s")
    print(f"export parquet ({len(pq.partitions)} partitions): {parquet_s:.2f} s")
    print(f"round trip: {len(theirs)} members byte-identical: {same} (differ: {differ or '-'})")
    print(f"round trip: metadata.json byte-identical: {meta_same}")
    print(
        f"store: {week_bytes / MB:.3f} MB holding the week, {store_bytes / MB:.3f} MB with "
        f"metadata.json of all 221 sources; parquet: {parquet_bytes / MB:.3f} MB, "
        f"published tar.gz: {published.stat().st_size / MB:.3f} MB"
    )
    floor = floor_seconds(published)
    print(f"floor (gunzip + split lines, stdlib): {floor:.2f} s")
    print(
        f"floor_seconds={floor:.2f} import_s={import_s:.2f} import_ratio={import_s / floor:.2f} "
        f"export_s={csv_s:.2f} export_ratio={csv_s / floor:.2f} "
        f"store_mb={week_bytes / MB:.3f} parquet_mb={parquet_bytes / MB:.3f} "
        f"import_peak_mb={import_peak:.0f} peak_mb={peak_mb():.0f}"
    )
    return 0 if same and meta_same else 2


if __name__ == "__main__":
    sys.exit(main())
