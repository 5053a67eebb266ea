"""termed: readers on the simulator's API answers, parse, scrape end to end."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.clock import OFFICE_TZ
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import check_empty, termed
from office_schedule.families.pages import PageError
from office_schedule.simulate import termed_server

from .familytools import (
    ANY_PATH,
    FUZZ,
    ID,
    SLOT,
    _check,
    items,
    or_junk,
    paths,
    records,
    scrape,
    serve_sim,
    sim_answer,
    sim_text,
    sim_world,
)

WEEKS = 4


def world_with_reasons():
    """A frozen world and a source: a plain practice and one with three or more reasons."""
    for seed in range(1, 20):
        world = sim_world("termed", 6, seed)
        for src in world.sources.values():
            practices = termed_server._practices(src)
            if len(practices) == 2 and len(practices[1][1]) >= 3:
                return world, src
    raise AssertionError("no simulated practice with three treatment reasons")


def events_path(world, doc_id: int, reason: int | None = None) -> str:
    start = int(world.now().replace(tzinfo=OFFICE_TZ).timestamp())
    end = start + WEEKS * 7 * 86400
    return f"/v2/public/doc/{doc_id}/events/open/10/{start}/{end}" + (
        f"/{reason}" if reason else ""
    )


def test_readers_on_the_simulated_api():
    world, src = world_with_reasons()
    (plain, [(none, loc)]), (with_reasons, reasons) = termed_server._practices(src)
    assert none is None
    doc = termed.read_page(sim_text(termed_server, world, src, path=f"/v2/public/doc/{plain}"))
    assert (doc.page, doc.reader, [o.id for o in doc.offices]) == (
        "offices",
        "termed.doc",
        [str(plain)],
    )
    doc = termed.read_page(
        sim_text(termed_server, world, src, path=f"/v2/public/doc/{with_reasons}")
    )
    assert [o.id for o in doc.offices] == [f"{with_reasons}-{r}" for r, _ in reasons]
    assert all(o.name.startswith("Sprechstunde ") for o in doc.offices)
    demo = termed.read_page(sim_text(termed_server, world, src, path="/v2/public/doc/3"))
    assert demo.page == "offices" and not termed.is_listed_practice(demo.details["doc"])
    missing = termed.read_page(sim_text(termed_server, world, src, path="/v2/public/doc/77"))
    assert (missing.page, missing.error) == ("error-page", "Doctor not found")
    events = termed.read_page(sim_text(termed_server, world, src, path=events_path(world, plain)))
    assert events.reader == "termed.events" and events.page in ("times", "none-free")
    assert events.slots == sorted(start[:16] for start in events.details.get("starts", []))


def test_an_empty_event_list_is_the_apis_statement():
    view = termed.read_page("[]")
    assert (view.page, view.marker) == ("none-free", termed.EMPTY_EVENTS)
    assert termed.read_page('{"error": "bad request"}').page == "error-page"
    with pytest.raises(PageError):
        termed.read_page('[{"begin": "2021-10-04 09:00:00"}]')
    with pytest.raises(PageError):
        termed.read_page('[{"start": "morgen"}]')
    with pytest.raises(PageError):
        termed.read_page(termed_server.garbage_page().body.decode())


def test_scrape_with_doc_ids_records_failing_calendars(httpserver):
    world, src = world_with_reasons()
    (plain, _), (doc_id, reasons) = termed_server._practices(src)
    first, second = reasons[0][0], reasons[1][0]
    third = reasons[2][0]
    twin = sim_answer(termed_server, world, src, path=events_path(world, doc_id, first))
    overrides = {
        events_path(world, doc_id, second): Response(twin.body, content_type="application/json")
    }
    overrides[events_path(world, doc_id, third)] = Response("kaputt", status=500)
    serve_sim(httpserver, termed_server, world, src, overrides)
    params = {"api_url": httpserver.url_for("/"), "doc_ids": f"{doc_id}, {plain},77"}
    raw = scrape(termed, params, weeks=WEEKS, now=world.now())
    by_id = {entry["location_id"]: entry for entry in raw}
    assert list(by_id)[0] == "77" and "no practice" in by_id["77"]["error"]
    assert by_id[f"{doc_id}-{second}"]["dates"] == {"eq": f"{doc_id}-{first}"}
    assert "HTTP 500" in by_id[f"{doc_id}-{third}"]["error"]
    parsed = check_empty(termed.parse(raw))
    assert (
        parsed.locations[f"{doc_id}-{second}"].slots == parsed.locations[f"{doc_id}-{first}"].slots
    )
    assert all(loc.url and "/events/open/10/" in loc.url for loc in parsed.locations.values())
    truth = world.truth(weeks=WEEKS)[src.id]
    assert parsed.to_truth()[str(plain)] == truth[str(plain)]


def test_a_calendar_with_nothing_open_carries_the_marker(httpserver):
    world, src = world_with_reasons()
    (plain, _), _ = termed_server._practices(src)
    overrides = {events_path(world, plain): Response("[]", content_type="application/json")}
    serve_sim(httpserver, termed_server, world, src, overrides)
    raw = scrape(
        termed, {"api_url": httpserver.url_for("/"), "doc_ids": str(plain)}, now=world.now()
    )
    assert raw == [
        {
            "location_id": str(plain),
            "dates": [],
            "none_free": termed.EMPTY_EVENTS,
            "url": httpserver.url_for(events_path(world, plain)),
        }
    ]
    assert check_empty(termed.parse(raw)).locations[str(plain)].empty == termed.EMPTY_EVENTS


def test_every_calendar_failing_fails_the_source(httpserver):
    world, src = world_with_reasons()
    (plain, _), _ = termed_server._practices(src)
    serve_sim(
        httpserver,
        termed_server,
        world,
        src,
        {events_path(world, plain): Response("x", status=503)},
    )
    with pytest.raises(ScrapeError, match="every calendar failed"):
        scrape(termed, {"api_url": httpserver.url_for("/"), "doc_ids": str(plain)}, now=world.now())


def test_discovery_runs_once_per_process(httpserver):
    """Ids 0..6: id 2 is a simulated practice, 3 the demo account, the others unknown."""
    world, src = world_with_reasons()
    (plain, _), _ = termed_server._practices(src)

    def handler(request) -> Response:
        path = request.path.replace("/doc/2", f"/doc/{plain}", 1)
        reply = sim_answer(termed_server, world, src, path=path)
        body = reply.body
        if path == f"/v2/public/doc/{plain}":
            body = json.dumps({**json.loads(body), "id": 2}).encode()
        return Response(body, status=reply.status, content_type=reply.content_type)

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)
    termed._DISCOVERED.clear()
    termed._PROBED.clear()
    params = {"api_url": httpserver.url_for("/"), "max_doc_id": "6"}
    try:
        first = scrape(termed, params, now=world.now())
        probes = [p for p in paths(httpserver) if "/events/" not in p]
        assert sorted(probes) == [f"/v2/public/doc/{n}" for n in range(7)]
        second = scrape(termed, params, now=world.now())
    finally:
        termed._DISCOVERED.clear()
        termed._PROBED.clear()
    assert first == second and [e["location_id"] for e in first] == ["2"]
    assert len([p for p in paths(httpserver) if "/events/" not in p]) == 7


def test_parse_eq_inherits_the_marker():
    raw = [
        {"location_id": "1", "dates": [], "none_free": termed.EMPTY_EVENTS},
        {"location_id": "2", "dates": {"eq": "1"}},
        {"location_id": "3", "dates": ["2021-10-04 09:00:00"]},
    ]
    parsed = check_empty(termed.parse(raw))
    assert parsed.locations["2"].empty == termed.EMPTY_EVENTS
    assert parsed.locations["3"].empty is None
    with pytest.raises(ParseError, match="refers to no earlier"):
        termed.parse([{"location_id": "1", "dates": {"eq": "2"}}])


@FUZZ
@given(or_junk(records(location_id=ID, dates=items(SLOT) | st.fixed_dictionaries({"eq": ID}))))
def test_termed_parse_never_invents_slots(raw):
    _check(
        termed,
        raw,
        lambda s, strings: any(x.startswith(f"{s:%Y-%m-%d %H:%M}") for x in strings),
    )
