"""impftermin: readers on the real 2021 JSON files and the simulator's answers, parse, scrape."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.errors import BlockedError, ParseError
from office_schedule.families import check_empty, impftermin
from office_schedule.families.pages import PageError
from office_schedule.simulate import impftermin_server

from .familytools import (
    BOOL,
    FUZZ,
    ID,
    NAME,
    _check,
    or_junk,
    paths,
    real_page,
    records,
    scrape,
    serve_sim,
    sim_text,
    sim_world,
)

REAL_LISTS = {
    "the-mod_2021-05_impfzentren.json": 126,
    "themrphantom_2021-05_impfzentren.json": 103,
}
REAL_VACCINES = (
    "the-mod_2021-05_vaccination-list.json",
    "themrphantom_2021-05_vaccination-list.json",
)
SKIPPED = [
    {"name": "Terminservice des Landes Hessen", "state": "Hessen", "reason": "no PLZ"},
    {"name": "Nordrhein", "state": "Nordrhein-Westfalen", "reason": "no PLZ"},
]


@pytest.mark.parametrize(("name", "total"), REAL_LISTS.items())
def test_real_centre_lists_skip_the_centres_without_plz(name, total):
    view = impftermin.read_page(real_page("impftermin", name))
    assert (view.page, view.reader) == ("offices", "impftermin.impfzentren")
    assert len(view.offices) == total - 2
    assert view.details["skipped"] == SKIPPED
    assert view.offices[0].id == "68163" and view.offices[0].name == "Maimarkthalle"
    assert all(o.id.isdigit() and len(o.id) == 5 for o in view.offices)
    assert all(c["url"].endswith("/") for c in view.details["centres"])


@pytest.mark.parametrize("name", REAL_VACCINES)
def test_real_vaccine_lists(name):
    view = impftermin.read_page(real_page("impftermin", name))
    assert (view.page, view.reader) == ("services", "impftermin.vaccination-list")
    assert [i for i, _ in view.choices] == ["L920", "L921", "L922", "L923"]
    assert view.choices[0][1] == "Comirnaty (BioNTech)"


def test_simulated_lists_are_read_like_the_real_ones():
    world = sim_world("impftermin", 1)
    (src,) = world.sources.values()
    real = impftermin.read_page(real_page("impftermin", "the-mod_2021-05_impfzentren.json"))
    sim = impftermin.read_page(
        sim_text(impftermin_server, world, src, path="/" + impftermin.INDEX_PATH)
    )
    assert sim.reader == real.reader and sim.page == real.page
    assert len(sim.offices) == len(src.locations) and len(sim.details["skipped"]) == 1
    assert set(json.loads(real_page("impftermin", REAL_VACCINES[1]))[0]) == set(
        impftermin_server.VACCINES[0]
    )
    path = f"/iz{next(iter(src.locations))}/{impftermin.VACCINES_PATH}"
    vaccines = impftermin.read_page(sim_text(impftermin_server, world, src, path=path))
    real_vaccines = impftermin.read_page(real_page("impftermin", REAL_VACCINES[1]))
    assert (vaccines.reader, vaccines.choices) == (real_vaccines.reader, real_vaccines.choices)


def test_termincheck_answers():
    no = impftermin.read_page('{"termineVorhanden": false, "vorhandeneLeistungsmerkmale": []}')
    assert (no.page, no.marker, no.reader) == (
        "none-free",
        "termineVorhanden: false",
        "impftermin.termincheck",
    )
    yes = impftermin.read_page(
        '{"termineVorhanden": true, "vorhandeneLeistungsmerkmale": ["L920"]}'
    )
    assert (yes.page, yes.days, yes.slots) == ("days", [], [])
    assert yes.details["available"] is True and yes.details["features"] == ["L920"]
    with pytest.raises(PageError):
        impftermin.read_page('{"termineVorhanden": "ja"}')
    with pytest.raises(PageError):
        impftermin.read_page('{"Sachsen": [{"Ort": "Leipzig"}]}')


def test_bot_protection_and_app_shell():
    world = sim_world("impftermin", 1)
    (src,) = world.sources.values()
    lid = next(iter(src.locations))
    plz = impftermin_server.location_id(src, src.locations[lid])
    wall = sim_text(
        impftermin_server, world, src, path=f"/iz{lid}/{impftermin.CHECK_PATH}", query={"plz": plz}
    )
    assert impftermin.read_page(wall).page == "blocked"
    shell = sim_text(impftermin_server, world, src, path=f"/iz{lid}/{impftermin.SERVICE_PATH}")
    assert (impftermin.read_page(shell).page, impftermin.read_page(shell).reader) == (
        "start",
        "impftermin.service",
    )
    view = impftermin.read_page(
        "<html><body>Wartung</body></html>", "https://x/rest/suche/termincheck"
    )
    assert (view.page, view.error) == ("blocked", impftermin.BOT_MESSAGE)
    with pytest.raises(PageError):
        impftermin.read_page("<html><body>Wartung</body></html>")


def _site(httpserver, overrides=None):
    world = sim_world("impftermin", 1)
    (src,) = world.sources.values()
    return world, src, serve_sim(httpserver, impftermin_server, world, src, overrides)


def test_scrape_end_to_end(httpserver):
    world, src, log = _site(httpserver)
    raw = scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert raw["skipped"][0]["reason"] == "no PLZ"
    assert raw["vaccines"][0]["qualification"] == "L920"
    ids = [impftermin_server.location_id(src, loc) for loc in src.locations.values()]
    assert [c["id"] for c in raw["centres"]] == ids
    services = [(p, cookies) for p, _, _, cookies in log if p.endswith(impftermin.SERVICE_PATH)]
    assert len(services) == len(ids) and all(cookies == {} for _, cookies in services)
    checks = [args for p, args, _, _ in log if p.endswith(impftermin.CHECK_PATH)]
    assert [a["plz"] for a in checks] == ids
    assert all(a["leistungsmerkmale"] == "L920,L921,L922,L923" for a in checks)
    parsed = check_empty(impftermin.parse(raw))
    assert parsed.slot_count == 0 and sorted(parsed.locations) == sorted(ids)
    for centre in raw["centres"]:
        loc = parsed.locations[centre["id"]]
        assert loc.empty == impftermin.empty_marker(centre["available"])
        assert loc.url and impftermin.CHECK_PATH in loc.url


def test_html_instead_of_json_is_bot_protection(httpserver):
    world = sim_world("impftermin", 1)
    (src,) = world.sources.values()
    path = f"/iz{next(iter(src.locations))}/{impftermin.CHECK_PATH}"
    page = Response("<html><body>Bitte warten</body></html>", content_type="text/html")
    serve_sim(httpserver, impftermin_server, world, src, {path: page})
    with pytest.raises(BlockedError, match="bot protection, needs a browser") as info:
        scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert impftermin.CHECK_PATH in info.value.url
    assert paths(httpserver)[-1].endswith(impftermin.CHECK_PATH)


def test_403_is_bot_protection(httpserver):
    _site(httpserver, {"/" + impftermin.INDEX_PATH: Response("denied", status=403)})
    with pytest.raises(BlockedError, match="bot protection, needs a browser"):
        scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert paths(httpserver) == ["/" + impftermin.INDEX_PATH]


@FUZZ
@given(or_junk(st.fixed_dictionaries({"centres": records(id=ID, name=NAME, available=BOOL)})))
def test_impftermin_parse_never_yields_slots_and_always_says_why(raw):
    _check(impftermin, raw, lambda s, strings: False)
    try:
        parsed = impftermin.parse(raw)
    except ParseError:
        return
    assert all(loc.empty for loc in parsed.locations.values())
