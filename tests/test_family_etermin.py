"""The etermin family: parser on fixtures and garbage, scrape against a real loopback server."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from office_schedule.catalog.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import etermin
from office_schedule.families.common import parse_slot
from office_schedule.fetch import Fetcher, Politeness

from .conftest import FIXTURES

DIR = FIXTURES / "etermin"
NOW = datetime(2021, 7, 10, 8, 30)
WEEKS = 4
NAMES = {"70001": "Schalter 1", "70002": "Schalter 2", "70003": "Kfz-Schalter"}
#: days flagged available per calendar (70001's July comes from the fixture file)
AVAILABLE = {"70001": {"2021-07-12", "2021-07-13", "2021-08-02"}, "70002": {"2021-07-14"}}
#: the hour of the generated slot per chosen service, so merged groups stay visible
HOUR = {"9002": 10, "9010": 11}


def load(name: str):
    return json.loads((DIR / name).read_text(encoding="utf-8"))


def month_days(start: date, last: date, cal: str) -> list[dict]:
    days, d = [], start
    while d <= last:
        free = d.isoformat() in AVAILABLE.get(cal, set())
        days.append({"start": f"{d}T00:00:00", "available": free, "cap": int(free)})
        d += timedelta(days=1)
    return days


def default_routes(request: Request):
    """The fake eTermin account ``LRA-DEG-Termin``: JSON for every documented request."""
    args = request.args
    if request.path == "/api/servicegroupservice":
        return load("servicegroupservice.json")
    if request.path == "/api/calendar":
        return load(f"calendar_{args['serviceid']}.json")
    assert request.path == "/api/timeslots", request.path
    day, cal = date.fromisoformat(args["date"]), args["calendarid"]
    if args.get("rangesearch") == "1":
        if cal == "70001" and day == date(2021, 7, 10):
            return load("timeslots_days_2021-07.json")
        if day.month == 7:
            return month_days(day, date(2021, 7, 31), cal)
        if day.month == 8:  # 70002 reports days only up to the 6th: a third month is asked
            return month_days(day, date(2021, 8, 6 if cal == "70002" else 31), cal)
        return []
    if cal == "70001" and day == date(2021, 7, 12):
        return load("timeslots_slots_2021-07-12.json")
    start = f"{day}T{HOUR[args['serviceid']]:02d}:00:00"
    return [{"start": start, "calendarid": cal, "calendarname": NAMES[cal], "available": 1}]


def serve(httpserver, override=None):
    """Route every /api/ request; ``override(request)`` may return a body or a Response."""

    def handler(request: Request) -> Response:
        if override is not None:
            answer = override(request)
            if isinstance(answer, Response):
                return answer
            if answer is not None:
                return Response(json.dumps(answer), content_type="application/json")
        return Response(json.dumps(default_routes(request)), content_type="application/json")

    for path in ("/api/servicegroupservice", "/api/calendar", "/api/timeslots"):
        httpserver.expect_request(path).respond_with_handler(handler)


def make_source(httpserver) -> Source:
    base = httpserver.url_for("").rstrip("/")
    return Source(
        id="deggendorf",
        name="Landratsamt Deggendorf",
        family="etermin",
        index_url=f"{base}/LRA-DEG-Termin",
        params={"et_url": "LRA-DEG-Termin", "base_url": base},
    )


def scrape(httpserver, weeks: int = WEEKS) -> dict:
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=2))
        try:
            return await etermin.scrape(make_source(httpserver), fetcher.session(), weeks, NOW)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def requests_made(httpserver) -> list[tuple[str, dict[str, str]]]:
    return [
        (req.path.removeprefix("/api/"), dict(parse_qsl(req.query_string.decode(), True)))
        for req, _ in httpserver.log
    ]


# ----------------------------------------------------------------- end-to-end scrape


def test_scrape_payload_matches_documented_shape(httpserver):
    serve(httpserver)
    raw = scrape(httpserver)
    assert raw == load("expected_payload.json")
    json.dumps(raw)  # JSON-able


def test_scrape_request_sequence(httpserver):
    serve(httpserver)
    scrape(httpserver)
    steps = []
    for path, q in requests_made(httpserver):
        if path == "timeslots":
            kind = "days" if q.get("rangesearch") == "1" else "slots"
            steps.append((kind, q["serviceid"], q["calendarid"], q["date"]))
        elif path == "calendar":
            steps.append(("calendar", q["serviceid"]))
        else:
            steps.append((path, q["w"]))
    assert steps == [
        ("servicegroupservice", "lra-deg-termin"),
        ("calendar", "9002"),  # group 501: 5 minutes, the first of the tie wins
        ("days", "9002", "70001", "2021-07-10"),
        ("slots", "9002", "70001", "2021-07-12"),
        ("slots", "9002", "70001", "2021-07-13"),
        ("days", "9002", "70001", "2021-08-01"),  # July ends before today + 28 days
        ("slots", "9002", "70001", "2021-08-02"),  # August reaches the horizon: stop
        ("days", "9002", "70002", "2021-07-10"),
        ("slots", "9002", "70002", "2021-07-14"),
        ("days", "9002", "70002", "2021-08-01"),
        ("days", "9002", "70002", "2021-09-01"),  # third and last month request
        ("calendar", "9010"),  # group 502; group 503 has no positive duration
        ("days", "9010", "70002", "2021-07-10"),  # walked again for the second group
        ("slots", "9010", "70002", "2021-07-14"),
        ("days", "9010", "70002", "2021-08-01"),
        ("days", "9010", "70002", "2021-09-01"),
        ("days", "9010", "70003", "2021-07-10"),
        ("days", "9010", "70003", "2021-08-01"),
    ]


def test_scrape_query_strings_and_headers_are_literal(httpserver):
    serve(httpserver)
    scrape(httpserver)
    log = [req for req, _ in httpserver.log]
    queries = [req.query_string.decode() for req in log]
    assert queries[0] == "cache=1&w=lra-deg-termin&vlang=de"
    assert queries[1] == "availablecal=1&lang=de&serviceid=9002&calendarid=undefined"
    assert queries[2] == (
        "date=2021-07-10&serviceid=9002&rangesearch=1&caching=false&capacity=&duration=5"
        "&cluster=false&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture=28"
        "&appdeadline=0&appdeadlinewm=0&msdcm=0&calendarid=70001"
    )
    assert queries[3] == (
        "date=2021-07-12&serviceid=9002&capacity=1&caching=false&duration=5&cluster=false"
        "&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture=28&appdeadline=0"
        "&msdcm=0&appdeadlinewm=0&tz=W.%20Europe%20Standard%20Time"
        "&tzaccount=W.%20Europe%20Standard%20Time&calendarid=70001"
    )
    base = httpserver.url_for("").rstrip("/")
    for req in log:
        assert req.method == "GET"
        assert req.headers["webid"] == "lra-deg-termin"
        assert req.headers["Referer"] == f"{base}/LRA-DEG-Termin"
        assert req.headers["Accept"] == "application/json, text/plain"
        assert req.headers["User-Agent"].startswith("office-schedule/")
        assert req.headers["Host"] != "www.etermin.net"


def test_scrape_longer_horizon_walks_three_months_everywhere(httpserver):
    serve(httpserver)
    scrape(httpserver, weeks=8)
    days = [q for path, q in requests_made(httpserver) if "rangesearch" in q]
    assert len(days) == 4 * 3  # four (group, calendar) pairs, none reaches 56 days
    assert {q["appfuture"] for q in days} == {"56"}


def test_smallest_duration_choice_ignores_missing_and_zero(httpserver):
    services = [
        {"sgid": 1, "sg": "A", "sid": 11, "s": "ohne Dauer"},
        {"sgid": 1, "sg": "A", "sid": 12, "s": "lang", "duration": 30},
        {"sgid": 1, "sg": "A", "sid": 13, "s": "null", "duration": 0},
        {"sgid": 1, "sg": "A", "sid": 14, "s": "kurz", "duration": "10"},
        {"sgid": 1, "sg": "A", "sid": 15, "s": "auch kurz", "duration": 10},
        {"sgid": 2, "sg": "B", "sid": 21, "s": "nie", "duration": None},
    ]

    def override(request):
        if request.path == "/api/servicegroupservice":
            return services
        if request.path == "/api/calendar":
            return []

    serve(httpserver, override)
    raw = scrape(httpserver)
    calls = [q["serviceid"] for path, q in requests_made(httpserver) if path == "calendar"]
    assert calls == ["14"]
    assert raw["calendars"] == []
    assert all("calendar_ids" not in s for s in raw["services"])  # no calendars returned
    assert [s["duration"] for s in raw["services"]] == [None, 30, 0, "10", 10, None]


def _html_error(request):
    if request.path == "/api/calendar":
        html = "<html><head><title>Wartungsarbeiten</title></head><body>bald</body></html>"
        return Response(html, content_type="text/html")


def _empty_services(request):
    if request.path == "/api/servicegroupservice":
        return load("servicegroupservice_empty.json")


def _object_services(request):
    if request.path == "/api/servicegroupservice":
        return {"error": "unknown account"}


def _service_without_sid(request):
    if request.path == "/api/servicegroupservice":
        return [{"sgid": 1, "sg": "A", "s": "Ausweis", "duration": 5}]


def _odd_duration(request):
    if request.path == "/api/servicegroupservice":
        return [{"sgid": 1, "sg": "A", "sid": 2, "s": "Ausweis", "duration": "kurz"}]


def _calendar_without_name(request):
    if request.path == "/api/calendar":
        return [{"calendarid": "70001"}]


def _day_without_start(request):
    if request.path == "/api/timeslots" and request.args.get("rangesearch"):
        return [{"available": True}]


def _slot_without_calendar(request):
    if request.path == "/api/timeslots" and not request.args.get("rangesearch"):
        return [{"start": "2021-07-12T08:00:00", "calendarname": "Schalter 1"}]


def _slot_with_bad_start(request):
    if request.path == "/api/timeslots" and not request.args.get("rangesearch"):
        return [{"start": "2021-07-32T08:00:00", "calendarid": "70001", "calendarname": "S"}]


def _slot_list_of_strings(request):
    if request.path == "/api/timeslots" and not request.args.get("rangesearch"):
        return ["2021-07-12T08:00:00"]


def _server_error(request):
    if request.path == "/api/timeslots":
        return Response("oops", status=500)


@pytest.mark.parametrize(
    ("override", "message", "endpoint"),
    [
        (_html_error, r"not JSON.*Wartungsarbeiten", "/api/calendar?"),
        (_empty_services, r"empty service list for lra-deg-termin", "/api/servicegroupservice?"),
        (_object_services, r"expected a JSON array, got dict", "/api/servicegroupservice?"),
        (_service_without_sid, r"lacks a usable 'sid'", "/api/servicegroupservice?"),
        (_odd_duration, r"unexpected duration 'kurz'", "/api/servicegroupservice?"),
        (_calendar_without_name, r"lacks 'calendarid' or 'calendarname'", "/api/calendar?"),
        (_day_without_start, r"day list: entry 0 has no usable 'start'", "rangesearch=1"),
        (_slot_without_calendar, r"slot list: entry 0 lacks 'calendarid'", "&tz=W."),
        (_slot_with_bad_start, r"slot list: entry 0 has no usable 'start'", "&tz=W."),
        (_slot_list_of_strings, r"entry 0 is str, not an object", "&tz=W."),
        (_server_error, r"HTTP 500", "/api/timeslots?"),
    ],
)
def test_scrape_errors_name_the_url(httpserver, override, message, endpoint):
    serve(httpserver, override)
    with pytest.raises(ScrapeError, match=message) as info:
        scrape(httpserver)
    assert info.value.url.startswith(httpserver.url_for("/api/"))
    assert endpoint in info.value.url


def test_missing_slug_is_a_scrape_error():
    source = Source(id="x", name="x", family="etermin", index_url="", params={})
    with pytest.raises(ScrapeError, match="no et_url"):
        asyncio.run(etermin.scrape(source, None, WEEKS, NOW))


# ----------------------------------------------------------------- parser


def test_parse_expected_payload():
    parsed = etermin.parse(load("expected_payload.json"))
    assert sorted(parsed.locations) == ["70001", "70002", "70004"]
    first = parsed.locations["70001"]
    assert first.name == "Schalter 1"
    assert first.services == (
        "Abholung Ausweis",
        "Beglaubigung",
        "Meldebescheinigung",
        "Personalausweis beantragen",
    )
    assert first.slots == (
        datetime(2021, 7, 12, 8, 0),
        datetime(2021, 7, 12, 8, 15),
        datetime(2021, 7, 13, 10, 0),
        datetime(2021, 8, 2, 10, 0),
    )
    assert parsed.locations["70002"].services == (
        "Abholung Ausweis",
        "Abmeldung",
        "Beglaubigung",
        "Meldebescheinigung",
        "Personalausweis beantragen",
        "Zulassung",
    )
    assert parsed.locations["70004"].services == ()  # only seen in a slot answer
    assert parsed.slot_count == 7
    assert parsed.to_truth()["70004"] == ["2021-07-12 09:30:00"]


def test_parse_sorts_and_deduplicates_and_names_twins_apart():
    raw = {
        "services": [],
        "calendars": [
            {"id": "1", "name": "Schalter", "dates": ["2021-07-12T09:00:00", "2021-07-12T08:00"]},
            {"id": "2", "name": "Schalter", "dates": ["2021-07-12T08:00:00"] * 2},
            {"id": "3", "name": "Kasse", "dates": []},
        ],
    }
    parsed = etermin.parse(raw)
    assert parsed.locations["1"].slots == (datetime(2021, 7, 12, 8), datetime(2021, 7, 12, 9))
    assert parsed.locations["2"].slots == (datetime(2021, 7, 12, 8),)
    assert [loc.name for loc in parsed.locations.values()] == [
        "Schalter (1)",
        "Schalter (2)",
        "Kasse",
    ]


def _broken(path, value):
    raw = copy.deepcopy(load("expected_payload.json"))
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (None, r"\(top level\)"),
        ([], r"\(top level\)"),
        ({"calendars": []}, r"payload services"),
        ({"services": []}, r"payload calendars"),
        (_broken(["services", 0, "name"], KeyError), r"services\[0\]"),
        (_broken(["services", 1, "calendar_ids"], "70001"), r"services\[1\]"),
        (_broken(["services", 1, "calendar_ids", 0], 70001), r"services\[1\]\.calendar_ids\[0\]"),
        (_broken(["calendars", 0], "70001"), r"calendars\[0\]"),
        (_broken(["calendars", 1, "id"], 70004), r"calendars\[1\]"),
        (_broken(["calendars", 1, "name"], ["x"]), r"calendars\[1\]"),
        (_broken(["calendars", 2, "dates"], None), r"calendars\[2\]"),
        (_broken(["calendars", 2, "dates", 1], "2021-07-14"), r"calendars\[2\]\.dates\[1\]"),
        (_broken(["calendars", 2, "dates", 1], "2021-13-14T10:00:00"), r"calendars\[2\]\.dates"),
        (_broken(["calendars", 2, "dates", 1], "2021-07-14T10:00:00+02:00"), r"dates\[1\]"),
        (_broken(["calendars", 2, "id"], "70001"), r"calendars\[2\]: calendar id '70001'"),
    ],
)
def test_parse_rejects_bad_shapes(raw, where):
    with pytest.raises(ParseError, match=where):
        etermin.parse(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
valid_slot_texts = st.datetimes(min_value=datetime(2000, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S")
)
odd_slot_texts = st.sampled_from(
    ["2021-07-12 08:15", "2021-02-30T08:00:00", "2021-07-12", "", "x", "2021-07-12T08:00+02:00"]
) | st.datetimes(min_value=datetime(2000, 1, 1)).map(lambda d: d.isoformat())
calendar_ids = st.sampled_from(["1", "2", "70001"])
good_calendars = st.fixed_dictionaries(
    {
        "id": calendar_ids,
        "name": st.sampled_from(["Schalter", "Kasse", None]),
        "dates": st.lists(valid_slot_texts, max_size=5),
    }
)
good_services = st.fixed_dictionaries(
    {"name": st.sampled_from(["Ausweis", "Pass"])},
    optional={"calendar_ids": st.lists(calendar_ids, max_size=3)},
)
#: well-formed entries with garbage in one place or another
odd_calendars = st.fixed_dictionaries(
    {
        "id": calendar_ids | st.sampled_from([3, ""]) | json_values,
        "name": st.sampled_from(["Schalter", None]) | json_values,
        "dates": st.lists(valid_slot_texts | odd_slot_texts | json_values, max_size=3)
        | json_values,
    }
)
odd_services = st.fixed_dictionaries(
    {"name": st.sampled_from(["Ausweis", ""]) | json_values},
    optional={"calendar_ids": st.lists(calendar_ids | json_values, max_size=3) | json_values},
)
payloads = (
    json_values
    | st.fixed_dictionaries(
        {
            "services": st.lists(good_services, max_size=3),
            "calendars": st.lists(good_calendars, max_size=3, unique_by=lambda c: c["id"]),
        }
    )
    | st.fixed_dictionaries(
        {
            "services": st.lists(good_services | odd_services, max_size=3) | json_values,
            "calendars": st.lists(good_calendars | odd_calendars, max_size=3) | json_values,
        }
    )
)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_parse_property_any_json_gives_true_slots_or_parse_error(raw):
    try:
        parsed = etermin.parse(raw)
    except ParseError:
        return
    for loc_id, loc in parsed.locations.items():
        sources = [c for c in raw["calendars"] if c["id"] == loc_id]
        assert len(sources) == 1
        allowed = {parse_slot(text, "test") for text in sources[0]["dates"]}
        assert set(loc.slots) == allowed
        assert list(loc.slots) == sorted(set(loc.slots))
        assert all(s.tzinfo is None for s in loc.slots)
        referencing = {s["name"] for s in raw["services"] if loc_id in s.get("calendar_ids", [])}
        assert set(loc.services) == referencing
    assert len(parsed.locations) == len(raw["calendars"])
