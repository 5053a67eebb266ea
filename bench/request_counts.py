"""Requests per snapshot of every family's scraper, against the simulator, beside the reference.

Each simulated source is scraped once by the real scraper (frozen world, loopback). For tevis
the same tenant is also priced with the reference's 2021 formula (protocol notes 1.2:
1 + M + sum over md of C_md x (1 + W), C_md = calendars the md's services name), so today's
flow (select2 -> location -> suggest) can be compared with what the reference asked. Last
line: ``tevis_today_per_reference=X.XX`` (today's requests / the reference formula on the
same tenants).

    python bench/request_counts.py [--sources 8] [--weeks 4] [--seed 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections import defaultdict

from office_schedule.families import get_family
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.tevis_today_server import offices_of


def reference_tevis(src, weeks: int) -> int:
    """The 2021 flow's cost on this tenant: every calendar (office) of every md, W weeks."""
    total = 1 + len(src.departments)
    for dep in src.departments:
        calendars = {o.id for svc in dep.services for o in offices_of(src, svc)}
        total += len(calendars) * (1 + weeks)
    return total


async def scrape_all(srv, world, weeks: int) -> dict[str, int]:
    counts = {}
    async with Fetcher(Politeness(min_gap=0, attempts=1, timeout=10)) as fetcher:
        for source in srv.sources():
            session = fetcher.session()
            family = get_family(source.family)
            await family.scrape(source, session, weeks, world.now())
            counts[source.id] = session.requests
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=8, help="simulated sources per family")
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    families = {f: args.sources for f in FAMILY_SERVERS}
    world = SimWorld(seed=args.seed, families=families, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        counts = asyncio.run(scrape_all(srv, world, args.weeks))
    rows: dict[tuple[str, str], list[int]] = defaultdict(list)
    for sid, n in counts.items():
        src = world.sources[sid]
        rows[(src.family, src.variant or "-")].append(n)
    print(f"{'family':<16}{'variant':<9}{'sources':>8}{'mean':>8}{'min':>6}{'max':>6}")
    for (family, variant), values in sorted(rows.items()):
        print(
            f"{family:<16}{variant:<9}{len(values):>8}{statistics.mean(values):>8.1f}"
            f"{min(values):>6}{max(values):>6}"
        )
    today = [
        sid for sid, s in world.sources.items() if s.family == "tevis" and s.variant == "today"
    ]
    ours = sum(counts[s] for s in today)
    reference = sum(reference_tevis(world.sources[s], args.weeks) for s in today)
    locations = sum(len(world.sources[s].locations) for s in today)
    print(
        f"tevis today: {ours} requests for {len(today)} tenants ({locations} offices); "
        f"the 2021 formula on the same tenants: {reference}"
    )
    print(f"tevis_today_per_reference={ours / reference:.2f}")


if __name__ == "__main__":
    main()
