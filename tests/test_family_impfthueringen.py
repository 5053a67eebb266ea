"""impfthueringen: readers on the simulator's answers, parse, scrape end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, impfthueringen
from office_schedule.families.pages import PageError
from office_schedule.simulate import impfthueringen_server

from .familytools import (
    FUZZ,
    ID,
    NAME,
    SLOT,
    _check,
    items,
    or_junk,
    records,
    scrape,
    serve_sim,
    sim_text,
    sim_world,
)

INDEX = "/terminvergabe/index.php"
FUNC = "/terminvergabe/func.php"


def world_source(seed: int = 1):
    world = sim_world("impfthueringen", 1, seed)
    (src,) = world.sources.values()
    return world, src


def func_answer(world, src, key: str) -> str:
    form = {"typ": "1", "ort": key, "pos": "0", "timestamp": "1"}
    return sim_text(impfthueringen_server, world, src, "POST", FUNC, form=form)


def test_index_and_answers_of_the_simulator():
    world, src = world_source()
    index = impfthueringen.read_page(sim_text(impfthueringen_server, world, src, path=INDEX))
    assert (index.page, index.reader) == ("offices", "impfthueringen.index")
    assert [o.id for o in index.offices] == list(src.locations)
    assert all(" | Impfstoff: " in (o.name or "") for o in index.offices)
    views = [impfthueringen.read_page(func_answer(world, src, key)) for key in src.locations]
    offered = [v for v in views if v.page == "times"]
    assert offered and all(v.reader == "impfthueringen.func-options" for v in offered)
    for view in offered:
        assert 1 <= len(view.slots) <= 3
        assert all(folge for _, folge in view.details["dates"])


def test_an_empty_answer_is_the_sites_statement_anything_else_an_error():
    view = impfthueringen.read_page("\n")
    assert (view.page, view.marker) == ("none-free", impfthueringen.EMPTY_ANSWER)
    assert (
        impfthueringen.read_page('<optgroup label="Mo, 12.07.2021"></optgroup>').page == "none-free"
    )
    world, src = world_source()
    bad = sim_text(impfthueringen_server, world, src, "POST", FUNC, form={"ort": "x"})
    with pytest.raises(PageError, match="text but no option"):
        impfthueringen.read_page(bad)
    with pytest.raises(PageError, match="no date/time"):
        impfthueringen.read_page('<option value="morgen">morgen</option>')
    maintenance = impfthueringen_server.garbage_page().body.decode()
    with pytest.raises(PageError, match="select-ort-area"):
        impfthueringen.read_page(maintenance)


def test_scrape_end_to_end(httpserver):
    world, src = world_source(seed=4)
    keys = list(src.locations)
    log = serve_sim(httpserver, impfthueringen_server, world, src)
    raw = scrape(
        impfthueringen, {"base_url": httpserver.url_for("/terminvergabe")}, now=world.now()
    )
    posts = [form for path, _, form, _ in log if path == FUNC]
    assert [f["ort"] for f in posts] == keys
    assert all(f["typ"] == "1" and f["pos"] == "0" for f in posts)
    assert len({f["timestamp"] for f in posts}) == 1
    parsed = check_empty(impfthueringen.parse(raw))
    assert parsed.to_truth() == world.truth(weeks=4)[src.id]
    assert all(loc.url and loc.url.endswith(f"ort={loc.id}") for loc in parsed.locations.values())


def test_timestamp_is_epoch_milliseconds_of_now(httpserver):
    world, src = world_source()
    log = serve_sim(httpserver, impfthueringen_server, world, src)
    scrape(impfthueringen, {"base_url": httpserver.url_for("/terminvergabe")})
    # 2021-07-20 10:00 in Berlin (CEST, UTC+2) = 08:00 UTC
    expected = str(int(datetime(2021, 7, 20, 8, 0, tzinfo=UTC).timestamp() * 1000))
    assert {form["timestamp"] for path, _, form, _ in log if path == FUNC} == {expected}


def test_an_empty_answer_is_recorded_as_the_marker(httpserver):
    world, src = world_source()
    serve_sim(httpserver, impfthueringen_server, world, src, {FUNC: Response("")})
    raw = scrape(impfthueringen, {"base_url": httpserver.url_for("/terminvergabe")})
    assert all(c["dates"] == [] and c["none_free"] == impfthueringen.EMPTY_ANSWER for c in raw)
    parsed = check_empty(impfthueringen.parse(raw))
    assert all(loc.empty == impfthueringen.EMPTY_ANSWER for loc in parsed.locations.values())


def test_a_notice_instead_of_options_fails_the_scrape(httpserver):
    world, src = world_source()
    notice = Response("<p>Derzeit sind keine Termine verfügbar.</p>")
    serve_sim(httpserver, impfthueringen_server, world, src, {FUNC: notice})
    with pytest.raises(ScrapeError, match="text but no option"):
        scrape(impfthueringen, {"base_url": httpserver.url_for("/terminvergabe")})


def test_missing_centre_list_is_a_scrape_error(httpserver):
    world, src = world_source()
    serve_sim(
        httpserver, impfthueringen_server, world, src, {INDEX: Response("<html>Wartung</html>")}
    )
    with pytest.raises(ScrapeError, match="no centre list"):
        scrape(impfthueringen, {"base_url": httpserver.url_for("/terminvergabe")})


def test_parse_carries_the_marker():
    raw = [
        {"loc": "107", "loc_name": "IZ Erfurt", "dates": [["2021-07-13 08:30", None]]},
        {"loc": "121", "loc_name": "IZ Jena", "dates": [], "none_free": "x", "url": "u"},
        {"loc": "130", "loc_name": "IZ Gera", "dates": []},
    ]
    parsed = impfthueringen.parse(raw)
    assert parsed.locations["121"].empty == "x" and parsed.locations["121"].url == "u"
    assert parsed.locations["107"].empty is None
    with pytest.raises(Exception, match="location '130' shows no free slot"):
        check_empty(parsed)


@FUZZ
@given(or_junk(records(loc=ID, loc_name=NAME, dates=items(st.tuples(SLOT, NAME).map(list)))))
def test_impfthueringen_parse_never_invents_slots(raw):
    _check(impfthueringen, raw, lambda s, strings: f"{s:%Y-%m-%d %H:%M}" in strings)
