"""berlin: page readers, parse and scrape end to end over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from werkzeug import Response

from office_schedule.errors import BlockedError
from office_schedule.families import berlin

from .familytools import (
    ANY_PATH,
    DAYS,
    FUZZ,
    ID,
    NAME,
    _check,
    _day_and_time,
    fixture,
    html,
    or_junk,
    paths,
    records,
    scrape,
)

# ============================================================================ berlin


def test_berlin_readers():
    offices = berlin.office_list(fixture("berlin", "standorte.html"), "https://service.berlin.de")
    assert [(o["id"], o["name"], o["district"]) for o in offices] == [
        ("122210", "Bürgeramt Wedding", "Mitte"),
        ("122217", "Bürgeramt Tiergarten", "Mitte"),
        ("122280", "Bürgeramt Pankow", "Pankow"),
    ]
    assert offices[0]["url"] == "https://service.berlin.de/standort/122210/"
    assert berlin.is_closed(fixture("berlin", "standort_closed.html"))
    assert not berlin.is_closed(fixture("berlin", "standort_open.html"))
    url, params = berlin.booking_request(
        fixture("berlin", "standort_open.html"), "https://service.berlin.de/standort/122210/"
    )
    assert url == "https://service.berlin.de/terminvereinbarung/termin/tag.php"
    assert params == {
        "dienstleisterlist": "122210",
        "anliegen_typ": "dienstleistung",
        "termin": "1",
        "anliegen[]": "120703",
    }
    assert berlin.booking_request(fixture("berlin", "standort_noform.html"), url) is None
    assert berlin.restart_link(fixture("berlin", "changed.html")).startswith(
        "/terminvereinbarung/termin/restart/?providerList=122210"
    )
    assert berlin.restart_link(fixture("berlin", "calendar.html")) is None
    cells = berlin.calendar_cells(fixture("berlin", "calendar.html"))
    assert [(d.isoformat(), b) for d, b, _ in cells] == [
        ("2021-07-19", False),
        ("2021-07-20", False),
        ("2021-07-21", True),
        ("2021-07-22", True),
        ("2021-07-23", False),
        ("2021-09-16", True),
        ("2021-09-01", False),
    ]
    assert cells[2][2] == "/terminvereinbarung/termin/time/1626904800/"
    assert berlin.day_times(fixture("berlin", "day_21.html")) == ["08:00", "08:30", "10:10"]


def test_berlin_block_detection():
    assert berlin.is_throttled(fixture("berlin", "throttle.html"))
    assert berlin.is_captcha(fixture("berlin", "captcha.html"))
    assert berlin.is_captcha('<div id="g-recaptcha" data-sitekey="x"></div>')
    for name in ("standorte.html", "standort_open.html", "calendar.html", "day_21.html"):
        page = fixture("berlin", name)
        assert not berlin.is_throttled(page) and not berlin.is_captcha(page), name


def test_berlin_parse_fixture():
    snapshot = berlin.parse(json.loads(fixture("berlin", "raw.json")))
    assert snapshot.to_truth() == {
        "122210": [
            "2021-07-21 08:00:00",
            "2021-07-21 08:30:00",
            "2021-07-21 10:10:00",
            "2021-07-22 08:00:00",
            "2021-07-22 14:20:00",
        ],
        "122217": [],
    }


def berlin_site(httpserver, overrides: dict[str, Response] | None = None) -> None:
    pages = {
        "/standorte/buergeraemter/": "standorte.html",
        "/standort/122210/": "standort_open.html",
        "/standort/122217/": "standort_closed.html",
        "/standort/122280/": "standort_noform.html",
        "/terminvereinbarung/termin/tag.php": "changed.html",
        "/terminvereinbarung/termin/restart/": "calendar.html",
        "/terminvereinbarung/termin/time/1626904800/": "day_21.html",
        "/terminvereinbarung/termin/time/1626991200/": "day_22.html",
    }
    overrides = overrides or {}

    def handler(request) -> Response:
        if request.path in overrides:
            return overrides[request.path]
        if request.path not in pages:
            return Response("Seite nicht gefunden", status=404)
        return html(fixture("berlin", pages[request.path]))

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)


def test_berlin_scrape_end_to_end(httpserver):
    berlin_site(httpserver)
    raw = scrape(berlin, {"base_url": httpserver.url_for("/"), "request_delay": "0"}, weeks=1)
    assert json.loads(json.dumps(raw)) == raw
    assert [(o["id"], o["closed"], "error" in o) for o in raw] == [
        ("122210", False, False),
        ("122217", True, False),
        ("122280", False, True),
    ]
    log = [request for request, _ in httpserver.log]
    form_get = next(r for r in log if r.path.endswith("tag.php"))
    assert parse_qs(urlsplit(form_get.url).query) == {
        "dienstleisterlist": ["122210"],
        "anliegen_typ": ["dienstleistung"],
        "termin": ["1"],
        "anliegen[]": ["120703"],
    }
    # only the bookable days inside the one-week look-ahead are opened
    assert [r.path for r in log if "/time/" in r.path] == [
        "/terminvereinbarung/termin/time/1626904800/",
        "/terminvereinbarung/termin/time/1626991200/",
    ]
    assert berlin.parse(raw).to_truth() == {
        "122210": [
            "2021-07-21 08:00:00",
            "2021-07-21 08:30:00",
            "2021-07-21 10:10:00",
            "2021-07-22 14:20:00",
        ],
        "122217": [],
    }


def test_berlin_throttle_page_stops_at_once(httpserver):
    berlin_site(httpserver, {"/standort/122210/": html(fixture("berlin", "throttle.html"))})
    with pytest.raises(BlockedError, match="Zu viele Zugriffe") as info:
        scrape(berlin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert info.value.url.endswith("/standort/122210/")
    assert paths(httpserver) == ["/standorte/buergeraemter/", "/standort/122210/"]


def test_berlin_throttle_429_stops_at_once(httpserver):
    throttled = html(fixture("berlin", "throttle.html"), status=429)
    throttled.headers["Retry-After"] = "3600"
    berlin_site(httpserver, {"/standorte/buergeraemter/": throttled})
    with pytest.raises(BlockedError, match="429"):
        scrape(berlin, {"base_url": httpserver.url_for("/"), "request_delay": "0"})
    assert paths(httpserver) == ["/standorte/buergeraemter/"]


def test_berlin_captcha_stops_at_once_and_requests_are_paced(httpserver, monkeypatch):
    berlin_site(
        httpserver, {"/terminvereinbarung/termin/tag.php": html(fixture("berlin", "captcha.html"))}
    )
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *args):
        sleeps.append(seconds)
        await real_sleep(0)

    from office_schedule.families import common

    monkeypatch.setattr(common.asyncio, "sleep", fake_sleep)
    with pytest.raises(BlockedError, match="captcha"):
        scrape(berlin, {"base_url": httpserver.url_for("/")})
    assert paths(httpserver) == [
        "/standorte/buergeraemter/",
        "/standort/122210/",
        "/terminvereinbarung/termin/tag.php",
    ]
    assert sleeps == [1.0, 1.0]


@FUZZ
@given(or_junk(records(id=ID, name=NAME, days=DAYS)))
def test_berlin_parse_never_invents_slots(raw):
    _check(berlin, raw, _day_and_time)
