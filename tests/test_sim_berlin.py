"""berlin: the fake service.berlin.de serves the real markup; its scrape equals the truth."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from office_schedule.catalog import Source
from office_schedule.errors import BlockedError
from office_schedule.families import berlin, check_empty, resolve_politeness
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld

from .test_family_berlin import CALENDAR_2022, TIME_2022, real

FAST = Politeness(min_gap=0, attempts=1, timeout=5)
HOSTS = ("127.0.0.1", "127.0.0.2")
#: a month end, so that the calendar's second month is needed
MONTH_END = datetime(2021, 7, 26, 9, 30)


def run(source: Source, now: datetime, weeks: int = 4, **params):
    if params:
        source = Source(
            id=source.id,
            name=source.name,
            family=source.family,
            index_url=source.index_url,
            params={**source.params, **params},
        )

    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await berlin.scrape(source, fetcher.session(), weeks, now)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def book_out(world: SimWorld, sid: str, lid: str, days: int) -> None:
    """Mark every slot of ``days`` days from now booked (a frozen world keeps it so)."""
    loc = world.sources[sid].locations[lid]
    first = world.now().date()
    for i in range(days):
        loc.booked.update(loc.grid(first + timedelta(days=i)))


# ============================================================================ scrape == truth


@pytest.mark.parametrize(("seed", "start"), [(1, None), (3, None), (5, MONTH_END)])
def test_scrape_equals_truth_and_every_zero_has_a_marker(seed, start):
    world = SimWorld(seed=seed, families={"berlin": 2}, frozen=True, start=start)
    with SimServer(world, hosts=HOSTS) as srv:
        truth = world.truth(weeks=4)
        for source in srv.sources():
            raw = run(source, world.now())
            parsed = check_empty(berlin.parse(raw), "berlin")
            assert parsed.to_truth() == truth[source.id]
            assert all(loc.url and "/terminvereinbarung/termin/day/" in loc.url
                       for loc in parsed.locations.values())  # fmt: skip


def test_requests_per_snapshot():
    world = SimWorld(seed=1, families={"berlin": 2}, frozen=True)
    with SimServer(world, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw = run(source, world.now())
            opened = sum(len(o["days"]) for o in raw)
            # list + per office: office page, form GET, its redirect to the calendar, the
            # restart link for every office after the first (same session), one per open day
            assert len(srv.requests_for(source.id)) == 1 + 3 * len(raw) + len(raw) - 1 + opened
            restarts = [p for p in srv.requests_for(source.id) if berlin.RESTART_PATH in p]
            assert len(restarts) == len(raw) - 1


def test_office_with_nothing_bookable_is_the_taken_page():
    world = SimWorld(seed=3, families={"berlin": 2}, frozen=True)
    sid = "sim-berlin-02"
    lid = next(iter(world.sources[sid].locations))
    book_out(world, sid, lid, 70)
    with SimServer(world, hosts=HOSTS) as srv:
        (source,) = [s for s in srv.sources() if s.id == sid]
        raw = run(source, world.now())
        truth = world.truth(weeks=4)[sid]
        taken = [p for p in srv.requests_for(sid) if p.endswith(berlin.TAKEN_PATH)]
    parsed = check_empty(berlin.parse(raw))
    assert parsed.to_truth() == truth
    empty = [loc for loc in parsed.locations.values() if not loc.slots]
    assert [loc.empty for loc in empty] == [berlin.TAKEN_TITLE] and len(taken) == 1


def test_free_days_only_after_the_look_ahead_give_the_calendar_statement():
    world = SimWorld(seed=3, families={"berlin": 1}, frozen=True)
    (sid,) = world.sources
    lid = next(iter(world.sources[sid].locations))
    book_out(world, sid, lid, 8)
    with SimServer(world, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        raw = run(source, world.now(), weeks=1)
        truth = world.truth(weeks=1)[sid]
    parsed = check_empty(berlin.parse(raw))
    assert parsed.to_truth() == truth
    (office,) = [o for o in raw if not o["days"]]
    assert office["none_free"].startswith(berlin.DAY_FULL_TEXT)


# ============================================================================ the markup


def walk(world: SimWorld, book: tuple[str, str] | None = None) -> dict[str, str]:
    """The pages a person sees on the first simulated source, by step."""
    out = {}
    with SimServer(world, hosts=HOSTS[:1]) as srv:
        src = next(iter(world.sources.values()))
        base = srv.base_url(src.id)
        with httpx2.Client(follow_redirects=True) as client:
            out["offices"] = client.get(f"{base}/standorte/buergeraemter/").text
            listing = berlin.read_page(out["offices"])
            href = listing.details["offices"][0]["href"]
            answer = client.get(base + href)
            out["office"] = answer.text
            office = berlin.read_page(answer.text, str(answer.url))
            answer = client.get(office.details["form_url"], params=office.details["params"])
            out["calendar"] = answer.text
            calendar = berlin.read_page(answer.text, str(answer.url))
            if calendar.days:
                out["time"] = client.get(calendar.details["links"][calendar.days[0]]).text
            out["taken"] = client.get(f"{base}{berlin.TAKEN_PATH}").text
    return out


@pytest.fixture(scope="module")
def sim_pages() -> dict[str, str]:
    # late in a month: past days are booked out, as on the real page
    return walk(SimWorld(seed=1, families={"berlin": 1}, frozen=True, start=MONTH_END))


@pytest.mark.parametrize(
    ("step", "real_name"),
    [("calendar", "Day.html"), ("calendar", CALENDAR_2022), ("time", TIME_2022)]
    + [("taken", "Taken.html")],
)
def test_sim_page_is_read_by_the_reader_of_the_real_page(sim_pages, step, real_name, shared_dir):
    mine, theirs = berlin.read_page(sim_pages[step]), berlin.read_page(real(real_name))
    assert (mine.page, mine.reader) == (theirs.page, theirs.reader)
    assert mine.slots or mine.days or mine.marker


#: the path from the document to what the reader uses, as on the real pages
PATHS = {
    ("calendar", "Day.html"): [
        "body#dayselect div.zms div.collapsible-body div.calendar-table div.row-fluid "
        "div.calendar-month-table.span6 table thead tr.controll th.month[colspan='5']",
        "div.calendar-month-table table tbody tr.dayname th[aria-label]",
        "div.calendar-month-table table + table tbody tr td.buchbar > a[tabindex][aria-label]"
        "[title][href^='http']",
        "div.calendar-month-table td.nichtbuchbar[tabindex][aria-label][title]",
        "div.calendar-month-table td[class=''][aria-label][title]",
        "div.calendar-legend span.legend-element span.legend-color.nichtbuchbar",
        "div.zms div.collapsible-group div.collapsible-heading div.collapsible-toggle "
        "div.collapsible-title",
    ],
    ("time", TIME_2022): [
        "body#timeselect div.zms div.calendar-table div.timetable table tbody tr th.buchbar[style]",
        "div.timetable table tbody tr th.buchbar + td.frei > a[href^='/'][title][tabindex]",
        "div.zms div.collapsible-group.closed div.collapsible-description",
    ],
    ("taken", "Taken.html"): [
        "body#taken div.zms div.taken-esi div.herounit-article h1.title",
        "div.zms form[method='GET'] input[type='hidden'][name='providerList']",
        "div.zms form[method='GET'] input[type='hidden'][name='requestList']",
    ],
}


@pytest.mark.parametrize(("step", "real_name"), sorted(PATHS))
def test_sim_markup_follows_the_real_page(sim_pages, step, real_name, shared_dir):
    mine, theirs = HTMLParser(sim_pages[step]), HTMLParser(real(real_name))
    for selector in PATHS[(step, real_name)]:
        assert theirs.css_first(selector) is not None, selector
        assert mine.css_first(selector) is not None, selector
    title = theirs.css_first("title").text(strip=True)
    shape = title.split(" - ", 1)[0]
    assert mine.css_first("title").text(strip=True).startswith(shape)


def test_sim_time_rows_are_shaped_like_the_real_row(sim_pages, shared_dir):
    def row(text: str) -> tuple:
        doc = HTMLParser(text)
        first = doc.css_first("div.timetable tr")
        head, link = first.css_first("th"), first.css_first("td.frei a")
        return (
            sorted(head.attributes),
            sorted(link.attributes),
            link.attributes["title"],
            len(berlin.read_page(text).details["rows"][0]["epoch"]),
        )

    assert row(sim_pages["time"]) == row(real(TIME_2022))


def test_other_sim_pages_are_read():
    pages = walk(SimWorld(seed=1, families={"berlin": 1}, frozen=True))
    assert berlin.read_page(pages["offices"]).reader == "berlin.office-list"
    assert berlin.read_page(pages["office"]).reader == "berlin.office-page"


# ============================================================================ faults


def fault_run(mode: str, **params):
    world = SimWorld(seed=1, families={"berlin": 1}, frozen=True)
    (sid,) = world.sources
    with SimServer(world, hosts=HOSTS, faults={sid: mode}) as srv:
        (source,) = srv.sources()
        with pytest.raises(BlockedError) as info:
            run(source, world.now(), **params)
        return info.value, srv.requests_for(sid)


def test_429_stops_at_the_first_request():
    error, requests = fault_run("throttle")
    assert "HTTP 429" in str(error) and len(requests) == 1


def test_throttle_page_stops_at_once():
    error, requests = fault_run("throttle200")
    assert berlin.THROTTLE_TEXT in str(error) and "/standort/" in error.url
    assert len(requests) == 2 and "/standort/" in requests[1]


def test_captcha_stops_at_once_and_the_host_sees_one_request_at_a_time():
    world = SimWorld(seed=1, families={"berlin": 1}, frozen=True)
    (sid,) = world.sources
    with SimServer(world, hosts=HOSTS, faults={sid: "captcha"}) as srv:
        (source,) = srv.sources()
        # the family's one lane stays; the 3 s gap is shortened for the test
        base, hosts = resolve_politeness([source], {"min_gap": 0.3}, defaults=FAST)

        async def go():
            async with Fetcher(base, host_overrides=hosts) as fetcher:
                return await berlin.scrape(source, fetcher.session(), 4, world.now())

        with pytest.raises(BlockedError, match="captcha"):
            asyncio.run(go())
        requests = srv.requests_for(sid)
        most, gap = srv.pace(srv.assignment[sid])
    assert len(requests) == 3 and "tag.php" in requests[2]
    assert most == 1 and gap >= 0.3 * 0.95
