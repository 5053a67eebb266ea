"""impftermin: page readers, parse and scrape end to end over loopback HTTP."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import impftermin

from .familytools import (
    ANY_PATH,
    BOOL,
    FUZZ,
    ID,
    NAME,
    _check,
    fixture,
    html,
    or_junk,
    paths,
    records,
    scrape,
)

# ============================================================================ impftermin


def test_impftermin_readers_and_parse():
    data = json.loads(fixture("impftermin", "impfzentren.json").replace("{SERVER}", "https://x"))
    assert impftermin.centre_list(data) == [
        {
            "id": "04356",
            "name": "Impfzentrum Leipzig Messe",
            "state": "Sachsen",
            "url": "https://x/iz001/",
        },
        {
            "id": "60327",
            "name": "Impfzentrum Frankfurt Festhalle",
            "state": "Hessen",
            "url": "https://x/iz002/",
        },
    ]
    with pytest.raises(ScrapeError):
        impftermin.centre_list({"Sachsen": [{"PLZ": "04356"}]})
    assert impftermin.is_available(json.loads(fixture("impftermin", "termincheck_yes.json")))
    assert not impftermin.is_available(json.loads(fixture("impftermin", "termincheck_no.json")))
    snapshot = impftermin.parse(json.loads(fixture("impftermin", "raw.json")))
    assert snapshot.to_truth() == {"04356": [], "60327": []}
    assert snapshot.locations["04356"].name == "Impfzentrum Leipzig Messe"


def impftermin_site(httpserver, overrides: dict[str, Response] | None = None) -> list:
    server = httpserver.url_for("/").rstrip("/")
    overrides = overrides or {}
    cookies_seen = []

    def handler(request) -> Response:
        path = request.path
        if path in overrides:
            return overrides[path]
        if path == "/assets/static/impfzentren.json":
            body = fixture("impftermin", "impfzentren.json").replace("{SERVER}", server)
            response = Response(body, content_type="application/json")
            response.set_cookie("bm_sz", "index-cookie")
            return response
        if path == "/iz001/assets/static/its/vaccination-list.json":
            return Response(fixture("impftermin", "vaccination-list.json"))
        if path.endswith("/impftermine/service"):
            cookies_seen.append((path, dict(request.cookies)))
            return html(fixture("impftermin", "service.html"))
        if path.endswith("/rest/suche/termincheck"):
            assert request.args["leistungsmerkmale"] == "L920,L921,L922,L923"
            name = "termincheck_yes.json" if path.startswith("/iz001") else "termincheck_no.json"
            return Response(fixture("impftermin", name), content_type="application/json")
        return Response("nicht gefunden", status=404)

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)
    return cookies_seen


def test_impftermin_scrape_end_to_end(httpserver):
    cookies_seen = impftermin_site(httpserver)
    raw = scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert [(c["id"], c["available"]) for c in raw["centres"]] == [
        ("04356", True),
        ("60327", False),
    ]
    assert raw["vaccines"][0]["qualification"] == "L920"
    assert cookies_seen == [("/iz001/impftermine/service", {}), ("/iz002/impftermine/service", {})]
    termcheck = [r for r, _ in httpserver.log if r.path.endswith("termincheck")]
    assert [r.args["plz"] for r in termcheck] == ["04356", "60327"]
    snapshot = impftermin.parse(raw)
    assert snapshot.slot_count == 0 and sorted(snapshot.locations) == ["04356", "60327"]


def test_impftermin_html_instead_of_json_is_bot_protection(httpserver):
    impftermin_site(
        httpserver, {"/iz001/rest/suche/termincheck": html(fixture("impftermin", "botwall.html"))}
    )
    with pytest.raises(BlockedError, match="bot protection, needs a browser") as info:
        scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert "termincheck" in info.value.url
    assert paths(httpserver)[-1] == "/iz001/rest/suche/termincheck"


def test_impftermin_403_is_bot_protection(httpserver):
    impftermin_site(
        httpserver,
        {"/assets/static/impfzentren.json": html(fixture("impftermin", "botwall.html"), 403)},
    )
    with pytest.raises(BlockedError, match="bot protection, needs a browser"):
        scrape(impftermin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert paths(httpserver) == ["/assets/static/impfzentren.json"]


@FUZZ
@given(or_junk(st.fixed_dictionaries({"centres": records(id=ID, name=NAME, available=BOOL)})))
def test_impftermin_parse_never_yields_slots(raw):
    _check(impftermin, raw, lambda s, strings: False)
