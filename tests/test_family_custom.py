"""The custom families leipzig, impfthueringen, termed, berlin and impftermin.

Parsers are read on fixtures shaped like the real pages, ``parse`` is fuzzed with
hypothesis, and every scraper runs end to end over real HTTP against pytest-httpserver.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.catalog import Source
from office_schedule.errors import BlockedError, ParseError, ScrapeError
from office_schedule.families import berlin, impftermin, impfthueringen, leipzig, termed
from office_schedule.fetch import Fetcher, Politeness

from .conftest import FIXTURES

FAST = Politeness(min_gap=0, attempts=1, timeout=2)
NOW = datetime(2021, 7, 20, 10, 0, 0)
ANY_PATH = re.compile(r".*")


def fixture(family: str, name: str) -> str:
    return (FIXTURES / family / name).read_text(encoding="utf-8")


def html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def scrape(module, params: dict[str, str], weeks: int = 4, now: datetime = NOW):
    source = Source(
        id=module.NAME, name=module.NAME, family=module.NAME, index_url="", params=params
    )

    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await module.scrape(source, fetcher.session(), weeks, now)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def paths(httpserver) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def slot_strings(snapshot) -> dict[str, list[str]]:
    return snapshot.to_truth()


# ============================================================================ leipzig


def test_leipzig_page_readers():
    assert leipzig.page_kind(fixture("leipzig", "info.html")) == "INFOPAGE"
    assert leipzig.page_kind(fixture("leipzig", "comments.html")) == "CONCERNCOMMENTS"
    assert leipzig.page_kind(fixture("leipzig", "maintenance.html")) is None
    action, hidden = leipzig.first_form(fixture("leipzig", "info.html"))
    assert action == "bgr?SID=4711"
    assert hidden == {"FRM_SESSION": "a1b2c3", "FRM_STEP": "1", "AGREEMENT_REQUIRED": "true"}
    offices = leipzig.offices(fixture("leipzig", "offices.html"))
    assert [(i, n) for i, n, _ in offices] == [
        ("1279700237", "Bürgeramt Otto-Schill-Straße"),
        ("1279700301", "Bürgeramt Grünau"),
    ]
    panel = fixture("leipzig", "office_panel.html").replace("{office_id}", "1279700301")
    assert leipzig.office_button(panel, "1279700301") == "ACTION_OFFICESELECT_BOOK-1279700301"
    assert leipzig.office_button(panel, "1279700237") is None
    assert leipzig.concern_selects(fixture("leipzig", "concern.html")) == [
        "CONCERN_COUNT_5001",
        "CONCERN_COUNT_5002",
    ]


def test_leipzig_calendar_and_times():
    days = leipzig.calendar_days(fixture("leipzig", "calendar.html"))
    assert days == [
        (date(2021, 7, 22), 2, "ACTION_CALENDARSELECT_DAY_20210722"),
        (date(2021, 7, 23), 1, "ACTION_CALENDARSELECT_DAY_20210723"),
        (date(2022, 3, 1), 3, "ACTION_CALENDARSELECT_DAY_20220301"),
    ]
    popup = fixture("leipzig", "popup.html").replace(
        "<!--OPTIONS-->", '<option value="0800"> 08:00 </option><option value="0820">08:20</option>'
    )
    assert leipzig.select_times(popup) == ["08:00", "08:20"]
    assert leipzig.close_button(popup) == "ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE"


def test_leipzig_parse_fixture():
    snapshot = leipzig.parse(json.loads(fixture("leipzig", "raw.json")))
    assert slot_strings(snapshot) == {
        "1279700237": ["2021-07-22 08:00:00", "2021-07-22 08:20:00", "2021-07-23 14:40:00"],
        "1279700301": [],
    }
    assert snapshot.locations["1279700301"].name == "Bürgeramt Grünau"


LEIPZIG_TIMES = {
    "20210722": ["08:00", "08:20"],
    "20210723": ["14:40"],
    "20220301": ["09:00", "09:15", "09:30"],
}


class LeipzigSite:
    """A stateful stand-in for the eKOL wizard, checking what each step submits."""

    def __init__(self, after_agreement: str = "offices.html"):
        self.after_agreement = after_agreement
        self.office = ""

    def page(self, name: str, panel: str = "", popup: str = "") -> Response:
        text = fixture("leipzig", name)
        text = text.replace("<!--OFFICE_PANEL-->", panel).replace("<!--POPUP-->", popup)
        return html(text)

    def __call__(self, request) -> Response:
        if request.method == "GET":
            return self.page("info.html")
        form = request.form
        assert form["SELECTED_LANGUAGE"] == "de" and form["FRM_SESSION"] == "a1b2c3"
        actions = [k for k in form if k.startswith("ACTION_")]
        assert len(actions) == 1, actions
        action = actions[0]
        if action == "ACTION_INFOPAGE_NEXT":
            assert form["AGREEMENT_ACCEPT"] == "on"
            return self.page(self.after_agreement)
        if action.startswith("ACTION_OFFICESELECT_TREEVIEW-HEAD-"):
            assert form[action] == "Öffnen" and form["OFFICESELECT_TERMID"] == ""
            office = action.rsplit("-", 1)[1]
            panel = fixture("leipzig", "office_panel.html").replace("{office_id}", office)
            return self.page("offices.html", panel=panel)
        if action.startswith("ACTION_OFFICESELECT_BOOK-"):
            self.office = action.rsplit("-", 1)[1]
            return self.page("concern.html")
        if action == "ACTION_CONCERNSELECT_NEXT":
            assert form["CONCERN_COUNT_5001"] == "1" and form["CONCERN_COUNT_5002"] == "0"
            return self.page("comments.html" if self.office == "1279700237" else "calendar.html")
        if action == "ACTION_CONCERNCOMMENTS_NEXT":
            return self.page("calendar.html")
        if action.startswith("ACTION_CALENDARSELECT_DAY_"):
            times = LEIPZIG_TIMES[action.rsplit("_", 1)[1]]
            options = "".join(f'<option value="{t}">{t}</option>' for t in times)
            popup = fixture("leipzig", "popup.html").replace("<!--OPTIONS-->", options)
            return self.page("calendar.html", popup=popup)
        if action == "ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE":
            return self.page("calendar.html")
        if action == "ACTION_CALENDARSELECT_PREVIOUS":
            return self.page("comments.html" if self.office == "1279700237" else "concern.html")
        if action == "ACTION_CONCERNCOMMENTS_PREVIOUS":
            return self.page("concern.html")
        if action == "ACTION_CONCERNSELECT_PREVIOUS":
            return self.page("offices.html")
        raise AssertionError(f"unexpected step {action}")


def test_leipzig_scrape_end_to_end(httpserver):
    httpserver.expect_request(re.compile("^/tnv")).respond_with_handler(LeipzigSite())
    raw = scrape(leipzig, {"base_url": httpserver.url_for("/tnv")})
    assert json.loads(json.dumps(raw)) == raw
    assert [(o["id"], o["name"]) for o in raw] == [
        ("1279700237", "Bürgeramt Otto-Schill-Straße"),
        ("1279700301", "Bürgeramt Grünau"),
    ]
    assert raw[0]["days"][0] == {"date": "2021-07-22", "num_free": 2, "times": ["08:00", "08:20"]}
    truth = leipzig.parse(raw).to_truth()
    assert truth["1279700301"] == [
        "2021-07-22 08:00:00",
        "2021-07-22 08:20:00",
        "2021-07-23 14:40:00",
        "2022-03-01 09:00:00",
        "2022-03-01 09:15:00",
        "2022-03-01 09:30:00",
    ]
    assert truth["1279700237"] == truth["1279700301"]
    assert all(p == "/tnv/bgr" for p in paths(httpserver)[1:])


def test_leipzig_unknown_page_names_expected_and_found(httpserver):
    site = LeipzigSite(after_agreement="maintenance.html")
    httpserver.expect_request(re.compile("^/tnv")).respond_with_handler(site)
    with pytest.raises(ScrapeError, match="expected page OFFICESELECT") as info:
        scrape(leipzig, {"base_url": httpserver.url_for("/tnv")})
    assert "Wartungsarbeiten" in str(info.value)
    assert info.value.url.endswith("/tnv/bgr?SID=4711")


# ============================================================================ impfthueringen


def test_impfthueringen_readers_and_parse():
    assert impfthueringen.centres(fixture("impfthueringen", "index.html")) == [
        ("107", "IZ Erfurt | Impfstoff: BioNTech"),
        ("110", "IST Eisenberg (barrierefrei) | Nachmittag | Impfstoff: BioNTech"),
        ("121", "IZ Jena | Impfstoff: Moderna"),
    ]
    assert impfthueringen.centres("<html><body>Wartung</body></html>") is None
    assert impfthueringen.offered_dates(fixture("impfthueringen", "func_107.html")) == [
        ["2021-07-13 08:30", "2021-08-10 08:30"],
        ["2021-07-14 08:33", "2021-08-11 08:33"],
        ["2021-07-15 11:06", ""],
    ]
    assert impfthueringen.offered_dates(fixture("impfthueringen", "func_empty.html")) == []
    snapshot = impfthueringen.parse(json.loads(fixture("impfthueringen", "raw.json")))
    assert snapshot.to_truth() == {
        "107": ["2021-07-13 08:30:00", "2021-07-14 08:33:00"],
        "121": [],
    }
    assert snapshot.locations["121"].name == "IZ Jena | Impfstoff: Moderna"


def test_impfthueringen_scrape_end_to_end(httpserver):
    answers = {"107": "func_107.html", "110": "func_110.html", "121": "func_empty.html"}
    seen = []

    def func(request):
        assert request.form["typ"] == "1" and request.form["pos"] == "0"
        seen.append((request.form["ort"], request.form["timestamp"]))
        return html(fixture("impfthueringen", answers[request.form["ort"]]))

    httpserver.expect_request("/tv/index.php").respond_with_data(
        fixture("impfthueringen", "index.html"), content_type="text/html"
    )
    httpserver.expect_request("/tv/func.php", method="POST").respond_with_handler(func)
    raw = scrape(impfthueringen, {"base_url": httpserver.url_for("/tv")})
    # 2021-07-20 10:00 in Berlin (CEST, UTC+2) = 08:00 UTC
    expected_ms = str(int(datetime(2021, 7, 20, 8, 0, tzinfo=UTC).timestamp() * 1000))
    assert seen == [("107", expected_ms), ("110", expected_ms), ("121", expected_ms)]
    assert raw[1] == {
        "loc": "110",
        "loc_name": "IST Eisenberg (barrierefrei) | Nachmittag | Impfstoff: BioNTech",
        "dates": [["2021-07-14 14:00", "2021-08-04 14:00"]],
    }
    assert raw[2]["dates"] == []
    assert impfthueringen.parse(raw).slot_count == 4


def test_impfthueringen_missing_centre_list_is_a_scrape_error(httpserver):
    httpserver.expect_request("/tv/index.php").respond_with_data("<html>Wartung</html>")
    with pytest.raises(ScrapeError, match="no centre list"):
        scrape(impfthueringen, {"base_url": httpserver.url_for("/tv")})


# ============================================================================ termed


def test_termed_readers_and_parse():
    doc_901 = json.loads(fixture("termed", "doc_901.json"))
    doc_812 = json.loads(fixture("termed", "doc_812.json"))
    assert termed.is_listed_practice(doc_901) and termed.is_listed_practice(doc_812)
    assert not termed.is_listed_practice(json.loads(fixture("termed", "doc_test.json")))
    assert not termed.is_listed_practice(json.loads(fixture("termed", "doc_empty.json")))
    assert not termed.is_listed_practice({**doc_812, "praxis": "Testpraxis"})
    assert termed.is_listed_practice({**doc_812, "praxis": "Testzentrum Mitte"})
    assert termed.calendars(doc_901) == [("901-3", "/3"), ("901-4", "/4"), ("901-5", "/5")]
    assert termed.calendars(doc_812) == [("812", "")]
    events = json.loads(fixture("termed", "events_812.json"))
    assert termed.event_starts(events) == ["2021-10-04 09:00:00", "2021-10-04 08:30:00"]
    with pytest.raises(ValueError):
        termed.event_starts({"error": "not found"})
    snapshot = termed.parse(json.loads(fixture("termed", "raw.json")))
    assert snapshot.to_truth() == {
        "812": ["2021-10-04 08:30:00", "2021-10-04 09:00:00"],
        "901-3": ["2021-10-05 10:00:00", "2021-10-05 10:15:00"],
        "901-4": ["2021-10-05 10:00:00", "2021-10-05 10:15:00"],
    }
    with pytest.raises(ParseError, match="refers to no earlier"):
        termed.parse([{"location_id": "1", "dates": {"eq": "2"}}])


class TermedApi:
    """Practices by id, open events by practice and reason; anything else is a 404."""

    def __init__(self, docs: dict[int, str], events: dict[str, str | int]):
        self.docs = docs
        self.events = events
        self.windows: set[tuple[int, int]] = set()

    def __call__(self, request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["v2", "public", "doc"]:
            return Response("not found", status=404)
        if len(parts) == 4:
            name = self.docs.get(int(parts[3]))
            if name is None:
                return Response('{"error": "not found"}', status=404)
            return Response(fixture("termed", name), content_type="application/json")
        assert parts[4:7] == ["events", "open", "10"], parts
        self.windows.add((int(parts[7]), int(parts[8])))
        key = "-".join([parts[3], *parts[9:]])
        answer = self.events.get(key, 404)
        if isinstance(answer, int):
            return Response("<html><title>Fehler</title></html>", status=answer)
        return Response(fixture("termed", answer), content_type="application/json")


def test_termed_scrape_with_doc_ids_records_failing_calendars(httpserver):
    api = TermedApi(
        {901: "doc_901.json", 812: "doc_812.json"},
        {
            "901-3": "events_901_3.json",
            "901-4": "events_901_4.json",
            "901-5": 500,
            "812": "events_812.json",
        },
    )
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    raw = scrape(termed, {"api_url": httpserver.url_for("/"), "doc_ids": "901, 812,77"}, weeks=2)
    start = int(datetime(2021, 7, 20, 8, 0, tzinfo=UTC).timestamp())
    assert api.windows == {(start, start + 14 * 86400)}
    by_id = {entry["location_id"]: entry for entry in raw}
    assert list(by_id) == ["77", "901-3", "901-4", "901-5", "812"]
    assert "no practice" in by_id["77"]["error"]
    assert "HTTP 500" in by_id["901-5"]["error"]
    assert by_id["901-4"]["dates"] == {"eq": "901-3"}
    truth = termed.parse(raw).to_truth()
    assert sorted(truth) == ["812", "901-3", "901-4"]
    assert truth["901-4"] == ["2021-10-05 10:00:00", "2021-10-05 10:15:00"]


def test_termed_every_calendar_failing_fails_the_source(httpserver):
    api = TermedApi({812: "doc_812.json"}, {"812": 503})
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    with pytest.raises(ScrapeError, match="every calendar failed"):
        scrape(termed, {"api_url": httpserver.url_for("/"), "doc_ids": "812"})


def test_termed_discovery_runs_once_per_process(httpserver):
    termed._DISCOVERED.clear()
    termed._PROBED.clear()
    api = TermedApi(
        {2: "doc_812.json", 3: "doc_test.json", 4: "doc_empty.json"}, {"812": "events_812.json"}
    )
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    params = {"api_url": httpserver.url_for("/"), "max_doc_id": "6"}
    try:
        first = scrape(termed, params)
        probes = [p for p in paths(httpserver) if "/events/" not in p]
        assert sorted(probes) == [f"/v2/public/doc/{n}" for n in range(7)]
        second = scrape(termed, params)
    finally:
        termed._DISCOVERED.clear()
        termed._PROBED.clear()
    assert (
        first
        == second
        == [{"location_id": "812", "dates": ["2021-10-04 09:00:00", "2021-10-04 08:30:00"]}]
    )
    assert len([p for p in paths(httpserver) if "/events/" not in p]) == 7


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


# ============================================================================ parse fuzzing

KEYS = [
    "name",
    "id",
    "days",
    "date",
    "num_free",
    "times",
    "loc",
    "loc_name",
    "dates",
    "location_id",
    "eq",
    "error",
    "bookable",
    "closed",
    "centres",
    "available",
]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.just(1.5),
    st.text(max_size=3),
    st.sampled_from(
        [
            "2021-07-22",
            "2021-02-30",
            "08:00",
            "8:00",
            "24:00",
            "2021-07-22 08:00",
            "2021-10-05 10:00:00",
            "2021-10-05T10:00",
            "107",
            "812",
            "",
        ]
    ),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)


def _strings(value) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return set().union(*map(_strings, value)) if value else set()
    if isinstance(value, dict):
        return set(value) | _strings(list(value.values()))
    return set()


def _check(module, raw, rendered) -> None:
    try:
        snapshot = module.parse(raw)
    except ParseError:
        return
    strings = _strings(raw)
    for location in snapshot.locations.values():
        assert isinstance(location.id, str)
        assert list(location.slots) == sorted(set(location.slots))
        for slot in location.slots:
            assert rendered(slot, strings), (slot, raw)


def _day_and_time(slot, strings) -> bool:
    return f"{slot:%Y-%m-%d}" in strings and f"{slot:%H:%M}" in strings


def mostly(*valid):
    """Usually one of ``valid``, sometimes any JSON value."""
    return st.integers(0, 9).flatmap(lambda i: st.sampled_from(valid) if i < 9 else JSON)


def or_junk(strategy):
    """Usually ``strategy``, sometimes any JSON value."""
    return st.integers(0, 3).flatmap(lambda i: strategy if i < 3 else JSON)


DATE = mostly("2021-07-22", "2021-02-30", "2021-07-22 08:00")
TIME = mostly("08:00", "08:20", "8:00", "24:00")
SLOT = mostly("2021-07-22 08:00", "2021-10-05 10:00:00", "2021-10-05T10:00", "2021-13-01 08:00")
ID = mostly("107", "812", "901-3", 812)
NAME = mostly("Bürgeramt Mitte", None)
BOOL = mostly(True, False)


def items(strategy):
    return st.lists(strategy, max_size=3)


def records(**fields):
    return st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=3)


DAYS = records(date=DATE, bookable=BOOL, times=items(TIME))
FUZZ = settings(max_examples=60, deadline=None)


@FUZZ
@given(or_junk(records(name=NAME, id=ID, days=DAYS)))
def test_leipzig_parse_never_invents_slots(raw):
    _check(leipzig, raw, _day_and_time)


@FUZZ
@given(or_junk(records(loc=ID, loc_name=NAME, dates=items(st.tuples(SLOT, NAME).map(list)))))
def test_impfthueringen_parse_never_invents_slots(raw):
    _check(impfthueringen, raw, lambda s, strings: f"{s:%Y-%m-%d %H:%M}" in strings)


@FUZZ
@given(or_junk(records(location_id=ID, dates=items(SLOT) | st.fixed_dictionaries({"eq": ID}))))
def test_termed_parse_never_invents_slots(raw):
    _check(
        termed,
        raw,
        lambda s, strings: any(x.startswith(f"{s:%Y-%m-%d %H:%M}") for x in strings),
    )


@FUZZ
@given(or_junk(records(id=ID, name=NAME, days=DAYS)))
def test_berlin_parse_never_invents_slots(raw):
    _check(berlin, raw, _day_and_time)


@FUZZ
@given(or_junk(st.fixed_dictionaries({"centres": records(id=ID, name=NAME, available=BOOL)})))
def test_impftermin_parse_never_yields_slots(raw):
    _check(impftermin, raw, lambda s, strings: False)
