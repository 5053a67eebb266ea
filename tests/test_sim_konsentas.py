"""The simulated Konsentas forms: the real scraper against the fake JSON API on loopback."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import check_empty, konsentas, resolve_politeness
from office_schedule.families.konsentas import pages as kp
from office_schedule.families.pages import PageError
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import konsentas_server as ks

from .familytools import SIM_FAST, loop_scrape, sim_world

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = SIM_FAST


def world(seed: int, n: int = 3, **kw) -> SimWorld:
    return sim_world("konsentas", n, seed, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, base=FAST, hosts=None) -> dict:
    return loop_scrape(konsentas, source, now, weeks, base, hosts)


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_scrape_equals_truth(seed):
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            parsed = check_empty(konsentas.parse(scrape(source, w.now())), "konsentas")
            assert parsed.to_truth() == truth[source.id], source.id
            assert parsed.slot_count > 0
            src = w.sources[source.id]
            assert len(parsed.locations) == len(src.locations)


def test_five_requests_per_choice_in_the_documented_order():
    w = world(4)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw = scrape(source, w.now())
            paths = srv.requests_for(source.id)
            assert len(paths) == 5 * len(raw["choices"]), source.id
            prefix = f"/{source.id}"
            for i in range(0, len(paths), 5):
                steps = [p.removeprefix(prefix).split("?")[0] for p in paths[i : i + 5]]
                assert steps == [
                    kp.STARTUP_PATH,
                    kp.NEXT_STEP_PATH,
                    kp.NEXT_STEP_PATH,
                    kp.FIRST_PATH,
                    kp.SLOTS_PATH,
                ]
            startup = paths[0].removeprefix(prefix)
            form = ks.form_id(w.sources[source.id])
            assert startup == kp.STARTUP_PATH + "?" + kp.STARTUP_QUERY.format(form=form)
            assert "?start=" in paths[4] and "&end=" in paths[4]


def test_choices_parameter_narrows_the_walk():
    w = world(3)
    with SimServer(w, hosts=HOSTS) as srv:
        source = next(s for s in srv.sources() if len(w.sources[s.id].locations) > 1)
        first = next(iter(ks.catalogue(w.sources[source.id])[1]))
        narrow = type(source)(**{**source.__dict__, "params": {**source.params, "choices": first}})
        assert set(konsentas.parse(scrape(narrow, w.now())).locations) == {first}
        assert len(srv.requests_for(source.id)) == 5
        wrong = type(source)(**{**source.__dict__, "params": {**source.params, "choices": "1_2"}})
        with pytest.raises(ScrapeError, match=r"lists no choice \['1_2'\]"):
            scrape(wrong, w.now())


@pytest.mark.parametrize(
    ("fault", "error", "message", "where"),
    [
        ("throttle", BlockedError, "HTTP 429", kp.STARTUP_PATH),
        ("expired", ScrapeError, f"process.: the API says code 1: {ks.EXPIRED_TEXT}", "NextStep"),
        ("refused", ScrapeError, f"{ks.REFUSED_TEXT} .{kp.UNVERIFIED}.", kp.SLOTS_PATH),
        ("shape", PageError, f"not the documented shape .{kp.UNVERIFIED}.", kp.SLOTS_PATH),
        ("closed", ScrapeError, r"the form offers no process \(form \d\)", kp.STARTUP_PATH),
        ("500", ScrapeError, "HTTP 500", kp.STARTUP_PATH),
    ],
)
def test_fault_pages_are_errors_with_a_clear_message(fault, error, message, where):
    w = world(5)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: fault}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        with pytest.raises(error, match=message) as info:
            scrape(source, w.now())
        assert where in (info.value.url or "")
        other = next(s for s in srv.sources() if s.id != sid)
        assert konsentas.parse(scrape(other, w.now())).slot_count > 0


def test_a_listing_without_the_first_timeslot_fails_the_guess(monkeypatch):
    w = world(6)
    real = ks._timeslots

    def without_first(world, src, loc, query, fault):
        data = json.loads(real(world, src, loc, query, fault).body)
        first = json.loads(ks._first(world, src, loc).body)["data"]["termin"]["recno"]
        data["data"]["termins"] = [t for t in data["data"]["termins"] if t["recno"] != first]
        return ks.json_reply(data)

    monkeypatch.setattr(ks, "_timeslots", without_first)
    with SimServer(w, hosts=HOSTS) as srv:
        with pytest.raises(PageError, match="lacks the first available timeslot") as info:
            scrape(srv.sources()[0], w.now())
    assert kp.UNVERIFIED in str(info.value) and kp.SLOTS_PATH in info.value.url


def test_no_first_timeslot_is_stored_with_that_statement(monkeypatch):
    w = world(7)
    monkeypatch.setattr(ks, "_first", lambda world, src, loc: ks.answer({"termin": None}))
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[0]
        parsed = check_empty(konsentas.parse(scrape(source, w.now())), "konsentas")
        assert len(srv.requests_for(source.id)) == 4 * len(parsed.locations)
    for loc in parsed.locations.values():
        assert loc.slots == () and loc.empty == kp.NO_TERMIN and kp.FIRST_PATH in loc.url


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_in_the_horizon_is_stated(weeks):
    """A Saturday evening: with a short horizon most choices have nothing free."""
    w = world(2, start=datetime(2026, 3, 28, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            parsed = check_empty(konsentas.parse(scrape(source, w.now(), weeks)), "konsentas")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                if not loc.slots:
                    empties += 1
                    assert loc.empty.startswith((kp.NO_TIMESLOT, kp.ALL_BOOKED))
                    assert kp.SLOTS_PATH in loc.url
        assert empties > 0 or weeks > 0


def test_running_world_scrapes_without_errors():
    w = world(8, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            assert check_empty(konsentas.parse(scrape(source, w.now())), "konsentas").slot_count


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
        assert len(srv.requests_for(source.id)) >= 5
    assert most == 1 and gap >= 0.2 * 0.95
