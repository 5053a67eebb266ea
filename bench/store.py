"""Benchmark: the same store workload on SQLite and on PostgreSQL, step by step.

Per backend, on a fresh empty store: import the real week 2021-28 (+ metadata.json) of
``../shared``, export it (CSV members and metadata.json byte-identical to the published
ones?), compute its published metrics (byte-identical to the published metrics week?), and
run ``--sweeps`` sweeps of 40 simulated sources across 13 families into the store
(``sweep_store``: the part of the sweeps spent in ``save_snapshot``; the world is frozen,
so the first sweep stores ``ok`` snapshots, the next ones ``unchanged``). Each step is
timed on a store opened anew, so no decoded segment carries over from the step before;
one untimed sweep into a scratch file first pays module imports for neither backend.

PostgreSQL is ``$OFFICE_SCHEDULE_PG`` (an empty database; our tables are dropped
afterwards), else a throwaway durable server (fsync on, like SQLite's synchronous=FULL).
Target: ``pg_over_sqlite <= 2.0``, the largest PostgreSQL/SQLite ratio of the steps
(last line). Exit 2 when a round trip is not byte-identical.

    python bench/store.py
    OFFICE_SCHEDULE_PG=postgresql://user@host/empty python bench/store.py --sweeps 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from office_schedule.analysis import write_metrics_week
from office_schedule.catalog import load_catalog, select_sources
from office_schedule.exchange import export_weeks, import_paths
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.store import open_store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "office-schedule-data"
RAW = DATA / "raw"
WEEK = Path("2021") / "2021-28.tar.gz"
METRICS = DATA / "metrics" / WEEK
#: paced at seconds per request by their own politeness (see tests/test_sweep_all_families.py)
SLOW_FAMILIES = {"berlin", "impftermin"}
STEPS = ("import", "export", "metrics", "sweep", "sweep_store")


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def differing(ours: Path, theirs: Path) -> list[str]:
    """Member names that differ or are missing on either side (empty: byte-identical)."""
    a, b = members(ours), members(theirs)
    return sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))


# -- the simulator ---------------------------------------------------------------------------


def families_for(total: int) -> dict[str, int]:
    """``total`` sources spread round-robin over every fast simulated family."""
    from office_schedule.simulate.families import FAMILY_SERVERS

    names = sorted(set(FAMILY_SERVERS) - SLOW_FAMILIES)
    counts = dict.fromkeys(names, 0)
    for i in range(total):
        counts[names[i % len(names)]] += 1
    return {f: n for f, n in counts.items() if n}


def serve(families, hosts, latency, seed, catalog: str, stop) -> None:
    from office_schedule.simulate import SimServer, SimWorld

    world = SimWorld(seed=seed, families=families, frozen=True)
    with SimServer(world, hosts=hosts, latency=latency) as srv:
        srv.write_catalog(catalog)
        stop.wait()


def start_simulator(args, folder: Path):
    """The simulator in a child process (forked before any database connection)."""
    catalog = folder / "sim.csv"
    hosts = [f"127.0.0.{i}" for i in range(1, args.hosts + 1)]
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    child = ctx.Process(
        target=serve,
        args=(families_for(args.sources), hosts, args.latency, args.seed, str(catalog), stop),
    )
    child.start()
    deadline = time.monotonic() + 120
    while not catalog.exists() or not catalog.read_text().strip():
        if not child.is_alive() or time.monotonic() > deadline:
            stop.set()
            raise SystemExit("simulator did not start")
        time.sleep(0.1)
    # the file joins the built-in catalog; naming each simulated id takes disabled ones too
    known = load_catalog([catalog])
    sources = select_sources(known, include=[sid for sid in known if sid.startswith("sim-")])
    return child, stop, sources


# -- one backend -----------------------------------------------------------------------------


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def sweeps(store, sources, args) -> tuple[float, float, int]:
    """Wall seconds of ``args.sweeps`` sweeps, seconds inside save_snapshot, errors."""
    spent = [0.0]
    save = store.save_snapshot

    def counted(*a, **kw):
        start = time.perf_counter()
        try:
            return save(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - start

    store.save_snapshot = counted  # the sweep calls it through the instance
    polite = Politeness(per_host_concurrency=args.per_host, min_gap=args.gap, attempts=2)

    async def run() -> tuple[float, int]:
        from office_schedule.sweep import run_sweep

        errors = 0
        async with Fetcher(polite) as fetcher:
            start = time.perf_counter()
            for _ in range(args.sweeps):
                results = await run_sweep(sources, store, fetcher, weeks=args.weeks)
                errors += sum(r.status not in ("ok", "unchanged") for r in results)
            return time.perf_counter() - start, errors

    try:
        wall, errors = asyncio.run(run())
    finally:
        del store.save_snapshot
    return wall, spent[0], errors


def workload(db: str, work: Path, sources, args) -> tuple[dict[str, float], dict[str, list]]:
    """Seconds per step on the store ``db`` names, and per step what went wrong."""
    published = RAW / WEEK
    seconds: dict[str, float] = {}
    wrong: dict[str, list[str]] = {"export": [], "metrics": [], "sweep": []}
    with open_store(db) as store:
        seconds["import"], _ = timed(
            lambda: import_paths(store, [published, RAW / "metadata.json"])
        )
    with open_store(db) as store:
        catalog = load_catalog()
        ids = {sid for (sid,) in store.db.execute("SELECT id FROM sources")}
        ids.update(store.source_ids())
        families = {sid: catalog[sid].family if sid in catalog else None for sid in ids}
        seconds["export"], _ = timed(lambda: export_weeks(store, work / "csv", families))
    wrong["export"] += differing(work / "csv" / "raw" / WEEK, published)
    meta = (work / "csv" / "raw" / "metadata.json").read_bytes()
    if meta != (RAW / "metadata.json").read_bytes():
        wrong["export"].append("metadata.json")
    with open_store(db) as store:
        seconds["metrics"], (path, _) = timed(
            lambda: write_metrics_week(store, work / "m", store.source_ids(), 2021, 28)
        )
    wrong["metrics"] += differing(path, METRICS) if path else ["(no metrics written)"]
    with open_store(db) as store:
        seconds["sweep"], seconds["sweep_store"], errors = sweeps(store, sources, args)
        (n,) = store.db.execute("SELECT count(*) FROM snapshots").fetchone()
    if errors:
        wrong["sweep"].append(f"{errors} results neither ok nor unchanged")
    print(f"  {n} snapshots stored by {args.sweeps} sweeps of {len(sources)} sources")
    return seconds, wrong


def not_empty(url: str) -> str | None:
    """Why the database ``url`` names is no empty one to benchmark on (None: it is)."""
    import psycopg

    from office_schedule.store.postgres import describe_url

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchone()
    except psycopg.Error as exc:
        return f"cannot open {describe_url(url)}: {str(exc).strip()}"
    return f"{describe_url(url)} is not empty ({n} tables): give an empty database" if n else None


class Postgres:
    """``$OFFICE_SCHEDULE_PG`` (tables dropped afterwards), else a throwaway durable server."""

    def __enter__(self) -> str:
        self.server = None
        self.url = os.environ.get("OFFICE_SCHEDULE_PG")
        if not self.url:
            from office_schedule.store.pg_cluster import ThrowawayPostgres

            self.server = ThrowawayPostgres(durable=True).start()
            try:
                self.url = self.server.create_database("bench")
            except BaseException:
                self.server.stop()
                raise
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
            return
        from office_schedule.store.postgres import PostgresStore

        with PostgresStore(self.url) as store:
            store.drop_everything()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--gap", type=float, default=0.0)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for need in (RAW / WEEK, RAW / "metadata.json", METRICS):
        if not need.is_file():
            print(f"{need} not found: this benchmark needs ../shared", file=sys.stderr)
            return 1

    results: dict[str, dict[str, float]] = {}
    wrong: dict[str, dict[str, list]] = {}
    given = os.environ.get("OFFICE_SCHEDULE_PG")
    if given and (why := not_empty(given)):
        print(why, file=sys.stderr)  # its tables are not ours to drop
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        child, stop, sources = start_simulator(args, folder)
        try:
            # lazily imported family modules and the simulator's first answers: paid by
            # neither backend (the data files then sit in the page cache for both)
            for path in (RAW / WEEK, RAW / "metadata.json", METRICS):
                path.read_bytes()
            with open_store(str(folder / "warmup.db")) as store:
                sweeps(store, sources, argparse.Namespace(**{**vars(args), "sweeps": 1}))
            print("sqlite: a file in a temporary folder")
            (folder / "sqlite").mkdir()
            results["sqlite"], wrong["sqlite"] = workload(
                str(folder / "sqlite" / "bench.db"), folder / "sqlite", sources, args
            )
            with Postgres() as url:
                print("postgresql: " + ("$OFFICE_SCHEDULE_PG" if given else "throwaway server"))
                (folder / "pg").mkdir()
                results["postgresql"], wrong["postgresql"] = workload(
                    url, folder / "pg", sources, args
                )
        finally:
            stop.set()
            child.join(timeout=10)

    for backend, steps in wrong.items():
        for step, found in steps.items():
            for what in found:
                print(f"  {backend} {step}: differs or failed: {what}", file=sys.stderr)
    ratios = []
    for step in STEPS:
        lite, pg = results["sqlite"][step], results["postgresql"][step]
        ratio = pg / lite if lite > 0 else float("inf")
        ratios.append(ratio)
        line = f"{step} sqlite_s={lite:.3f} postgresql_s={pg:.3f} ratio={ratio:.2f}"
        if step in ("export", "metrics"):
            same = not any(steps[step] for steps in wrong.values())
            line += f" same={'yes' if same else 'no'}"
        print(line)
    print(f"pg_over_sqlite={max(ratios):.2f}")
    return 2 if any(f for steps in wrong.values() for f in steps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
