"""The etermin family: read_page on the simulator's answers, the scraper's requests, parse.

No real answer of the eTermin API was ever recorded, so the readers are tested on what the
simulator serves (both generations: the 2021 shapes and the 2026 ``idandtimeslot`` ones)
and on the sketches of docs/protocols/etermin-tempus.md, section 1.2.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from office_schedule.catalog.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import SilentZeroError, check_empty, etermin
from office_schedule.families.common import parse_slot
from office_schedule.families.pages import PageError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimWorld
from office_schedule.simulate import etermin_server as es
from office_schedule.simulate.pages import SimRequest

NOW = datetime(2021, 7, 10, 8, 30)
WEEKS = 4
FAST = Politeness(min_gap=0, attempts=1, timeout=2)


def run(coro_factory):
    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await coro_factory(fetcher.session())
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def source_for(base: str, slug: str = "LRA-DEG-Termin", index_url: str | None = None) -> Source:
    params = {"et_url": slug, "base_url": base} if base else {"et_url": slug}
    return Source(
        id="deggendorf",
        name="Landratsamt Deggendorf",
        family="etermin",
        index_url=index_url or f"{base}/{slug}",
        params=params,
    )


def scrape(httpserver, weeks: int = WEEKS, now: datetime = NOW, slug: str = "LRA-DEG-Termin"):
    source = source_for(httpserver.url_for("").rstrip("/"), slug)
    return run(lambda session: etermin.scrape(source, session, weeks, now))


def logged(httpserver) -> list[tuple[str, dict[str, str], Request, Response]]:
    return [
        (req.path.removeprefix("/api/"), dict(parse_qsl(req.query_string.decode(), True)), req, rsp)
        for req, rsp in httpserver.log
    ]


# ----------------------------------------------------------------- the simulator behind HTTP


def sim_world(seed: int = 3, start: datetime = NOW) -> SimWorld:
    return SimWorld(seed=seed, start=start, families={"etermin": 2}, frozen=True)


def serve_sim(httpserver, world: SimWorld, src, mutate=None) -> None:
    """pytest-httpserver answering as the simulated account ``src`` (``mutate`` edits bodies)."""

    def handler(request: Request) -> Response:
        sim = SimRequest(
            method=request.method,
            path=request.path,
            query=dict(request.args),
            headers={k.lower(): v for k, v in request.headers.items()},
            raw_query=request.query_string.decode(),
        )
        reply = es.handle(world, src, sim)
        body = reply.body.decode("utf-8")
        if mutate is not None:
            body = mutate(request, body)
        return Response(body, status=reply.status, content_type=reply.content_type)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)


def scrape_sim(httpserver, world, src, weeks=WEEKS, mutate=None) -> dict:
    serve_sim(httpserver, world, src, mutate)
    return scrape(httpserver, weeks, world.now(), es.slug(src))


@pytest.fixture(params=["classic", "today"])
def sim_source(request):
    world = sim_world()
    src = next(s for s in world.sources.values() if es.is_today(s) == (request.param == "today"))
    return world, src


def test_scrape_of_the_simulator_equals_truth_with_only_our_headers(httpserver, sim_source):
    world, src = sim_source
    raw = scrape_sim(httpserver, world, src)
    assert etermin.parse(raw).to_truth() == world.truth(weeks=WEEKS)[src.id]
    base = httpserver.url_for("").rstrip("/")
    for _, _, req, _ in logged(httpserver):
        assert req.method == "GET"
        assert req.headers["webid"] == es.webid(src)
        assert req.headers["Referer"] == f"{base}/{es.webid(src)}"
        assert req.headers["User-Agent"].startswith("office-schedule/")
        assert req.headers["Accept"] == "*/*"  # the client's default: nothing added
        # none of the reference's fixed browser headers
        for name in ("TE", "Content-Type", "Pragma", "Cache-Control", "Sec-Fetch-Mode", "Origin"):
            assert name not in req.headers
        assert req.headers["Host"] != "www.etermin.net"


def test_every_answer_is_read_by_its_reader(httpserver, sim_source):
    world, src = sim_source
    scrape_sim(httpserver, world, src)
    slot_reader = "etermin.slot-key" if es.is_today(src) else "etermin.slot-list"
    expected = {
        "servicegroupservice": ("services", "etermin.services"),
        "calendar": ("offices", "etermin.calendars"),
    }
    seen = set()
    for path, query, req, rsp in logged(httpserver):
        text = rsp.get_data(as_text=True)
        view = etermin.read_page(text, req.url)
        if path == "timeslots":
            kind = "days" if query.get("rangesearch") == "1" else "times"
            reader = "etermin.day-list" if kind == "days" else slot_reader
            assert (view.page, view.reader) in ((kind, reader), ("none-free", reader)), req.url
        else:
            assert (view.page, view.reader) == expected[path]
        if json.loads(text):  # without the URL the shape alone tells the same
            assert etermin.read_page(text).reader == view.reader
        seen.add(view.reader)
    assert seen == {"etermin.services", "etermin.calendars", "etermin.day-list", slot_reader}


def test_request_count_is_one_plus_groups_plus_months_and_available_days(httpserver, sim_source):
    world, src = sim_source
    scrape_sim(httpserver, world, src)
    log = logged(httpserver)
    kinds = [(p, "rangesearch" in q) for p, q, _, _ in log]
    groups = kinds.count(("calendar", False))
    months = kinds.count(("timeslots", True))
    available = 0
    for path, query, req, rsp in log:
        if path == "timeslots" and query.get("rangesearch") == "1":
            available += len(etermin.read_page(rsp.get_data(as_text=True), req.url).days)
    assert groups == len(src.departments)
    assert len(log) == 1 + groups + months + available


def test_query_strings_are_written_literally(httpserver, sim_source):
    world, src = sim_source
    scrape_sim(httpserver, world, src)
    queries = [req.query_string.decode() for _, _, req, _ in logged(httpserver)]
    assert queries[0] == f"cache=1&w={es.webid(src)}&vlang=de"
    assert re.fullmatch(r"availablecal=1&lang=de&serviceid=\d+&calendarid=undefined", queries[1])
    days = next(q for q in queries if "rangesearch" in q)
    assert re.fullmatch(
        r"date=\d{4}-\d\d-\d\d&serviceid=\d+&rangesearch=1&caching=false&capacity=&duration=\d+"
        r"&cluster=false&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture=28"
        r"&appdeadline=0&appdeadlinewm=0&msdcm=0&calendarid=\d+",
        days,
    )
    slots = next(q for q in queries if "&tz=" in q)
    assert re.fullmatch(
        r"date=\d{4}-\d\d-\d\d&serviceid=\d+&capacity=1&caching=false&duration=\d+&cluster=false"
        r"&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture=28&appdeadline=0"
        r"&msdcm=0&appdeadlinewm=0&tz=W.%20Europe%20Standard%20Time"
        r"&tzaccount=W.%20Europe%20Standard%20Time&calendarid=\d+",
        slots,
    )


def test_calendars_without_a_free_day_are_stored_with_the_apis_answer(httpserver, sim_source):
    world, src = sim_source
    saturday_evening = datetime(2021, 7, 17, 19, 0)
    world = SimWorld(seed=3, start=saturday_evening, families={"etermin": 2}, frozen=True)
    src = world.sources[src.id]
    raw = scrape_sim(httpserver, world, src, weeks=0)
    parsed = check_empty(etermin.parse(raw), "etermin")
    assert parsed.to_truth() == world.truth(weeks=0)[src.id]
    assert set(parsed.locations) == set(src.locations)
    for loc in parsed.locations.values():
        assert loc.slots == () and loc.empty.startswith(etermin.NO_FREE_DAY)
        assert loc.url.startswith(httpserver.url_for("/api/timeslots"))
    expected = "empty day lists" if es.is_today(src) else "days listed, none available"
    assert all(expected in loc.empty for loc in parsed.locations.values())


def test_available_days_with_empty_slot_lists_are_named(httpserver, sim_source):
    world, src = sim_source

    def no_slots(request, body):
        if request.path == "/api/timeslots" and "rangesearch" not in request.args:
            return "[]"
        return body

    parsed = check_empty(etermin.parse(scrape_sim(httpserver, world, src, mutate=no_slots)))
    for loc in parsed.locations.values():
        assert loc.slots == ()
        assert loc.empty.startswith(f"{etermin.NO_SLOT} for every available day (20")


# ----------------------------------------------------------------- read_page on its own


def sim_answer(world, src, path: str, **query) -> tuple[str, str]:
    """(text, url) of one answer of the simulated account."""
    headers = {"webid": es.webid(src)}
    reply = es.handle(world, src, SimRequest("GET", path, query, headers=headers))
    url = f"https://www.etermin.net{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    return reply.body.decode("utf-8"), url


def first_free(world, src) -> tuple[dict, str, date]:
    svc = es._service(src, str(es.services_json(src)[1]["sid"]))
    cal = svc["calendars"][0]
    today = world.now().date()
    day = next(
        today + timedelta(days=i)
        for i in range(28)
        if world.published_day(src, cal, today + timedelta(days=i), world.now())
    )
    return svc, cal, day


def test_empty_arrays_are_told_apart_by_their_url():
    assert etermin.read_page("[]", "https://x/api/servicegroupservice?cache=1").page == "closed"
    calendars = etermin.read_page("[]", "https://x/api/calendar?serviceid=9002")
    assert calendars.marker == f"{etermin.NO_CALENDAR} 9002"
    days = etermin.read_page("[]", "https://x/api/timeslots?date=2021-07-10&rangesearch=1")
    assert days.page == "none-free"
    assert days.marker == f"{etermin.NO_FREE_DAY} (empty day list from 2021-07-10)"
    slots = etermin.read_page("[]", "https://x/api/timeslots?date=2021-07-12&tz=W")
    assert slots.marker == f"{etermin.NO_SLOT} for 2021-07-12"
    with pytest.raises(PageError, match="empty array"):
        etermin.read_page("[]")


def test_sketch_answers_of_the_protocol():
    """The invented values of section 1.2 (2021 shapes) and the 2026 ``idandtimeslot``."""
    days = [
        {"start": "2021-07-12T00:00:00", "available": True},
        {"start": "2021-07-13T00:00:00", "available": False},
    ]
    view = etermin.read_page(json.dumps(days))
    assert (view.page, view.days, view.details["listed"]) == (
        "days",
        ["2021-07-12"],
        ["2021-07-12", "2021-07-13"],
    )
    counted = [{"start": "2026-05-29T00:00:00", "available": 3}]  # the number of free slots
    assert etermin.read_page(json.dumps(counted)).days == ["2026-05-29"]
    none = etermin.read_page(json.dumps([{**days[1], "available": 0}]))
    assert none.page == "none-free" and none.marker.startswith(etermin.NO_FREE_DAY)
    keyed = [{SLOT: "90709|2026-05-29 08:50|2026-05-29 09:00|Fahrzeugzulassung|0", "hv": "x"}]
    view = etermin.read_page(json.dumps(keyed))
    assert (view.reader, view.slots) == ("etermin.slot-key", ["2026-05-29 08:50"])
    assert view.details["slots"] == [("90709", "Fahrzeugzulassung", "2026-05-29T08:50:00")]
    error = etermin.read_page('{"Message": "No HTTP resource was found"}')
    assert (error.page, error.error) == ("error-page", "No HTTP resource was found")


SLOT = etermin.SLOT_KEY


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ([{"start": "2021-07-12T00:00:00"}], "no .or mixed. known shape"),
        ([{"start": "2021-07-12T08:00:00", "available": True}], "no usable 'start'"),
        ([{"start": "2021-07-12T00:00:00", "available": "yes"}], "odd 'available'"),
        ([{"start": "2021-07-12T08:00:00", "calendarname": "S"}], "lacks 'calendarid'"),
        ([{"start": "2021-07-32T08:00:00", "calendarid": "1", "calendarname": "S"}], "start"),
        ([{SLOT: "90709|2026-05-29 08:50"}], "odd 'idandtimeslot'"),
        ([{"start": "2026-05-29T09:00:00", SLOT: "1|2026-05-29 08:50|x|S|0"}], "contradicts"),
        ([{"sgid": 1, "sid": 2, "s": "Ausweis", "duration": "kurz"}], "unexpected duration"),
        ([{"sgid": 1, "s": "Ausweis"}], "lacks a usable 'sid'"),
        ([{"calendarid": "70001"}], "lacks 'calendarid' or 'calendarname'"),
        ([{"calendarid": "1", "calendarname": "S"}, {"sgid": 1}], "mixed"),
        (["2021-07-12T08:00:00"], "known shape"),
        ({"error": "unknown account"}, "not a JSON array"),
    ],
)
def test_odd_answers_raise(answer, match):
    with pytest.raises(PageError, match=match):
        etermin.read_page(json.dumps(answer))


def test_html_is_not_an_answer():
    html = "<html><head><title>Wartungsarbeiten</title></head><body>bald</body></html>"
    with pytest.raises(PageError, match="unrecognised page: page titled 'Wartungsarbeiten'"):
        etermin.read_page(html, "https://x/api/timeslots?date=2021-07-12")


def test_a_slot_list_where_a_day_list_is_asked_for_raises():
    slots = [{"start": "2021-07-12T08:00:00", "calendarid": "1", "calendarname": "S"}]
    with pytest.raises(PageError, match="slots where the URL asks for days"):
        etermin.read_page(json.dumps(slots), "https://x/api/timeslots?rangesearch=1")


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=2, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    variant=st.sampled_from(["classic", "today"]),
    step=st.sampled_from(["days", "slots"]),
    word=WORDS,
    which=st.integers(0, 3),
)
def test_property_renamed_slot_keys_give_page_error(variant, step, word, which):
    world = sim_world()
    src = next(s for s in world.sources.values() if es.is_today(s) == (variant == "today"))
    svc, cal, day = first_free(world, src)
    query = {"date": day.isoformat(), "serviceid": str(es.services_json(src)[1]["sid"])}
    if step == "days":
        query["rangesearch"] = "1"
    text, url = sim_answer(world, src, "/api/timeslots", **query, appfuture="28", calendarid=cal)
    assert etermin.read_page(text, url).page == ("days" if step == "days" else "times")
    # the keys each reader keys on (a 2026 slot is read from its idandtimeslot alone)
    keys = {
        ("days", "classic"): ["start", "available"],
        ("days", "today"): ["start", "available"],
        ("slots", "classic"): ["start", "calendarid", "calendarname"],
        ("slots", "today"): [SLOT],
    }[step, variant]
    key = keys[which % len(keys)]
    if word in json.loads(text)[0]:
        return
    renamed = text.replace(f'"{key}":', f'"{word}":')
    with pytest.raises(PageError):
        etermin.read_page(renamed, url)


# ----------------------------------------------------------------- the protocol's sketch flow

SERVICES = [
    {
        "sgid": 501,
        "sg": "Bürgerbüro",
        "sid": 9001,
        "s": "Personalausweis beantragen",
        "duration": 15,
    },
    {"sgid": 501, "sg": "Bürgerbüro", "sid": 9002, "s": "Meldebescheinigung", "duration": 5},
    {"sgid": 501, "sg": "Bürgerbüro", "sid": 9003, "s": "Beglaubigung", "duration": 5},
    {"sgid": 502, "sg": "Kfz", "sid": 9010, "s": "Zulassung", "duration": 20},
    {"sgid": 503, "sg": "Nur Überschrift"},
]
CALENDARS = {
    "9002": [
        {"calendarid": "70001", "calendarname": "Schalter 1"},
        {"calendarid": "70002", "calendarname": "Schalter 2"},
    ],
    "9010": [
        {"calendarid": "70002", "calendarname": "Schalter 2"},
        {"calendarid": "70003", "calendarname": "Kfz-Schalter"},
    ],
}
#: 70002's only available day answers an empty slot list; 70003 has no available day
AVAILABLE = {"70001": {"2021-07-12", "2021-07-13", "2021-08-02"}, "70002": {"2021-07-14"}}


def _slot(cal: str, name: str, start: str) -> dict:
    return {"start": start, "calendarid": cal, "calendarname": name, "available": 1, "cap": 1}


def sketch(request: Request):
    """The account of section 1.2 (``date`` to month end; 70002's August ends on the 6th)."""
    args = request.args
    if request.path == "/api/servicegroupservice":
        return SERVICES
    if request.path == "/api/calendar":
        return CALENDARS[args["serviceid"]]
    day, cal = date.fromisoformat(args["date"]), args["calendarid"]
    if args.get("rangesearch") == "1":
        if day.month > 8:
            return []
        last = date(2021, 8, 6 if cal == "70002" else 31) if day.month == 8 else date(2021, 7, 31)
        days = [day + timedelta(days=i) for i in range((last - day).days + 1)]
        return [
            {"start": f"{d}T00:00:00", "available": str(d) in AVAILABLE.get(cal, ())} for d in days
        ]
    if cal != "70001":
        return []
    if day == date(2021, 7, 12):  # a substitute counter's slot is filed under its own id
        return [
            _slot("70001", "Schalter 1", "2021-07-12T08:15:00"),
            _slot("70001", "Schalter 1", "2021-07-12T08:00:00"),
            _slot("70004", "Vertretung", "2021-07-12T09:30:00"),
        ]
    return [_slot("70001", "Schalter 1", f"{day}T10:00:00")]


def serve(httpserver, override=None) -> None:
    def handler(request: Request) -> Response:
        answer = override(request) if override is not None else None
        if isinstance(answer, Response):
            return answer
        body = answer if answer is not None else sketch(request)
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)


def test_sketch_flow_request_sequence(httpserver):
    serve(httpserver)
    scrape(httpserver)
    steps = []
    for path, q, _, _ in logged(httpserver):
        if path == "timeslots":
            kind = "days" if q.get("rangesearch") == "1" else "slots"
            steps.append((kind, q["serviceid"], q["calendarid"], q["date"]))
        else:
            steps.append((path, q.get("serviceid", q.get("w"))))
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
        ("calendar", "9010"),  # group 502; group 503 has no service
        ("days", "9010", "70002", "2021-07-10"),  # walked again for the second group
        ("slots", "9010", "70002", "2021-07-14"),
        ("days", "9010", "70002", "2021-08-01"),
        ("days", "9010", "70002", "2021-09-01"),
        ("days", "9010", "70003", "2021-07-10"),
        ("days", "9010", "70003", "2021-08-01"),
    ]


def test_sketch_flow_payload_and_markers(httpserver):
    serve(httpserver)
    raw = scrape(httpserver)
    api = httpserver.url_for("/api/timeslots")
    by_id = {c["id"]: c for c in raw["calendars"]}
    assert list(by_id) == ["70001", "70004", "70002", "70003"]
    assert by_id["70001"]["dates"] == [
        "2021-07-12T08:00:00",
        "2021-07-12T08:15:00",
        "2021-07-13T10:00:00",
        "2021-08-02T10:00:00",
    ]
    assert by_id["70004"] == {
        "id": "70004",
        "name": "Vertretung",
        "dates": ["2021-07-12T09:30:00"],
        "url": by_id["70001"]["url"],
    }
    assert by_id["70002"]["none_free"] == f"{etermin.NO_SLOT} for every available day (2021-07-14)"
    assert by_id["70003"]["none_free"] == f"{etermin.NO_FREE_DAY} (53 days listed, none available)"
    assert by_id["70003"]["url"].startswith(api) and "date=2021-08-01" in by_id["70003"]["url"]
    assert [s.get("calendar_ids") for s in raw["services"]] == [
        ["70001", "70002"],
        ["70001", "70002"],
        ["70001", "70002"],
        ["70002", "70003"],
    ]
    parsed = check_empty(etermin.parse(json.loads(json.dumps(raw))), "etermin")
    assert parsed.locations["70003"].empty == by_id["70003"]["none_free"]
    assert parsed.locations["70004"].services == ()
    assert parsed.slot_count == 5


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
    calls = [q["serviceid"] for path, q, _, _ in logged(httpserver) if path == "calendar"]
    assert calls == ["14"]
    assert raw["calendars"] == []
    assert raw["none_free"] == f"{etermin.NO_CALENDAR} 14 (every chosen service)"
    assert etermin.parse(raw).empty == raw["none_free"]
    assert [s["duration"] for s in raw["services"]] == [None, 30, 0, "10", 10, None]


def _html_error(request):
    if request.path == "/api/calendar":
        html = "<html><head><title>Wartungsarbeiten</title></head><body>bald</body></html>"
        return Response(html, content_type="text/html")


def _empty_services(request):
    if request.path == "/api/servicegroupservice":
        return []


def _api_error(request):
    if request.path == "/api/calendar":
        return {"Message": "An error has occurred."}


def _day_without_flag(request):
    if request.path == "/api/timeslots" and request.args.get("rangesearch"):
        return [{"start": "2021-07-12T00:00:00"}]


def _slot_without_calendar(request):
    if request.path == "/api/timeslots" and not request.args.get("rangesearch"):
        return [{"start": "2021-07-12T08:00:00", "calendarname": "Schalter 1"}]


def _server_error(request):
    if request.path == "/api/timeslots":
        return Response("oops", status=500)


@pytest.mark.parametrize(
    ("override", "message", "endpoint"),
    [
        (_html_error, r"unrecognised page: page titled 'Wartungsarbeiten'", "/api/calendar?"),
        (_empty_services, r"empty service list for lra-deg-termin", "/api/servicegroupservice?"),
        (_api_error, r"the API says 'An error has occurred.'", "/api/calendar?"),
        (_day_without_flag, r"no .or mixed. known shape", "rangesearch=1"),
        (_slot_without_calendar, r"slot list: entry 0 lacks 'calendarid'", "&tz=W."),
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


class _Answer:
    def __init__(self, url: str, text: str):
        self.url, self.text = url, text


class _SimSession:
    """A session answering from the simulator without a socket; records URLs and headers."""

    def __init__(self, world, src):
        self.world, self.src, self.sent = world, src, []

    async def get(self, url, headers=None):
        self.sent.append((url, dict(headers or {})))
        path, _, query = url.split("/", 3)[3].partition("?")
        request = SimRequest("GET", "/" + path, dict(parse_qsl(query, True)), headers=headers)
        return _Answer(url, es.handle(self.world, self.src, request).body.decode("utf-8"))


@pytest.mark.parametrize(
    ("index_url", "base"),
    [
        ("https://www.qtermin.de/{slug}", "https://www.qtermin.de"),
        ("https://qtermin.de/{slug}", "https://qtermin.de"),
        ("https://www.etermin.net/{slug}", "https://www.etermin.net"),
        ("", "https://www.etermin.net"),
    ],
)
def test_qtermin_is_another_host_of_the_same_api(index_url, base):
    world = sim_world()
    src = next(s for s in world.sources.values() if es.is_today(s))
    source = source_for("", es.slug(src), index_url.format(slug=es.slug(src)))
    session = _SimSession(world, src)
    raw = asyncio.run(etermin.scrape(source, session, WEEKS, world.now()))
    assert etermin.parse(raw).to_truth() == world.truth(weeks=WEEKS)[src.id]
    for url, headers in session.sent:
        assert url.startswith(f"{base}/api/")
        assert headers == {"Referer": f"{base}/{es.webid(src)}", "webid": es.webid(src)}


def test_the_simulator_knows_the_account_by_referer_alone():
    world = sim_world()
    src = next(iter(world.sources.values()))
    request = SimRequest(
        "GET",
        "/api/servicegroupservice",
        {"cache": "1", "w": es.webid(src)},
        headers={"referer": f"https://www.etermin.net/{es.webid(src)}"},
    )
    assert etermin.read_page(es.handle(world, src, request).body.decode()).page == "services"


# ----------------------------------------------------------------- parser

PAYLOAD = {
    "services": [
        {"name": "Meldebescheinigung", "calendar_ids": ["70001", "70002"]},
        {"name": "Zulassung", "calendar_ids": ["70002"]},
        {"name": "Ohne Kalender"},
    ],
    "calendars": [
        {"id": "70001", "name": "Schalter 1", "dates": ["2021-07-12T08:00:00"], "url": "u1"},
        {"id": "70004", "name": "Vertretung", "dates": ["2021-07-12T09:30:00"]},
        {"id": "70002", "name": "Schalter 2", "dates": [], "url": "u2", "none_free": "leer"},
    ],
}


def test_parse_carries_markers_and_urls():
    parsed = check_empty(etermin.parse(PAYLOAD), "etermin")
    assert sorted(parsed.locations) == ["70001", "70002", "70004"]
    assert parsed.locations["70002"].services == ("Meldebescheinigung", "Zulassung")
    assert (parsed.locations["70002"].empty, parsed.locations["70002"].url) == ("leer", "u2")
    assert parsed.locations["70001"].url == "u1" and parsed.locations["70001"].empty is None
    assert parsed.to_truth()["70004"] == ["2021-07-12 09:30:00"]


def test_a_calendar_without_slots_and_marker_is_a_silent_zero():
    raw = copy.deepcopy(PAYLOAD)
    del raw["calendars"][2]["none_free"]
    with pytest.raises(SilentZeroError, match="'70002'"):
        check_empty(etermin.parse(raw), "etermin")
    with pytest.raises(SilentZeroError, match="no location"):
        check_empty(etermin.parse({"services": [], "calendars": []}), "etermin")


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
    raw = copy.deepcopy(PAYLOAD)
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
        (_broken(["calendars", 1, "dates", 0], "2021-07-14"), r"calendars\[1\]\.dates\[0\]"),
        (_broken(["calendars", 1, "dates", 0], "2021-13-14T10:00:00"), r"calendars\[1\]\.dates"),
        (_broken(["calendars", 1, "dates", 0], "2021-07-14T10:00:00+02:00"), r"dates\[0\]"),
        (_broken(["calendars", 2, "id"], "70001"), r"calendars\[2\]: calendar id '70001'"),
        (_broken(["calendars", 2, "none_free"], ""), r"calendars\[2\]: 'none_free'"),
        (_broken(["calendars", 0, "none_free"], "leer"), r"has slots and a 'nothing free'"),
        (_broken(["none_free"], "leer"), r"none_free: a snapshot with calendars"),
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
    },
    optional={"none_free": st.sampled_from(["leer", ""]) | json_values},
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
        assert loc.empty is None or not loc.slots
        referencing = {
            s["name"] for s in raw["services"] if loc_id in (s.get("calendar_ids") or [])
        }  # a service without calendar_ids (absent or null) names no calendar
        assert set(loc.services) == referencing
    assert len(parsed.locations) == len(raw["calendars"])


def test_real_answers_when_any_were_recorded(shared_dir):
    folder = shared_dir / "data" / "real-pages" / "etermin"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        pytest.skip("no real eTermin answer is recorded in ../shared (none was found anywhere)")
    for path in files:
        view = etermin.read_page(path.read_text(encoding="utf-8-sig"))
        assert view.reader.startswith("etermin."), path
