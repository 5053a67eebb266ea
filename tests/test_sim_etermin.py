"""The simulated eTermin accounts: the real scraper against the fake JSON API on loopback."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest

from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, etermin
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import etermin_server as es

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")


def world(seed: int, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={"etermin": 3}, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS) -> dict:
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=5))
        try:
            return await etermin.scrape(source, fetcher.session(), weeks, now)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_scrape_equals_truth(seed):
    """Both generations (every second source answers in the 2026 shapes)."""
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        sources = srv.sources()
        assert len(sources) == 3
        truth = w.truth(weeks=WEEKS)
        for source in sources:
            raw = scrape(source, w.now())
            parsed = etermin.parse(raw).to_truth()
            assert parsed == truth[source.id], source.id
            assert sum(len(v) for v in parsed.values()) > 0
            src = w.sources[source.id]
            assert set(parsed) == set(src.locations)
            names = {c["id"]: c["name"] for c in raw["calendars"]}
            assert names == {lid: loc.name for lid, loc in src.locations.items()}


def test_catalog_entry_and_request_shapes():
    w = world(5)
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[0]
        src = w.sources[source.id]
        base = srv.base_url(source.id)
        assert source.params == {"et_url": es.slug(src), "base_url": base}
        assert source.index_url == f"{base}/{es.slug(src)}"
        if not es.is_today(src):
            assert es.slug(src) != es.slug(src).lower()  # mixed case, webid is lower case
        scrape(source, w.now())
        paths = srv.requests_for(source.id)
    assert all(p.startswith(f"/{source.id}/api/") for p in paths)
    kinds = []
    for p in paths:
        split = urlsplit(p)
        q = dict(parse_qsl(split.query, keep_blank_values=True))
        kinds.append((split.path.rsplit("/", 1)[1], "rangesearch" in q))
    assert kinds[0] == ("servicegroupservice", False)
    assert kinds.count(("calendar", False)) == len(src.departments)
    # at most three month requests per (group, calendar)
    months = kinds.count(("timeslots", True))
    pairs = sum(len(es._service(src, str(c["sid"]))["calendars"]) for c in _chosen(src))
    assert pairs <= months <= 3 * pairs


def _chosen(src):
    """Per group the service the scraper picks (smallest positive duration, first wins)."""
    best = {}
    for entry in es.services_json(src):
        d = entry.get("duration")
        if "s" not in entry or not d:
            continue
        if entry["sgid"] not in best or d < best[entry["sgid"]]["duration"]:
            best[entry["sgid"]] = entry
    return list(best.values())


def test_services_have_differing_durations_and_chosen_covers_group():
    for seed in range(12):
        w = world(seed)
        for src in w.sources.values():
            entries = es.services_json(src)
            for dep in src.departments:
                group = [e for e in entries if e["sgid"] == es._group_id(dep) and "s" in e]
                positive = [e["duration"] for e in group if e.get("duration")]
                assert positive
                assert len(group) == 1 or len(set(positive)) > 1
            for entry in _chosen(src):
                svc = es._service(src, str(entry["sid"]))
                dep = next(d for d in src.departments if es._group_id(d) == entry["sgid"])
                union = set()
                for other in dep.services:
                    union.update(other.calendars or [other.hidden_calendar])
                assert set(svc["calendars"]) == union


def test_day_list_runs_to_month_end_and_honours_appfuture():
    w = world(3)
    src = next(iter(w.sources.values()))
    svc = _chosen(src)[0]
    cal = es._service(src, str(svc["sid"]))["calendars"][0]
    today = w.now().date()
    with SimServer(w, hosts=HOSTS) as srv:
        base = srv.base_url(src.id)
        headers = {"webid": es.webid(src)}
        query = {"date": today.isoformat(), "serviceid": str(svc["sid"]), "rangesearch": "1"}
        query.update({"capacity": "", "appfuture": "3", "calendarid": cal})
        days = httpx2.get(f"{base}/api/timeslots", params=query, headers=headers).json()
        assert days[0]["start"] == f"{today}T00:00:00"
        assert days[-1]["start"][:10] == es._month_end(today).isoformat()
        for day in days:
            d = date.fromisoformat(day["start"][:10])
            if (d - today).days > 3:
                assert day["available"] is False
        # a wrong webid finds no account
        bad = httpx2.get(f"{base}/api/timeslots", params=query, headers={"webid": "other"})
        assert bad.json() == []
        services = httpx2.get(
            f"{base}/api/servicegroupservice",
            params={"cache": "1", "w": es.slug(src), "vlang": "de"},
            headers={"webid": es.slug(src)},  # mixed case: not the webid
        )
        assert services.json() == []


@pytest.mark.parametrize("today", [date(2021, 1, 31), date(2021, 2, 1), date(2021, 7, 3)])
@pytest.mark.parametrize("weeks", [1, 4, 9, 13])
def test_truth_days_replay_the_month_walk(today, weeks):
    days = es.truth_days(datetime(today.year, today.month, today.day, 9), weeks)
    assert days[0] == today
    assert days == [today + timedelta(days=i) for i in range(len(days))]
    third = es._month_end(es._month_end(es._month_end(today) + timedelta(1)) + timedelta(1))
    assert days[-1] == min(today + timedelta(days=7 * weeks), third)


@pytest.mark.parametrize(
    ("fault", "message", "endpoint"),
    [
        ("closed", r"empty service list for simstadt\d\d \(account closed", "servicegroupservice"),
        ("garbage", r"unrecognised page: page titled 'Wartungsarbeiten'", "/api/timeslots?"),
    ],
)
def test_page_faults(fault, message, endpoint):
    w = world(4)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: fault}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(ScrapeError, match=message) as info:
            scrape(source, w.now())
        assert endpoint in (info.value.url or "")
        other = next(s for s in srv.sources() if s.id != sid)
        assert etermin.parse(scrape(other, w.now())).slot_count > 0


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            parsed = etermin.parse(scrape(source, w.now()))
            assert parsed.slot_count > 0


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_is_stated_for_every_calendar(weeks):
    """A Saturday evening: with a short horizon most calendars have nothing free."""
    w = world(2, start=datetime(2021, 7, 17, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            parsed = check_empty(etermin.parse(scrape(source, w.now(), weeks)), "etermin")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                assert loc.url.startswith(srv.base_url(source.id) + "/api/timeslots?")
                empties += not loc.slots
        assert empties > 0 or weeks > 0


def test_both_generations_are_served():
    w = world(1)
    with SimServer(w, hosts=HOSTS) as srv:
        generations = set()
        for source in srv.sources():
            src = w.sources[source.id]
            generations.add(es.is_today(src))
            scrape(source, w.now())
            slots = [p for p in srv.requests_for(source.id) if "&tz=" in p]
            assert slots, source.id
            base = srv.base_url(source.id)
            reply = httpx2.get(
                base + slots[0].split(source.id, 1)[1], headers={"webid": es.webid(src)}
            )
            first = reply.json()[0]
            assert (etermin.SLOT_KEY in first) == es.is_today(src)
            assert ("calendarid" in first) == (not es.is_today(src))
    assert generations == {True, False}
