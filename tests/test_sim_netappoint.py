"""The simulated netappoint family: the real scraper against the fake server over loopback."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from office_schedule.errors import ScrapeError
from office_schedule.families import netappoint
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import netappoint_server as ns

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")


def scrape(source, now: datetime, weeks: int = WEEKS):
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=5))
        try:
            session = fetcher.session()
            return await netappoint.scrape(source, session, weeks, now), session.requests
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def world(seed: int, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={"netappoint": 3}, **kw)


def expected_requests(w: SimWorld, src, weeks: int = WEEKS) -> int:
    """Protocol 2.2: 1 + per category (POST [+ chooser] + days first bookable .. today+7W)."""
    now = w.now()
    last = now.date() + timedelta(days=7 * weeks)
    total = 1
    for loc in src.locations.values():
        total += 1 + ns.tenant(src).chooser
        bookable = ns._bookable_month(w, src, loc.id, now)
        if bookable and bookable[0] <= last:
            total += (last - bookable[0]).days + 1
    return total


# late on the last Friday of a month only Saturday openings are bookable in the month view,
# so most locations report nothing (protocol 2.2 limitation); February walks into March
STARTS = [None, None, datetime(2021, 7, 30, 17, 0), datetime(2021, 2, 26, 9, 0)]


@pytest.mark.parametrize(("seed", "start"), zip([1, 2, 3, 7], STARTS, strict=True))
def test_scrape_equals_truth(seed, start):
    w = world(seed, start=start)
    with SimServer(w, hosts=HOSTS) as srv:
        total = 0
        for source in srv.sources():
            raw, requests = scrape(source, w.now())
            got = netappoint.parse(raw).to_truth()
            assert got == w.truth(weeks=WEEKS)[source.id], source.id
            assert [e["location"] for e in raw] == [
                loc.name for loc in w.sources[source.id].locations.values()
            ]
            assert requests == expected_requests(w, w.sources[source.id])
            assert len(srv.requests_for(source.id)) == requests
            total += sum(len(v) for v in got.values())
        assert total > 0


def test_variants_are_covered_across_seeds():
    seen = set()
    for seed in range(12):
        for src in world(seed).sources.values():
            ten = ns.tenant(src)
            seen |= {("chooser", ten.chooser), ("selects", ten.selects), ("extra", ten.extra)}
    assert {("chooser", True), ("chooser", False), ("selects", True), ("selects", False)} <= seen
    assert {("extra", e) for e in ns.EXTRAS} <= seen


def test_page_shapes_and_session_rules():
    w = world(5)
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[0]
        src = w.sources[source.id]
        params = {"company": source.params["company"]}
        params.update(netappoint._extra_params(source.params.get("extra", "")))
        with httpx.Client() as client:
            index = client.get(f"{source.base_url}/index.php", params=params)
            page = netappoint.read_index(index.text)
            assert page.action.startswith(f"/{source.id}/netappoint/index.php?company=")
            assert [c.name for c in page.categories] == [loc.name for loc in src.locations.values()]
            # without the tenant's extra parameter (if any) there is no form
            if source.params.get("extra"):
                no_extra = {"company": params["company"]}
                bare = client.get(f"{source.base_url}/index.php", params=no_extra)
                with pytest.raises(ScrapeError, match="frm_casetype"):
                    netappoint.read_index(bare.text)
            origin = source.base_url.split(f"/{source.id}")[0]
            cat = page.categories[0]
            form = {c: "0" for c in cat.cases} | {cat.cases[0]: "1", "sentcasetypes": "Weiter"}
            answer = client.post(origin + page.action, data=form)
            href = netappoint.branch_link(answer.text)
            if href is not None:
                answer = client.get(origin + href)
            links = netappoint.bookable_links(answer.text)
            assert netappoint.has_month_table(answer.text)
            if links:
                day_url = netappoint.day_url(origin + links[0], netappoint.link_date(links[0]))
                # with the selection still in the session: the day chooser again
                again = client.get(day_url)
                assert netappoint.has_month_table(again.text)
                assert netappoint.day_times(again.text) == []
                client.cookies.clear()
                fresh = client.get(day_url)
                assert netappoint.day_times(fresh.text)
            # two locations at once cannot be booked; nothing chosen is "no slots"
            none = client.post(origin + page.action, data={"sentcasetypes": "Weiter"})
            assert ns.NO_SERVICE in HTMLParser(none.text).text()
            if len(page.categories) > 1:
                both = {c.cases[0]: "1" for c in page.categories[:2]} | {"sentcasetypes": "W"}
                answer = client.post(origin + page.action, data=both)
                assert "Kombination kann nicht" in HTMLParser(answer.text).text()


@pytest.mark.parametrize(
    ("mode", "match"),
    [("expired", "netappoint session expired"), ("garbage", "no form\\[name=frm_casetype\\]")],
)
def test_page_faults(mode, match):
    w = world(4)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: mode}) as srv:
        by_id = {s.id: s for s in srv.sources()}
        with pytest.raises(ScrapeError, match=match) as info:
            scrape(by_id[sid], w.now())
        assert info.value.url and f"/{sid}/netappoint/index.php" in info.value.url
        # the other sources are unaffected
        for other, source in by_id.items():
            if other != sid:
                raw, _ = scrape(source, w.now())
                assert netappoint.parse(raw).to_truth() == w.truth(weeks=WEEKS)[other]


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw, _ = scrape(source, w.now())
            snap = netappoint.parse(raw)
            assert set(snap.to_truth()) == set(w.truth(weeks=WEEKS)[source.id])


def test_truth_days_and_location_ids():
    now = datetime(2021, 7, 31, 10, 0)
    days = ns.truth_days(now, 4)
    assert days[0] == now.date() and days[-1] == now.date() + timedelta(days=28)
    assert len(days) == 29
    for src in world(8).sources.values():
        for loc in src.locations.values():
            assert (
                ns.location_id(src, loc)
                == netappoint.parse([{"location": loc.name, "dates": []}]).locations.popitem()[0]
            )
