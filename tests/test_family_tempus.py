"""The tempus family: HTML readers on fixtures, pure parse, scrape over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.catalog.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import tempus
from office_schedule.fetch import Fetcher, Politeness

from .conftest import FIXTURES

FIX = FIXTURES / "tempus"
NOW = datetime(2021, 7, 12, 10, 0)  # horizon with 4 weeks: 2021-08-09
FAST = Politeness(min_gap=0, attempts=1, timeout=2)
PATH = "/termine/index.php"


def page(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- HTML readers


def test_options_nested_lists():
    options = tempus.parse_options(page("index_tempus.html"))
    assert options[0] == {
        "category": "Ausweise und Pässe",
        "name": "Personalausweis beantragen",
        "id": "s_101",
    }
    assert options[2]["name"] == "Vorläufigen Personalausweis beantragen"  # div.anliegen
    assert options[5]["category"] == "Führerscheinstelle"  # first line of the <li>, no <h3>
    assert options[6] == {
        "category": "Informationen",
        "name": "Öffnungszeiten der Bürgerämter",
        "id": None,
    }
    assert tempus.category_forms(options) == [
        ("Ausweise und Pässe", {"s_101": "1", "s_102": "0", "s_103": "0"}),
        ("Meldeangelegenheiten", {"s_201": "1", "s_202": "0"}),
        ("Führerscheinstelle", {"s_301": "1"}),
    ]
    assert tempus.form_action(page("index_tempus.html")) == "?anlagennr=3&action=auswahl"


def test_options_labels_essen():
    options = tempus.parse_options(page("index_essen.html"))
    assert [(o["category"], o["id"]) for o in options] == [
        ("Personalausweis / Reisepass", "anliegen_11"),
        ("Personalausweis / Reisepass", "anliegen_12"),
        ("Meldeangelegenheiten", "anliegen_21"),
        ("Hinweise", None),
    ]
    assert tempus.form_action(page("index_essen.html")).startswith("index.php?anlagennr=21&")


def test_options_default_category_and_label_variants():
    html = """<form id="formular" action="?x=1"><ul class="menuepunkt">
      <li><input type="radio" name="dienst" value="r_5"><div class="liContent">Beratung</div></li>
      <li><input type="checkbox" name="c" value="c_6"> Abholung Dokumente</li>
      <li><select name="sel_7"></select> Zulassung</li>
      <li>Nur ein Text</li></ul></form>"""
    assert tempus.parse_options(html) == [
        {"category": "default", "name": "Beratung", "id": "r_5"},
        {"category": "default", "name": "Abholung Dokumente", "id": "c_6"},
        {"category": "default", "name": "Zulassung", "id": "sel_7"},
    ]
    labels = """<form id="formular"><label class="menuepunkt"><span>Pass</span>
      <select id="p1"></select></label><label class="menuepunkt"><span>Info</span></label></form>"""
    assert tempus.parse_options(labels) == [
        {"category": "default", "name": "Pass", "id": "p1"},
        {"category": "default", "name": "Info", "id": None},
    ]


@pytest.mark.parametrize(
    "html, match",
    [
        ("<html><body><p>Fehler</p></body></html>", "formular"),
        (
            '<form id="formular"><ul class="menuepunkt"><li><h3>A</h3>'
            '<ul class="untermenuepunkt"><li><b>x</b></li></ul></li></ul></form>',
            "neither <span>",
        ),
        (
            '<form id="formular"><label class="menuepunkt">A</label><label>frei</label>'
            '<label class="untermenuepunkt"><span>x</span></label></form>',
            "without class",
        ),
    ],
)
def test_options_shape_errors(html, match):
    with pytest.raises(tempus.PageError, match=match):
        tempus.parse_options(html)


def test_notice_target():
    assert tempus.notice_target(page("notice.html")) == "?anlagennr=3&action=hinweis&ok=1"
    assert tempus.notice_target(page("overview_tempus.html")) is None
    submit = """<p>Bitte beachten</p><input type="submit"
      value="Bestätigen und weiter zur Terminauswahl" onclick="location.href='?a=1&amp;b=2';">"""
    assert tempus.notice_target(submit) == "?a=1&b=2"
    with pytest.raises(tempus.PageError, match="no button"):
        tempus.notice_target("<h1>Wichtiger Hinweis</h1><p>Text</p>")
    with pytest.raises(tempus.PageError, match="onclick"):
        tempus.notice_target('<h1>Wichtiger Hinweis</h1><input type="button" value="OK">')


def test_classify_answer():
    assert tempus.classify_answer(page("no_location.html")) == "none"
    assert tempus.classify_answer(page("overview_tempus.html")) == "overview"
    assert tempus.classify_answer(page("overview_essen.html")) == "overview"  # <br /> form
    assert tempus.classify_answer(page("calendar.html")) == "calendar"
    assert tempus.classify_answer(page("appointment.html")) == "calendar"


def test_overview_links():
    assert tempus.overview_links(page("overview_tempus.html")) == [
        (
            "Bürgeramt Innenstadt",
            "?anlagennr=3&action=kalender&standortrowid=7&schlangennr=2&tasks=41",
        ),
        ("Bürgeramt Höchst", "?anlagennr=3&action=kalender&standortrowid=9&schlangennr=4&tasks=43"),
        ("Lage und Öffnungszeiten der Standorte", "?anlagennr=3&action=info&seite=standorte"),
    ]
    essen = tempus.overview_links(page("overview_essen.html"))  # ul#nav_menu2, no "…Uhr"
    assert [name for name, _ in essen] == ["Bürgeramt Essen-Mitte", "Bürgeramt Essen-Rüttenscheid"]
    with pytest.raises(tempus.PageError, match="without location links"):
        tempus.overview_links("<h2>Frühestmögliche Termine</h2><a href='?x'>09:00 Uhr</a>")


def test_calendar_page():
    cal = tempus.parse_calendar(page("calendar.html"))
    assert (cal.loc, cal.queue, cal.task) == ("7", "2", "41")
    assert [d for d, _ in cal.events] == [
        "2021-07-13",
        "2021-07-15",
        "2021-07-20",
        "2021-08-03",
        "2021-08-20",
    ]
    assert tempus.parse_calendar(page("booked_out.html")) is None
    assert tempus.parse_calendar(page("appointment.html")) is None
    assert (
        tempus.parse_calendar('<table class="cal"><tr><td class="monat">1</td></tr></table>')
        is None
    )
    with pytest.raises(tempus.PageError, match="No table found"):
        tempus.parse_calendar(page("error.html"))
    assert tempus.link_identity("?standortrowid=1&tasks=2&standortrowid=3") == {
        "loc": "3",
        "queue": None,
        "task": "2",
    }


def test_day_links_fill_the_tail_only():
    events = [("2021-07-20", "?x&datum=2021-07-20"), ("2021-07-13", "?x&datum=2021-07-13")]
    events.append(("2021-08-20", "?x&datum=2021-08-20"))
    links = tempus.day_links(events, date(2021, 7, 23))
    assert links == [
        ("2021-07-13", "?x&datum=2021-07-13"),
        ("2021-07-20", "?x&datum=2021-07-20"),
        ("2021-07-21", "?x&datum=2021-07-21"),
        ("2021-07-22", "?x&datum=2021-07-22"),
        ("2021-07-23", "?x&datum=2021-07-23"),
    ]
    assert tempus.day_links([("2021-09-01", "?datum=2021-09-01")], date(2021, 8, 9)) == []


def test_day_page():
    assert tempus.parse_day(page("day.html")) == ["08:00", "08:20", "09:40", "14:00"]
    assert tempus.parse_day(page("day_empty.html")) == []
    cells = '<table class="termine"><tr><td>08:00 - 08:15 Uhr</td><td>frei</td></tr></table>'
    assert tempus.parse_day(cells) == ["08:15"]
    with pytest.raises(tempus.PageError, match="termine"):
        tempus.parse_day(page("error.html"))


def test_resolve_link():
    base = "https://tempus-termine.com/termine/index.php"
    assert tempus.resolve_link(base, "?a=1") == base + "?a=1"
    assert tempus.resolve_link(base, "index.php?b=2") == base + "?b=2"
    assert tempus.resolve_link(base, "https://evil.example/index.php?a=1") is None
    assert tempus.resolve_link(base, "/termine/index.php?a=1") is None


# ---------------------------------------------------------------- parse


def calendar_entry(**kw):
    entry = {"loc": "7", "queue": "2", "task": "41", "category": "Ausweise", "dates": {}}
    entry.update(kw)
    return entry


def test_parse_names_services_and_merging():
    raw = {
        "options": [
            {"category": "Ausweise", "name": "Reisepass Infolink", "id": "s_2"},
            {"category": "Ausweise", "name": "Personalausweis\n (neu)", "id": "s_1"},
            {"category": "Kfz", "name": "Zulassung", "id": "k_1"},
        ],
        "calendars": [
            calendar_entry(sub_category="Innenstadt", dates={"2021-07-13": ["08:20", "08:00"]}),
            calendar_entry(category="Kfz", dates={"2021-07-13": ["08:00", "09:00"]}),
            calendar_entry(loc=None, task=None, queue=None, dates={}),
        ],
    }
    parsed = tempus.parse(raw)
    assert sorted(parsed.locations) == ["-/-", "7/41"]
    loc = parsed.locations["7/41"]
    assert loc.name == "Innenstadt: Ausweise"
    assert loc.services == ("Personalausweis", "Reisepass", "Zulassung")
    assert loc.slots == tuple(datetime(2021, 7, 13, h, m) for h, m in [(8, 0), (8, 20), (9, 0)])
    assert parsed.locations["-/-"].slots == ()
    assert parsed.locations["-/-"].name == "Ausweise"


@pytest.mark.parametrize(
    "raw, where",
    [
        ([], "expected an object"),
        ({"options": []}, "calendars"),
        ({"options": [{"category": "A", "name": 1, "id": None}], "calendars": []}, r"options\[0\]"),
        ({"options": [], "calendars": [calendar_entry(loc="7a")]}, r"calendars\[0\]\.loc"),
        ({"options": [], "calendars": [calendar_entry(dates={"13.07.2021": []})]}, "YYYY-MM-DD"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-07-13": ["8:00"]})]}, "HH:MM"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-07-13": ["25:00"]})]}, "date"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-02-30": ["08:00"]})]}, "date"),
        ({"options": [], "calendars": [calendar_entry(sub_category=None)]}, "sub_category"),
        ({"options": [], "calendars": ["x"]}, r"calendars\[0\]"),
    ],
)
def test_parse_rejects_bad_shapes(raw, where):
    with pytest.raises(ParseError, match=where):
        tempus.parse(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def payload_strategy(garbage):
    """Payloads shaped like the real thing; ``garbage`` may replace any leaf."""

    def leaf(valid):
        return st.one_of(valid, garbage)

    good_days, good_times = ["2021-07-13", "2021-07-15"] * 6, ["08:00", "09:30", "23:59"] * 6
    day = leaf(st.sampled_from(["2021-02-30", "13.07.2021", "٢٠٢١-07-13", *good_days]))
    time = leaf(st.sampled_from(["24:00", "8:00", "08:00:00", "０８:００", *good_times]))
    key = leaf(st.sampled_from(["x1", "٣", "", *[None, "7", "41", "3"] * 5]))
    category = leaf(st.sampled_from(["A", "B", ""]))
    option = st.fixed_dictionaries({"category": category, "name": leaf(st.text()), "id": key})
    calendar = st.fixed_dictionaries(
        {
            "loc": key,
            "queue": key,
            "task": key,
            "category": category,
            "dates": st.dictionaries(
                day.filter(lambda d: isinstance(d, str)), leaf(st.lists(time, max_size=4))
            ),
        },
        optional={"sub_category": leaf(st.text(max_size=5))},
    )
    return st.fixed_dictionaries(
        {
            "options": leaf(st.lists(option, max_size=3)),
            "calendars": leaf(st.lists(calendar, max_size=3)),
        }
    )


valid_calendar = st.fixed_dictionaries(
    {
        "loc": st.sampled_from(["7", "12"]),
        "queue": st.none(),
        "task": st.sampled_from(["41", "77"]),
        "category": st.just("A"),
        "dates": st.dictionaries(
            st.dates().map(date.isoformat),
            st.lists(st.times().map(lambda t: t.strftime("%H:%M")), min_size=1),
            min_size=1,
        ),
    }
)
valid_payloads = st.fixed_dictionaries(
    {"options": st.just([]), "calendars": st.lists(valid_calendar, min_size=1, max_size=3)}
)
payloads = st.one_of(
    json_values, valid_payloads, payload_strategy(st.nothing()), payload_strategy(json_values)
)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_parse_arbitrary_json_never_invents_slots(raw):
    text = json.dumps(raw, ensure_ascii=False)
    try:
        parsed = tempus.parse(raw)
    except ParseError:
        return
    for loc in parsed.locations.values():
        assert list(loc.slots) == sorted(set(loc.slots))
        for slot in loc.slots:
            assert f'"{slot.date().isoformat()}"' in text
            assert f'"{slot.hour:02d}:{slot.minute:02d}"' in text


# ---------------------------------------------------------------- scrape over HTTP


ESSEN_KEYS = "standortrowid={}&amp;schlangennr=3&amp;tasks={}"
LOC12 = "standortrowid=12&amp;schlangennr=5&amp;tasks=77"


class FakeTempus:
    """A small tempus installation (Frankfurt-like or Essen-like) behind pytest-httpserver."""

    COOKIE = "PHPSESSID"

    def __init__(self, essen: bool = False, overrides: dict | None = None):
        self.essen = essen
        self.overrides = overrides or {}
        self.sessions: dict[str, dict] = {}

    def html(self, key: str, default: str, replace: tuple[str, str] = ("", "")) -> Response:
        if key in self.overrides:
            value = self.overrides[key]
            if isinstance(value, Response):
                return value
            text = value
        else:
            text = page(default).replace(*replace) if replace[0] else page(default)
        return Response(text, content_type="text/html; charset=utf-8")

    def __call__(self, request):
        args = request.args
        sid = request.cookies.get(self.COOKIE)
        if (
            request.method == "GET"
            and "datum" not in args
            and not ({"action", "aktion"} & set(args))
        ):
            new = f"s{len(self.sessions) + 1}"
            self.sessions[new] = {"anwendung": args.get("anwendung")}
            index = "index_essen.html" if self.essen else "index_tempus.html"
            response = self.html("index", index)
            response.set_cookie(self.COOKIE, new)
            return response
        if sid not in self.sessions:
            return self.html("expired", "error.html")
        return self.route_essen(request) if self.essen else self.route_tempus(request)

    def route_tempus(self, request):
        args, form = request.args, request.form
        action = args.get("action")
        if request.method == "POST":
            if form.get("s_101") == "1":
                return self.html("post_ausweise", "notice.html")
            if form.get("s_201") == "1":
                return self.html("post_melde", "no_location.html")
            if form.get("s_301") == "1":  # answers with the calendar directly
                return self.html(
                    "post_fuehrerschein",
                    "calendar.html",
                    ("standortrowid=7&amp;schlangennr=2&amp;tasks=41", LOC12),
                )
            return self.html("bad_post", "error.html")
        if action == "hinweis":
            return self.html("overview", "overview_tempus.html")
        if action == "kalender":
            if args.get("standortrowid") == "7":
                return self.html("calendar_7", "calendar.html")
            return self.html("calendar_9", "booked_out.html")
        if action == "termine":
            day = args["datum"]
            if day in ("2021-07-13", "2021-07-20", "2021-08-03"):
                return self.html(f"day_{day}", "day.html")
            return self.html(f"day_{day}", "day_empty.html")
        return self.html("unknown", "error.html")

    def route_essen(self, request):
        args, form = request.args, request.form
        if request.method == "POST":
            if self.sessions[request.cookies[self.COOKIE]]["anwendung"] != "332":
                return self.html("wrong_app", "error.html")
            if form.get("anliegen_11") == "1":
                return self.html("post_ausweis", "overview_essen.html")
            return self.html("post_melde", "appointment.html")
        if args.get("aktion") == "kalender":
            loc = args["standortrowid"]
            return self.html(
                f"calendar_{loc}",
                "calendar_essen.html",
                (ESSEN_KEYS.format(101, 1001), ESSEN_KEYS.format(loc, args["tasks"])),
            )
        if args.get("aktion") == "tag":
            if args["datum"] in ("2021-07-14", "2021-08-06"):
                return self.html(f"day_{args['datum']}", "day.html")
            return self.html(f"day_{args['datum']}", "day_empty.html")
        return self.html("unknown", "error.html")


def make_source(httpserver, essen: bool = False) -> Source:
    params = {"anlagennr": "21" if essen else "3", "base_url": httpserver.url_for(PATH)}
    if essen:
        params["extra"] = "anwendung=332"
    return Source(
        id="essen" if essen else "frankfurtba",
        name="Test",
        family="tempus",
        index_url=params["base_url"],
        params=params,
    )


def run_scrape(httpserver, fake: FakeTempus, essen: bool = False, weeks: int = 4):
    httpserver.expect_request(PATH).respond_with_handler(fake)

    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await tempus.scrape(
                make_source(httpserver, essen), fetcher.session(), weeks, NOW
            )
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def requests_made(httpserver) -> list[str]:
    out = []
    for request, _ in httpserver.log:
        query = request.query_string.decode()
        out.append(
            f"{request.method} ?{query}"
            + (f" [{request.get_data(as_text=True)}]" if request.method == "POST" else "")
        )
    return out


def august(start: int, end: int) -> list[str]:
    return [f"2021-08-{d:02d}" for d in range(start, end + 1)]


DAY_TIMES = ["08:00", "08:20", "09:40", "14:00"]


def test_scrape_tempus_termine(httpserver):
    raw = run_scrape(httpserver, FakeTempus())
    assert raw["options"] == tempus.parse_options(page("index_tempus.html"))
    expected_dates = {d: DAY_TIMES for d in ("2021-07-13", "2021-07-20", "2021-08-03")}
    assert raw["calendars"] == [
        {
            "loc": "7",
            "queue": "2",
            "task": "41",
            "category": "Ausweise und Pässe",
            "sub_category": "Bürgeramt Innenstadt",
            "dates": expected_dates,
        },
        {
            "loc": "12",
            "queue": "5",
            "task": "77",
            "category": "Führerscheinstelle",
            "dates": expected_dates,
        },
    ]
    assert json.loads(json.dumps(raw)) == raw
    days = ["2021-07-13", "2021-07-15", "2021-07-20", *august(3, 9)]
    cal7 = "anlagennr=3&action=termine&standortrowid=7&schlangennr=2&tasks=41&datum="
    cal12 = "anlagennr=3&action=termine&standortrowid=12&schlangennr=5&tasks=77&datum="
    assert requests_made(httpserver) == [
        "GET ?anlagennr=3",
        "POST ?anlagennr=3&action=auswahl [s_101=1&s_102=0&s_103=0]",
        "GET ?anlagennr=3&action=hinweis&ok=1",
        "GET ?anlagennr=3&action=kalender&standortrowid=7&schlangennr=2&tasks=41",
        *[f"GET ?{cal7}{d}" for d in days],
        "GET ?anlagennr=3&action=kalender&standortrowid=9&schlangennr=4&tasks=43",
        "POST ?anlagennr=3&action=auswahl [s_201=1&s_202=0]",
        "POST ?anlagennr=3&action=auswahl [s_301=1]",
        *[f"GET ?{cal12}{d}" for d in days],
    ]
    parsed = tempus.parse(raw)
    assert sorted(parsed.locations) == ["12/77", "7/41"]
    assert parsed.locations["7/41"].name == "Bürgeramt Innenstadt: Ausweise und Pässe"
    assert parsed.locations["12/77"].services == ("Umtausch Führerschein",)
    assert parsed.slot_count == 24
    assert parsed.locations["7/41"].slots[0] == datetime(2021, 7, 13, 8, 0)


def test_scrape_essen_variant(httpserver):
    raw = run_scrape(httpserver, FakeTempus(essen=True), essen=True)
    dates = {"2021-07-14": DAY_TIMES, "2021-08-06": DAY_TIMES}
    assert raw["calendars"] == [
        {
            "loc": "101",
            "queue": "3",
            "task": "1001",
            "category": "Personalausweis / Reisepass",
            "sub_category": "Bürgeramt Essen-Mitte",
            "dates": dates,
        },
        {
            "loc": "102",
            "queue": "3",
            "task": "1002",
            "category": "Personalausweis / Reisepass",
            "sub_category": "Bürgeramt Essen-Rüttenscheid",
            "dates": dates,
        },
    ]
    log = requests_made(httpserver)
    assert log[:2] == [
        "GET ?anlagennr=21&anwendung=332",
        "POST ?anlagennr=21&aktion=standortwahl [anliegen_11=1&anliegen_12=0]",
    ]
    assert "anwendung" not in "".join(log[1:])
    assert log[2] == "GET ?anlagennr=21&aktion=kalender&standortrowid=101&schlangennr=3&tasks=1001"
    assert [entry.rsplit("datum=", 1)[1] for entry in log[3:9]] == [
        "2021-07-14",
        "2021-07-28",
        "2021-08-06",
        "2021-08-07",
        "2021-08-08",
        "2021-08-09",
    ]
    assert log[-1] == "POST ?anlagennr=21&aktion=standortwahl [anliegen_21=1]"
    assert len(log) == 1 + 1 + 2 * (1 + 6) + 1
    parsed = tempus.parse(raw)
    assert parsed.locations["101/1001"].services == (
        "Personalausweis beantragen",
        "Reisepass beantragen",
    )


ERROR = page("error.html")
NO_LINKS = "<html><body><h2>Frühestmögliche Termine</h2><p>Keine Standorte</p></body></html>"
EVIL = page("overview_tempus.html").replace(
    'href="?anlagennr=3&amp;action=kalender',
    'href="https://evil.example/termine/index.php?anlagennr=3&amp;action=kalender',
)
NO_ONCLICK = page("notice.html").replace('onclick="location.href=', 'data-x="')


@pytest.mark.parametrize(
    "overrides, message, url_part",
    [
        ({"index": ERROR}, "index page: expected the booking form", "?anlagennr=3"),
        ({"calendar_7": ERROR}, "No table found", "standortrowid=7"),
        ({"day_2021-07-15": ERROR}, "day page 2021-07-15", "datum=2021-07-15"),
        ({"overview": NO_LINKS}, "location overview", "action=hinweis"),
        ({"overview": EVIL}, "starts with neither", "action=hinweis"),
        ({"post_ausweise": NO_ONCLICK}, "no usable onclick", "action=auswahl"),
        ({"day_2021-07-13": Response("kaputt", status=500)}, "HTTP 500", "datum=2021-07-13"),
    ],
)
def test_scrape_errors_name_the_page_and_url(httpserver, overrides, message, url_part):
    with pytest.raises(ScrapeError, match=message) as info:
        run_scrape(httpserver, FakeTempus(overrides=overrides))
    assert info.value.url.startswith(httpserver.url_for(PATH)) and url_part in info.value.url


def test_scrape_no_slots_is_not_an_error(httpserver):
    none = page("no_location.html")
    fake = FakeTempus(
        overrides={"post_ausweise": none, "post_fuehrerschein": page("booked_out.html")}
    )
    raw = run_scrape(httpserver, fake)
    assert raw["calendars"] == []
    assert len(httpserver.log) == 4
    assert tempus.parse(raw).locations == {}


def test_scrape_events_beyond_horizon_give_an_empty_calendar(httpserver):
    raw = run_scrape(
        httpserver, FakeTempus(overrides={"post_ausweise": page("no_location.html")}), weeks=0
    )
    assert raw["calendars"] == [
        {"loc": "12", "queue": "5", "task": "77", "category": "Führerscheinstelle", "dates": {}}
    ]
    assert len(httpserver.log) == 4  # index + 3 POSTs: no event day lies within today
