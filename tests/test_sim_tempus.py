"""The simulated tempus family: the real scraper against the fake server reproduces the truth."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import datetime, timedelta

import httpx2
import pytest

from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, tempus
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
    """Every front end (classic, essen, today) against the simulator's truth."""
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


def test_all_front_ends_and_page_shapes_are_served():
    seen = Counter()
    for seed in range(1, 5):
        world = make_world(seed)
        with SimServer(world) as srv:
            for source in srv.sources():
                src = world.sources[source.id]
                variant = ts.variant(src)
                seen[variant] += 1
                assert ("extra" in source.params) == (variant != "classic")
                assert ("anlagentoken" in source.params) == (variant == "today")
                assert source.index_url.startswith(source.params["base_url"] + "?anlagennr=")
                raw = scrape(source, world.now())
                seen["overview"] += any("sub_category" in c for c in raw["calendars"])
                seen["direct calendar"] += any("sub_category" not in c for c in raw["calendars"])
                log = "\n".join(srv.requests_for(source.id))
                seen["notice"] += "hinweis" in log or "hinweisbestaetigung" in log
                assert ("aktion=tag" in log) == (variant == "essen")
                assert ("action=termine" in log) == (variant == "classic")
                assert ("page=terminauswahl" in log) == (variant == "today")
                assert ("anwendung" in log) == (variant != "classic")
    assert set(seen) == {
        "classic", "essen", "today", "overview", "direct calendar", "notice"
    }  # fmt: skip


def test_pages_need_the_session():
    world = make_world(2)
    with SimServer(world) as srv:
        for source in srv.sources():
            today = ts.variant(world.sources[source.id]) == "today"
            base = source.params["base_url"]
            with httpx2.Client() as client:
                index = client.get(source.index_url)
                assert ("PHPSESSID" in index.cookies) == (not today)
                view = tempus.read_page(index.text, str(index.url))
                (category, body), *_ = tempus.category_forms(view.details["options"])
                action = tempus.resolve_link(base, view.details["action"])
                answer = client.post(action, data=body)
                assert "abgelaufen" not in answer.text
                client.cookies.clear()
                if today:  # the session is the sna= of the links, not a cookie
                    assert "abgelaufen" not in client.post(action, data=body).text
                    action = re.sub(r"sna=T[0-9a-f]+", "sna=T0", action)
                again = client.post(action, data=body)
                assert "Ihre Sitzung ist abgelaufen" in again.text
                assert client.get(base + "?anlagennr=999").text.count("abgelaufen") == 1


@pytest.mark.parametrize(
    "mode, message",
    [
        ("expired", "the site says 'Ihre Sitzung ist abgelaufen"),
        ("garbage", "unrecognised page: page titled"),
    ],
)
def test_page_faults(mode, message):
    world = make_world(3)
    sid = next(iter(world.sources))
    with SimServer(world, faults={sid: mode}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(ScrapeError, match=message) as info:
            scrape(source, world.now())
        assert info.value.url.startswith(source.params["base_url"])


def test_booked_out_locations_carry_markers_and_equal_truth():
    world = make_world(4)
    for src in world.sources.values():  # one location of each source has nothing free
        first = next(iter(src.locations.values()))
        day = world.now().date()
        while day <= world.horizon(world.now()):
            first.booked.update(first.grid(day))
            day += timedelta(days=1)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        truth = world.truth(weeks=WEEKS)
        markers = Counter()
        for source in srv.sources():
            parsed = check_empty(tempus.parse(scrape(source, world.now())), "tempus")
            for loc in parsed.locations.values():
                if not loc.slots:
                    markers[loc.empty] += 1
            reached = {k: v for k, v in truth[source.id].items() if k in parsed.locations}
            assert parsed.to_truth() == reached, source.id
            # unseen only when every category offering it has nothing free at all
            assert all(not v for k, v in truth[source.id].items() if k not in reached)
        assert markers


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
