"""The simulated Qmatic tenants: the real scraper against the fake JSON API on loopback."""

from __future__ import annotations

from datetime import datetime

import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import check_empty, qmatic, resolve_politeness
from office_schedule.families.common import look_ahead_days
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import qmatic_server as qs

from .familytools import SIM_FAST, loop_scrape, sim_world

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = SIM_FAST


def world(seed: int, n: int = 3, **kw) -> SimWorld:
    return sim_world("qmatic", n, seed, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, base=FAST, hosts=None) -> dict:
    return loop_scrape(qmatic, source, now, weeks, base, hosts)


def with_params(source, **params):
    return type(source)(**{**source.__dict__, "params": {**source.params, **params}})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scrape_equals_truth(seed):
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            raw = scrape(source, w.now())
            parsed = check_empty(qmatic.parse(raw), "qmatic")
            assert parsed.to_truth() == truth[source.id], source.id
            src = w.sources[source.id]
            assert {loc.id: loc.name for loc in parsed.locations.values()} == {
                qs.location_id(src, loc): loc.name for loc in src.locations.values()
            }
            assert parsed.slot_count > 0


def test_request_count_and_paths():
    """1 (services) + S (branches per service) + B (dates per branch) + listed days."""
    w = world(4)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            src = w.sources[source.id]
            scrape(source, w.now())
            paths = srv.requests_for(source.id)
            horizon = set(look_ahead_days(w.now().date(), WEEKS))
            days = sum(
                len(set(qs._free_days(w, src, loc)) & horizon) for loc in src.locations.values()
            )
            n_services, n_branches = len(qs.services(src)), len(src.locations)
            assert len(paths) == 1 + n_services + n_branches + days, source.id
            prefix = f"/{source.id}/qmaticwebbooking/rest/schedule/"
            assert all(p.startswith(prefix) and "?" not in p for p in paths)
            assert paths[0] == prefix + "services"
            assert sum("/branches/available;servicePublicId=" in p for p in paths) == n_services
            assert all(";customSlotLength=" in p for p in paths if "/dates" in p)


def test_the_shortest_service_of_a_branch_is_asked_for():
    w = world(5)
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[1]
        src = w.sources[source.id]
        raw = scrape(source, w.now())
    for entry in raw["branches"]:
        offered = [d for s, d in qs.services(src) if d["publicId"] in entry["services"]]
        shortest = min(offered, key=lambda d: d["duration"])
        assert entry["slot_length"] == shortest["duration"]
        assert entry["service"] == shortest["publicId"]


def test_services_and_branches_parameters_narrow_the_walk():
    w = world(6)
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[0]
        src = w.sources[source.id]
        svc, data = qs.services(src)[0]
        narrow = with_params(source, services=data["publicId"].upper())
        parsed = qmatic.parse(scrape(narrow, w.now()))
        assert set(parsed.locations) == {qs.public_id(src, "branch", c) for c in qs.calendars(svc)}
        assert sum("/branches/available" in p for p in srv.requests_for(source.id)) == 1
        one = next(iter(parsed.locations))
        assert set(qmatic.parse(scrape(with_params(source, branches=one), w.now())).locations) == {
            one
        }
        with pytest.raises(ScrapeError, match="lists no service"):
            scrape(with_params(source, services="f" * 64), w.now())
        with pytest.raises(ScrapeError, match="not 64-hex"):
            scrape(with_params(source, branches="123"), w.now())


@pytest.mark.parametrize(
    ("fault", "error", "message", "where"),
    [
        ("closed", ScrapeError, r"catalogue lists no service \(tenant closed", "/services"),
        ("garbage", ScrapeError, "unrecognised page: page titled 'Wartungsarbeiten'", "/dates;"),
        ("throttle", BlockedError, "HTTP 429", "/dates;"),
        ("500", ScrapeError, "HTTP 500", "/services"),
    ],
)
def test_fault_pages_are_errors_with_a_clear_message(fault, error, message, where):
    w = world(7)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: fault}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(error, match=message) as info:
            scrape(source, w.now())
        assert where in (info.value.url or "")
        assert where in srv.requests_for(sid)[-1]  # the source stops at that answer
        other = next(s for s in srv.sources() if s.id != sid)
        assert qmatic.parse(scrape(other, w.now())).slot_count > 0


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_is_the_apis_empty_answer(weeks):
    """A Saturday evening: with a short horizon most branches have nothing free."""
    w = world(2, start=datetime(2026, 10, 3, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            parsed = check_empty(qmatic.parse(scrape(source, w.now(), weeks)), "qmatic")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                assert loc.url.startswith(srv.base_url(source.id) + "/qmaticwebbooking/rest/")
                if not loc.slots:
                    empties += 1
                    assert loc.empty.startswith((qmatic.NO_DATE, qmatic.NO_TIME))
        assert empties > 0 or weeks > 0


def test_running_world_scrapes_without_errors():
    w = world(8, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            assert check_empty(qmatic.parse(scrape(source, w.now())), "qmatic").slot_count > 0


def test_politeness_is_kept_at_the_fake_server():
    w = world(9, n=1)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        _, declared = resolve_politeness([source], defaults=FAST)
        assert declared[source.host].per_host_concurrency == 1
        assert declared[source.host].min_gap == 1.0
        # the family's one lane stays; its 1 s gap is shortened for the test
        base, hosts = resolve_politeness([source], {"min_gap": 0.2}, defaults=FAST)
        scrape(source, w.now(), weeks=1, base=base, hosts=hosts)
        most, gap = srv.pace(srv.assignment[source.id])
        assert len(srv.requests_for(source.id)) > 3
    assert most == 1 and gap >= 0.2 * 0.95
