"""Benchmark: one sweep over simulated sources with injected server latency.

Two shapes:

* default: ``--sources`` tevis sources spread round-robin over ``--hosts`` loopback hosts;
* ``--full``: the whole enabled catalog mirrored, every family that has a simulator, each
  simulated source on the loopback host standing for its real host, so hosts are shared
  exactly as in the real catalog (74 tempus offices on one host, 44 etermin, ...).

The simulator runs in a child process so the peak memory printed is the sweep's alone.
The politeness lower bound is, for each host, its requests x (latency + gap) / lanes; the
sweep cannot be faster than the largest host value (``ratio_to_bound``, first sweep).

Two sweeps run on the frozen world with one fetcher: the first fetches every page, the
second answers the pages the families keep for a day from the first (``fetch/daily.py``).
Both are checked to store identical slots per source and location. Beside them, the
reference's requests for the same simulated catalog (``request_counts.REFERENCES``: the 2021
reference's pattern, or the naive one of the protocol notes) and its ``reuse_floor``: the
reference minus its catalogue pages (``request_counts.CATALOGUE``), the limit of reading
rarely changing pages once a day (``reuse_floor_ratio`` = floor / reference). Last line
``requests_ratio=X.XX`` (second sweep / reference; target <= 0.5).

    python bench/sweep.py                    # 40 tevis sources, 4 hosts (target <= 1.25)
    python bench/sweep.py --full             # every family, >= 200 sources (target <= 1.10)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from office_schedule.catalog import load_catalog, select_sources
from office_schedule.families import resolve_politeness
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.store import SQLiteStore
from office_schedule.sweep import run_sweep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from request_counts import reference_catalogue, reference_requests  # noqa: E402


def plan(args) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Families to simulate, source -> host, and the host list."""
    if not args.full:
        hosts = [f"127.0.0.{i}" for i in range(1, args.hosts + 1)]
        ids = [f"sim-tevis-{i:02d}" for i in range(1, args.sources + 1)]
        return {"tevis": args.sources}, {s: hosts[i % len(hosts)] for i, s in enumerate(ids)}, hosts
    from office_schedule.simulate.families import FAMILY_SERVERS

    real = [s for s in select_sources(load_catalog()) if s.family in FAMILY_SERVERS]
    real_hosts = sorted({s.host for s in real})
    if len(real_hosts) > 250:
        raise SystemExit("more real hosts than loopback addresses used here")
    host_of = {h: f"127.0.0.{i}" for i, h in enumerate(real_hosts, start=1)}
    counts: Counter[str] = Counter()
    assignment = {}
    for s in real:
        counts[s.family] += 1
        assignment[f"sim-{s.family}-{counts[s.family]:02d}"] = host_of[s.host]
    return dict(counts), assignment, list(host_of.values())


def serve(families, assignment, hosts, latency, seed, weeks, catalog: str, stop) -> None:
    from office_schedule.simulate import SimServer, SimWorld

    world = SimWorld(seed=seed, families=families, frozen=True)
    with SimServer(world, hosts=hosts, latency=latency, assignment=assignment) as srv:
        references = {
            "requests": reference_requests(world, weeks),
            "catalogue": reference_catalogue(world, weeks),
        }
        Path(catalog).with_suffix(".ref.json").write_text(json.dumps(references))
        srv.write_catalog(catalog)
        stop.wait()


def stored_slots(store, source_ids) -> dict[str, dict[str, tuple] | None]:
    """source -> location -> its stored slots (None: the source stored no state)."""
    out: dict[str, dict[str, tuple] | None] = {}
    for sid in source_ids:
        state = store.latest_state(sid)
        if state is None:
            out[sid] = None
            continue
        out[sid] = {lid: tuple(loc.slots) for lid, loc in state[2].locations.items()}
    return out


def family_of(source_id: str) -> str:
    return source_id.split("-")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="mirror the whole catalog")
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--gap", type=float, default=0.1)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--uniform",
        action="store_true",
        help="apply --per-host/--gap to every host (ignore the families' own values)",
    )
    args = parser.parse_args()
    families, assignment, hosts = plan(args)

    with tempfile.TemporaryDirectory() as tmp:
        catalog_path = Path(tmp) / "sim.csv"
        ctx = mp.get_context("fork")
        stop = ctx.Event()
        child = ctx.Process(
            target=serve,
            args=(
                families,
                assignment,
                hosts,
                args.latency,
                args.seed,
                args.weeks,
                str(catalog_path),
                stop,
            ),
        )
        child.start()
        deadline = time.monotonic() + 120
        while not catalog_path.exists() or not catalog_path.read_text().strip():
            if not child.is_alive() or time.monotonic() > deadline:
                raise SystemExit("simulator did not start")
            time.sleep(0.1)
        try:
            sources = select_sources(load_catalog([catalog_path]), include=["sim-*"])
            base = Politeness(per_host_concurrency=args.per_host, min_gap=args.gap, attempts=2)
            uniform = {"per_host_concurrency": args.per_host, "min_gap": args.gap}
            base, overrides = resolve_politeness(
                sources, uniform if args.uniform else None, defaults=base
            )
            references = json.loads(catalog_path.with_suffix(".ref.json").read_text())
            ids = [s.id for s in sources]
            with (
                SQLiteStore(Path(tmp) / "first.db") as first_store,
                SQLiteStore(Path(tmp) / "second.db") as second_store,
            ):

                async def sweeps():
                    async with Fetcher(base, host_overrides=overrides) as fetcher:
                        out = []
                        for store in (first_store, second_store):
                            before = fetcher.requests_per_host()
                            started = time.perf_counter()
                            results = await run_sweep(sources, store, fetcher, weeks=args.weeks)
                            elapsed = time.perf_counter() - started
                            after = fetcher.requests_per_host()
                            hosts_n = {h: n - before.get(h, 0) for h, n in after.items()}
                            out.append((elapsed, results, hosts_n))
                        return out, fetcher

                (first, second), fetcher = asyncio.run(sweeps())
                slots = [stored_slots(st, ids) for st in (first_store, second_store)]
        finally:
            stop.set()
            child.join(timeout=10)

    wall, results, per_host = first
    errors = [r for r in results if r.status == "error"]
    bounds = {}
    for host, n in per_host.items():
        p = fetcher.politeness_for(host)
        bounds[host] = n * (args.latency + p.min_gap) / p.per_host_concurrency
    bound = max(bounds.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"families={dict(sorted(families.items()))}")
    print(f"sources={len(sources)} hosts={len(per_host)} errors={len(errors)}")
    for r in errors[:10]:
        print(f"  error {r.source_id}: {r.error}", file=sys.stderr)
    print(f"requests_total={sum(per_host.values())}")
    for host, n in sorted(per_host.items(), key=lambda kv: -kv[1])[:8]:
        print(f"requests_host[{host}]={n} bound={bounds[host]:.2f}s")
    print(f"latency={args.latency}s gap={args.gap}s per_host={args.per_host} weeks={args.weeks}")
    # the same sweep at the real defaults (families' own per-host values) and 300 ms latency
    default, real_overrides = resolve_politeness(sources)
    real = max(
        n
        * (0.3 + real_overrides.get(h, default).min_gap)
        / real_overrides.get(h, default).per_host_concurrency
        for h, n in per_host.items()
    )
    print(f"busiest_host_at_default_politeness_and_300ms_seconds={real:.0f} (cycle: 900 s)")
    print(f"wall_seconds={wall:.2f}")
    print(f"bound_seconds={bound:.2f}")
    print(f"peak_memory_mb={peak_mb:.0f}")
    print(f"ratio_to_bound={wall / bound:.2f}")
    report_reuse(first[1], second, references, slots, fetcher)


def report_reuse(first_results, second, priced, slots, fetcher) -> None:
    """Requests of both sweeps beside the reference, per family; the stored slots compared.

    ``reuse_floor`` = the reference's requests minus its catalogue pages
    (``request_counts.CATALOGUE``): what fetching rarely changing pages once a day could
    reach with the reference's own slot pages.
    """
    references, catalogue = priced["requests"], priced["catalogue"]
    wall2, second_results, _ = second
    counts = [{r.source_id: r.requests for r in rs} for rs in (first_results, second_results)]
    rows: dict[str, list[int]] = {}
    for sid in counts[0]:
        row = rows.setdefault(family_of(sid), [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += counts[0][sid]
        row[2] += counts[1].get(sid, 0)
        row[3] += references.get(sid, 0)
        row[4] += references.get(sid, 0) - catalogue.get(sid, 0)
    for family, (n, one, two, ref, floor) in sorted(rows.items(), key=lambda kv: -kv[1][3]):
        ratio = f"{two / ref:.2f}" if ref else "-"
        floor_ratio = f"{floor / ref:.2f}" if ref else "-"
        print(
            f"family[{family}] sources={n} first={one} per_sweep={two} reference={ref} "
            f"ratio={ratio} reuse_floor={floor} reuse_floor_ratio={floor_ratio}"
        )
    # the first sweep has nothing kept yet: it is the sweep without reuse
    differ = sorted(sid for sid in slots[0] if slots[0][sid] != slots[1][sid])
    missing = sorted(sid for sid in slots[0] if slots[0][sid] is None or slots[1][sid] is None)
    locations = sum(len(v) for v in slots[0].values() if v)
    n_slots = sum(len(x) for v in slots[0].values() if v for x in v.values())
    print(
        f"stored_slots_identical={'yes' if not differ and not missing else 'NO'} "
        f"({len(slots[0])} sources, {locations} locations, {n_slots} slots per sweep; "
        f"differing: {', '.join(differ) or 'none'}; "
        f"without a state: {', '.join(missing) or 'none'})"
    )
    print(f"reused_pages={fetcher.daily.hits} second_sweep_wall_seconds={wall2:.2f}")
    total1, total2 = sum(counts[0].values()), sum(counts[1].values())
    ref_total = sum(references.get(sid, 0) for sid in counts[0])
    print(f"requests_first_sweep={total1}")
    print(f"requests_per_sweep={total2}")
    floor_total = ref_total - sum(catalogue.get(sid, 0) for sid in counts[0])
    print(f"reference_requests_per_sweep={ref_total}")
    print(f"reuse_floor={floor_total}")
    print(f"reuse_floor_ratio={floor_total / ref_total:.2f}")
    print(f"requests_ratio={total2 / ref_total:.2f}")


if __name__ == "__main__":
    main()
