"""The simulated tempus family: the real scraper against the fake server reproduces the truth."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import httpx
import pytest

from office_schedule.errors import ScrapeError
from office_schedule.families import tempus
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import tempus_server as ts

START = datetime(2021, 7, 12, 9, 0)  # a Monday morning
WEEKS = 4
FAST = Politeness(min_gap=0, attempts=1, timeout=5)


def make_world(seed: int, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, start=START, families={"tempus": 3}, **kw)


def scrape(source, now: datetime) -> dict:
    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await tempus.scrape(source, fetcher.session(), WEEKS, now)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_scrape_equals_truth(seed):
    world = make_world(seed)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        truth = world.truth(weeks=WEEKS)
        for source in srv.sources():
            raw = scrape(source, world.now())
            got = tempus.parse(raw).to_truth()
            assert got == truth[source.id], source.id
            assert sum(len(v) for v in got.values()) > 0
            assert raw["calendars"], source.id
            requests = srv.requests_for(source.id)
            assert requests[0].endswith(source.index_url.split("/", 3)[3])


def test_both_variants_and_page_shapes_are_served():
    seen = Counter()
    for seed in range(1, 5):
        world = make_world(seed)
        with SimServer(world) as srv:
            for source in srv.sources():
                essen = ts.is_essen(world.sources[source.id])
                seen["essen" if essen else "tempus-termine"] += 1
                assert ("extra" in source.params) == essen
                assert source.index_url.startswith(source.params["base_url"] + "?anlagennr=")
                raw = scrape(source, world.now())
                seen["overview"] += any("sub_category" in c for c in raw["calendars"])
                seen["direct calendar"] += any("sub_category" not in c for c in raw["calendars"])
                log = "\n".join(srv.requests_for(source.id))
                seen["notice"] += "hinweis" in log
                assert ("aktion=tag" in log) == essen
                assert ("action=termine" in log) == (not essen)
                assert ("anwendung" in log) == essen
    assert set(seen) == {"essen", "tempus-termine", "overview", "direct calendar", "notice"}


def test_pages_need_the_session_cookie():
    world = make_world(2)
    with SimServer(world) as srv:
        source = srv.sources()[0]
        base = source.params["base_url"]
        with httpx.Client() as client:
            index = client.get(source.index_url)
            assert "PHPSESSID" in index.cookies
            options = tempus.parse_options(index.text)
            (category, body), *_ = tempus.category_forms(options)
            action = tempus.resolve_link(base, tempus.form_action(index.text))
            answer = client.post(action, data=body)
            assert "abgelaufen" not in answer.text
            client.cookies.clear()
            again = client.post(action, data=body)
            assert "Ihre Sitzung ist abgelaufen" in again.text
            assert client.get(base + "?anlagennr=999").text.count("abgelaufen") == 1


@pytest.mark.parametrize(
    "mode, message",
    [
        ("expired", "No table found"),
        ("garbage", "index page: expected the booking form"),
    ],
)
def test_page_faults(mode, message):
    # the fault list is read when server.py is imported, maybe before the registration above
    world = make_world(3)
    sid = next(iter(world.sources))
    with SimServer(world, faults={sid: mode}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(ScrapeError, match=message) as info:
            scrape(source, world.now())
        assert info.value.url.startswith(source.params["base_url"])


def test_running_world_scrapes_without_errors():
    world = make_world(5, frozen=False, speed=600)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        for source in srv.sources():
            raw = scrape(source, world.now())
            parsed = tempus.parse(raw)
            assert parsed.slot_count > 0
            ids = {
                ts.location_id(world.sources[source.id], loc)
                for loc in world.sources[source.id].locations.values()
            }
            assert set(parsed.locations) <= ids
