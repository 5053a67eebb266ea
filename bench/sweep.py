"""Benchmark: one sweep over many simulated tevis sources on a few hosts with server latency.

The simulator runs in a child process so the peak memory printed is the sweep's alone.
The politeness lower bound is, for each host, its requests x (latency + gap) / per-host
concurrency; the sweep cannot be faster than the largest host value. Last line:
``ratio_to_bound=X.XX`` (target <= 1.25).

    python bench/sweep.py [--sources 40] [--hosts 4] [--latency 0.05] [--gap 0.1] [--per-host 2]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from office_schedule.catalog import load_catalog, select_sources
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.store import SQLiteStore
from office_schedule.sweep import run_sweep


def start_simulator(args, catalog: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "office_schedule", "simulate", "serve",
        "--port", "0", "--catalog-out", str(catalog), "--seed", str(args.seed),
        "--sources", str(args.sources), "--family", "tevis", "--hosts", str(args.hosts),
        "--latency", str(args.latency), "--frozen",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not catalog.exists() or not catalog.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"simulator did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    time.sleep(0.2)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--gap", type=float, default=0.1)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        catalog_path = Path(tmp) / "sim.csv"
        proc = start_simulator(args, catalog_path)
        try:
            sources = select_sources(load_catalog([catalog_path]), include=["sim-*"])
            politeness = Politeness(
                per_host_concurrency=args.per_host, min_gap=args.gap, attempts=2
            )
            with SQLiteStore(Path(tmp) / "bench.db") as store:

                async def sweep():
                    async with Fetcher(politeness) as fetcher:
                        started = time.perf_counter()
                        results = await run_sweep(sources, store, fetcher, weeks=args.weeks)
                        return time.perf_counter() - started, results, fetcher.requests_per_host()

                wall, results, per_host = asyncio.run(sweep())
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    errors = [r for r in results if r.status == "error"]
    hosts = {urlsplit(s.base_url).netloc for s in sources}
    per_host_requests: dict[str, int] = {}
    for s, r in ((s, r) for r in results for s in sources if s.id == r.source_id):
        per_host_requests[s.host] = per_host_requests.get(s.host, 0) + r.requests
    bound = max(n * (args.latency + args.gap) / args.per_host for n in per_host_requests.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sources={len(sources)} hosts={len(hosts)} errors={len(errors)}")
    for r in errors[:5]:
        print(f"  error {r.source_id}: {r.error}")
    print(f"requests_total={sum(per_host_requests.values())}")
    for host, n in sorted(per_host_requests.items()):
        print(f"requests_host[{host}]={n} (fetcher counted {per_host.get(host, 0)})")
    print(f"latency={args.latency}s gap={args.gap}s per_host={args.per_host}")
    print(f"wall_seconds={wall:.2f}")
    print(f"bound_seconds={bound:.2f}")
    print(f"peak_memory_mb={peak_mb:.0f}")
    print(f"ratio_to_bound={wall / bound:.2f}")


if __name__ == "__main__":
    main()
