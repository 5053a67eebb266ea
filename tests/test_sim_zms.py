"""The simulated ZMS citizen API: the real scraper against the fake server on loopback."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import check_empty, resolve_politeness, zms
from office_schedule.families.zms import protocol
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import zms_server as zs
from office_schedule.sweep import snapshot_source

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = Politeness(min_gap=0, attempts=1, timeout=5)


def world(seed: int = 1, n: int = 3, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={"zms": n}, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, politeness: Politeness = FAST):
    async def go():
        async with Fetcher(politeness) as fetcher:
            return await zms.scrape(source, fetcher.session(), weeks, now)

    return asyncio.run(go())


def requests(srv, source) -> list[tuple[str, dict[str, str]]]:
    out = []
    for path in srv.requests_for(source.id):
        split = urlsplit(path)
        endpoint = split.path.split("/api/", 1)[1].split("/", 1)[1]
        out.append((endpoint, dict(parse_qsl(split.query, keep_blank_values=True))))
    return out


def bookable_days(w: SimWorld, src, weeks: int = WEEKS) -> list[set[date]]:
    """Per location the days of the scrape's range with a published free slot."""
    now = w.now()
    days = zs.truth_days(now, weeks)
    return [
        {d for d in days if w.published_day(src, loc.id, d, now)} for loc in src.locations.values()
    ]


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_scrape_equals_truth_in_every_generation(seed):
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        seen = set()
        for source in srv.sources():
            src = w.sources[source.id]
            raw = scrape(source, w.now())
            assert raw["api"] == zs.generation(src)
            seen.add(raw["api"])
            parsed = check_empty(zms.parse(raw), "zms")
            assert parsed.to_truth() == truth[source.id], source.id
            assert parsed.slot_count > 0
            names = {loc.id: loc.name for loc in parsed.locations.values()}
            assert names == {zs.office_of(loc): loc.name for loc in src.locations.values()}
            service = zs.queried(src).title
            assert all(loc.services == (service,) for loc in parsed.locations.values())
    assert seen == set(protocol.GENERATIONS)


def test_request_count_per_snapshot_and_the_captcha_office_is_never_asked():
    """calendar: 1 + max(1, N); by-office: 3 + N; backend: 3 + sum over offices (1 + N_o),
    N = bookable days of the range (any office), N_o = those of office o."""
    w = world(3)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            src = w.sources[source.id]
            raw = scrape(source, w.now())
            log = requests(srv, source)
            per_office = bookable_days(w, src)
            union = set().union(*per_office)
            expected = {
                "calendar": 1 + max(1, len(union)),
                "by-office": 3 + len(union),
                "backend": 3 + sum(1 + len(days) for days in per_office),
            }[raw["api"]]
            assert len(log) == expected, (raw["api"], log)
            assert log[0] == (protocol.CATALOGUE, {})
            captcha = zs.captcha_office(src)
            assert raw["captcha"] == [
                {"id": captcha, "name": zs.CAPTCHA_OFFICE_NAME, "status": protocol.CAPTCHA_STATUS}
            ]
            for _, query in log:
                for key in ("officeIds", "officeId"):
                    assert captcha not in query.get(key, "").split(",")


def test_calendar_requests_name_the_horizon_and_one_day_each():
    w = world(4, n=1)
    (src,) = w.sources.values()
    assert zs.generation(src) == "calendar"
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        scrape(source, w.now())
        log = requests(srv, source)
    today = w.now().date()
    end = today + timedelta(days=7 * WEEKS)
    offices = ",".join(sorted(zs.office_of(loc) for loc in src.locations.values()))
    first = log[1][1]
    assert first == {
        "startDate": today.isoformat(),
        "endDate": end.isoformat(),
        "officeIds": offices,
        "serviceIds": zs.service_of(zs.queried(src)),
        "serviceCounts": "1",
    }
    days = [q["slotsStartDate"] for _, q in log[2:]]
    assert all(q["slotsStartDate"] == q["slotsEndDate"] for _, q in log[2:])
    assert len(days) == len(set(days)) and days == sorted(days)
    assert all({k: q[k] for k in first} == first for _, q in log[2:])


@pytest.mark.parametrize(
    ("fault", "error", "message", "count"),
    [
        ("ratelimit", "BlockedError", "HTTP 429", 1),
        ("blacklist", "BlockedError", "HTTP 403", 1),
        ("maintenance", "ScrapeError", "under maintenance.*serviceUnavailable.*HTTP 503", 1),
        ("captcha", "BlockedError", r"refuses us: Missing captcha token. \(captchaMissing\)", 2),
        ("blank", "PageError", "unrecognised page: an empty page", 2),
    ],
)
def test_every_fault_is_a_stored_error_with_a_clear_message(store, fault, error, message, count):
    w = SimWorld(seed=1, families={"zms": 1})
    (sid,) = w.sources
    with SimServer(w, hosts=HOSTS, faults={sid: fault}) as srv:
        (source,) = srv.sources()

        async def go():
            async with Fetcher(FAST) as fetcher:
                return await snapshot_source(source, fetcher, store, weeks=1)

        result = asyncio.run(go())
        assert len(srv.requests_for(sid)) == count  # stops at the first such answer
    (record,) = store.snapshots(sid)
    assert record.status == "error" and record.error_class == error
    assert re.search(message, record.error_message), record.error_message
    assert record.error_url and result.status == "error"


def test_every_office_behind_a_captcha_is_a_blocked_error_without_any_availability_request():
    w = world(1, n=1)
    (src,) = w.sources.values()
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        captcha = zs.captcha_office(src)
        source.params["office_ids"] = captcha
        with pytest.raises(BlockedError, match=f"requires a captcha \\({captcha}\\)"):
            scrape(source, w.now())
        assert [e for e, _ in requests(srv, source)] == [protocol.CATALOGUE]


def test_an_office_that_does_not_offer_the_service_is_a_catalog_error():
    w = world(1, n=1)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        source.params["office_ids"] = "99"
        with pytest.raises(ScrapeError, match="office_ids 99 do not offer service"):
            scrape(source, w.now())


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_is_stated_for_every_office(weeks):
    """A Saturday evening: with a short horizon most offices have nothing free."""
    w = world(2, start=datetime(2021, 7, 17, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            raw = scrape(source, w.now(), weeks)
            parsed = check_empty(zms.parse(raw), "zms")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                assert loc.url.startswith(source.params["base_url"] + "/available")
                empties += not loc.slots
                if not loc.slots and raw["api"] == "backend":
                    assert protocol.BACKEND_NONE_MESSAGE in loc.empty
        assert empties > 0 or weeks > 0


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            parsed = check_empty(zms.parse(scrape(source, w.now())), "zms")
            assert parsed.slot_count > 0


def test_the_declared_politeness_holds_at_the_fake_server():
    """One request at a time and >= 1.2 s between them (< 60 per minute), as the host saw
    it, over a scrape run with the politeness ``resolve_politeness`` gives the source."""
    assert zms.FAMILY.politeness["per_host_concurrency"] == 1
    assert 60 / zms.FAMILY.politeness["min_gap"] < 60
    w = world(7, n=1, start=datetime(2021, 7, 16, 14, 0))  # a Friday: few bookable days
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        base, hosts = resolve_politeness([source], defaults=FAST)
        policy = hosts[source.host]
        assert (policy.per_host_concurrency, policy.min_gap) == (1, 1.2)

        async def go():
            async with Fetcher(base, host_overrides=hosts) as fetcher:
                return await zms.scrape(source, fetcher.session(), 1, w.now())

        zms.parse(asyncio.run(go()))
        most, gap = srv.pace(srv.assignment[source.id])
        assert len(srv.requests_for(source.id)) >= 3
    assert most == 1 and gap >= 1.2 * 0.95
