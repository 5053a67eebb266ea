"""The zms family: read_page on the real 2025 answers (../shared) and on every answer of the
fake server, the scraper's reactions to odd answers, parse, markers and time zones."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from office_schedule.catalog.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import SilentZeroError, check_empty, zms
from office_schedule.families.pages import PageError
from office_schedule.families.zms import protocol
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimWorld
from office_schedule.simulate import zms_server as zs
from office_schedule.simulate.pages import SimRequest

from .familytools import real_page

FOLDER = "zms-munich"
CATALOGUE_2025 = "muenchen_2025-03-20_backend_offices-and-services_logged.json"
NONE_2025 = "muenchen_2025-03-20_backend_available-days_none_logged.json"
CAPTCHA_2025 = "muenchen_2025-03-20_backend_captcha-details_logged.json"
SYNTHETIC = "SYNTHETIC-zmsapi-calendar-availability.json"
FAST = Politeness(min_gap=0, attempts=1, timeout=5)
NOW = datetime(2021, 7, 13, 9, 0)  # a Tuesday
WEEKS = 2


def logged(name: str) -> tuple[dict, str, int]:
    entry = json.loads(real_page(FOLDER, name))
    return entry["responseData"], entry["url"], entry["statusCode"]


# ----------------------------------------------------------------- the simulator's answers


def sim(generation: str = "calendar", seed: int = 2, start: datetime = NOW):
    world = SimWorld(seed=seed, start=start, families={"zms": 3}, frozen=True)
    src = next(s for s in world.sources.values() if zs.generation(s) == generation)
    return world, src


def answer(world, src, endpoint: str, fault=None, **query: str) -> tuple[str, str, int]:
    """(body, url, status) of the fake server's answer to ``endpoint?query``."""
    path = zs.PREFIX[zs.generation(src)] + "/" + endpoint
    reply = zs.handle(world, src, SimRequest("GET", path, dict(query)), fault)
    url = "http://sim" + path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()))
    return reply.body.decode("utf-8"), url, reply.status


def offices(src) -> str:
    return ",".join(sorted(zs.office_of(loc) for loc in src.locations.values()))


def horizon(world, weeks: int = WEEKS) -> dict[str, str]:
    today = world.now().date()
    return {"startDate": f"{today}", "endDate": f"{today + timedelta(days=7 * weeks)}"}


def calendar_answer(world, src, day: date | None = None) -> tuple[str, str, int]:
    query = horizon(world) | {"officeIds": offices(src)}
    query |= {"serviceIds": zs.service_of(zs.queried(src)), "serviceCounts": "1"}
    if day is not None:
        query |= {"slotsStartDate": f"{day}", "slotsEndDate": f"{day}"}
    return answer(world, src, protocol.CALENDAR, **query)


def one_office_query(world, src, **extra) -> dict[str, str]:
    loc = next(iter(src.locations.values()))
    query = {"officeId": zs.office_of(loc), "serviceId": zs.service_of(zs.queried(src))}
    return extra | query | {"serviceCount": "1"}


# ----------------------------------------------------------------- real pages


def test_the_real_2025_catalogue():
    body, url, status = logged(CATALOGUE_2025)
    view = zms.read_page(real_page(FOLDER, CATALOGUE_2025))
    assert (view.page, view.reader, status) == ("services", "zms.offices-and-services", 200)
    assert (len(view.offices), len(view.choices), len(view.details["relations"])) == (99, 139, 439)
    details = view.details["offices"]
    assert sorted(oid for oid, o in details.items() if o["captcha"]) == ["10308621", "10461"]
    assert sum(not o["scope"] for o in details.values()) == 11
    assert details["10187259"]["name"] == "Ausländerbehörde"
    assert view.details["services"]["10339027"].startswith("Notfall-Hilfe bei fehlendem")
    assert ("10187259", "10339027") in view.details["relations"]
    # the logged body itself, with the logged URL, reads the same
    again = zms.read_page(json.dumps(body), url)
    assert (again.reader, again.details) == (view.reader, view.details)


def test_the_real_2025_nothing_free_answer():
    body, url, status = logged(NONE_2025)
    assert (status, body["errorCode"]) == (200, protocol.BACKEND_NONE_CODE)
    assert body["errorMessage"] == protocol.BACKEND_NONE_MESSAGE
    for view in (
        zms.read_page(real_page(FOLDER, NONE_2025)),
        zms.read_page(json.dumps(body), url),
        zms.read_page(json.dumps(body)),
    ):
        assert (view.page, view.reader) == ("none-free", "zms.backend-error")
        assert view.marker == f"zms: {protocol.BACKEND_NONE_MESSAGE} (noAppointmentForThisScope)"
        assert view.days == [] and view.slots == []


def test_the_real_2025_captcha_details_and_the_synthetic_internal_shape():
    view = zms.read_page(real_page(FOLDER, CAPTCHA_2025))
    assert (view.page, view.reader, view.details["captcha_enabled"]) == (
        "start",
        "zms.captcha-details",
        True,
    )
    with pytest.raises(PageError, match="internal zmsapi /calendar/availability/"):
        zms.read_page(real_page(FOLDER, SYNTHETIC))


def _keys_and_types(items: list[dict]) -> set[tuple[str, str]]:
    return {(k, type(v).__name__) for item in items for k, v in item.items() if v is not None}


def test_the_simulated_2025_backend_copies_the_real_answers():
    real, _, _ = logged(CATALOGUE_2025)
    world, src = sim("backend")
    body, url, _ = answer(world, src, "offices-and-services")
    ours = json.loads(body)
    assert zms.read_page(body, url).reader == "zms.offices-and-services"
    for key in ("services", "relations"):
        assert _keys_and_types(ours[key]) <= _keys_and_types(real[key]), key
    real_offices = [o for o in real["offices"] if "scope" in o]
    assert {tuple(o) for o in ours["offices"]} <= {tuple(o) for o in real["offices"]}
    assert _keys_and_types([o["scope"] for o in ours["offices"]]) <= _keys_and_types(
        [o["scope"] for o in real_offices]
    )
    assert {o["scope"]["captchaActivatedRequired"] for o in ours["offices"]} == {"0", "1"}
    # "nothing free": the same flat HTTP 200 body, read by the same reader
    real_none, _, _ = logged(NONE_2025)
    weekend = SimWorld(seed=2, start=datetime(2021, 7, 17, 19), families={"zms": 3}, frozen=True)
    src = weekend.sources[src.id]
    today = {"startDate": "2021-07-17", "endDate": "2021-07-17"}
    body, url, status = answer(
        weekend, src, "available-days", **one_office_query(weekend, src, **today)
    )
    assert status == 200 and list(json.loads(body)) == list(real_none)
    assert zms.read_page(body, url).reader == zms.read_page(real_page(FOLDER, NONE_2025)).reader
    body, url, _ = answer(world, src, "captcha-details")
    assert list(json.loads(body)) == list(logged(CAPTCHA_2025)[0])
    assert zms.read_page(body, url).reader == "zms.captcha-details"


# ----------------------------------------------------------------- every simulated answer


def test_calendar_answer_lists_every_day_and_one_days_appointments():
    world, src = sim("calendar")
    body, url, status = calendar_answer(world, src)
    view = zms.read_page(body, url)
    assert (status, view.page, view.reader) == (200, "days", "zms.calendar")
    truth = world.truth(weeks=WEEKS)[src.id]
    bookable = sorted({slot[:10] for slots in truth.values() for slot in slots})
    assert view.days == bookable
    first = bookable[0]
    assert view.details["covered"] == [first] and view.details["window"] == (first, first)
    expected = sorted({s[:16] for slots in truth.values() for s in slots if s.startswith(first)})
    assert view.slots == expected
    assert zms.read_page(body).reader == "zms.calendar"  # the shape alone tells the same
    # a further day: its appointments, and the bookable days of its month
    day = date.fromisoformat(bookable[-1])
    view = zms.read_page(*calendar_answer(world, src, day)[:2])
    assert view.details["window"] == (bookable[-1], bookable[-1])
    assert all(d[:7] == bookable[-1][:7] for d in view.days)
    assert view.slots == sorted(
        {s[:16] for v in truth.values() for s in v if s.startswith(f"{day}")}
    )


def test_a_day_without_appointments_snaps_to_the_first_bookable_day_of_its_month():
    world, src = sim("calendar", start=datetime(2021, 7, 16, 14))  # Friday afternoon
    sunday = date(2021, 7, 18)
    view = zms.read_page(*calendar_answer(world, src, sunday)[:2])
    window = view.details["window"]
    assert window[0] == window[1] and window[0] != f"{sunday}"
    assert window[0] == min(view.days) and all(s.startswith(window[0]) for s in view.slots)


def test_the_older_generations_answers():
    world, src = sim("by-office")
    query = horizon(world) | {"officeId": offices(src), "serviceId": zs.service_of(zs.queried(src))}
    query |= {"serviceCount": "1"}
    view = zms.read_page(*answer(world, src, protocol.DAYS_BY_OFFICE, **query)[:2])
    assert (view.page, view.reader) == ("days", "zms.days-by-office")
    day = view.days[0]
    query = {"date": day} | {k: query[k] for k in ("officeId", "serviceId", "serviceCount")}
    body, url, _ = answer(world, src, protocol.APPOINTMENTS_BY_OFFICE, **query)
    assert all(isinstance(o["officeId"], int) for o in json.loads(body)["offices"])
    view = zms.read_page(body, url)
    assert (view.page, view.reader) == ("times", "zms.appointments-by-office")
    assert view.slots and all(s.startswith(day) for s in view.slots)
    missing = zms.read_page(*calendar_answer(world, src)[:2])
    assert (missing.page, missing.details["codes"]) == ("error-page", [protocol.NOT_FOUND])
    world, src = sim("backend")
    view = zms.read_page(
        *answer(world, src, "available-days", **one_office_query(world, src, **horizon(world)))[:2]
    )
    assert (view.page, view.reader) == ("days", "zms.backend-days")
    query = one_office_query(world, src, date=view.days[0])
    view = zms.read_page(*answer(world, src, "available-appointments", **query)[:2])
    assert (view.page, view.reader, view.details["office"]) == (
        "times",
        "zms.backend-appointments",
        query["officeId"],
    )


@pytest.mark.parametrize(
    ("fault", "page", "status"),
    [("ratelimit", "blocked", 429), ("blacklist", "blocked", 403), ("captcha", "blocked", 400)]
    + [("maintenance", "error-page", 503)],
)
def test_fault_answers_are_read(fault, page, status):
    world, src = sim("calendar")
    query = horizon(world) | {"officeIds": offices(src), "serviceIds": "1", "serviceCounts": "1"}
    body, url, code = answer(world, src, protocol.CALENDAR, fault, **query)
    view = zms.read_page(body, url)
    assert (code, view.page, view.reader) == (status, page, "zms.api-error")
    with pytest.raises(PageError, match="an empty page"):
        zms.read_page(answer(world, src, protocol.CALENDAR, "blank", **query)[0], url)


def test_request_errors_of_the_api_are_error_pages_and_unknown_codes_raise():
    world, src = sim("calendar")
    captcha = {"officeIds": zs.captcha_office(src), "serviceIds": zs.service_of(zs.queried(src))}
    body, url, status = answer(
        world, src, protocol.CALENDAR, **horizon(world), **captcha, serviceCounts="1"
    )
    assert status == 400 and zms.read_page(body, url).page == "blocked"
    body, url, status = answer(world, src, protocol.CALENDAR, officeIds="x", serviceIds="1")
    view = zms.read_page(body, url)
    assert status == 400 and view.page == "error-page" and "invalidOfficeId" in view.error
    odd = body.replace("invalidOfficeId", "somethingNew")
    with pytest.raises(PageError, match="unknown error code 'somethingNew'"):
        zms.read_page(odd, url)


# ----------------------------------------------------------------- renamed slot markup

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)
KNOWN = {
    "availableDays", "date", "offices", "officeId", "appointments", "time", "errors",
    "errorCode", "appointmentTimestamps", "providerIDs", "services", "relations",
}  # fmt: skip


def _rename(value, old: str, new: str):
    if isinstance(value, dict):
        return {(new if k == old else k): _rename(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, old, new) for v in value]
    return value


@settings(max_examples=60, deadline=None)
@given(
    step=st.sampled_from(["calendar", "office-days", "office-slots", "backend-slots", "none"]),
    key=st.sampled_from(
        ["availableDays", "date", "offices", "officeId", "appointments", "time", "errorCode"]
        + ["appointmentTimestamps", "errors"]
    ),
    word=WORDS.filter(lambda w: w not in {k.lower() for k in KNOWN}),
    with_url=st.booleans(),
)
def test_property_renamed_slot_keys_give_page_error(step, key, word, with_url):
    body, url = _STEPS[step]
    value = json.loads(body)
    renamed = _rename(value, key, word)
    if renamed == value:
        return
    with pytest.raises(PageError):
        view = zms.read_page(json.dumps(renamed), url if with_url else None)
        pytest.fail(f"read as {view.page} with {len(view.slots)} slots")


def _steps() -> dict[str, tuple[str, str]]:
    world, src = sim("calendar")
    out = {"calendar": calendar_answer(world, src)[:2]}
    world, src = sim("by-office")
    query = horizon(world) | {"officeId": offices(src), "serviceId": zs.service_of(zs.queried(src))}
    query |= {"serviceCount": "1"}
    out["office-days"] = answer(world, src, protocol.DAYS_BY_OFFICE, **query)[:2]
    day = zms.read_page(*out["office-days"]).days[0]
    query = {"date": day} | {k: query[k] for k in ("officeId", "serviceId", "serviceCount")}
    out["office-slots"] = answer(world, src, protocol.APPOINTMENTS_BY_OFFICE, **query)[:2]
    world, src = sim("backend")
    days = answer(world, src, "available-days", **one_office_query(world, src, **horizon(world)))
    query = one_office_query(world, src, date=zms.read_page(*days[:2]).days[0])
    out["backend-slots"] = answer(world, src, "available-appointments", **query)[:2]
    none = {"errors": [{"errorCode": "noAppointmentForThisDay", "errorMessage": "x"}]}
    out["none"] = (json.dumps(none), "http://sim/x/available-days-by-office/")
    return out


_STEPS = _steps()


def test_renamed_keys_of_the_real_nothing_free_answer_raise():
    body, url, _ = logged(NONE_2025)
    for key in ("errorCode",):
        with pytest.raises(PageError, match="no known answer shape"):
            zms.read_page(json.dumps(_rename(body, key, "errorKode")), url)
    with pytest.raises(PageError, match="unknown error code"):
        zms.read_page(json.dumps(body | {"errorCode": "noAppointmentsAnywhere"}), url)


# ----------------------------------------------------------------- strict readers


def _calendar_value() -> tuple[dict, str]:
    body, url = _STEPS["calendar"]
    return json.loads(body), url


def test_appointments_must_lie_on_their_day_and_in_the_slot_window():
    value, url = _calendar_value()
    days = value["availableDays"]
    moved = json.loads(json.dumps(value))
    moved["availableDays"][0]["offices"][0]["appointments"][0] += 86400
    with pytest.raises(PageError, match="is not on"):
        zms.read_page(json.dumps(moved), url)
    bare = json.loads(json.dumps(value))
    bare["availableDays"][0]["offices"] = []
    with pytest.raises(PageError, match="inside the slot window"):
        zms.read_page(json.dumps(bare), url)
    millis = json.loads(json.dumps(value))
    millis["availableDays"][0]["offices"][0]["appointments"][0] *= 1000
    with pytest.raises(PageError, match="not an appointment time"):
        zms.read_page(json.dumps(millis), url)
    assert len(days) > 1


def test_office_ids_and_epochs_as_text_or_number_read_alike():
    value, url = _calendar_value()
    texts = json.loads(json.dumps(value))
    for day in texts["availableDays"]:
        for office in day["offices"]:
            office["officeId"] = int(office["officeId"])
            office["appointments"] = [str(e) for e in office["appointments"]]
    assert (
        zms.read_page(json.dumps(texts), url).slots == zms.read_page(json.dumps(value), url).slots
    )


def test_a_shape_other_than_the_url_asks_for_raises():
    body, _ = _STEPS["office-days"]
    with pytest.raises(PageError, match="where the URL asks for calendar"):
        zms.read_page(body, "http://x/buergeransicht/api/citizen/available-calendar/?a=1")
    with pytest.raises(PageError, match="not a JSON answer"):
        zms.read_page("<html><title>Request Rejected</title></html>")


def test_an_empty_calendar_is_the_apis_explicit_statement():
    value = {"startDate": "2024-08-21", "endDate": "2024-08-23", "slotsStartDate": "2024-08-21"}
    value |= {"slotsEndDate": "2024-08-23", "prevBookableDate": None, "nextBookableDate": None}
    view = zms.read_page(json.dumps(value | {"availableDays": []}))
    assert view.page == "none-free" and view.marker == f"{protocol.NO_DAY} (2024-08-21..2024-08-23)"


def test_epochs_are_berlin_wall_time_across_the_dst_change():
    summer = int(datetime.fromisoformat("2026-10-06T07:30:00+00:00").timestamp())
    winter = int(datetime.fromisoformat("2026-11-03T08:30:00+00:00").timestamp())
    assert protocol.local_text(summer) == "2026-10-06 09:30"  # CEST
    assert protocol.local_text(winter) == "2026-11-03 09:30"  # CET
    for text in ("2026-10-24 09:30", "2026-10-26 09:30", "2026-03-30 08:00"):
        assert protocol.local_text(protocol.epoch_at(datetime.fromisoformat(text))) == text


# ----------------------------------------------------------------- the scraper on odd answers


def serve(httpserver, world, src, mutate=None, seen: list[str] | None = None) -> Source:
    """pytest-httpserver answering as ``src`` (``mutate(path, value)`` edits JSON bodies;
    ``seen`` collects the query strings)."""

    def handler(request: Request) -> Response:
        if seen is not None:
            seen.append(request.query_string.decode())
        sim_request = SimRequest("GET", request.path, dict(request.args))
        reply = zs.handle(world, src, sim_request)
        body = reply.body.decode("utf-8")
        if mutate is not None and body:
            body = json.dumps(mutate(request.path, json.loads(body)))
        return Response(body, status=reply.status, content_type=reply.content_type)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    base = httpserver.url_for(zs.PREFIX[zs.generation(src)])
    index, params = zs.catalog_entry(src, "")
    params["base_url"] = base
    return Source(id=src.id, name=src.name, family="zms", index_url=index, params=params)


def scrape(source, now: datetime, weeks: int = WEEKS) -> dict:
    async def go():
        async with Fetcher(FAST) as fetcher:
            return await zms.scrape(source, fetcher.session(), weeks, now)

    return asyncio.run(go())


def test_an_office_no_listed_day_names_is_stored_with_that_statement(httpserver):
    world, src = sim("calendar")
    assert len(src.locations) >= 2
    gone = zs.office_of(next(iter(src.locations.values())))

    def drop(path, value):
        for day in value.get("availableDays", []):
            day["offices"] = [o for o in day["offices"] if o["officeId"] != gone]
            ids = [i for i in day["providerIDs"].split(",") if i != gone]
            day["providerIDs"] = ",".join(ids)
        value["availableDays"] = [d for d in value.get("availableDays", []) if d["providerIDs"]]
        return value

    raw = scrape(serve(httpserver, world, src, drop), world.now())
    parsed = check_empty(zms.parse(raw), "zms")
    assert parsed.locations[gone].slots == ()
    assert parsed.locations[gone].empty == protocol.NO_OFFICE_DAY
    assert "/available-calendar/?" in parsed.locations[gone].url
    assert all(loc.slots for oid, loc in parsed.locations.items() if oid != gone)


def test_an_office_listed_but_without_appointments_names_the_days_asked(httpserver):
    world, src = sim("by-office")
    quiet = zs.office_of(next(iter(src.locations.values())))

    def drop(path, value):
        if path.endswith(protocol.APPOINTMENTS_BY_OFFICE):
            value["offices"] = [o for o in value["offices"] if str(o["officeId"]) != quiet]
        return value

    raw = scrape(serve(httpserver, world, src, drop), world.now())
    loc = check_empty(zms.parse(raw), "zms").locations[quiet]
    assert loc.slots == () and loc.empty.startswith(protocol.NO_SLOT + " 2021-07-")


def test_a_backend_day_answering_nothing_free_names_that_day(httpserver):
    world, src = sim("backend")
    quiet = zs.office_of(next(iter(src.locations.values())))
    flat = {"errorCode": "noAppointmentForThisDay", "errorMessage": "keine", "lastModified": 1}

    def refuse(path, value):
        if path.endswith(protocol.BACKEND_APPOINTMENTS) and f"officeId={quiet}" in seen[-1]:
            return flat
        return value

    seen: list[str] = []
    source = serve(httpserver, world, src, refuse, seen)
    raw = scrape(source, world.now())
    loc = check_empty(zms.parse(raw), "zms").locations[quiet]
    assert loc.slots == () and loc.empty.startswith(protocol.NO_SLOT + " 2021-07-")
    assert "available-appointments?date=" in loc.url


def test_a_wrapped_meta_data_answer_reads_as_its_data():
    body, url = _STEPS["calendar"]
    wrapped = json.dumps({"meta": {"error": False}, "data": json.loads(body)})
    assert zms.read_page(wrapped, url).slots == zms.read_page(body, url).slots


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda path, v: v | {"services": []} if "offices-and-services" in path else v,
         ScrapeError, "does not list service"),
        (lambda path, v: v | {"offices": v["offices"][1:]} if "offices-and-services" in path
         else v, PageError, "relations name unlisted offices"),
        (lambda path, v: {"errors": [{"errorCode": "brandNew"}]} if "calendar" in path else v,
         PageError, "unknown error code 'brandNew'"),
        (lambda path, v: {"errors": [{"errorCode": "notFound"}]} if "available" in path else v,
         ScrapeError, "none of the three API generations answers"),
    ],
)  # fmt: skip
def test_odd_answers_fail_the_snapshot(httpserver, mutate, error, message):
    world, src = sim("calendar")
    with pytest.raises(error, match=message):
        scrape(serve(httpserver, world, src, mutate), world.now())


def test_a_service_no_office_offers_is_the_sites_statement(httpserver):
    world, src = sim("calendar")
    sid = zs.service_of(zs.queried(src))

    def unrelate(path, value):
        if "offices-and-services" in path:
            value["relations"] = [r for r in value["relations"] if str(r["serviceId"]) != sid]
        return value

    raw = scrape(serve(httpserver, world, src, unrelate), world.now())
    parsed = check_empty(zms.parse(raw), "zms")
    assert parsed.locations == {} and parsed.empty.startswith(f"{protocol.NO_OFFICE} {sid}")
    assert len(httpserver.log) == 1


# ----------------------------------------------------------------- parse


def _raw(**office) -> dict:
    entry = {"id": "10489", "name": "Bürgerbüro Ruppertstraße", "appointments": [1760340600]}
    entry |= {"url": "http://x/available-calendar/"}
    return {"service": {"id": "1063475", "name": "Wohnsitz anmelden"}, "offices": [entry | office]}


def test_parse_converts_epochs_and_carries_markers_and_urls():
    parsed = zms.parse(_raw())
    (loc,) = parsed.locations.values()
    assert (loc.id, loc.services, loc.url) == (
        "10489",
        ("Wohnsitz anmelden",),
        _raw()["offices"][0]["url"],
    )
    assert loc.slots == (datetime(2025, 10, 13, 9, 30),)
    empty = zms.parse(_raw(appointments=[], none_free="zms: x"))
    assert empty.locations["10489"].empty == "zms: x"
    with pytest.raises(SilentZeroError):
        check_empty(zms.parse(_raw(appointments=[])), "zms")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw(appointments=[1760340600], none_free="zms: x"), "slots and a 'nothing free'"),
        (_raw(appointments=["1760340600"]), "not an appointment time"),
        (_raw(id=10489), "'id' must be an office id text"),
        (_raw() | {"none_free": "zms: none"}, "with offices says there is none"),
        ({"service": {"id": "1"}, "offices": []}, "'name' must be non-empty text"),
        ([], "expected an object"),
    ],
)
def test_parse_refuses_odd_payloads(raw, message):
    with pytest.raises(ParseError, match=message):
        zms.parse(raw)


def test_offices_of_one_name_stay_apart():
    raw = _raw()
    raw["offices"].append(raw["offices"][0] | {"id": "10490"})
    names = {loc.name for loc in zms.parse(raw).locations.values()}
    assert names == {"Bürgerbüro Ruppertstraße (10489)", "Bürgerbüro Ruppertstraße (10490)"}
