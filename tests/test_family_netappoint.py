"""netappoint readers on the real WEB_APPOINT fragment and on simulator pages of both skins,
``parse``, and ``scrape`` over loopback (pytest-httpserver serving simulator pages, some of
them altered to provoke each error path)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from werkzeug import Request, Response

from office_schedule.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import check_empty
from office_schedule.families import netappoint as na
from office_schedule.families.netappoint import protocol as p
from office_schedule.families.pages import PageError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimWorld
from office_schedule.simulate import netappoint_ajax_server as aj
from office_schedule.simulate import netappoint_server as ns
from office_schedule.simulate.pages import Reply, SimRequest

from .conftest import SHARED

REAL = "data/real-pages/netappoint/muenchen_abh_2023-10_calendar_fragment.html"
REAL_ID = "d988f171668043062a198d92af324503"
NOW = datetime(2021, 7, 12, 9, 30)  # a Monday
WEEKS = 4


def real_fragment() -> str:
    path = SHARED / REAL
    if not path.is_file():
        pytest.skip("../shared is not present")
    return path.read_text(encoding="utf-8")


def with_bookable_12th(fragment: str) -> str:
    """The real fragment with 12 October made bookable, in the form another bot quotes."""
    cell = re.compile(
        r'<span\s+class="hidden">Keine freien Termine am </span>12<span class="hidden">'
        r"\.10\.2023</span>"
    )
    link = (
        '<a class="nat_calendar nat_calendar_weekday_bookable" href="javascript:locationList.'
        f"showTimeList('{REAL_ID}','{REAL_ID}TL','2023-10-12')\"><span class=\"hidden\">"
        'Termin am </span>12<span class="hidden">.10.2023 reservieren</span></a>'
    )
    out, n = cell.subn(link, fragment)
    assert n == 1
    return out


def find_source(predicate, start: datetime = NOW, **kw):
    """(world, source) of the first seed whose netappoint source satisfies ``predicate``."""
    for seed in range(80):
        world = SimWorld(seed=seed, families={"netappoint": 3}, frozen=True, start=start, **kw)
        for src in world.sources.values():
            if predicate(world, src):
                return world, src
    raise AssertionError("no simulated source fits")


def text(reply: Reply) -> str:
    return reply.body.decode("utf-8")


def is_ajax(_, src) -> bool:
    return src.variant == "ajax"


def fragment_of(page: str) -> str:
    return HTMLParser(page).css_first(f"#{p.LOCATION_LIST_ID}").html


# ---------------------------------------------------------------------------
# the real WEB_APPOINT fragment


def test_real_fragment_shows_nothing_free():
    view = na.read_page(real_fragment())
    assert (view.page, view.reader) == ("none-free", "netappoint.web-appoint-calendar")
    assert view.marker == "Keine freien Termine am"
    assert view.days == view.slots == []
    assert [(o.id, o.name) for o in view.offices] == [(REAL_ID, "Ausländerbehörde München")]
    months = view.details["locations"][REAL_ID].shown
    assert months == [(2023, 10), (2023, 11), (2023, 12), (2024, 1), (2024, 2)]


def test_real_fragment_with_a_bookable_day_shows_that_day():
    view = na.read_page(with_bookable_12th(real_fragment()))
    assert (view.page, view.reader) == ("days", "netappoint.web-appoint-calendar")
    assert view.days == ["2023-10-12"] and view.slots == []


def test_simulator_fragments_take_the_real_reader_path():
    real = na.read_page(real_fragment())
    world, src = find_source(is_ajax)
    full = text(aj.answer_page(world, src, list(src.locations)))
    assert na.read_page(full).reader == "netappoint.web-appoint-answer"
    sim = na.read_page(fragment_of(full))
    assert (sim.reader, sim.page) == (real.reader, "days")
    empty_world, empty_src = find_source(
        is_ajax, start=datetime(2021, 7, 25, 23, 0), horizon_weeks=0
    )
    empty = text(aj.answer_page(empty_world, empty_src, list(empty_src.locations)))
    nothing = na.read_page(fragment_of(empty))
    assert (nothing.reader, nothing.page, nothing.marker) == (real.reader, "none-free", real.marker)


REAL_KEYS = [
    "Keine freien Termine am",
    "Termin am",
    "nat_calendar",
    "nat_calendar_weekday_bookable",
    "showTimeList",
    "WEB_APPOINT_LOCATION_HEADLINE",
    "WEBAPPOINT_LOCATION_CONTENT",
    "htmlCalendarMonth",
    "Verfügbare Tage im",
    "locationContent",
]
WORD = st.from_regex(r"\A[a-z]{1,10}\Z")


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(REAL_KEYS), word=WORD, bookable=st.booleans())
def test_property_real_fragment_renamed_is_an_error(key, word, bookable):
    page = real_fragment()
    page = with_bookable_12th(page) if bookable else page
    if key not in page:
        return
    with pytest.raises(PageError):
        na.read_page(page.replace(key, word))


# ---------------------------------------------------------------------------
# WEB_APPOINT answer and form (simulator pages)


def test_web_appoint_answer_has_every_slot_of_jsonappoints():
    world, src = find_source(is_ajax)
    view = na.read_page(text(aj.answer_page(world, src, list(src.locations))))
    assert (view.page, view.reader) == ("times", "netappoint.web-appoint-answer")
    ids = {aj.web_id(src, loc): loc for loc in src.locations.values()}
    assert {o.id for o in view.offices} == set(ids)
    expected = sorted(
        {
            f"{day.isoformat()} {m // 60:02d}:{m % 60:02d}"
            for loc in src.locations.values()
            for i in range(160)
            if (day := NOW.date() + timedelta(days=i)) < date(2021, 12, 1)
            for m in world.published_day(src, loc.id, day, world.now())
        }
    )
    assert view.slots == expected and view.days == sorted({s[:10] for s in expected})
    for loc_id, loc in view.details["locations"].items():
        assert loc.caption == ids[loc_id].name and loc.days == {s[:10] for s in loc.slots}


def test_web_appoint_answer_without_free_time_is_none_free():
    world, src = find_source(is_ajax, start=datetime(2021, 7, 25, 23, 0), horizon_weeks=0)
    view = na.read_page(text(aj.answer_page(world, src, list(src.locations))))
    assert (view.page, view.marker, view.slots) == ("none-free", p.NONE_FREE_CELL, [])


def test_web_appoint_answer_and_calendar_must_agree():
    world, src = find_source(is_ajax)
    page = text(aj.answer_page(world, src, list(src.locations)[:1]))
    first = re.search(r'"(\d{4}-\d{2}-\d{2})":\["', page).group(1)
    # a free day dropped from the JSON only, or a time added to a day the calendar shows empty
    dropped = re.sub(rf'"{first}":\[[^\]]*\]', f'"{first}":[]', page)
    with pytest.raises(PageError, match="calendar bookable"):
        na.read_page(dropped)
    added = page.replace('"2021-07-01":[]', '"2021-07-01":["08:00"]')
    with pytest.raises(PageError, match="calendar bookable"):
        na.read_page(added)
    with pytest.raises(PageError, match="not JSON"):
        na.read_page(page.replace("var jsonAppoints = '{", "var jsonAppoints = '{{"))
    with pytest.raises(PageError, match="without jsonAppoints"):
        na.read_page(page.replace("var jsonAppoints", "var otherData"))


ANSWER_KEYS = [*REAL_KEYS, "jsonAppoints", "appoints", "caption"]


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(ANSWER_KEYS), word=WORD)
def test_property_simulated_answer_renamed_is_an_error(key, word):
    world, src = find_source(is_ajax)
    page = text(aj.answer_page(world, src, list(src.locations)))
    assert key in page
    with pytest.raises(PageError):
        na.read_page(page.replace(key, word))


def test_web_appoint_form_lists_the_casetypes_and_hidden_fields():
    _, src = find_source(is_ajax)
    view = na.read_page(text(aj.form_page(src, "t0ken")))
    assert (view.page, view.reader) == ("services", "netappoint.web-appoint-form")
    form = view.details["form"]
    assert list(form.casetypes) == list(aj.casetypes(src))
    assert form.hidden == {"step": p.SEARCH_STEP, "FRM_CASETYPES_token": "t0ken"}
    assert form.action == f"/{src.id}/termin/index.php?loc={aj.code(src)}"
    assert view.choices == [(name, name) for name in form.casetypes]
    with pytest.raises(PageError, match="without any CASETYPES"):
        na.read_page(text(aj.form_page(src, "t")).replace("CASETYPES[", "TYPES["))


# ---------------------------------------------------------------------------
# classic pages (simulator)


def is_classic(_, src) -> bool:
    return src.variant == "classic"


def test_classic_pages_each_step():
    world, src = find_source(is_classic)
    lid = next(iter(src.locations))
    index = na.read_page(text(ns.index_page(src)))
    assert (index.page, index.reader) == ("services", "netappoint.classic-index")
    assert [name for _, name in index.choices] == [loc.name for loc in src.locations.values()]
    assert [c.cases for c in index.details["index"].categories] == [
        tuple(f for f, _ in fields) for fields in ns.cases(src).values()
    ]
    calendar = na.read_page(text(ns.calendar_page(world, src, lid)))
    assert (calendar.page, calendar.reader) == ("days", "netappoint.classic-calendar")
    assert calendar.days == [d.isoformat() for d in ns._bookable_month(world, src, lid, NOW)]
    chooser = na.read_page(text(ns.chooser_page(src, lid)))
    assert (chooser.page, chooser.reader) == ("offices", "netappoint.classic-branches")
    assert chooser.offices[0].id == lid and "step=3&branch=" in chooser.details["link"]
    day = ns._bookable_month(world, src, lid, NOW)[0]
    times = na.read_page(text(ns.day_page(world, src, lid, day)))
    assert (times.page, times.reader, times.days) == ("times", "netappoint.classic-day", [str(day)])
    assert len(times.slots) == len(world.published_day(src, lid, day, NOW))
    url = f"http://h/x/index.php?company=c&step=3&branch={lid}&year=2021&month=7&day=1"
    with pytest.raises(PageError, match="shows 2021"):
        na.read_page(text(ns.day_page(world, src, lid, day)), url)
    sunday = na.read_page(text(ns.day_page(world, src, lid, date(2021, 7, 18))))
    assert (sunday.page, sunday.marker) == ("none-free", p.DAY_NONE_FREE)


def test_classic_no_slot_answers_and_errors():
    _, src = find_source(is_classic)
    shown = {
        ns.NO_SERVICE: p.NO_SLOTS_AFTER_SELECTION[1],
        ns.BAD_COMBINATION: p.NO_SLOTS_AFTER_SELECTION[0],
        p.NO_SLOTS_WITHOUT_BRANCH[0]: p.NO_SLOTS_WITHOUT_BRANCH[0],
    }
    for message, marker in shown.items():
        view = na.read_page(text(ns.message_page(src, "Hinweis", message)))
        assert (view.page, view.reader, view.marker) == (
            "none-free",
            "netappoint.classic-message",
            marker,
        )
    expired = na.read_page(text(ns.expired_page(src)))
    assert (expired.page, expired.error) == ("error-page", p.SESSION_EXPIRED)
    assert na.read_page(text(aj.message_page(src, p.SESSION_EXPIRED))).page == "error-page"
    with pytest.raises(PageError, match="unrecognised page"):
        na.read_page(text(ns.garbage_page(src)))


def test_classic_calendar_without_bookable_day_is_none_free():
    def nothing_bookable(world, src):
        lid = next(iter(src.locations))
        return is_classic(world, src) and not ns._bookable_month(world, src, lid, world.now())

    world, src = find_source(nothing_bookable, start=datetime(2021, 7, 30, 17, 0))
    view = na.read_page(text(ns.calendar_page(world, src, next(iter(src.locations)))))
    assert (view.page, view.marker) == (
        "none-free",
        "netappoint: month calendar (Juli 2021) shows no bookable day",
    )


CLASSIC_KEYS = ["nat_calendar_weekday_bookable", "step=4", "nat_calendar", "_notbookable"]


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from([*CLASSIC_KEYS, "nat_timeslist", "abbr"]), word=WORD)
def test_property_classic_pages_renamed_are_errors(key, word):
    world, src = find_source(is_classic)
    lid = next(iter(src.locations))
    day = ns._bookable_month(world, src, lid, NOW)[0]
    if key in CLASSIC_KEYS:
        page = text(ns.calendar_page(world, src, lid))
    else:
        page = text(ns.day_page(world, src, lid, day))
    assert key in page
    with pytest.raises(PageError):
        na.read_page(page.replace(key, word))


def test_day_url_and_link_date():
    template = "http://h/n/index.php?company=c&step=4&weekday=3&year=2021&month=7&day=14"
    assert (
        na.day_url(template, date(2021, 8, 2))
        == "http://h/n/index.php?company=c&step=3&weekday=3&year=2021&month=8&day=2"
    )
    assert na.link_date("/i.php?company=c&step=4&year=2021&month=7") is None
    assert na.link_date("/i.php?company=c&year=2021&month=13&day=1") is None
    assert na.absolute("https://h:8", "/netappoint/i.php?a=1") == "https://h:8/netappoint/i.php?a=1"
    assert na.normal_time("8:05 Uhr") == "08:05" and na.normal_time("24:00") is None


# ---------------------------------------------------------------------------
# parse

WEB = "0123456789abcdef0123456789abcdef"
VALID = [
    {
        "location": "Führerscheinwesen",
        "dates": ["2021-07-14 08:20", "2021-07-14 08:00"],
        "none_free": None,
        "url": "http://h/n/index.php?company=c&step=2",
    },
    {"location": "Kfz-Zulassung (Mitte)", "dates": [], "none_free": p.DAY_NONE_FREE},
    {"location": "Führerscheinwesen", "dates": ["2021-07-14 08:00", "2021-07-15 13:00"]},
    {"location": "Bürgerbüro Pasing", "id": WEB, "services": ["b", "a"], "dates": []},
    {"location": "Bürgerbüro Pasing", "id": WEB, "services": ["a"], "dates": [],
     "none_free": p.NONE_FREE_CELL},
]  # fmt: skip


def test_parse_ids_names_markers_and_merged_slots():
    snap = na.parse(VALID)
    assert list(snap.locations) == ["fuhrerscheinwesen", "kfz-zulassung-mitte", WEB]
    loc = snap.locations["fuhrerscheinwesen"]
    assert loc.name == "Führerscheinwesen" and loc.services == () and loc.empty is None
    assert loc.url == "http://h/n/index.php?company=c&step=2"
    assert loc.slots == (
        datetime(2021, 7, 14, 8, 0),
        datetime(2021, 7, 14, 8, 20),
        datetime(2021, 7, 15, 13, 0),
    )
    assert snap.locations["kfz-zulassung-mitte"].empty == p.DAY_NONE_FREE
    web = snap.locations[WEB]
    assert (web.name, web.services, web.empty) == (
        "Bürgerbüro Pasing",
        ("a", "b"),
        p.NONE_FREE_CELL,
    )
    check_empty(snap)
    assert na.parse([]).locations == {}


def test_parse_of_an_old_payload_without_markers_is_refused_by_check_empty():
    snap = na.parse([{"location": "Standesamt", "dates": []}])
    with pytest.raises(ParseError, match="no 'nothing free' marker"):
        check_empty(snap, "netappoint")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"location": "x", "dates": []}, "must be a list"),
        ([{"location": "a", "dates": []}, "x"], "entry 1: expected an object"),
        ([{"dates": []}], "entry 0: missing key"),
        ([{"location": "a"}], "entry 0: missing key"),
        ([{"location": 3, "dates": []}], "entry 0: location"),
        ([{"location": "a", "dates": "2021-07-14 08:00"}], "entry 0: dates"),
        ([{"location": "a", "dates": ["2021-07-14 08:00:00"]}], "entry 0, date 0"),
        ([{"location": "a", "dates": ["2021-07-14T08:00"]}], "entry 0, date 0"),
        ([{"location": "a", "dates": ["2021-02-30 08:00"]}], "entry 0, date 0"),
        ([{"location": "a", "dates": [None]}], "entry 0, date 0"),
        ([{"location": "???", "dates": []}], "empty id"),
        ([{"location": "a", "dates": [], "id": "12"}], "32-hex"),
        ([{"location": "a", "dates": [], "none_free": 1}], "none_free must be"),
        ([{"location": "a", "dates": [], "url": []}], "url must be"),
        ([{"location": "a", "dates": [], "id": WEB, "services": "x"}], "services"),
    ],
)
def test_parse_rejects_bad_shapes(raw, match):
    with pytest.raises(ParseError, match=match):
        na.parse(raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
GOOD_DATE = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M")
)
DATE_TEXT = st.one_of(GOOD_DATE, st.text(max_size=20), JSON)
ENTRY = st.fixed_dictionaries(
    {"location": st.one_of(st.text(max_size=12), st.just("Standort Mitte")),
     "dates": st.lists(DATE_TEXT, max_size=5)},
    optional={"none_free": st.one_of(st.none(), st.text(max_size=8), JSON),
              "id": st.one_of(st.just(WEB), st.text(max_size=4))},
)  # fmt: skip
RAW = st.one_of(JSON, st.lists(st.one_of(ENTRY, JSON), max_size=5), st.lists(ENTRY, max_size=4))


@given(RAW)
def test_parse_property_slots_and_markers_come_from_the_input(raw):
    try:
        snap = na.parse(raw)
    except ParseError:
        return
    given_slots = {datetime.strptime(t, "%Y-%m-%d %H:%M") for e in raw for t in e["dates"]}
    markers = {e.get("none_free") or None for e in raw}
    for loc in snap.locations.values():
        assert list(loc.slots) == sorted(set(loc.slots)) and set(loc.slots) <= given_slots
        assert loc.empty is None if loc.slots else loc.empty in markers


# ---------------------------------------------------------------------------
# scrape over loopback: simulator pages, some altered


class SimBacked:
    """pytest-httpserver handler answering with the simulator's pages for one source.

    ``hook(request, reply)`` may return another reply (an altered or foreign page).
    """

    def __init__(self, world: SimWorld, src):
        self.world, self.src = world, src
        self.hook = None
        self.seen: list[SimRequest] = []

    def __call__(self, request: Request) -> Response:
        sim = SimRequest(
            method=request.method,
            path=request.path.removeprefix(f"/{self.src.id}"),
            query=dict(request.args),
            form=dict(request.form),
            cookies=dict(request.cookies),
            raw_query=request.query_string.decode(),
        )
        self.seen.append(sim)
        reply = ns.handle(self.world, self.src, sim)
        if self.hook is not None:
            reply = self.hook(sim, reply) or reply
        response = Response(reply.body, status=reply.status, content_type=reply.content_type)
        for key, value in reply.headers.items():
            response.headers[key] = value
        return response


def serve(httpserver, predicate, **kw) -> tuple[SimBacked, Source]:
    world, src = find_source(predicate, **kw)
    fake = SimBacked(world, src)
    httpserver.expect_request(re.compile(f"^/{src.id}/")).respond_with_handler(fake)
    _, params = ns.catalog_entry(src, httpserver.url_for(f"/{src.id}"))
    return fake, Source(id=src.id, name=src.name, family="netappoint", index_url="", params=params)


def run_scrape(source: Source, now: datetime = NOW, weeks: int = WEEKS):
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=5))
        try:
            session = fetcher.session()
            return await na.scrape(source, session, weeks, now), session.requests
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def classic_days(world: SimWorld, src) -> list[int]:
    """Day pages the classic flow fetches per category (protocol 2.2 e): from the first
    bookable day through today + 7W, in the month shown only the days it marks bookable."""
    last = NOW.date() + timedelta(days=7 * WEEKS)
    out = []
    for lid in src.locations:
        bookable = ns._bookable_month(world, src, lid, NOW)
        out.append(day_pages(bookable, NOW.date(), last))
    return out


def day_pages(bookable: list, today, last) -> int:
    """Bookable days of today's month view + every day after that month through ``last``."""
    if not bookable or bookable[0] > last:
        return 0
    month_end = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    later = max(0, (last - month_end).days + 1)
    return sum(1 for d in bookable if d <= last) + later


def plain_classic(world, src) -> bool:
    """Classic, no chooser, the cur_causes list, a one-case category and a bigger one."""
    sizes = [len(v) for v in ns.cases(src).values()] if src.variant == "classic" else []
    return (
        not ns.tenant(src).chooser
        and ns.tenant(src).extra == "cur_causes=0|1|2"
        and 1 in sizes
        and max(sizes, default=0) > 1
    )


def test_classic_scrape_payload_markers_and_request_count(httpserver):
    fake, source = serve(httpserver, plain_classic)
    payload, requests = run_scrape(source)
    world, src = fake.world, fake.src
    assert [e["location"] for e in payload] == [loc.name for loc in src.locations.values()]
    snap = check_empty(na.parse(payload))
    assert snap.to_truth() == world.truth(weeks=WEEKS)[src.id]
    assert all(e["url"].startswith(httpserver.url_for("/")) for e in payload)
    # 1 index + per category (1 POST + D day pages)
    assert requests == len(httpserver.log) == 1 + sum(1 + d for d in classic_days(world, src))
    assert b"cur_causes=0%7C1%7C2" in httpserver.log[0][0].query_string
    # day pages go without the selection cookie; the cookie they set rides the next POST
    posts = [r for r in fake.seen if r.method == "POST"]
    assert all(p.COOKIE in r.cookies for r in posts)


def test_classic_chooser_costs_one_more_get_per_category(httpserver):
    fake, source = serve(httpserver, lambda w, s: s.variant == "classic" and ns.tenant(s).chooser)
    payload, requests = run_scrape(source)
    assert check_empty(na.parse(payload)).to_truth() == fake.world.truth(weeks=WEEKS)[fake.src.id]
    assert requests == 1 + sum(2 + d for d in classic_days(fake.world, fake.src))


def _field(src, big: bool) -> str:
    """The first case of the first category with several cases (``big``) or with one."""
    for fields in ns.cases(src).values():
        if (len(fields) > 1) == big:
            return fields[0][0]
    raise AssertionError("no such category")


def fail_post_of(field: str, page: Reply | None = None):
    def hook(sim: SimRequest, reply: Reply) -> Reply | None:
        if sim.method == "POST" and sim.form.get(field) == "1":
            return page or Reply(body=b"<html><body><p>Wartungsarbeiten</p></body></html>")
        return None

    return hook


def test_classic_retries_with_the_second_case(httpserver):
    fake, source = serve(httpserver, plain_classic)
    fake.hook = fail_post_of(_field(fake.src, big=True))
    payload, requests = run_scrape(source)
    assert check_empty(na.parse(payload)).to_truth() == fake.world.truth(weeks=WEEKS)[fake.src.id]
    assert requests == 1 + 1 + sum(1 + d for d in classic_days(fake.world, fake.src))


def test_classic_unknown_answer_after_the_retry_fails(httpserver):
    fake, source = serve(httpserver, plain_classic)
    big = _field(fake.src, big=True)
    second = big[:-2] + "02"
    fake.hook = lambda sim, reply: fail_post_of(big)(sim, reply) or fail_post_of(second)(sim, reply)
    with pytest.raises(ScrapeError, match="step=3 url not found") as info:
        run_scrape(source)
    assert "retried with the second case" in str(info.value) and "step=2" in info.value.url


def test_classic_single_case_category_is_not_retried(httpserver):
    fake, source = serve(httpserver, plain_classic)
    fake.hook = fail_post_of(_field(fake.src, big=False))
    with pytest.raises(ScrapeError, match="step=3 url not found") as info:
        run_scrape(source)
    assert "retried" not in str(info.value)
    assert (
        sum(r.method == "POST" and r.form.get(_field(fake.src, False)) == "1" for r in fake.seen)
        == 1
    )


def test_classic_session_expired_on_the_post_is_not_retried(httpserver):
    fake, source = serve(httpserver, plain_classic)
    fake.hook = lambda sim, reply: ns.expired_page(fake.src) if sim.method == "POST" else None
    with pytest.raises(ScrapeError, match="netappoint session expired"):
        run_scrape(source)
    assert len(httpserver.log) == 2


def _on_day(day: int, reply_for):
    def hook(sim: SimRequest, reply: Reply) -> Reply | None:
        if sim.method == "GET" and sim.query.get("day") == str(day):
            return reply_for(sim)
        return None

    return hook


def test_classic_errors_on_day_pages(httpserver):
    fake, source = serve(httpserver, plain_classic)
    src = fake.src
    fake.hook = _on_day(20, lambda sim: ns.expired_page(src))
    with pytest.raises(ScrapeError, match="netappoint session expired") as info:
        run_scrape(source)
    assert "day=20" in info.value.url
    fake.hook = _on_day(16, lambda sim: Reply(status=500, body=b"kaputt"))
    with pytest.raises(ScrapeError, match="HTTP 500") as info:
        run_scrape(source)
    assert "day=16" in info.value.url
    # the day chooser again (as with a pending selection) is no day page
    again = _on_day(15, lambda sim: ns.calendar_page(fake.world, src, sim.query["branch"]))
    fake.hook = again
    with pytest.raises(ScrapeError, match="is a days page"):
        run_scrape(source)


def test_classic_bookable_link_without_day_fails(httpserver):
    fake, source = serve(httpserver, plain_classic)

    def hook(sim: SimRequest, reply: Reply) -> Reply | None:
        if sim.method == "POST":
            reply.body = re.sub(rb"&amp;day=\d+", b"", reply.body)
        return reply

    fake.hook = hook
    with pytest.raises(ScrapeError, match="lacks step=4 or year/month/day"):
        run_scrape(source)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda html: html.replace('name="frm_casetype"', 'name="frm_other"'), "unrecognised page"),
        (lambda html: html.replace("javascript:toggle('cat_2');", "#"), "javascript:toggle"),
        (lambda html: re.sub(r'(<ul class="nat_casetypelist" id="cat_1"[^>]*>).*?(</ul>)',
                             r"\1\2", html, flags=re.S), "has no cases"),
    ],
)  # fmt: skip
def test_classic_index_errors(httpserver, change, match):
    fake, source = serve(httpserver, plain_classic)

    def hook(sim: SimRequest, reply: Reply) -> Reply | None:
        if sim.method == "GET" and not sim.query.get("step"):
            reply.body = change(reply.body.decode()).encode()
        return reply

    fake.hook = hook
    with pytest.raises(ScrapeError, match=match) as info:
        run_scrape(source)
    assert "index.php?company=" in info.value.url and len(httpserver.log) == 1


def test_classic_tenant_without_company(httpserver):
    fake, source = serve(httpserver, plain_classic)
    params = {k: v for k, v in source.params.items() if k != "company"}
    bare = Source(id=source.id, name=source.name, family="netappoint", index_url="", params=params)
    with pytest.raises(ScrapeError, match="no company parameter and its first answer is no"):
        run_scrape(bare)
    fake.hook = lambda sim, reply: ns.index_page(fake.src)
    with pytest.raises(ScrapeError, match="runs the classic skin, which needs a company"):
        run_scrape(bare)


def test_web_appoint_scrape_one_post_per_service(httpserver):
    fake, source = serve(httpserver, is_ajax)
    payload, requests = run_scrape(source)
    src = fake.src
    types = aj.casetypes(src)
    assert requests == len(httpserver.log) == 1 + len(types)
    assert "company" not in source.params and source.params["extra"] == f"loc={aj.code(src)}"
    snap = check_empty(na.parse(payload))
    assert snap.to_truth() == fake.world.truth(weeks=WEEKS)[src.id]
    for loc in src.locations.values():
        got = snap.locations[aj.web_id(src, loc)]
        assert got.name == loc.name
        assert got.services == tuple(sorted(t for t, lids in types.items() if loc.id in lids))
    posts = [r for r in fake.seen if r.method == "POST"]
    assert all(r.form["step"] == p.SEARCH_STEP and r.form["FRM_CASETYPES_token"] for r in posts)
    assert [sum(v == "1" for v in r.form.values()) for r in posts] == [1] * len(types)


def test_web_appoint_markers_when_nothing_is_free(httpserver):
    sunday = datetime(2021, 7, 18, 10, 0)
    fake, source = serve(httpserver, is_ajax, start=sunday)
    payload, _ = run_scrape(source, now=sunday, weeks=0)
    assert all(e["dates"] == [] for e in payload)
    assert all("(next free day 2021-07-19)" in e["none_free"] for e in payload)
    check_empty(na.parse(payload))
    payload, _ = run_scrape(source, now=sunday, weeks=4)
    assert all(e["none_free"] is None for e in payload if e["dates"])


def test_web_appoint_answer_errors(httpserver):
    fake, source = serve(httpserver, is_ajax)
    src = fake.src
    fake.hook = lambda sim, reply: aj.form_page(src, "x") if sim.method == "POST" else None
    with pytest.raises(ScrapeError, match="not the jsonAppoints answer"):
        run_scrape(source)
    fake.hook = lambda sim, reply: (
        aj.message_page(src, p.SESSION_EXPIRED) if sim.method == "POST" else None
    )
    with pytest.raises(ScrapeError, match="netappoint session expired"):
        run_scrape(source)

    def disagree(sim: SimRequest, reply: Reply) -> Reply | None:
        if sim.method == "POST":
            reply.body = re.sub(rb'\["(\d{2}:\d{2})"', rb"[", reply.body, count=1)
        return reply

    fake.hook = disagree
    with pytest.raises(PageError):
        run_scrape(source)
