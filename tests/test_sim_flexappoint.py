"""The simulated flexappoint tenants: the real scraper against the fake server on loopback."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import check_empty, flexappoint, resolve_politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import flexappoint_server as fs

from .familytools import SIM_FAST, loop_scrape, sim_world

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = SIM_FAST


def world(seed: int, n: int = 3, **kw) -> SimWorld:
    return sim_world("flexappoint", n, seed, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, base=FAST, hosts=None) -> dict:
    return loop_scrape(flexappoint, source, now, weeks, base, hosts)


def months(now: datetime, weeks: int) -> int:
    first, last = now.date(), now.date() + timedelta(days=7 * weeks)
    return (last.year - first.year) * 12 + last.month - first.month + 1


@pytest.mark.parametrize("seed", [1, 3, 7])
def test_scrape_equals_truth(seed):
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            parsed = check_empty(flexappoint.parse(scrape(source, w.now())), "flexappoint")
            assert parsed.to_truth() == truth[source.id], source.id
            assert parsed.slot_count > 0
            assert set(parsed.locations) == set(w.sources[source.id].locations)


def test_request_count_is_months_plus_days_with_times_per_department():
    w = world(2)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            scrape(source, w.now())
            paths = srv.requests_for(source.id)
            per_dep = [
                months(w.now(), WEEKS) + len({s[:10] for s in v}) for v in truth[source.id].values()
            ]
            assert len(paths) == sum(per_dep), source.id


def test_requests_carry_the_documented_parameters_and_header():
    w = world(5, n=1)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        src = w.sources[source.id]
        assert source.index_url == srv.base_url(source.id) + "/#/"
        pairs = flexappoint.departments(source)
        assert pairs == [(x.id, fs.service_id(src, x)) for x in src.locations.values()]
        scrape(source, w.now())
        paths = srv.requests_for(source.id)
        dep, svc = pairs[0]
        plain = httpx2.get(
            srv.base_url(source.id) + flexappoint.TIMES_PATH,
            params=flexappoint.times_query(dep, svc, w.now().date().isoformat()),
        )
    first = dict(parse_qsl(urlsplit(paths[0]).query))
    assert urlsplit(paths[0]).path.endswith(flexappoint.DISABLED_PATH)
    assert first == {
        "departmentId": dep,
        "year": str(w.now().year),
        "month": str(w.now().month),
        "format": "Y-m-d",
        "services[0][id]": svc,
        "services[0][count]": "1",
    }
    day = dict(parse_qsl(urlsplit(paths[months(w.now(), WEEKS)]).query))
    assert set(day) == {"departmentId", "date", "service[0][id]", "service[0][count]"}
    # without the AJAX header the server answers the app's HTML shell, which no reader reads
    assert plain.headers["content-type"].startswith("text/html")
    with pytest.raises(ScrapeError, match="not a flexappoint API answer"):
        flexappoint.read_page(plain.text, str(plain.url))


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_is_stated_for_every_department(weeks):
    """A Saturday evening: with a short horizon every department has nothing free."""
    w = world(2, start=datetime(2021, 7, 17, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            parsed = check_empty(flexappoint.parse(scrape(source, w.now(), weeks)), "flexappoint")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                assert "/api/available-times" in loc.url
                empties += not loc.slots
        assert empties > 0 or weeks > 0


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            assert flexappoint.parse(scrape(source, w.now())).slot_count > 0


@pytest.mark.parametrize(
    ("mode", "kind", "message"),
    [
        ("throttle", BlockedError, r"HTTP 429"),
        ("refused", ScrapeError, r"the API says 'Die Terminvergabe ist derzeit deaktiviert.'"),
        ("maintenance", ScrapeError, r"unrecognised page: page titled 'Wartungsmodus'"),
    ],
)
def test_fault_pages_give_clear_errors(mode, kind, message):
    w = world(4, n=2)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: mode}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(kind) as info:
            scrape(source, w.now())
        assert len(srv.requests_for(sid)) == 1
        other = next(s for s in srv.sources() if s.id != sid)
        assert flexappoint.parse(scrape(other, w.now())).slot_count > 0
    assert re.search(message, str(info.value)), str(info.value)
    assert flexappoint.DISABLED_PATH in (info.value.url or "")


def test_politeness_holds_at_the_fake_server():
    w = world(3, n=1)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        # the family's single lane stays; its 1 s gap is shortened for the test
        base, hosts = resolve_politeness([source], {"min_gap": 0.2}, defaults=FAST)
        assert hosts[source.host].per_host_concurrency == 1
        scrape(source, w.now(), weeks=1, base=base, hosts=hosts)
        most, gap = srv.pace(srv.assignment[source.id])
        assert len(srv.requests_for(source.id)) > 3
    assert most == 1 and gap >= 0.2 * 0.95
    _, defaults = resolve_politeness([source])
    assert (defaults[source.host].per_host_concurrency, defaults[source.host].min_gap) == (1, 1.0)
