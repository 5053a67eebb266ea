"""The tevis scraper against the simulator's TEVIS-2021 and TEVIS-today tenants over loopback."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx2
import pytest

from office_schedule.catalog import Source
from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, tevis
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld

FAST = Politeness(min_gap=0, attempts=1, timeout=5)
HOSTS = ("127.0.0.1", "127.0.0.2")
WEEKS = 4


def scrape(source: Source, now: datetime, weeks: int = WEEKS):
    async def go():
        async with Fetcher(FAST) as fetcher:
            session = fetcher.session()
            return await tevis.scrape(source, session, weeks, now), session.requests

    return asyncio.run(go())


def slot_strings(parsed) -> dict[str, list[str]]:
    return {k: [s.strftime("%Y-%m-%d %H:%M:%S") for s in v.slots] for k, v in
            sorted(parsed.locations.items())}  # fmt: skip


def today_requests(raw: dict) -> int:
    """1 + M + per asked service (1 + per office opened (one GET per suggest page)); a
    service with one office answers its first suggest page to the chooser's GET."""
    asked = sum(1 for s in raw["services"] if s["asked"])
    pages = sum(
        len(q["pages"]) - ("/location?" in q["pages"][0]["url"])
        for q in raw["queries"]
        if q["pages"]
    )
    return 1 + len(raw["md"]) + asked + pages


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_both_variants_equal_truth(seed):
    world = SimWorld(seed=seed, families={"tevis": 8}, frozen=True)
    with SimServer(world, hosts=HOSTS) as srv:
        truth = world.truth(weeks=WEEKS)
        for source in srv.sources():
            raw, requests = scrape(source, world.now())
            parsed = check_empty(tevis.parse(raw))
            assert slot_strings(parsed) == truth[source.id], source.id
            assert len(srv.requests_for(source.id)) == requests
            if world.sources[source.id].variant == "today":
                assert raw["v"] == 3 and requests == today_requests(raw)
            else:
                assert raw["v"] == 2


def test_today_offices_have_names_services_and_markers():
    world = SimWorld(seed=4, families={"tevis": 8}, frozen=True)
    with SimServer(world, hosts=HOSTS) as srv:
        for source in srv.sources():
            src = world.sources[source.id]
            if src.variant != "today":
                continue
            raw, _ = scrape(source, world.now())
            parsed = check_empty(tevis.parse(raw))
            for loc_id, loc in parsed.locations.items():
                assert loc.name == src.locations[loc_id].name
                assert loc.services and loc.url.split("?")[0].endswith("/suggest")
                assert "filter_date" not in loc.url
                assert loc.slots or loc.empty
            for md in raw["md"]:  # Aachen-like tenants name calendars: none is asked twice
                services = [s for s in raw["services"] if s["md"] == md]
                cals = [set((s["calendar"] or "").split("|")) - {""} for s in services]
                asked = [c for s, c in zip(services, cals, strict=True) if s["asked"]]
                assert set().union(*asked) == set().union(*cals)
                for s, c in zip(services, cals, strict=True):
                    if not s["asked"]:
                        shorter = [
                            c2
                            for s2, c2 in zip(services, cals, strict=True)
                            if s2["asked"] and (s2["duration"] or 0) <= (s["duration"] or 0)
                        ]
                        assert c and c <= set().union(*shorter)


def test_a_far_look_ahead_walks_the_suggest_pages_and_stops_at_the_end():
    world = SimWorld(seed=2, families={"tevis": 2}, frozen=True)
    with SimServer(world) as srv:
        source = srv.sources()[1]
        assert world.sources[source.id].variant == "today"
        raw, _ = scrape(source, world.now(), weeks=4)
        walked = [q for q in raw["queries"] if len(q["pages"]) > 1]
        assert walked
        for query in walked:
            ends = [p["range"][1] for p in query["pages"] if p["range"]]
            assert ends == sorted(ends)
            assert query["pages"][-1]["none_free"] or ends[-1] >= raw["until"]
        one_week, _ = scrape(source, world.now(), weeks=1)
        assert sum(map(len, (q["pages"] for q in one_week["queries"]))) < sum(
            map(len, (q["pages"] for q in raw["queries"]))
        )


def test_lost_session_is_retried_once_then_an_error():
    world = SimWorld(seed=2, families={"tevis": 2}, frozen=True)
    with SimServer(world, faults={"sim-tevis-02": "expired"}) as srv:
        source = srv.sources()[1]
        with pytest.raises(ScrapeError, match="lost the session.*TVWebSession") as info:
            scrape(source, world.now())
        assert "/location?" in info.value.url
        paths = srv.requests_for(source.id)
        assert sum("/select2?" in p for p in paths) == 2  # the department chosen again, once


def test_cookie_less_location_request_gets_the_real_error_page():
    world = SimWorld(seed=2, families={"tevis": 2}, frozen=True)
    with SimServer(world) as srv:
        src = world.sources["sim-tevis-02"]
        dep, svc = src.departments[0], src.departments[0].services[0]
        url = f"{srv.base_url(src.id)}/location?mdt={dep.mdt}&select_cnc=1&{svc.cnc}=1"
        page = httpx2.get(url).text
        assert "Fehlermeldung: Kein gültiger Mandant gefunden. (0)" in page
        with httpx2.Client() as client:
            client.get(f"{srv.base_url(src.id)}/select2?md={dep.md}")
            assert "TVWebSession" in client.cookies
            assert "suggest_location" in client.get(url).text
