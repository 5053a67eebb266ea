"""Requests per snapshot of every family's scraper, against the simulator, beside the reference.

Each simulated source is scraped twice by the real scraper with one fetcher (frozen world,
loopback): the first snapshot fetches everything, the second ("steady") answers the pages
its family keeps for a day from the first. Every source is also priced with the
reference's pattern (``REFERENCES`` below, one function per family naming the protocol
note it comes from). For tevis the 2021 formula (1 + M + sum over md of C_md x (1 + W))
also prices today's tenants. Last line: ``tevis_today_per_reference=X.XX``.

    python bench/request_counts.py [--sources 8] [--weeks 4] [--seed 3]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import statistics
from collections import defaultdict
from datetime import date, timedelta

from office_schedule.families import get_family
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.tevis_today_server import offices_of

# --------------------------------------------------------------------------- the references
#
# What one snapshot of a simulated source costs with the 2021 reference scraper's pattern,
# or, for families the reference did not have, the naive pattern of the protocol notes
# (every page of the flow, catalogue included, every snapshot). Each is computed from the
# simulated source's ground truth (its departments, services, offices and the published
# free times of the frozen world), never from what our scrapers asked.


def reference_tevis(src, weeks: int, world=None) -> int:
    """tevis-netappoint.md 1.2: 1 + M + sum over md of C_md x (1 + W), C_md = the calendars
    (offices) the md's services name; the 2021 flow priced also for today's tenants."""
    total = 1 + len(src.departments)
    for dep in src.departments:
        calendars = {o.id for svc in dep.services for o in offices_of(src, svc)}
        total += len(calendars) * (1 + weeks)
    return total


def reference_netappoint(src, weeks: int, world) -> int:
    """tevis-netappoint.md 2.2: 1 + sum over categories of (1 POST [+1 chooser GET] + D), D =
    every day from the first bookable day of today's month view through today + 7W.
    The WEB_APPOINT skin (not in the reference): the naive flow, 1 + one POST per service."""
    from office_schedule.simulate import netappoint_ajax_server as ajax
    from office_schedule.simulate import netappoint_server as na

    if src.variant == "ajax":
        return 1 + len(ajax.casetypes(src))
    now = world.now()
    last = now.date() + timedelta(days=7 * weeks)
    chooser = 1 if na.tenant(src).chooser else 0
    total = 1
    for lid in na.cases(src):
        bookable = na._bookable_month(world, src, lid, now)
        days = (last - bookable[0]).days + 1 if bookable and bookable[0] <= last else 0
        total += 1 + chooser + days
    return total


def reference_etermin(src, weeks: int, world) -> int:
    """etermin-tempus.md 1.1: 1 + G + sum over (group, calendar) of (D + A): one calendar
    list per chosen group, up to 3 month lists per calendar and one slot list per day the
    month lists flag available (replayed on the simulated account)."""
    from office_schedule.simulate import etermin_server as et

    entries = [e for e in et.services_json(src) if e.get("s")]
    best: dict = {}
    for e in entries:
        if e.get("duration") and (
            e["sgid"] not in best or e["duration"] < best[e["sgid"]]["duration"]
        ):
            best[e["sgid"]] = e
    today = world.now().date()
    total = 1 + len(best)
    for chosen in best.values():
        svc = et._service(src, str(chosen["sid"]))
        for cal in et.calendars_json(src, svc):
            loc = src.locations[cal["calendarid"]]
            query, max_date = today, today
            for _ in range(3):
                days = et.day_list(world, src, loc, query, 7 * weeks)
                total += 1 + sum(1 for d in days if d.get("available"))
                for d in days:
                    max_date = max(max_date, date.fromisoformat(d["start"][:10]))
                if (max_date - today).days >= 7 * weeks:
                    break
                query = (query.replace(day=1) + timedelta(days=32)).replace(day=1)
    return total


def _free_days(world, src, location_ids, weeks: int) -> list[date]:
    now = world.now()
    days = [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]
    return [d for d in days if any(world.published_day(src, lid, d, now) for lid in location_ids)]


def reference_zms(src, weeks: int, world) -> int:
    """systems-2026.md 1.1, naive: the catalogue every snapshot + per service 1 + (bookable
    days in the horizon) (the polite pattern reads the catalogue daily); the same for the
    legacy ``available-days-by-office`` API (1.2). A deployment of the 2025 per-office API
    (``zms/scraper.py``): the catalogue + per office 1 + its bookable days."""
    from office_schedule.simulate import zms_server as z

    svc = z.queried(src)
    offering = set(z.relations(src)[z.service_of(svc)])
    lids = [lid for lid, loc in src.locations.items() if z.office_of(loc) in offering]
    if z.generation(src) == z.p.GENERATIONS[2]:
        return 1 + sum(1 + len(_free_days(world, src, [lid], weeks)) for lid in lids)
    return 1 + 1 + len(_free_days(world, src, lids, weeks))


def reference_cleverq(src, weeks: int, world) -> int:
    """systems-2026.md 4, naive: booking page + site info + per service (1 available_days +
    one available_time_slots per open day): "2 + N per (site, service)" + the page."""
    total = 2
    for lid in src.locations:
        total += 1 + len(_free_days(world, src, [lid], weeks))
    return total


def reference_qmatic(src, weeks: int, world) -> int:
    """systems-2026.md 5, naive: the catalogue (services, branches per service) every
    snapshot + "1 + N days per (branch, service)" for each branch's service."""
    from office_schedule.simulate import qmatic_server as q

    services = q.services(src)
    branches = {c for svc, _ in services for c in q.calendars(svc)}
    total = 1 + len(services)
    for lid in branches:
        total += 1 + len(_free_days(world, src, [lid], weeks))
    return total


def reference_flexappoint(src, weeks: int, world) -> int:
    """systems-2026.md 15, naive: per (department, service) one disabled-days list per month
    of the horizon + one times list per day that is not disabled."""
    now = world.now()
    first, last = now.date(), now.date() + timedelta(days=7 * weeks)
    months = len({(d.year, d.month) for d in (first + timedelta(days=i) for i in
                  range((last - first).days + 1))})  # fmt: skip
    return sum(months + len(_free_days(world, src, [lid], weeks)) for lid in src.locations)


def reference_smartcjm(src, weeks: int, world=None) -> int:
    """systems-2026.md 3.1, naive: session + services page, then per service one POST (+ one
    locations POST where the calendar has that step): "3-4 per (calendar, service)"; a
    calendar read for the earliest time per office (3.2): per service the POST + the GET."""
    from office_schedule.simulate import smartcjm_server as sc

    per_service = 2 if sc.is_earliest(src) else 1 + (1 if sc.has_locations(src) else 0)
    return 2 + len(sc.services(src)) * per_service


def reference_leipzig(src, weeks: int, world) -> int:
    """custom-machinery-export.md A.1: GET + agreement, then per office open + choose +
    concern [+ comments] + per free day open and close the popup + the steps back."""
    from office_schedule.simulate import leipzig_server as lz

    now = world.now()
    total = 2 if lz.spelling(src) == "classic" else 1
    months = lz._months(now.date())
    for lid, loc in src.locations.items():
        comments = 1 if lz._has_comments(src, lid) else 0
        free = 0
        for y, m in months:
            for d in range(1, calendar.monthrange(y, m)[1] + 1):
                day = date(y, m, d)
                if now.date() <= day <= world.horizon(now) and loc.grid(day):
                    free += bool(world.published_day(src, lid, day, now))
        total += 2 + 1 + comments + 2 * free + 2 + comments
    return total


# --------------------------------------------------------------------------- catalogue pages
#
# Of each reference pattern above, the pages fetched only to learn the catalogue (departments,
# services, offices, calendars), not to step a session wizard on to a slot page: what
# perfect reuse of rarely changing pages ("fetch them once a day") could leave out. The rest
# of the reference's requests, its slot pages and wizard steps, is the reuse floor.


def catalogue_tevis(src, weeks: int, world=None) -> int:
    """tevis-netappoint.md 1.2 steps 1 and 2a: the start page and one service list per md."""
    return 1 + len(src.departments)


def catalogue_netappoint(src, weeks: int, world=None) -> int:
    """tevis-netappoint.md 2.2 step 1: the index (categories, cases, form target); the
    selection POST starts its own session. WEB_APPOINT: the form carries its session's
    token, so it is a wizard step (0)."""
    return 0 if src.variant == "ajax" else 1


def catalogue_etermin(src, weeks: int, world=None) -> int:
    """etermin-tempus.md 1.1 steps 1 and 2: the service list + one calendar list per group."""
    from office_schedule.simulate import etermin_server as et

    groups = {e["sgid"] for e in et.services_json(src) if e.get("s") and e.get("duration")}
    return 1 + len(groups)


def catalogue_zms(src, weeks: int, world=None) -> int:
    """systems-2026.md 1.1 step 1: ``offices-and-services`` ("daily, not per snapshot")."""
    return 1


def catalogue_cleverq(src, weeks: int, world=None) -> int:
    """systems-2026.md 4 step 2: the site info (services, subtasks); the booking page issues
    the session and the CSRF token (a wizard step)."""
    return 1


def catalogue_qmatic(src, weeks: int, world=None) -> int:
    """systems-2026.md 5: the catalogue, services and the branches per service."""
    from office_schedule.simulate import qmatic_server as q

    return 1 + len(q.services(src))


def catalogue_none(src, weeks: int, world=None) -> int:
    """flexappoint (systems-2026.md 15): every page is a slot page; smartcjm (3.1) and
    leipzig (custom-machinery-export.md A.1): every page is a step of a session wizard."""
    return 0


CATALOGUE = {
    "tevis": catalogue_tevis,
    "netappoint": catalogue_netappoint,
    "etermin": catalogue_etermin,
    "zms": catalogue_zms,
    "cleverq": catalogue_cleverq,
    "qmatic": catalogue_qmatic,
    "flexappoint": catalogue_none,
    "smartcjm": catalogue_none,
    "leipzig": catalogue_none,
}

REFERENCES = {
    "tevis": reference_tevis,
    "netappoint": reference_netappoint,
    "etermin": reference_etermin,
    "zms": reference_zms,
    "cleverq": reference_cleverq,
    "qmatic": reference_qmatic,
    "flexappoint": reference_flexappoint,
    "smartcjm": reference_smartcjm,
    "leipzig": reference_leipzig,
}


def _priced(table: dict, world, weeks: int) -> dict[str, int]:
    """source id -> ``table[family](source, weeks, world)`` for every family in ``table``."""
    with world.lock:
        world.refresh()
        return {
            sid: table[src.family](src, weeks, world)
            for sid, src in world.sources.items()
            if src.family in table
        }


def reference_requests(world, weeks: int) -> dict[str, int]:
    """source id -> the reference's requests per snapshot, for every family priced above."""
    return _priced(REFERENCES, world, weeks)


def reference_catalogue(world, weeks: int) -> dict[str, int]:
    """source id -> the catalogue pages among the reference's requests (``CATALOGUE``)."""
    return _priced(CATALOGUE, world, weeks)


async def scrape_all(srv, world, weeks: int) -> tuple[dict[str, int], dict[str, int]]:
    """Two snapshots of every source with one fetcher: (first, second) requests per source.

    The second answers the pages a family keeps for a day from the first (``fetch/daily.py``).
    """
    first, second = {}, {}
    async with Fetcher(Politeness(min_gap=0, attempts=1, timeout=10)) as fetcher:
        for counts in (first, second):
            for source in srv.sources():
                session = fetcher.session(source=source.id)
                family = get_family(source.family)
                await family.scrape(source, session, weeks, world.now())
                counts[source.id] = session.requests
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=8, help="simulated sources per family")
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    families = {f: args.sources for f in FAMILY_SERVERS}
    world = SimWorld(seed=args.seed, families=families, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        counts, steady = asyncio.run(scrape_all(srv, world, args.weeks))
    references = reference_requests(world, args.weeks)
    rows: dict[tuple[str, str], list[tuple[int, int, int | None]]] = defaultdict(list)
    for sid, n in counts.items():
        src = world.sources[sid]
        rows[(src.family, src.variant or "-")].append((n, steady[sid], references.get(sid)))
    print(
        f"{'family':<16}{'variant':<11}{'sources':>7}{'first':>8}{'steady':>8}{'min':>6}"
        f"{'max':>6}{'reference':>10}{'ratio':>7}"
    )
    for (family, variant), values in sorted(rows.items()):
        firsts, steadies = [v[0] for v in values], [v[1] for v in values]
        refs = [v[2] for v in values if v[2] is not None]
        ref = f"{statistics.mean(refs):>10.1f}{sum(steadies) / sum(refs):>7.2f}" if refs else ""
        print(
            f"{family:<16}{variant:<11}{len(values):>7}{statistics.mean(firsts):>8.1f}"
            f"{statistics.mean(steadies):>8.1f}{min(steadies):>6}{max(steadies):>6}{ref}"
        )
    today = [
        sid for sid, s in world.sources.items() if s.family == "tevis" and s.variant == "today"
    ]
    ours = sum(steady[s] for s in today)
    reference = sum(reference_tevis(world.sources[s], args.weeks) for s in today)
    locations = sum(len(world.sources[s].locations) for s in today)
    print(
        f"tevis today: {ours} requests (steady state) for {len(today)} tenants ({locations} "
        f"offices); the 2021 formula on the same tenants: {reference}"
    )
    priced = [sid for sid in steady if sid in references]
    total, ref_total = sum(steady[s] for s in priced), sum(references[s] for s in priced)
    print(f"requests_per_snapshot_ratio={total / ref_total:.2f} (steady state / reference)")
    print(f"tevis_today_per_reference={ours / reference:.2f}")


if __name__ == "__main__":
    main()
