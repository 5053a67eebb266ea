"""The tempus family: read_page on the simulator's pages, the scraper over loopback HTTP, parse.

No real TEMPUS page was ever recorded, so the readers are tested on the pages the simulator
serves in its three front ends (``classic`` tempus-termine.com, ``essen``, ``today`` with
``anlagentoken``/``sna``) and on the small sketches of docs/protocols/etermin-tempus.md.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from office_schedule.catalog.catalog import Source
from office_schedule.cli import main
from office_schedule.cli.pages import decode_page
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import check_empty, tempus
from office_schedule.families.pages import PageError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimWorld
from office_schedule.simulate import tempus_server as ts
from office_schedule.simulate.pages import SimRequest

START = datetime(2021, 7, 12, 9, 0)  # a Monday morning
WEEKS = 4
FAST = Politeness(min_gap=0, attempts=1, timeout=5)
VARIANTS = ("classic", "essen", "today")


# ---------------------------------------------------------------- the simulator behind HTTP


@functools.cache
def world_with_variants(seed: int = 1) -> SimWorld:
    return SimWorld(seed=seed, start=START, families={"tempus": 8}, frozen=True)


def fresh_world(seed: int = 1, start: datetime = START) -> SimWorld:
    return SimWorld(seed=seed, start=start, families={"tempus": 8}, frozen=True)


def pick(world: SimWorld, variant: str, multi: bool = False):
    """A source of ``variant`` (with a category of two or more locations when ``multi``)."""
    for src in world.sources.values():
        if ts.variant(src) != variant:
            continue
        if not multi or any(len(ts._dep_locations(src, d)) > 1 for d in src.departments):
            return src
    raise LookupError(variant)


def serve_sim(httpserver, world, src, mutate=None) -> Source:
    """pytest-httpserver answering as ``src``; ``mutate(request, body)`` edits or replaces."""

    def handler(request: Request) -> Response:
        sim = SimRequest(
            method=request.method,
            path=request.path,
            query=dict(request.args),
            form=dict(request.form),
            cookies=dict(request.cookies),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        reply = ts.handle(world, src, sim)
        body: str | Response = reply.body.decode("utf-8")
        if mutate is not None:
            body = mutate(request, body)
        if isinstance(body, Response):
            return body
        headers = {k: v.replace(f"Path=/{src.id}/", "Path=/") for k, v in reply.headers.items()}
        return Response(body, status=reply.status, content_type=reply.content_type, headers=headers)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    base = httpserver.url_for("").rstrip("/")
    index_url, params = ts.catalog_entry(src, base)
    return Source(id=src.id, name=src.name, family="tempus", index_url=index_url, params=params)


def run_scrape(source: Source, now: datetime, weeks: int = WEEKS) -> dict:
    async def go():
        fetcher = Fetcher(FAST)
        try:
            return await tempus.scrape(source, fetcher.session(), weeks, now)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def scrape_sim(httpserver, world, src, weeks=WEEKS, mutate=None) -> dict:
    return run_scrape(serve_sim(httpserver, world, src, mutate), world.now(), weeks)


def pages_of(httpserver) -> list[tuple[Request, str]]:
    return [(req, rsp.get_data(as_text=True)) for req, rsp in httpserver.log]


def book_out(world: SimWorld, src, loc_ids) -> None:
    """Every slot of these locations taken, up to the booking horizon."""
    now = world.now()
    day = now.date()
    while day <= world.horizon(now):
        for lid in loc_ids:
            loc = src.locations[lid]
            loc.booked.update(loc.grid(day))
        day += timedelta(days=1)


#: readers a page of each step may be read by, per front end
STEP_READERS = {
    "classic": {"tempus.index-lists", "tempus.notice", "tempus.overview", "tempus.calendar"},
    "essen": {"tempus.index-labels", "tempus.notice", "tempus.overview-nav", "tempus.calendar"},
    "today": {"tempus.index-lists", "tempus.notice", "tempus.overview-nav", "tempus.calendar"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_simulated_page_is_read_and_the_scrape_equals_truth(httpserver, variant):
    world = world_with_variants()
    src = pick(world, variant, multi=True)
    raw = scrape_sim(httpserver, world, src)
    assert tempus.parse(raw).to_truth() == world.truth(weeks=WEEKS)[src.id]
    readers = set()
    for req, text in pages_of(httpserver):
        view = tempus.read_page(text, req.url)
        readers.add(view.reader)
        if "datum=" in req.url:
            assert (view.page, view.reader) in (
                ("times", "tempus.day"),
                ("none-free", "tempus.day"),
            )
        assert tempus.read_page(text).reader == view.reader  # the page alone tells the same
    assert readers - {"tempus.day"} <= STEP_READERS[variant]
    index = "tempus.index-labels" if variant == "essen" else "tempus.index-lists"
    overview = "tempus.overview" if variant == "classic" else "tempus.overview-nav"
    assert {index, overview, "tempus.calendar", "tempus.day"} <= readers


@pytest.mark.parametrize("variant", VARIANTS)
def test_request_sequence_of_each_front_end(httpserver, variant):
    world = world_with_variants()
    src = pick(world, variant, multi=True)
    raw = scrape_sim(httpserver, world, src)
    log = [(req.method, req.query_string.decode(), dict(req.cookies)) for req, _ in httpserver.log]
    first = log[0][1]
    assert first.startswith(f"anlagennr={ts.anlagennr(src)}")
    if variant == "today":  # the token passed through, then the session in every link
        assert first == (
            f"anlagennr={ts.anlagennr(src)}&anlagentoken={ts.anlagentoken(src)}"
            f"&anwendung={ts.anwendung(src)}&infotext=buergerbuero"
        )
        assert all("sna=T" in q and "anr=" in q and not c for _, q, c in log[1:])
        assert any("page=tagesauswahl" in q for _, q, _ in log)
    else:
        assert all("PHPSESSID" in c for _, _, c in log[1:])
        assert ("anwendung" in first) == (variant == "essen")
        assert not any("anwendung" in q for _, q, _ in log[1:])
    posts = [q for m, q, _ in log if m == "POST"]
    assert len(posts) == len(tempus.category_forms(raw["options"]))
    # 1 index + per category 1 POST (+1 per notice) + per calendar page 1 + its day pages
    days = sum(1 for _, q, _ in log if "datum=" in q)
    calendars = sum(1 for _, q, _ in log if "standortrowid" in q and "datum=" not in q)
    notices = sum(1 for req, text in pages_of(httpserver) if tempus.read_page(text).page == "start")
    assert len(log) == 1 + len(posts) + notices + calendars + days


def test_a_booked_out_location_keeps_the_rows_marker(httpserver):
    for variant in VARIANTS:
        world = fresh_world()
        src = pick(world, variant, multi=True)
        dep = next(d for d in src.departments if len(ts._dep_locations(src, d)) > 1)
        gone = ts._dep_locations(src, dep)[0]
        book_out(world, src, [gone.id])
        httpserver.clear()
        raw = scrape_sim(httpserver, world, src)
        parsed = check_empty(tempus.parse(raw), "tempus")
        assert parsed.to_truth() == world.truth(weeks=WEEKS)[src.id], variant
        loc = parsed.locations[ts.location_id(src, gone)]
        assert (loc.slots, loc.empty) == ((), tempus.ROW_NONE_TEXT)
        assert "standortrowid" not in loc.url  # the overview said so: no calendar fetched
        fetched = [req.url for req, _ in httpserver.log]
        assert not any(f"standortrowid={gone.id}&" in u and "datum" not in u for u in fetched)


@pytest.mark.parametrize("variant", VARIANTS)
def test_nothing_free_anywhere_is_the_snapshots_statement(httpserver, variant):
    world = fresh_world()
    src = pick(world, variant)
    book_out(world, src, list(src.locations))
    raw = scrape_sim(httpserver, world, src)
    parsed = check_empty(tempus.parse(raw), "tempus")
    assert parsed.locations == {}
    marker = tempus.NO_APPOINTMENTS_TEXT if variant == "today" else tempus.NO_LOCATION_TEXT
    assert parsed.empty == marker
    assert [a["category"] for a in raw["none_free"]] == [
        c for c, _ in tempus.category_forms(raw["options"])
    ]


def test_days_beyond_the_horizon_and_empty_time_tables_are_named(httpserver):
    world = fresh_world(start=datetime(2021, 7, 17, 19, 0))  # Saturday evening
    src = pick(world, "classic", multi=True)
    parsed = check_empty(tempus.parse(scrape_sim(httpserver, world, src, weeks=0)), "tempus")
    assert parsed.to_truth() == world.truth(weeks=0)[src.id]
    assert {loc.empty.split(" up to")[0] for loc in parsed.locations.values()} == {
        tempus.NO_BOOKABLE_DAY
    }

    def no_times(request, body):
        if "datum=" not in request.url:
            return body
        empty = '<table class="termine"></table>'
        return re.sub(r'<table class="termine">.*</table>', empty, body, flags=re.S)

    httpserver.clear()
    world = fresh_world()
    src = world.sources[src.id]
    parsed = check_empty(tempus.parse(scrape_sim(httpserver, world, src, mutate=no_times)))
    for loc in parsed.locations.values():
        assert loc.empty.startswith(tempus.EMPTY_DAY) or loc.empty == tempus.ROW_NONE_TEXT


def classic_with_notice_and_overview():
    """A classic source whose notice category answers with an overview of locations."""
    for seed in range(1, 20):
        world = world_with_variants(seed)
        for src in world.sources.values():
            deps = [d for d in src.departments if d.title in ts.NOTICE_DEPARTMENTS]
            if ts.variant(src) == "classic" and any(
                len(ts._dep_locations(src, d)) > 1 for d in deps
            ):
                return world, src
    raise LookupError("no classic source with a notice and an overview")


def _garbage(request, body):
    return "<html><body><p>Wartungsarbeiten</p></body></html>"


def _only(pattern, replace):
    def mutate(request, body):
        return replace(body) if re.search(pattern, request.url) else body

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message", "url_part"),
    [
        (_garbage, "unrecognised page", "anlagennr="),
        (_only(r"action=kalender", lambda b: _garbage(0, b)), "unrecognised page", "kalender"),
        (
            _only(r"datum=", lambda b: b.replace('class="termine"', 'class="zeiten"')),
            "unrecognised page",
            "datum=",
        ),
        (
            _only(
                r"action=hinweis", lambda b: b.replace('href="?', 'href="https://evil.example/?')
            ),
            "starts with neither",
            "action=hinweis",
        ),
        (
            _only(r"action=auswahl", lambda b: b.replace("onclick=", "data-x=")),
            "no usable onclick",
            "action=auswahl",
        ),
        (_only(r"datum=", lambda b: Response("kaputt", status=500)), "HTTP 500", "datum="),
        (
            _only(r"action=kalender", lambda b: ts.expired_page().body.decode()),
            "the site says 'Ihre Sitzung ist abgelaufen",
            "kalender",
        ),
    ],
)
def test_scrape_errors_name_the_page_and_url(httpserver, mutate, message, url_part):
    world, src = classic_with_notice_and_overview()
    with pytest.raises(ScrapeError, match=message) as info:
        scrape_sim(httpserver, world, src, mutate=mutate)
    assert info.value.url.startswith(httpserver.url_for(ts.PATH)) and url_part in info.value.url


def test_the_today_front_end_needs_its_anlagentoken(httpserver):
    world = world_with_variants()
    src = pick(world, "today")
    source = serve_sim(httpserver, world, src)
    del source.params["anlagentoken"]
    with pytest.raises(PageError, match="unrecognised page") as info:
        run_scrape(source, world.now())
    assert "anlagentoken" not in info.value.url


# ---------------------------------------------------------------- the readers on their own


class _SimSession:
    """A session answering from the simulator without a socket; keeps every page it got."""

    def __init__(self, world, src, base: str):
        self.world, self.src, self.base = world, src, base
        self.cookies: dict[str, str] = {}
        self.pages: list[tuple[str, str]] = []

    def clear_cookies(self):
        self.cookies.clear()

    async def get(self, url, params=None):
        return self.answer("GET", url, params or {}, {})

    async def post(self, url, data=None):
        return self.answer("POST", url, {}, data or {})

    def answer(self, method, url, params, form):
        query = {**dict(parse_qsl(urlsplit(url).query, True)), **params}
        request = SimRequest(method, ts.PATH, query, form=form, cookies=self.cookies)
        reply = ts.handle(self.world, self.src, request)
        cookie = reply.headers.get("Set-Cookie")
        if cookie:
            name, value = cookie.split(";")[0].split("=", 1)
            self.cookies[name] = value
        full = f"{self.base}{ts.PATH}?{urlencode(query)}"
        self.pages.append((reply.body.decode(), full))
        return type("Answer", (), {"url": full, "text": reply.body.decode()})


@functools.cache
def sample_pages() -> dict[str, tuple[str, str]]:
    """(text, url) of a calendar page with events and a day page with times, per variant."""
    out = {}
    world = world_with_variants()
    base = "https://tempus-termine.com"
    for variant in VARIANTS:
        src = pick(world, variant)
        index_url, params = ts.catalog_entry(src, base)
        source = Source(
            id=src.id, name=src.name, family="tempus", index_url=index_url, params=params
        )
        session = _SimSession(world, src, base)
        asyncio.run(tempus.scrape(source, session, WEEKS, world.now()))
        for text, url in session.pages:
            view = tempus.read_page(text, url)
            if view.page == "days":
                out.setdefault(f"{variant}-calendar", (text, url))
            if view.page == "times":
                out.setdefault(f"{variant}-day", (text, url))
    return out


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).map(
    lambda w: "zz" + w
)


@settings(max_examples=80, deadline=None)
@given(
    variant=st.sampled_from(VARIANTS),
    edit=st.sampled_from(["event-class", "datum", "termine-class", "cell-tag"]),
    word=WORD,
    with_url=st.booleans(),
)
def test_property_renamed_slot_markup_gives_page_error(variant, edit, word, with_url):
    step = "calendar" if edit in ("event-class", "datum") else "day"
    text, url = sample_pages()[f"{variant}-{step}"]
    assert tempus.read_page(text, url).page == ("days" if step == "calendar" else "times")
    renamed = {
        "event-class": lambda t: t.replace(tempus.EVENT_CLASS + '"', word + '"'),
        "datum": lambda t: t.replace("datum=", word + "="),
        "termine-class": lambda t: t.replace('class="termine"', f'class="{word}"'),
        "cell-tag": lambda t: t.replace("<td>", f"<{word}>").replace("</td>", f"</{word}>"),
    }[edit](text)
    assert renamed != text
    with pytest.raises(PageError):
        tempus.read_page(renamed, url if with_url else None)


def test_calendar_without_bookable_days_needs_the_known_day_class():
    empty = (
        '<table class="cal"><tr><td class="monat">1</td><td class="leer">&nbsp;</td></tr></table>'
    )
    view = tempus.read_page(empty, "https://t/termine/index.php?standortrowid=7&tasks=41")
    assert (view.page, view.marker) == ("none-free", tempus.NO_BOOKABLE_DAY)
    assert view.details["identity"] == {"loc": "7", "queue": None, "task": "41"}
    with pytest.raises(PageError, match="unknown class"):
        tempus.read_page(empty.replace('"monat"', '"monatfrei"'))
    with pytest.raises(PageError, match="datum"):
        tempus.read_page('<table class="cal"><tr><td class="monatevent">1</td></tr></table>')


def test_day_pages():
    day = (
        '<h2>Freie Termine am 13.07.2021</h2><table class="termine"><tr>'
        "<td>08:00 - 08:15 Uhr</td><td>frei</td></tr></table>"
    )
    view = tempus.read_page(day)
    assert (view.page, view.slots) == ("times", ["2021-07-13 08:15"])  # the last time of a cell
    assert tempus.read_page(day, "https://t/?datum=2021-07-14").slots == ["2021-07-14 08:15"]
    empty = tempus.read_page('<table class="termine">\n</table>', "https://t/?datum=2021-07-14")
    assert (empty.page, empty.marker) == ("none-free", tempus.EMPTY_DAY)
    with pytest.raises(PageError, match="no HH:MM"):
        tempus.read_page('<table class="termine"><tr><td>frei</td></tr></table>')
    with pytest.raises(PageError, match="without its date"):
        tempus.read_page('<table class="termine"><tr><td>08:00</td></tr></table>')


def test_options_nested_lists_and_default_category():
    html = """<form id="formular" action="?x=1"><ul class="menuepunkt">
      <li><input type="radio" name="dienst" value="r_5"><div class="liContent">Beratung</div></li>
      <li><input type="checkbox" name="c" value="c_6"> Abholung Dokumente</li>
      <li><select name="sel_7"></select> Zulassung</li>
      <li>Nur ein Text</li></ul></form>"""
    view = tempus.read_page(html)
    assert (view.page, view.reader, view.details["action"]) == (
        "services",
        "tempus.index-lists",
        "?x=1",
    )
    assert view.details["options"] == [
        {"category": "default", "name": "Beratung", "id": "r_5"},
        {"category": "default", "name": "Abholung Dokumente", "id": "c_6"},
        {"category": "default", "name": "Zulassung", "id": "sel_7"},
    ]
    sketch = """<form id="formular" action="?anlagennr=3&amp;action=auswahl" method="post">
     <ul class="menuepunkt"><li><h3>Ausweise</h3><ul class="untermenuepunkt">
        <li><span>Personalausweis</span> <select id="s_12" name="s_12"></select></li>
        <li><span>Reisepass</span> <select id="s_13" name="s_13"></select></li>
     </ul></li></ul></form>"""
    options = tempus.read_page(sketch).details["options"]
    assert tempus.category_forms(options) == [("Ausweise", {"s_12": "1", "s_13": "0"})]
    assert tempus.read_page(sketch).details["action"] == "?anlagennr=3&action=auswahl"


def test_options_labels():
    labels = """<form id="formular"><label class="menuepunkt"><span>Pass</span>
      <select id="p1"></select></label><label class="menuepunkt"><span>Info</span></label></form>"""
    view = tempus.read_page(labels)
    assert view.reader == "tempus.index-labels"
    assert view.details["options"] == [
        {"category": "default", "name": "Pass", "id": "p1"},
        {"category": "default", "name": "Info", "id": None},
    ]


@pytest.mark.parametrize(
    "html, match",
    [
        ('<form id="formular"><p>leer</p></form>', "no service"),
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
        ("<html><body><p>Fehler</p></body></html>", "unrecognised page"),
    ],
)
def test_index_shape_errors(html, match):
    with pytest.raises(PageError, match=match):
        tempus.read_page(html)


def test_notice_pages():
    submit = """<p>Bitte beachten</p><input type="submit"
      value="Bestätigen und weiter zur Terminauswahl" onclick="location.href='?a=1&amp;b=2';">"""
    view = tempus.read_page(submit)
    assert (view.page, view.reader, view.details["next"]) == ("start", "tempus.notice", "?a=1&b=2")
    with pytest.raises(PageError, match="no button"):
        tempus.read_page("<h1>Wichtiger Hinweis</h1><p>Text</p>")
    with pytest.raises(PageError, match="onclick"):
        tempus.read_page('<h1>Wichtiger Hinweis</h1><input type="button" value="OK">')


def test_none_free_texts_and_overview_rows():
    for text, reader in (
        (tempus.NO_LOCATION_TEXT, "tempus.no-location"),
        (tempus.BOOKED_OUT_TEXT, "tempus.booked-out"),
        (tempus.NO_APPOINTMENTS_TEXT, "tempus.no-appointments"),
    ):
        view = tempus.read_page(f"<html><body><p>{text}</p></body></html>")
        assert (view.page, view.marker, view.reader) == ("none-free", text, reader)
    rows = """<h2>Frühestmögliche Termine</h2><table>
      <tr><td><a class="infolink" href="?standortrowid=7&amp;tasks=41">Termine in Mitte</a></td>
          <td><a class="infolink" href="?x">13.07.2021, 08:00 Uhr</a></td></tr>
      <tr><td><a class="infolink" href="?standortrowid=9&amp;tasks=43">Süd</a></td>
          <td>Kein Termin verfügbar</td></tr>
      <tr><td><a class="infolink" href="?seite=info">Lage der Standorte</a></td></tr></table>"""
    view = tempus.read_page(rows)
    assert [(o.id, o.name, o.earliest) for o in view.offices] == [
        ("7/41", "Mitte", "2021-07-13 08:00"),
        ("9/43", "Süd", None),
    ]
    assert [r["none_free"] for r in view.details["rows"]] == [None, tempus.ROW_NONE_TEXT]
    with pytest.raises(PageError, match="without location links"):
        tempus.read_page("<h2>Frühestmögliche Termine</h2><a href='?x'>09:00 Uhr</a>")


def test_links_identity_and_tail_days():
    base = "https://tempus-termine.com/termine/index.php"
    assert tempus.resolve_link(base, "?a=1") == base + "?a=1"
    assert tempus.resolve_link(base, "index.php?b=2") == base + "?b=2"
    assert tempus.resolve_link(base, "https://evil.example/index.php?a=1") is None
    assert tempus.resolve_link(base, "/termine/index.php?a=1") is None
    assert tempus.link_identity("?standortrowid=1&tasks=2&standortrowid=3") == {
        "loc": "3",
        "queue": None,
        "task": "2",
    }
    today = "?anr=107&sna=Tab&action=open&page=tagesauswahl&tasks=4787&schlangen=1-2-3"
    today += "&standortrowid=298"
    assert tempus.link_identity(today) == {"loc": "298", "queue": "1-2-3", "task": "4787"}
    events = [("2021-07-20", "?x&datum=2021-07-20"), ("2021-07-13", "?x&datum=2021-07-13")]
    events.append(("2021-08-20", "?x&datum=2021-08-20"))
    assert [d for d, _ in tempus.day_links(events, date(2021, 7, 23))] == [
        "2021-07-13",
        "2021-07-20",
        "2021-07-21",
        "2021-07-22",
        "2021-07-23",
    ]
    assert tempus.day_links([("2021-09-01", "?datum=2021-09-01")], date(2021, 8, 9)) == []


# ---------------------------------------------------------------- parse


def calendar_entry(**kw):
    entry = {"loc": "7", "queue": "2", "task": "41", "category": "Ausweise", "dates": {}}
    entry.update(kw)
    return entry


def test_parse_names_services_merging_and_markers():
    raw = {
        "options": [
            {"category": "Ausweise", "name": "Reisepass Infolink", "id": "s_2"},
            {"category": "Ausweise", "name": "Personalausweis\n (neu)", "id": "s_1"},
            {"category": "Kfz", "name": "Zulassung", "id": "k_1"},
        ],
        "calendars": [
            calendar_entry(sub_category="Innenstadt", dates={"2021-07-13": ["08:20", "08:00"]}),
            calendar_entry(category="Kfz", dates={"2021-07-13": ["08:00", "09:00"]}),
            calendar_entry(loc="9", task="43", queue="2-11", none_free="Kein Termin", url="u"),
        ],
        "none_free": [{"category": "Melde", "marker": tempus.NO_LOCATION_TEXT, "url": "u2"}],
    }
    parsed = check_empty(tempus.parse(raw), "tempus")
    assert sorted(parsed.locations) == ["7/41", "9/43"]
    assert parsed.empty is None  # locations were listed
    loc = parsed.locations["7/41"]
    assert loc.name == "Innenstadt: Ausweise"
    assert loc.services == ("Personalausweis", "Reisepass", "Zulassung")
    assert loc.slots == tuple(datetime(2021, 7, 13, h, m) for h, m in [(8, 0), (8, 20), (9, 0)])
    empty = parsed.locations["9/43"]
    assert (empty.slots, empty.empty, empty.url) == ((), "Kein Termin", "u")
    alone = tempus.parse({"options": [], "calendars": [], "none_free": raw["none_free"]})
    assert (alone.locations, alone.empty) == ({}, tempus.NO_LOCATION_TEXT)


@pytest.mark.parametrize(
    "raw, where",
    [
        ([], "expected an object"),
        ({"options": []}, "calendars"),
        ({"options": [{"category": "A", "name": 1, "id": None}], "calendars": []}, r"options\[0\]"),
        ({"options": [], "calendars": [calendar_entry(loc="7a")]}, r"calendars\[0\]\.loc"),
        ({"options": [], "calendars": [calendar_entry(queue="2-")]}, r"calendars\[0\]\.queue"),
        ({"options": [], "calendars": [calendar_entry(dates={"13.07.2021": []})]}, "YYYY-MM-DD"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-07-13": ["8:00"]})]}, "HH:MM"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-07-13": ["25:00"]})]}, "date"),
        ({"options": [], "calendars": [calendar_entry(dates={"2021-02-30": ["08:00"]})]}, "date"),
        ({"options": [], "calendars": [calendar_entry(sub_category=None)]}, "sub_category"),
        ({"options": [], "calendars": ["x"]}, r"calendars\[0\]"),
        ({"options": [], "calendars": [calendar_entry(none_free="")]}, "none_free: empty"),
        (
            {
                "options": [],
                "calendars": [calendar_entry(dates={"2021-07-13": ["08:00"]}, none_free="x")],
            },
            "has slots and",
        ),
        ({"options": [], "calendars": [], "none_free": {"A": "x"}}, "none_free"),
        ({"options": [], "calendars": [], "none_free": [{"marker": 3}]}, "marker"),
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
    key = leaf(st.sampled_from(["x1", "٣", "", "2-11", *[None, "7", "41", "3"] * 5]))
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
        optional={
            "sub_category": leaf(st.text(max_size=5)),
            "none_free": leaf(st.sampled_from(["Kein Termin verfügbar", ""])),
        },
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
        assert loc.empty is None or not loc.slots
        for slot in loc.slots:
            assert f'"{slot.date().isoformat()}"' in text
            assert f'"{slot.hour:02d}:{slot.minute:02d}"' in text


# ---------------------------------------------------------------- real pages and the CLI


def test_real_pages_when_any_were_recorded(shared_dir):
    folder = shared_dir / "data" / "real-pages" / "tempus"
    files = sorted(folder.glob("*.htm*")) if folder.is_dir() else []
    if not files:
        pytest.skip("no real TEMPUS page is recorded in ../shared (none was found anywhere)")
    simulated = set().union(*STEP_READERS.values()) | {"tempus.day"}
    for path in files:
        view = tempus.read_page(decode_page(path.read_bytes()))
        assert view.reader in simulated | {"tempus.no-location", "tempus.booked-out"}, path


def test_read_page_command_on_simulated_pages(tmp_path):
    for name, (text, _) in sample_pages().items():
        (tmp_path / f"{name}.html").write_text(text, encoding="utf-8")
    files = sorted(str(p) for p in tmp_path.glob("*.html"))
    result = CliRunner().invoke(main, ["read-page", "tempus", *files, "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = {Path(v["file"]).stem: v for v in json.loads(result.output)}
    for variant in VARIANTS:
        assert (
            shown[f"{variant}-calendar"]["page"] == "days" and shown[f"{variant}-calendar"]["days"]
        )
        assert shown[f"{variant}-day"]["page"] == "times" and shown[f"{variant}-day"]["slots"]
