"""tevis: HTML helpers and ``parse`` on recorded-style fixtures, ``scrape`` over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import tevis
from office_schedule.fetch import Fetcher, Politeness

FIX = Path(__file__).resolve().parent / "fixtures" / "tevis"
NOW = datetime(2021, 7, 14, 10, 30)  # ISO week 2021-W28
HTML = "text/html; charset=utf-8"


def fixture(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- helpers


def test_md_links_only_relative_select2_links_in_order():
    assert tevis.md_links(fixture("start.html")) == {
        "4": "Bürgerbüro",
        "7": "Fahrerlaubnisbehörde",
        "12": "Standesamt",
    }


def test_md_links_later_duplicate_overwrites_title():
    html = '<a href="select2?md=1">A</a><a href="select2?md=2">B</a><a href="select2?md=1">C</a>'
    assert tevis.md_links(html) == {"1": "C", "2": "B"}


def test_services_form_layout():
    records = tevis.services(fixture("select2_form.html"))
    assert [r["cnc"] for r in records] == ["cnc-122", "cnc-123", "cnc-130", "cnc-131", "cnc-140"]
    assert records[0] == {
        "mdt": "54",
        "cnc": "cnc-122",
        "calendar": "97|94|96",
        "location": "10|12",
        "title": "Personalausweis beantragen",
    }
    assert records[2]["calendar"] == "98"  # singular data-tevis-calendar of older installs
    assert records[3]["mdt"] == "55" and not records[3]["calendar"]
    assert all("name" not in r for r in records)


def test_services_flat_layout():
    records = tevis.services(fixture("select2_flat.html"))
    assert [r["mdt"] for r in records] == ["540"] * 3  # the first mdt input of the page
    assert [r.get("name") for r in records] == [
        "Fahrerlaubnis (Ersterteilung)",
        "Internationaler Führerschein",  # from data-tevis-cncname
        "Umschreibung ausländischer Fahrerlaubnis",
    ]
    assert records[2]["calendar"] == "301" and records[2]["location"] == "30"
    assert all("title" not in r for r in records)


def test_services_flat_without_name_and_without_mdt():
    html = '<input name="mdt" value="5"><div><div><input class="cnc-item" name="cnc-1"></div></div>'
    assert tevis.services(html) == [
        {"mdt": "5", "cnc": "cnc-1", "calendar": None, "location": None}
    ]
    with pytest.raises(ScrapeError, match="mdt"):
        tevis.services('<div><div><input class="cnc-item" name="cnc-1"></div></div>')


def test_calendar_work_list():
    work = tevis.calendar_work_list(tevis.services(fixture("select2_form.html")))
    assert work == {
        "97": ("54", "cnc-122"),
        "94": ("54", "cnc-122"),
        "96": ("54", "cnc-122"),
        "98": ("54", "cnc-130"),
        "mdt-55": ("55", "cnc-131"),
        "0": ("54", "cnc-140"),
    }
    flat = tevis.calendar_work_list(tevis.services(fixture("select2_flat.html")))
    assert flat == {"mdt-540": ("540", "cnc-1227"), "301": ("540", "cnc-1228")}


def test_script_calendar_id_and_messages():
    assert tevis.script_calendar_id(fixture("calendar.html")) == "99"
    assert tevis.no_calendar_message(fixture("calendar.html")) is None
    assert tevis.script_calendar_id(fixture("session_error.html")) is None
    assert (
        tevis.no_calendar_message(fixture("session_error.html")) == "Kein gültiger Mandant gefunden"
    )
    assert tevis.no_calendar_message(fixture("db_error.html")) == tevis.DB_ERROR


def test_iso_weeks_cross_the_year():
    assert tevis.iso_weeks(NOW, 3) == ["202128", "202129", "202130"]
    assert tevis.iso_weeks(datetime(2020, 12, 28), 2) == ["202053", "202101"]
    assert tevis.iso_weeks(datetime(2021, 1, 1), 1) == ["202053"]


def test_urls_keep_parameter_order():
    assert tevis.calendar_url("https://x/fra", "54", "cnc-122") == (
        "https://x/fra/calendar?mdt=54&select_cnc=1&cnc-122=1"
    )
    assert tevis.caldiv_url("https://x/fulda/", "97", "202128") == (
        "https://x/fulda//caldiv?cal=97&cnc=0&cncdata=&week=202128&json=1&offset=1"
    )


# --------------------------------------------------------------------------- parse


def week_fixture() -> dict:
    week = json.loads(fixture("caldiv_week.json"))
    del week["html"]
    return week


def payload() -> dict:
    return {
        "v": 2,
        "md": {"4": "Bürgerbüro", "7": "Fahrerlaubnisbehörde"},
        "cnc": [
            {"md": "4", "mdt": "54", "cnc": "cnc-122", "calendar": "97|94", "location": "10",
             "title": "Personalausweis beantragen"},
            {"md": "4", "mdt": "54", "cnc": "cnc-123", "calendar": "94|97|96", "location": "10",
             "title": "Reisepass beantragen"},
            {"md": "7", "mdt": "540", "cnc": "cnc-1228", "calendar": "301", "location": "30",
             "name": "Umschreibung"},
            {"md": "7", "mdt": "540", "cnc": "cnc-1227", "calendar": None, "location": None},
        ],
        "calendar": {
            "97": [week_fixture(), week_fixture()],  # fetched twice (two md): duplicates collapse
            "94": [],
            "301": [{"days": ["20210719", "20210720"], "valid": [["600", 615], []]}],
            "99": [{"days": ["20210721"], "valid": [{"0": 1, "1439": 1}]}],
        },
    }  # fmt: skip


def test_parse_locations_names_services_slots():
    parsed = tevis.parse(payload())
    assert sorted(parsed.locations) == ["301", "94", "97", "99"]
    loc = parsed.locations["97"]
    assert loc.name == "Bürgerbüro / Personalausweis beantragen"
    assert loc.services == ("Personalausweis beantragen", "Reisepass beantragen")
    assert loc.slots == (
        datetime(2021, 7, 12, 8, 0),
        datetime(2021, 7, 12, 8, 5),
        datetime(2021, 7, 12, 8, 20),
        datetime(2021, 7, 14, 9, 0),
        datetime(2021, 7, 14, 10, 0),
        datetime(2021, 7, 16, 11, 30),
    )
    assert parsed.locations["94"].slots == ()
    flat = parsed.locations["301"]
    assert flat.name == "Fahrerlaubnisbehörde / Umschreibung"  # no literal "None"
    assert flat.services == ("Umschreibung",)
    assert flat.slots == (datetime(2021, 7, 19, 10, 0), datetime(2021, 7, 19, 10, 15))
    script_only = parsed.locations["99"]
    assert (script_only.name, script_only.services) == ("99", ())
    assert script_only.slots == (datetime(2021, 7, 21, 0, 0), datetime(2021, 7, 21, 23, 59))
    assert "96" not in parsed.locations  # named by a service, never fetched


def test_parse_key_up_to_pipe_and_old_records_without_md():
    raw = {"md": {}, "cnc": [{"calendar": "5", "title": "Alt"}], "calendar": {"5|6": []}}
    loc = tevis.parse(raw).locations["5"]
    assert (loc.name, loc.services) == ("Alt", ("Alt",))


def test_parse_empty_payload():
    assert tevis.parse({"v": 2, "md": {}, "cnc": [], "calendar": {}}).locations == {}


def _broken(change) -> dict:
    raw = payload()
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ([], "not an object"),
        ({"v": 1, "md": {}, "cnc": [], "calendar": {}}, "version"),
        ({"md": {}, "cnc": []}, "'calendar'"),
        (_broken(lambda r: r["calendar"].update({"97": {}})), "calendar 97"),
        (_broken(lambda r: r["calendar"]["301"][0]["days"].__setitem__(0, "2021-07-19")),
         r"calendar 301, week #0.*YYYYMMDD"),
        (_broken(lambda r: r["calendar"]["301"][0]["days"].__setitem__(0, "20210231")),
         "valid date"),
        (_broken(lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, ["1440"])), "0..1439"),
        (_broken(lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, [8.5])), "integer"),
        (_broken(lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, [True])), "integer"),
        (_broken(lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, "480")), "valid entry"),
        (_broken(lambda r: r["calendar"]["97"][1].pop("days")), r"calendar 97, week #1"),
        (_broken(lambda r: r["cnc"][0].update({"md": "nope"})), "service #0"),
        (_broken(lambda r: r["cnc"][1].update({"calendar": 97})), "service #1"),
    ],
)  # fmt: skip
def test_parse_rejects_bad_shapes(raw, match):
    with pytest.raises(ParseError, match=match):
        tevis.parse(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 3000) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def mostly(good, bad):
    """``good`` nine times out of ten, else ``bad``."""
    return st.integers(0, 9).flatmap(lambda i: good if i else bad)


good_minutes = st.integers(0, 1439) | st.integers(0, 1439).map(str)
bad_minutes = st.integers(-2, 1500) | st.sampled_from(["x", "", "-5", "1440"]) | json_values
minutes = mostly(good_minutes, bad_minutes)
good_days = st.dates(date(1990, 1, 1), date(2100, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))
days = mostly(good_days, st.sampled_from(["2021071", "x", "20210230"]))
valid_entries = st.lists(minutes, max_size=3) | st.dictionaries(
    minutes.map(lambda m: m if isinstance(m, str) else json.dumps(m)), json_values, max_size=3
)
weeks = st.tuples(
    st.lists(st.tuples(days, valid_entries), max_size=5),  # parallel days/valid
    st.lists(days | valid_entries, max_size=1),  # an extra item on one side
    st.booleans(),
).map(
    lambda t: {
        "days": [d for d, _ in t[0]] + (t[1] if t[2] else []),
        "valid": [v for _, v in t[0]] + ([] if t[2] else t[1]),
    }
)
weeks = mostly(weeks, st.dictionaries(st.sampled_from(["days", "valid"]), json_values))
payloads = st.fixed_dictionaries(
    {
        "v": st.just(2),
        "md": st.just({"1": "Amt"}),
        "cnc": st.lists(
            st.fixed_dictionaries(
                {"md": st.just("1"), "calendar": st.text("12|"), "title": st.text()}
            )
        ),
        "calendar": st.dictionaries(
            mostly(st.sampled_from(["1", "2", "12", "2|1"]), st.text("12|x")),
            st.lists(weeks, max_size=3),
        ),
    }
)


def _input_slots(raw) -> dict[str, set[datetime]]:
    out: dict[str, set[datetime]] = {}
    for key, stored in raw["calendar"].items():
        for week in stored:
            for day, valid in zip(week["days"], week["valid"], strict=False):
                for m in valid:
                    base = datetime.strptime(day, "%Y%m%d")
                    out.setdefault(key.split("|")[0], set()).add(base + timedelta(minutes=int(m)))
    return out


@settings(max_examples=300, deadline=None)
@given(raw=payloads | json_values)
def test_parse_never_invents_slots(raw):
    try:
        parsed = tevis.parse(raw)
    except ParseError:
        return
    truth = _input_slots(raw)
    for loc_id, loc in parsed.locations.items():
        assert set(loc.slots) == truth.get(loc_id, set())
        assert list(loc.slots) == sorted(set(loc.slots))


# --------------------------------------------------------------------------- scrape over HTTP

STANDESAMT = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Standesamt</title></head>
<body><form class="cnc-form" action="calendar"><input type="hidden" name="mdt" value="60">
<a href="#">Eheschließung anmelden</a>
<input class="cnc-item" type="checkbox" name="cnc-200" data-tevis-calendars="94">
</form></body></html>"""


def week_json(cal: str, week: str) -> dict:
    """A synthetic caldiv week: Mon-Fri of the ISO week, one slot per weekday for calendar 94."""
    monday = datetime.strptime(week + "1", "%G%V%u")
    week_days = [(monday + timedelta(days=k)).strftime("%Y%m%d") for k in range(5)]
    valid = [{str(480 + 15 * k): 1} if cal == "94" else [] for k in range(5)]
    return {"days": week_days, "valid": valid, "html": "<table></table>"}


def make_handler(overrides: dict[str, tuple[str, str]] | None = None):
    """Route a tenant's requests; ``overrides`` maps a path+query to (body, content type)."""
    overrides = overrides or {}

    def handler(request):
        # "/{tenant}/{path}"; a base URL ending in "/" gives "/{tenant}//{path}"
        path = request.path.split("/", 2)[2].lstrip("/") if request.path.count("/") >= 2 else ""
        key = path + ("?" + request.query_string.decode() if request.query_string else "")
        if key in overrides:
            body, ctype = overrides[key]
            return Response(body, content_type=ctype)
        args = request.args
        if path == "":
            return Response(fixture("start.html"), content_type=HTML)
        if path == "select2":
            page = {"4": "select2_form.html", "7": "select2_flat.html"}.get(args["md"])
            return Response(fixture(page) if page else STANDESAMT, content_type=HTML)
        if path == "calendar":
            page = "session_error.html" if args["mdt"] == "540" and "cnc-1227" in args else None
            return Response(fixture(page or "calendar.html"), content_type=HTML)
        if path == "caldiv":
            if args["cal"] == "97" and args["week"] == "202128":
                return Response(fixture("caldiv_week.json"), content_type="application/json")
            if args["cal"] == "96":
                return Response("{}", content_type="application/json")
            body = json.dumps(week_json(args["cal"], args["week"]))
            return Response(body, content_type="application/json")
        return Response("not found", status=404)

    return handler


def run_scrape(httpserver, prefix="/fra", overrides=None, weeks=2, base_suffix=""):
    httpserver.expect_request(re.compile(".*")).respond_with_handler(make_handler(overrides))
    base = httpserver.url_for(prefix) + base_suffix
    source = Source(id="t", name="T", family="tevis", index_url=base, params={"base_url": base})

    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=2))
        session = fetcher.session()
        try:
            try:
                raw = await tevis.scrape(source, session, weeks, NOW)
            except ScrapeError as exc:
                return exc, session
            return raw, session
        finally:
            await fetcher.aclose()

    result, session = asyncio.run(go())
    urls = [req.full_path.rstrip("?") for req, _ in httpserver.log]
    return result, session, urls


def test_scrape_end_to_end(httpserver):
    raw, session, urls = run_scrape(httpserver, weeks=2)
    w = 2
    # md 4: 97, 94, 96, 98, mdt-55 (-> 99); md 7: mdt-540 (-> 0, calendar page only), 301;
    # md 12: 94 again.  1 + M + sum C x (1 + W), the pseudo entry resolving to 0 costing 1.
    assert session.requests == len(urls) == 1 + 3 + 5 * (1 + w) + 1 + 1 * (1 + w) + 1 * (1 + w)
    c = "cal={}&cnc=0&cncdata=&week={}&json=1&offset=1"
    weeks_of = lambda cal: [f"/fra/caldiv?{c.format(cal, wk)}" for wk in ("202128", "202129")]  # noqa: E731
    assert urls == [
        "/fra/",
        "/fra/select2?md=4",
        "/fra/calendar?mdt=54&select_cnc=1&cnc-122=1", *weeks_of("97"),
        "/fra/calendar?mdt=54&select_cnc=1&cnc-122=1", *weeks_of("94"),
        "/fra/calendar?mdt=54&select_cnc=1&cnc-122=1", *weeks_of("96"),
        "/fra/calendar?mdt=54&select_cnc=1&cnc-130=1", *weeks_of("98"),
        "/fra/calendar?mdt=55&select_cnc=1&cnc-131=1", *weeks_of("99"),
        "/fra/select2?md=7",
        "/fra/calendar?mdt=540&select_cnc=1&cnc-1227=1",
        "/fra/calendar?mdt=540&select_cnc=1&cnc-1228=1", *weeks_of("301"),
        "/fra/select2?md=12",
        "/fra/calendar?mdt=60&select_cnc=1&cnc-200=1", *weeks_of("94"),
    ]  # fmt: skip
    assert raw["v"] == 2
    assert raw["md"] == {"4": "Bürgerbüro", "7": "Fahrerlaubnisbehörde", "12": "Standesamt"}
    assert len(raw["cnc"]) == 5 + 3 + 1 and raw["cnc"][-1]["md"] == "12"
    assert list(raw["calendar"]) == ["97", "94", "96", "98", "99", "301"]
    assert raw["calendar"]["96"] == []  # both weeks answered {}
    assert len(raw["calendar"]["94"]) == 4  # listed under two md: fetched twice
    assert raw["calendar"]["97"][0] == week_fixture()
    assert all("html" not in wk for stored in raw["calendar"].values() for wk in stored)
    json.dumps(raw)

    parsed = tevis.parse(raw)
    assert sorted(parsed.locations) == ["301", "94", "96", "97", "98", "99"]
    assert len(parsed.locations["97"].slots) == 6
    assert len(parsed.locations["94"].slots) == 10  # duplicates from md 12 collapse
    assert parsed.locations["94"].services == (
        "Eheschließung anmelden",
        "Personalausweis beantragen",
        "Reisepass beantragen",
    )
    assert parsed.locations["99"].name == "99"
    assert (
        parsed.locations["301"].name
        == "Fahrerlaubnisbehörde / Umschreibung ausländischer Fahrerlaubnis"
    )


def test_scrape_base_url_with_trailing_slash_keeps_double_slash(httpserver):
    raw, session, urls = run_scrape(httpserver, prefix="/fulda", base_suffix="/", weeks=1)
    assert isinstance(raw, dict)
    assert urls[:2] == ["/fulda//", "/fulda//select2?md=4"]
    assert all(u.startswith("/fulda//") for u in urls)


def check_error(result, session, match: str, url_part: str):
    assert isinstance(result, ScrapeError), result
    assert re.search(match, str(result)), str(result)
    assert result.url is not None and result.url == session.last_url
    assert result.url.endswith(url_part), result.url


def test_scrape_database_error_start_page(httpserver):
    result, session, _ = run_scrape(httpserver, overrides={"": (fixture("db_error.html"), HTML)})
    check_error(result, session, "^tevis database error page$", "/fra/")


def test_scrape_start_page_without_departments(httpserver):
    page = "<html><head><title>Wartungsarbeiten</title></head><body><a href='x'>x</a></body></html>"
    result, session, _ = run_scrape(httpserver, overrides={"": (page, HTML)})
    check_error(result, session, "no departments.*Wartungsarbeiten", "/fra/")


def test_scrape_calendar_page_without_script(httpserver):
    page = "<html><head><title>Kalender</title></head><body>Bitte wählen</body></html>"
    key = "calendar?mdt=55&select_cnc=1&cnc-131=1"
    result, session, _ = run_scrape(httpserver, overrides={key: (page, HTML)})
    check_error(result, session, "Missing tevis script data for mdt 55", key)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<html><head><title>Server Error</title></head></html>", "^caldiv answer is not JSON "
         r"\(JSONDecodeError: .*Server Error"),
        ('{"days": ["20210712"], "valid": [{"48', r"\(JSONDecodeError: "),
        ("[1, 2]", "not an object"),
        ('{"days": ["20210712"]}', "'valid'"),
        ('{"days": ["2021-07-12"], "valid": [[480]]}', "YYYYMMDD"),
    ],
)  # fmt: skip
def test_scrape_bad_caldiv_answers(httpserver, body, match):
    key = "caldiv?cal=94&cnc=0&cncdata=&week=202128&json=1&offset=1"
    result, session, _ = run_scrape(httpserver, overrides={key: (body, "application/json")})
    check_error(result, session, match, key)


def test_scrape_flat_layout_without_mdt(httpserver):
    page = fixture("select2_flat.html").replace('name="mdt"', 'name="other"')
    result, session, _ = run_scrape(httpserver, overrides={"select2?md=7": (page, HTML)})
    check_error(result, session, "md 7: .*mdt", "select2?md=7")


def test_scrape_http_error_status(httpserver):
    def handler(request):
        return Response("kaputt", status=500)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    base = httpserver.url_for("/x")
    source = Source(id="t", name="T", family="tevis", index_url=base, params={"base_url": base})

    async def go():
        async with Fetcher(Politeness(min_gap=0, attempts=1, timeout=2)) as fetcher:
            session = fetcher.session()
            with pytest.raises(ScrapeError, match="HTTP 500") as info:
                await tevis.scrape(source, session, 1, NOW)
            assert info.value.url == base + "/"

    asyncio.run(go())
