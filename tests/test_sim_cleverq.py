"""The simulated cleverQ sites: the real scraper against the fake server on loopback."""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import check_empty, cleverq, resolve_politeness
from office_schedule.families.cleverq import pages as cp
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import cleverq_server as cs

from .familytools import SIM_FAST, loop_scrape, sim_world

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = SIM_FAST


def world(seed: int, n: int = 3, **kw) -> SimWorld:
    return sim_world("cleverq", n, seed, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, base=FAST, hosts=None) -> dict:
    return loop_scrape(cleverq, source, now, weeks, base, hosts)


def queries(paths: list[str], endpoint: str) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(urlsplit(p).query, keep_blank_values=True))
        for p in paths
        if urlsplit(p).path.endswith(endpoint)
    ]


@pytest.mark.parametrize("seed", [1, 3, 8])
def test_scrape_equals_truth(seed):
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            parsed = check_empty(cleverq.parse(scrape(source, w.now())), "cleverq")
            assert parsed.to_truth() == truth[source.id], source.id
            assert parsed.slot_count > 0
            src = w.sources[source.id]
            assert set(parsed.locations) == {str(cs.service_id(x)) for x in src.locations.values()}


def test_request_count_is_two_plus_one_per_service_plus_open_days():
    w = world(2)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            scrape(source, w.now())
            paths = srv.requests_for(source.id)
            open_days = sum(len({s[:10] for s in slots}) for slots in truth[source.id].values())
            services = len(w.sources[source.id].locations)
            assert len(paths) == 2 + services + open_days, source.id
            assert urlsplit(paths[0]).path.endswith("/index.html")
            assert urlsplit(paths[1]).path.endswith(cp.SITE_INFO_PATH)


def test_requests_carry_the_documented_parameters():
    w = world(5, n=1)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        slug = cs.slug(w.sources[source.id])
        assert source.index_url.endswith(f"/public/appointments/{slug}/index.html?lang=de")
        scrape(source, w.now())
        paths = srv.requests_for(source.id)
    today = w.now().date().isoformat()
    days = queries(paths, "/available_days")
    assert days and all(q["from_day"] == today and q["mode_active"] == "false" for q in days)
    times = queries(paths, "/available_time_slots")
    assert times and all(q["show_all"] == "true" for q in times)
    for q in days + times:
        item = json.loads(q[cp.SUBTASK_PARAM])
        assert set(item) == {"subtask_id", "number"} and item["number"] == 1
        assert len(q[cp.SESSION_KEY]) > 15
    (info,) = queries(paths, "/sites/info")
    assert info == {"site_url_name": cs.slug(w.sources[source.id]), "locale": "de"}


def test_only_the_catalogs_services_are_read():
    w = world(2, n=2)
    with SimServer(w, hosts=HOSTS) as srv:
        source = max(srv.sources(), key=lambda s: len(w.sources[s.id].locations))
        ids = [str(cs.service_id(x)) for x in w.sources[source.id].locations.values()]
        one = type(source)(**{**source.__dict__, "params": {"services": ids[-1]}})
        assert set(cleverq.parse(scrape(one, w.now())).locations) == {ids[-1]}
        bad = type(source)(**{**source.__dict__, "params": {"services": "1"}})
        with pytest.raises(ScrapeError, match="lists no service 1"):
            scrape(bad, w.now())


@pytest.mark.parametrize("weeks", [0, 1])
def test_nothing_free_is_stated_for_every_service(weeks):
    """A Saturday evening: with a short horizon the day lists are empty."""
    w = world(2, start=datetime(2021, 7, 17, 19, 0))
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=weeks)
        empties = 0
        for source in srv.sources():
            parsed = check_empty(cleverq.parse(scrape(source, w.now(), weeks)), "cleverq")
            assert parsed.to_truth() == truth[source.id]
            for loc in parsed.locations.values():
                assert bool(loc.slots) != bool(loc.empty), loc
                assert "/appointments/available_" in loc.url
                empties += not loc.slots
        assert empties > 0 or weeks > 0


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            assert cleverq.parse(scrape(source, w.now())).slot_count > 0


def fault_run(mode: str):
    w = world(4, n=2)
    sid = next(iter(w.sources))
    with SimServer(w, hosts=HOSTS, faults={sid: mode}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        try:
            return scrape(source, w.now()), srv.requests_for(sid), w, source
        except ScrapeError as exc:
            return exc, srv.requests_for(sid), w, source


def test_an_expired_session_is_replaced_once():
    raw, paths, w, source = fault_run("expired-once")
    assert isinstance(raw, dict)
    truth = w.truth(weeks=WEEKS)[source.id]
    assert cleverq.parse(raw).to_truth() == truth
    indexes = [p for p in paths if "/index.html" in p]
    assert len(indexes) == 2
    open_days = sum(len({s[:10] for s in v}) for v in truth.values())
    # the expired answer is asked again with the fresh session
    assert len(paths) == 2 + len(truth) + open_days + 2


@pytest.mark.parametrize(
    ("mode", "kind", "message", "requests"),
    [
        ("expired", ScrapeError, r"expired again after a fresh one \(error 1012\)", 5),
        ("forbidden", BlockedError, r"HTTP 403 .* \(also with a fresh session\)", 5),
        ("throttle", BlockedError, r"HTTP 429", 3),
        ("maintenance", ScrapeError, r"unrecognised page: page titled 'Wartungsarbeiten'", 3),
    ],
)
def test_fault_pages_give_clear_errors(mode, kind, message, requests):
    error, paths, _, _ = fault_run(mode)
    assert isinstance(error, kind), error
    assert error.__class__ is not ScrapeError or kind is ScrapeError
    assert len(paths) == requests
    assert "/appointments/available_days" in (error.url or "")
    assert re.search(message, str(error)), str(error)


def test_a_wrong_subtask_is_an_error_naming_it_never_fully_booked():
    error, paths, w, source = fault_run("wrong-subtask")
    assert isinstance(error, ScrapeError)
    loc = next(iter(w.sources[source.id].locations.values()))
    phantom = cs.phantom(loc)
    assert f"subtask {phantom['id']} ({cs.PHANTOM_NAME!r}) is probably wrong" in str(error)
    assert "available 0 for every slot" in str(error)
    # it reported more days open than the real subtask would (every opening day)
    real = {s[:10] for s in w.truth(weeks=WEEKS)[source.id][str(cs.service_id(loc))]}
    asked = queries(paths, "/available_time_slots")
    assert len(asked) >= len(real) > 0


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


def test_a_day_booked_between_the_two_requests_is_no_error(monkeypatch):
    """Next to days with free slots an all-zero open day was booked meanwhile."""
    w = world(3, n=1)
    real = cs.time_slots
    zeroed = []

    def booked_out(world_, src, loc, known, day):
        answer = real(world_, src, loc, known, day)
        if not zeroed:
            zeroed.append(day.isoformat())
            for slot in answer["available_time_slots"]:
                slot["available"] = 0
        return answer

    monkeypatch.setattr(cs, "time_slots", booked_out)
    with SimServer(w, hosts=HOSTS) as srv:
        (source,) = srv.sources()
        raw = scrape(source, w.now())
    truth = w.truth(weeks=WEEKS)[source.id]
    parsed = cleverq.parse(raw).to_truth()
    first = next(e for e in raw["services"] if e.get("booked_meanwhile"))
    assert first["booked_meanwhile"] == zeroed
    lost = {k: [s for s in v if s[:10] != zeroed[0]] for k, v in truth.items()}
    assert parsed[first["id"]] == lost[first["id"]]
