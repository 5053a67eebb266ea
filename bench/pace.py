"""Politeness as the servers see it: one sweep of every family with its declared values.

Every simulated family is served on its own loopback address (as real systems live on their
own hosts) and swept once through ``run_sweep`` with the politeness ``resolve_politeness``
gives (defaults -> family; no command-line overrides). Per host the fake server records
when each request arrived and was answered; printed per family: requests, the most in
flight at once against the declared lanes, and the shortest pause between an answer and
the next request against the declared gap (meaningful for one-lane families). Last line:
``pace_violations=N of M`` hosts (in flight above the lanes, or a one-lane pause below
the gap, minus 10 ms of clock jitter).

    python bench/pace.py [--sources 2] [--family F ...]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from office_schedule.families import resolve_politeness
from office_schedule.fetch import Fetcher
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.server import family_hosts
from office_schedule.store import SQLiteStore
from office_schedule.sweep import run_sweep

JITTER = 0.010


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2, help="simulated sources per family")
    parser.add_argument("--family", action="append", help="only these families")
    args = parser.parse_args()
    chosen = args.family or list(FAMILY_SERVERS)
    world = SimWorld(seed=5, families={f: args.sources for f in chosen}, frozen=True)
    assignment = family_hosts(world)
    family_of = {host: world.sources[sid].family for sid, host in assignment.items()}
    hosts = tuple(family_of)
    with SimServer(world, hosts=hosts, assignment=assignment) as srv:
        sources = srv.sources()
        base, per_host = resolve_politeness(sources)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "p.db") as store:

            async def sweep():
                async with Fetcher(base, host_overrides=per_host) as fetcher:
                    return await run_sweep(sources, store, fetcher)

            results = asyncio.run(sweep())
        seconds = time.perf_counter() - started
        failed = [r for r in results if r.error]
        print(f"{len(results)} sources swept in {seconds:.0f} s, {len(failed)} failed")
        for r in failed:
            print(f"  failed {r.source_id}: {r.error}")
        print(f"{'family':16s}{'requests':>9s}{'in flight':>10s}{'lanes':>6s}"
              f"{'shortest pause':>15s}{'gap':>6s}")  # fmt: skip
        violations = 0
        for host, family in family_of.items():
            wanted = per_host.get(host, base)
            n = sum(1 for h, _, _ in srv.timeline if h == host)
            most, pause = srv.pace(host)
            one_lane = wanted.per_host_concurrency == 1
            bad = most > wanted.per_host_concurrency or (
                one_lane and pause is not None and pause < wanted.min_gap - JITTER
            )
            violations += bad
            shown = f"{pause:.3f} s" if pause is not None and one_lane else "-"
            print(
                f"{family:16s}{n:9d}{most:10d}{wanted.per_host_concurrency:6d}{shown:>15s}"
                f"{wanted.min_gap:6.2f}{'  VIOLATION' if bad else ''}"
            )
    print(f"pace_violations={violations} of {len(hosts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
