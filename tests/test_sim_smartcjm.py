"""The simulated SmartCJM calendars: the real scraper against the fake wizard on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from werkzeug import Response

from office_schedule.catalog import Source
from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, resolve_politeness, smartcjm
from office_schedule.families.smartcjm import protocol as P
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import smartcjm_server as ss
from office_schedule.sweep import snapshot_source

from .familytools import ANY_PATH, sim_answer

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
FAST = Politeness(min_gap=0, attempts=2, timeout=5)


def world(seed: int, n: int = 4, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={"smartcjm": n}, **kw)


def scrape(source, now: datetime, weeks: int = WEEKS, politeness=FAST):
    async def go():
        async with Fetcher(politeness) as fetcher:
            session = fetcher.session()
            raw = await smartcjm.scrape(source, session, weeks, now)
            return raw, session.requests

    return asyncio.run(go())


def expected_requests(src, mode: str, asked: int) -> int:
    per_service = 2 if mode == P.EARLIEST_MODE else 1 + ss.has_locations(src)
    return 2 + asked * per_service


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scrape_equals_truth_and_the_request_count(seed):
    """Four sources: one location or several, both skins, the :8443 redirect, mode earliest."""
    w = world(seed)
    with SimServer(w, hosts=HOSTS) as srv:
        truth = w.truth(weeks=WEEKS)
        for source in srv.sources():
            src = w.sources[source.id]
            raw, requests = scrape(source, w.now())
            parsed = check_empty(smartcjm.parse(raw), "smartcjm")
            assert parsed.to_truth() == truth[source.id], source.id
            assert parsed.slot_count > 0
            mode = source.params.get("mode", "all")
            assert mode == (P.EARLIEST_MODE if ss.is_earliest(src) else "all")
            assert len(raw["searches"]) == len(ss.services(src))
            assert requests == expected_requests(src, mode, len(ss.services(src)))
            assert len(srv.requests_for(source.id)) == requests
            for loc in src.locations.values():
                found = parsed.locations.get(ss.location_id(src, loc))
                assert found is None or found.name == loc.name


def test_backend_port_redirect_is_followed_on_our_port():
    w = world(5, n=2)
    src = w.sources["sim-smartcjm-02"]
    with SimServer(w, hosts=HOSTS[:1]) as srv:
        source = next(s for s in srv.sources() if s.id == src.id)
        reply = sim_answer(ss, w, src, "GET", ss.calendar_path(src) + "/",
                           query={"uid": ss.calendar_uid(src)}, host="127.0.0.1:1234")  # fmt: skip
        assert reply.headers["Location"].startswith(f"http://127.0.0.1:{P.BACKEND_PORT}/")
        raw, _ = scrape(source, w.now())
        assert smartcjm.parse(raw).to_truth() == w.truth(weeks=WEEKS)[src.id]
        assert all(search["url"].startswith(srv.base_url(src.id)) for search in raw["searches"])


def test_form_bodies_post_exactly_one_service_and_every_location(httpserver):
    """The POST bodies as the server receives them (repeated keys kept)."""
    w = world(2)
    src = next(s for s in w.sources.values() if ss.has_locations(s) and not ss.is_earliest(s))
    forms: list[tuple[str, dict]] = []

    def handler(request) -> Response:
        path = request.path.removeprefix(f"/{src.id}")
        if request.method == "POST":
            forms.append((request.args.get("rev", ""), request.form.to_dict(flat=False)))
        reply = sim_answer(ss, w, src, request.method, path, query=request.args,
                           form=request.form, host=request.host)  # fmt: skip
        return Response(reply.body, status=reply.status, content_type=reply.content_type,
                        headers=reply.headers)  # fmt: skip

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)
    _, params = ss.catalog_entry(src, httpserver.url_for(f"/{src.id}").rstrip("/"))
    source = Source(id=src.id, name="x", family="smartcjm", index_url="", params=params)
    scrape(source, w.now())
    services = [uid for uid, _ in ss.services(src)]
    steps = "".join(ss.steps(src))
    assert len(forms) == 2 * len(services)
    for i, (rev, body) in enumerate(forms):
        assert rev and body[P.TOKEN_FIELD][0] and body["steps"] == [steps]
        assert body["step_goto"] == [P.GOTO_NEXT]
        if i % 2 == 0:
            service = services[i // 2]
            assert body["step_current"] == [P.STEP_SERVICES] and body["action_type"] == [""]
            assert body[P.SERVICES_FIELD] == ["", service]
            assert [k for k in body if k.endswith("_amount")] == [P.amount_field(service)]
        else:
            svc = dict(ss.services(src))[services[i // 2]]
            assert body["step_current"] == [P.STEP_LOCATIONS]
            assert body["action_type"] == [P.ACTION_SEARCH]
            assert body[P.LOCATIONS_ALL_FIELD] == ["1"]
            assert body[P.LOCATIONS_FIELD] == [
                ss.location_id(src, src.locations[lid]) for lid in ss.served(svc)
            ]


def test_services_parameter_asks_only_those():
    w = world(3)
    with SimServer(w, hosts=HOSTS) as srv:
        source = srv.sources()[1]
        src = w.sources[source.id]
        first = ss.services(src)[0][0]
        only = dataclasses.replace(source, params={**source.params, "services": first})
        raw, requests = scrape(only, w.now())
        assert [s["service"] for s in raw["searches"]] == [first]
        assert requests == expected_requests(src, "all", 1)
        bad = dataclasses.replace(source, params={**source.params, "services": "nope"})
        with pytest.raises(ScrapeError, match="service nope is not offered"):
            scrape(bad, w.now())


def fault_run(fault: str, store, politeness=FAST):
    w = world(3, n=2)
    sid = "sim-smartcjm-02"
    with SimServer(w, hosts=HOSTS[:1], faults={sid: fault}) as srv:
        source = next(s for s in srv.sources() if s.id == sid)

        async def go():
            async with Fetcher(politeness) as fetcher:
                return await snapshot_source(source, fetcher, store, WEEKS)

        result = asyncio.run(go())
        return result, srv.requests_for(sid), w, srv


def test_expired_session_gets_one_fresh_wsid_then_a_stored_error(store):
    result, requests, _, _ = fault_run("expired", store)
    assert result.error.startswith("ScrapeError: smartcjm: the site ended the session: ")
    assert P.SESSION_EXPIRED_HEADING in result.error and "again, after a fresh wsid" in result.error
    starts = [p for p in requests if "wsid=" not in p and "?uid=" in p]
    assert len(starts) == 2 and len(requests) == 6  # (start, services, POST) twice


def test_session_expiring_once_is_restarted_and_complete(store):
    result, requests, w, _ = fault_run("expireonce", store)
    assert result.error is None and result.slots == sum(
        map(len, w.truth(weeks=WEEKS)["sim-smartcjm-02"].values())
    )
    src = w.sources["sim-smartcjm-02"]
    assert len(requests) == expected_requests(src, "all", len(ss.services(src))) + 3


def test_cloudflare_429_is_waited_out_once_then_the_source_stops(store):
    result, requests, _, srv = fault_run("throttle", store)
    assert result.error.startswith("BlockedError: smartcjm: HTTP 429")
    assert "Cloudflare" in result.error and len(requests) == 4
    arrivals = sorted(t[1] for t in srv.timeline)
    assert arrivals[3] - arrivals[2] >= float(ss.RETRY_AFTER) * 0.95  # Retry-After honoured


def test_cloudflare_block_page_stops_at_once(store):
    result, requests, _, _ = fault_run("cfblock", store)
    assert result.error.startswith("BlockedError: smartcjm: HTTP 403") and len(requests) == 1


def test_garbled_results_page_is_a_stored_page_error(store):
    result, _, _, _ = fault_run("garbage", store)
    assert result.error.startswith("PageError: smartcjm: results page without any")
    assert result.error_url and "wsid=" in result.error_url


def test_nothing_free_everywhere_is_stored_with_the_sites_marker(store):
    result, requests, _, _ = fault_run("empty", store)
    assert result.error is None and result.slots == 0 and result.locations == 0
    (record,) = store.snapshots("sim-smartcjm-02")
    assert record.status == "ok" and record.requests == len(requests)
    assert smartcjm.parse(store.raw_payload(record.id)).empty == P.NONE_FREE


def test_idle_session_expires_after_twenty_minutes():
    w = world(4, n=1, frozen=False, speed=1.0)
    (src,) = w.sources.values()
    base = ss.calendar_path(src) + "/"
    reply = sim_answer(ss, w, src, "GET", base, query={"uid": ss.calendar_uid(src)})
    query = dict(parse_qsl(urlsplit(reply.headers["Location"]).query))
    fresh = sim_answer(ss, w, src, "GET", base, query=query).body.decode()
    assert smartcjm.read_page(fresh).page == "services"
    w.advance_to(w.now() + timedelta(minutes=P.SESSION_IDLE_MINUTES + 1))
    late = smartcjm.read_page(sim_answer(ss, w, src, "GET", base, query=query).body.decode())
    assert late.page == "error-page" and late.error.startswith(P.SESSION_EXPIRED_HEADING)


def test_politeness_one_request_at_a_time_with_the_gap():
    w = world(6, n=4)
    with SimServer(w, hosts=HOSTS[:1]) as srv:
        sources = srv.sources()[:2]
        base, hosts = resolve_politeness(sources)
        (host,) = {s.host for s in sources}
        assert hosts[host].per_host_concurrency == 1 and hosts[host].min_gap == 5.0
        assert hosts[host].attempts == 2
        # the family's one lane stays; its 5 s gap is shortened for the test
        base, hosts = resolve_politeness(sources, {"min_gap": 0.3}, defaults=FAST)
        first = {s.id: ss.services(w.sources[s.id])[0][0] for s in sources}
        one = [
            dataclasses.replace(s, params={**s.params, "services": first[s.id]}) for s in sources
        ]

        async def go():
            async with Fetcher(base, host_overrides=hosts) as fetcher:
                jobs = [smartcjm.scrape(s, fetcher.session(), WEEKS, w.now()) for s in one]
                return await asyncio.gather(*jobs)

        raws = asyncio.run(go())
        most, gap = srv.pace(srv.assignment[sources[0].id])
    assert all(smartcjm.parse(raw).slot_count for raw in raws)
    assert most == 1 and gap >= 0.3 * 0.95


def test_running_world_scrapes_without_errors():
    w = world(7, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw, _ = scrape(source, w.now())
            assert check_empty(smartcjm.parse(raw), "smartcjm").slot_count > 0
