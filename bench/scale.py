"""Bench: a year in bounded memory (issue 16): import, export, metrics, insights and report
of 1, 13 and 52 weeks.

The weeks are the real week 2021-28 shifted back by 0..51 weeks (every date of the header's
slot columns and of the rows moved by -7k days), written as ``YYYY-WW.tar.gz`` archives in a
temporary directory or ``--cache DIR`` (set-up, not timed; reused when present). Each N gets
a fresh SQLite store, and each step of it runs in its own spawned process, as its command
would (``import``, ``export``, ``metrics``, ``insights``, ``report`` over every known source):
its peak RSS (``ru_maxrss``) is that step's alone; "start" is the process before the step
(interpreter and libraries). Prints seconds and seconds per week per step
and N (wall and CPU, the CPU of the chart workers included: a shared machine makes wall time
noisy), peak MB, and the ratios of seconds per week (52 to 1 and 52 to 13; about 1 is linear,
below 1 is fixed cost spread over more weeks). Last line
``per_week_ratio_52_to_1=X.XX peak_mb_52=Y cpu_per_week_ratio_52_to_1=Z`` (the worst step's
wall ratio, the peak of the 52 weeks' process, the worst step's CPU ratio).

    python bench/scale.py [--weeks 1,13,52 | --quick] [--cache DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tarfile
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from zlib_ng import gzip_ng

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "office-schedule-data" / "raw"
SOURCE = RAW / "2021" / "2021-28.tar.gz"
SOURCE_WEEK = (2021, 28)
STEPS = ("import", "export", "metrics", "insights", "report")
_DATE = 19  # len("YYYY-MM-DD HH:MM:SS")
MB = 1024 * 1024


# -- the shifted weeks (set-up) ------------------------------------------------------------


def week_label(k: int) -> str:
    """ISO week of the source week minus ``k`` weeks, as ``YYYY-WW``."""
    monday = date.fromisocalendar(*SOURCE_WEEK, 1) - timedelta(weeks=k)
    year, week, _ = monday.isocalendar()
    return f"{year}-{week:02d}"


def _to_text(stamps: np.ndarray) -> np.ndarray:
    """datetime64[s] values as ``YYYY-MM-DD HH:MM:SS`` bytes, one row of 19 bytes each."""
    if not len(stamps):
        return np.zeros((0, _DATE), dtype=np.uint8)
    text = np.char.replace(np.datetime_as_string(stamps, unit="s"), "T", " ")
    return np.frombuffer(text.astype(f"S{_DATE}").tobytes(), dtype=np.uint8).reshape(-1, _DATE)


def _parse(rows: np.ndarray) -> np.ndarray:
    """Rows of 19 date bytes as datetime64[s]."""
    return rows.copy().view(f"S{_DATE}").ravel().astype(f"U{_DATE}").astype("datetime64[s]")


class _Member:
    """One CSV of the source week, its date positions found once."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data = name, data
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == ord("\n"))
        header_end = int(ends[0])
        commas = np.flatnonzero(buf[:header_end] == ord(","))
        # header: date,source_id,location_id then one slot date per column
        self.columns = commas[2:] + 1
        starts = ends[:-1] + 1 if ends[-1] == len(buf) - 1 else ends + 1
        self.rows = starts
        cols = buf[self.columns[:, None] + np.arange(_DATE)]
        self.column_times = _parse(cols)
        dates = buf[starts[:, None] + np.arange(_DATE)]
        uniq, self.inverse = np.unique(dates.view(f"S{_DATE}").ravel(), return_inverse=True)
        self.row_times = _parse(uniq.view(np.uint8).reshape(-1, _DATE))

    def shifted(self, days: int) -> bytes:
        """The CSV with every date moved by ``days``: same length, bytes written in place."""
        out = bytearray(self.data)
        buf = np.frombuffer(out, dtype=np.uint8)
        delta = np.timedelta64(days, "D")
        buf[self.columns[:, None] + np.arange(_DATE)] = _to_text(self.column_times + delta)
        rows = _to_text(self.row_times + delta)[self.inverse.ravel()]
        buf[self.rows[:, None] + np.arange(_DATE)] = rows
        del buf
        return bytes(out)


def build_weeks(cache: Path, count: int) -> list[Path]:
    """The archives of ``count`` shifted weeks in ``cache``, oldest first (made if missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {k: cache / f"{week_label(k)}.tar.gz" for k in range(count)}
    missing = [k for k, p in paths.items() if not p.exists()]
    if missing:
        start = time.perf_counter()
        with tarfile.open(SOURCE) as tar:
            members = [
                _Member(m.name, tar.extractfile(m).read())  # type: ignore[union-attr]
                for m in tar
                if m.isfile()
            ]
        for k in missing:
            tmp = paths[k].with_name(paths[k].name + ".part")
            with gzip_ng.open(tmp, "wb", compresslevel=1) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                    for member in members:
                        data = member.shifted(-7 * k)
                        info = tarfile.TarInfo(member.name)
                        info.size, info.mode = len(data), 0o644
                        tar.addfile(info, _Reader(data))
            tmp.replace(paths[k])
        print(
            f"set-up: {len(missing)} shifted weeks written to {cache} in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
    return [paths[k] for k in sorted(paths, reverse=True)]


class _Reader:
    """A file object over bytes without the copy ``io.BytesIO`` makes."""

    def __init__(self, data: bytes):
        self.view, self.pos = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n < 0 else self.pos + n
        chunk = self.view[self.pos : end].tobytes()
        self.pos += len(chunk)
        return chunk


# -- every step of one N in its own process -----------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the chart workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _families(db: Path) -> dict[str, str | None]:
    """Every source of the store, metadata-only ones included (as the commands choose)."""
    from office_schedule.catalog import load_catalog
    from office_schedule.store import SQLiteStore

    catalog = load_catalog()
    with SQLiteStore(db, create=False, readonly=True) as store:
        ids = set(store.source_metadata()) | set(store.source_ids())
    return {sid: catalog[sid].family if sid in catalog else None for sid in sorted(ids)}


def run_step(step: str, archives: list[str], work: str) -> dict:
    """One step as its command would run it, on the store in ``work``; seconds and peak MB."""
    from office_schedule.analysis import insights, write_metrics_weeks
    from office_schedule.catalog import load_catalog
    from office_schedule.exchange import export_weeks, import_paths
    from office_schedule.report import write_report
    from office_schedule.store import SQLiteStore

    db, out = Path(work) / "scale.db", Path(work) / "out"
    catalog = load_catalog()
    families = _families(db) if step != "import" else {}
    start_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu = time.perf_counter(), _cpu()
    if step == "import":
        with SQLiteStore(db) as store:
            import_paths(store, archives)
    else:
        with SQLiteStore(db, create=False, readonly=True) as store:
            if step == "export":
                export_weeks(store, out / "export", families)
            elif step == "metrics":
                write_metrics_weeks(store, out / "metrics", families)
            elif step == "insights":
                insights(store, catalog, list(families))
            else:
                write_report(store, catalog, list(families), out / "report")
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    if step == "import":  # names every source, as published (not timed)
        with SQLiteStore(db) as store:
            import_paths(store, [RAW / "metadata.json"])
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "start_mb": start_mb,
        "workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _child(step: str, archives: list[str], work: str, queue) -> None:
    queue.put(run_step(step, archives, work))


def measure(n: int, archives: list[Path]) -> dict:
    """Every step over the ``n`` archives, each in a fresh process, on one new store."""
    ctx = multiprocessing.get_context("spawn")
    result: dict = {k: {} for k in ("seconds", "cpu", "peak_mb", "start_mb", "workers_mb")}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"scale{n}-") as work:
        for step in STEPS:
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(step, [str(p) for p in archives], work, queue))
            proc.start()
            got = queue.get()
            proc.join()
            if proc.exitcode:
                raise SystemExit(f"{step} of {n} weeks failed (exit code {proc.exitcode})")
            for key, value in got.items():
                result[key][step] = value
        result["store_mb"] = sum(p.stat().st_size for p in Path(work).glob("scale.db*")) / MB
    result["wall_s"] = time.perf_counter() - start
    result["peak_mb_all"] = max(result["peak_mb"].values())
    return result


# -- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", default="1,13,52", help="comma-separated week counts")
    parser.add_argument("--quick", action="store_true", help="1 and 4 weeks (development)")
    parser.add_argument("--cache", type=Path, help="keep the shifted weeks here between runs")
    args = parser.parse_args()
    counts = [1, 4] if args.quick else sorted({int(w) for w in args.weeks.split(",")})
    if not SOURCE.is_file():
        print(f"{SOURCE} not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="scale-weeks-") as tmp:
        archives = build_weeks(args.cache or Path(tmp), max(counts))
        results = {}
        for n in counts:
            results[n] = r = measure(n, archives[-n:])
            print(
                f"{n} weeks ({archives[-n].name[:7]}..{archives[-1].name[:7]}): "
                + ", ".join(f"{s} {r['seconds'][s]:.2f} s" for s in STEPS)
                + f"; peak {r['peak_mb_all']:.0f} MB, store {r['store_mb']:.1f} MB, "
                f"wall {r['wall_s']:.0f} s",
                flush=True,
            )
    for title, key in (("step", "seconds"), ("cpu", "cpu")):
        print()
        print(f"{title:<9}" + "".join(f"{f'{n} wk s':>11}{'s/wk':>8}" for n in counts))
        for s in STEPS:
            values = [results[n][key][s] for n in counts]
            cells = "".join(f"{v:>11.2f}{v / n:>8.3f}" for v, n in zip(values, counts, strict=True))
            print(f"{s:<9}{cells}")
    print()
    print(f"{'peak MB':<9}" + "".join(f"{f'{n} wk':>11}{'start':>8}" for n in counts))
    for s in STEPS:
        cells = "".join(
            f"{results[n]['peak_mb'][s]:>11.0f}{results[n]['start_mb'][s]:>8.0f}" for n in counts
        )
        print(f"{s:<9}{cells}")
    for step, what in (("report", "chart workers"), ("import", "member workers")):
        print(
            f"{step}'s {what}, peak MB of the largest (forked: pages shared with the parent "
            "counted): " + ", ".join(f"{n} wk {results[n]['workers_mb'][step]:.0f}" for n in counts)
        )
    lo, hi = counts[0], counts[-1]
    mid = next((n for n in reversed(counts[:-1]) if n > lo), None)
    ratios: dict[str, dict[str, float]] = {"seconds": {}, "cpu": {}}
    for s in STEPS:
        parts = []
        for kind, label in (("seconds", "wall"), ("cpu", "cpu")):
            per = {n: results[n][kind][s] / n for n in counts}
            ratios[kind][s] = per[hi] / per[lo]
            extra = f", {hi} to {mid} {per[hi] / per[mid]:.2f}" if mid else ""
            parts.append(f"{label} {hi} to {lo} {ratios[kind][s]:.2f}{extra}")
        print(f"per-week ratio {s}: " + "; ".join(parts))
    worst = max(ratios["seconds"], key=ratios["seconds"].get)  # type: ignore[arg-type]
    worst_cpu = max(ratios["cpu"].values())
    print(f"worst step (wall): {worst}")
    print(
        f"per_week_ratio_{hi}_to_{lo}={ratios['seconds'][worst]:.2f} "
        f"peak_mb_{hi}={results[hi]['peak_mb_all']:.0f} "
        f"cpu_per_week_ratio_{hi}_to_{lo}={worst_cpu:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
