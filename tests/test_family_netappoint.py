"""netappoint: HTML readers on recorded-style pages, ``parse``, and ``scrape`` end to end
against a stateful loopback server (pytest-httpserver)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Request, Response

from office_schedule.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import netappoint as na
from office_schedule.fetch import Fetcher, Politeness

from .conftest import FIXTURES

DIR = FIXTURES / "netappoint"
NOW = datetime(2021, 7, 12, 9, 30)  # a Monday; the calendar fixture shows July 2021
WEEKS = 4
COOKIE = "PHPSESSID"


def fixture(name: str) -> str:
    return (DIR / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# HTML readers


def test_read_index_categories_cases_and_action():
    page = na.read_index(fixture("index.html"))
    assert page.action == "/netappoint/index.php?company=stadtx&step=2"
    assert [(c.ul_id, c.name, c.cases) for c in page.categories] == [
        ("cat_1", "Führerscheinwesen", ("casetype_12", "casetype_13")),
        # the disabled checkbox and the hidden input lack the exact class: not cases
        ("cat_2", "Kfz-Zulassung (Mitte)", ("casetype_20", "casetype_21")),
        ("cat_3", "Standesamt", ("casetype_30",)),
    ]


def test_read_index_errors_name_the_url():
    html = fixture("index.html")
    with pytest.raises(ScrapeError, match="frm_casetype") as info:
        na.read_index(html.replace('name="frm_casetype"', 'name="other"'), "http://x/i")
    assert info.value.url == "http://x/i"
    with pytest.raises(ScrapeError, match="toggle"):
        na.read_index(html.replace("toggle('cat_2')", "toggle('cat_9')"), "http://x/i")
    no_cases = re.sub(r'<ul class="nat_casetypelist" id="cat_3".*?</ul>', "", html, flags=re.S)
    no_cases = no_cases.replace("</form>", '<ul class="nat_casetypelist" id="cat_3"></ul></form>')
    with pytest.raises(ScrapeError, match="'Standesamt' has no cases"):
        na.read_index(no_cases, "http://x/i")


def test_month_calendar_bookable_links_in_document_order():
    html = fixture("calendar.html")
    links = na.bookable_links(html)
    assert [na.link_date(link) for link in links] == [
        date(2021, 7, d) for d in (14, 15, 19, 21, 26, 28)
    ]
    assert links[0] == "/netappoint/index.php?company=stadtx&step=4&year=2021&month=7&day=14"
    assert na.has_month_table(html) and na.branch_link(html) is None
    assert na.bookable_links(fixture("chooser.html")) == []


def test_branch_chooser_first_step3_link():
    html = fixture("chooser.html")
    assert na.branch_link(html) == "/netappoint/index.php?company=stadtx&step=3&branch=2"
    assert not na.has_month_table(html)


def test_day_page_times_only_inside_the_timeslist():
    assert na.day_times(fixture("day.html")) == ["08:00", "08:20", "09:40", "13:00"]
    assert na.day_times(fixture("calendar.html")) == []
    assert na.normal_time("8:05 Uhr") == "08:05"
    assert na.normal_time("24:00") is None and na.normal_time("ab 8") is None


def test_session_expired_is_recognised_but_not_in_scripts():
    assert na.is_session_expired(na.page_text(fixture("session_expired.html")))
    # day.html carries the same words in a JavaScript alert: not an expired session
    for name in ("day.html", "index.html", "calendar.html", "chooser.html", "no_slots.html"):
        assert not na.is_session_expired(na.page_text(fixture(name))), name


def test_day_url_and_link_date():
    template = "http://h/n/index.php?company=c&step=4&weekday=3&year=2021&month=7&day=14"
    assert (
        na.day_url(template, date(2021, 8, 2))
        == "http://h/n/index.php?company=c&step=3&weekday=3&year=2021&month=8&day=2"
    )
    assert na.link_date("/i.php?company=c&step=4&year=2021&month=7") is None
    assert na.link_date("/i.php?company=c&year=2021&month=13&day=1") is None
    assert na.absolute("https://h:8", "/netappoint/i.php?a=1") == "https://h:8/netappoint/i.php?a=1"


# ---------------------------------------------------------------------------
# parse

VALID = [
    {"location": "Führerscheinwesen", "dates": ["2021-07-14 08:20", "2021-07-14 08:00"]},
    {"location": "Kfz-Zulassung (Mitte)", "dates": []},
    {"location": "Führerscheinwesen", "dates": ["2021-07-14 08:00", "2021-07-15 13:00"]},
]


def test_parse_ids_names_sorted_merged_slots():
    snap = na.parse(VALID)
    assert list(snap.locations) == ["fuhrerscheinwesen", "kfz-zulassung-mitte"]
    loc = snap.locations["fuhrerscheinwesen"]
    assert loc.name == "Führerscheinwesen" and loc.services == ()
    assert loc.slots == (
        datetime(2021, 7, 14, 8, 0),
        datetime(2021, 7, 14, 8, 20),
        datetime(2021, 7, 15, 13, 0),
    )
    assert snap.locations["kfz-zulassung-mitte"].slots == ()
    assert na.parse([]).locations == {}


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
DATE_TEXT = st.one_of(
    GOOD_DATE,
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}\Z"),
    st.text(max_size=20),
    JSON,
)
NAME_TEXT = st.one_of(
    st.text(max_size=12), st.from_regex(r"\A[A-Za-zäöüß][A-Za-zäöüß ()-]{0,10}\Z")
)


def entries(dates):
    return st.fixed_dictionaries({"location": NAME_TEXT, "dates": st.lists(dates, max_size=5)})


RAW = st.one_of(
    JSON,
    st.lists(st.one_of(entries(DATE_TEXT), JSON), max_size=5),
    st.lists(entries(DATE_TEXT), max_size=4),
    st.lists(entries(GOOD_DATE), max_size=4),
)


@given(RAW)
def test_parse_property_slots_come_from_the_input_or_parse_error(raw):
    try:
        snap = na.parse(raw)
    except ParseError:
        return
    given_slots = {
        datetime.strptime(text, "%Y-%m-%d %H:%M") for entry in raw for text in entry["dates"]
    }
    for loc in snap.locations.values():
        assert list(loc.slots) == sorted(set(loc.slots))
        assert set(loc.slots) <= given_slots


# ---------------------------------------------------------------------------
# end to end over HTTP


def month_calendar(year: int, month: int, days: list[int], extra: str = "") -> str:
    links = "".join(
        f'<td><a class="nat_calendar_weekday_bookable" href="/netappoint/index.php?company='
        f'stadtx&amp;step=4{extra}&amp;year={year}&amp;month={month}&amp;day={d}">{d}</a></td>'
        for d in days
    )
    return (
        '<html><head><meta charset="utf-8"><title>Terminauswahl</title></head><body>'
        f'<table class="nat_calendar"><tr>{links}<td class="nat_calendar_weekday_notbookable">'
        "30</td></tr></table></body></html>"
    )


def free_times(branch: str, day: date) -> list[str]:
    """Ground truth of the fake server: free slots per branch and day."""
    if day.weekday() >= 5:
        return []
    kind = (day.day + int(branch)) % 3
    return [[], ["08:00", "08:20"], ["09:40", "13:00", "15:20"]][kind]


def day_page(times: list[str]) -> str:
    if not times:
        return "<html><body><p>An diesem Tag sind keine Termine frei.</p></body></html>"
    cells = "".join(f"<td><a href='#'><abbr title='{t} Uhr'>{t}</abbr></a></td>" for t in times)
    return f"<html><body><table class='nat_timeslist'><tr>{cells}</tr></table></body></html>"


class FakeNetappoint:
    """Index, selection POST (sets the session cookie), chooser and day pages.

    Like the real server, a day page requested *with* a session that holds a selection
    answers with the day chooser again; without it, with the free times of that day.
    """

    def __init__(self):
        self.index = fixture("index.html")
        self.outcomes = {
            "casetype_12": fixture("calendar.html"),
            "casetype_20": fixture("chooser.html"),
            "casetype_30": fixture("no_slots.html"),
        }
        self.branch_calendar = month_calendar(2021, 7, [12, 13, 20], "&amp;branch=2")
        self.day_override = None
        self.days_with_selection = 0
        self.sessions: dict[str, str | None] = {}
        self.expect_query: dict[str, list[str]] = {}

    def _session(self, request: Request) -> tuple[str, bool]:
        sid = request.cookies.get(COOKIE)
        if sid in self.sessions:
            return sid, False
        sid = f"s{len(self.sessions) + 1}"
        self.sessions[sid] = None
        return sid, True

    def __call__(self, request: Request) -> Response:
        sid, new = self._session(request)
        response = self._answer(request, sid)
        if new:
            response.set_cookie(COOKIE, sid)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response

    def _answer(self, request: Request, sid: str) -> Response:
        args = request.args
        assert args.get("company") == "stadtx"
        step = args.get("step")
        if request.method == "POST":
            assert step == "2" and request.form.get("sentcasetypes") == "Weiter"
            chosen = [k for k, v in request.form.items() if v == "1"]
            assert len(chosen) == 1
            self.sessions[sid] = chosen[0]
            return Response(self.outcomes.get(chosen[0], "<html><body>Fehler</body></html>"))
        if step is None:
            for key, value in self.expect_query.items():
                assert args.getlist(key) == value
            return Response(self.index)
        assert step == "3"
        if "year" not in args:
            if self.sessions[sid] is None:  # the chooser link needs the selection
                return Response(fixture("session_expired.html"))
            return Response(self.branch_calendar)
        if self.sessions[sid] is not None:
            self.days_with_selection += 1
            return Response(fixture("calendar.html"))
        day = date(int(args["year"]), int(args["month"]), int(args["day"]))
        if self.day_override is not None:
            override = self.day_override(day)
            if override is not None:
                return override
        return Response(day_page(free_times(args.get("branch", "1"), day)))


def make_source(httpserver, extra: str = "") -> Source:
    base = httpserver.url_for("/netappoint")
    params = {"base_url": base, "company": "stadtx"}
    if extra:
        params["extra"] = extra
    return Source(id="stadtx", name="Stadt X", family="netappoint", index_url=base, params=params)


def serve(httpserver, fake: FakeNetappoint) -> None:
    httpserver.expect_request("/netappoint/index.php").respond_with_handler(fake)


def run_scrape(source: Source, weeks: int = WEEKS, now: datetime = NOW):
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=2))
        try:
            session = fetcher.session()
            return await na.scrape(source, session, weeks, now), session
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def expected_dates(branch: str, first: date) -> list[str]:
    last = NOW.date() + timedelta(days=7 * WEEKS)
    out, day = [], first
    while day <= last:
        out += [f"{day.isoformat()} {t}" for t in free_times(branch, day)]
        day += timedelta(days=1)
    return out


def days_through_horizon(first: date) -> int:
    return (NOW.date() + timedelta(days=7 * WEEKS) - first).days + 1


def test_scrape_end_to_end_payload_and_request_count(httpserver):
    fake = FakeNetappoint()
    fake.expect_query = {"cur_causes": ["0|1|2"]}
    serve(httpserver, fake)
    payload, session = run_scrape(make_source(httpserver, "cur_causes=0|1|2"))
    assert payload == [
        {"location": "Führerscheinwesen", "dates": expected_dates("1", date(2021, 7, 14))},
        {"location": "Kfz-Zulassung (Mitte)", "dates": expected_dates("2", date(2021, 7, 12))},
        {"location": "Standesamt", "dates": []},
    ]
    assert payload[0]["dates"] and payload[1]["dates"]
    # 1 index + (POST + D) + (POST + chooser GET + D) + POST
    d1, d2 = days_through_horizon(date(2021, 7, 14)), days_through_horizon(date(2021, 7, 12))
    assert (d1, d2) == (27, 29)
    assert len(httpserver.log) == session.requests == 1 + (1 + d1) + (1 + 1 + d2) + 1
    assert b"cur_causes=0%7C1%7C2" in httpserver.log[0][0].query_string
    snap = na.parse(payload)
    assert set(snap.locations) == {"fuhrerscheinwesen", "kfz-zulassung-mitte", "standesamt"}
    assert snap.slot_count == len(payload[0]["dates"]) + len(payload[1]["dates"])


def test_scrape_retries_with_the_second_case(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_12"] = "<html><body><p>Wartungsarbeiten</p></body></html>"
    fake.outcomes["casetype_13"] = fixture("calendar.html")
    serve(httpserver, fake)
    payload, session = run_scrape(make_source(httpserver))
    assert payload[0]["dates"] == expected_dates("1", date(2021, 7, 14))
    assert session.requests == 1 + (2 + 27) + (2 + 29) + 1


def test_scrape_calendar_without_bookable_day_and_far_first_day(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_12"] = fixture("calendar.html").replace(
        "nat_calendar_weekday_bookable", "nat_calendar_weekday_notbookable"
    )
    fake.branch_calendar = month_calendar(2021, 8, [20], "&amp;branch=2")  # past the horizon
    serve(httpserver, fake)
    payload, session = run_scrape(make_source(httpserver))
    assert [e["dates"] for e in payload] == [[], [], []]
    assert session.requests == 1 + 1 + 2 + 1


def _scrape_error(httpserver, fake: FakeNetappoint, match: str) -> ScrapeError:
    serve(httpserver, fake)
    with pytest.raises(ScrapeError, match=match) as info:
        run_scrape(make_source(httpserver))
    assert info.value.url and info.value.url.startswith(httpserver.url_for("/netappoint"))
    return info.value


def test_scrape_error_index_without_form(httpserver):
    fake = FakeNetappoint()
    fake.index = fixture("index.html").replace("frm_casetype", "frm_other")
    err = _scrape_error(httpserver, fake, "frm_casetype")
    assert "index.php?company=stadtx" in err.url and len(httpserver.log) == 1


def test_scrape_error_missing_toggle_link(httpserver):
    fake = FakeNetappoint()
    fake.index = fixture("index.html").replace("javascript:toggle('cat_3');", "#")
    _scrape_error(httpserver, fake, "toggle")


def test_scrape_error_category_without_cases(httpserver):
    fake = FakeNetappoint()
    html = fixture("index.html")
    fake.index = re.sub(r'casetype_checkbox("[^>]*name="casetype_30")', r"casetype_x\1", html)
    assert fake.index != html
    _scrape_error(httpserver, fake, "has no cases")


def test_scrape_error_unknown_page_after_retry(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_12"] = "<html><body>Unbekannt</body></html>"
    err = _scrape_error(httpserver, fake, "step=3 url not found")
    assert "retried with the second case" in str(err) and "step=2" in err.url
    assert len(httpserver.log) == 1 + 2


def test_scrape_error_unknown_page_single_case_no_retry(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_30"] = "<html><body>Unbekannt</body></html>"
    err = _scrape_error(httpserver, fake, "'Standesamt': step=3 url not found")
    assert "retried" not in str(err)
    assert len(httpserver.log) == 1 + (1 + 27) + (2 + 29) + 1


def test_scrape_error_session_expired_on_post_is_not_retried(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_12"] = fixture("session_expired.html")
    _scrape_error(httpserver, fake, "netappoint session expired")
    assert len(httpserver.log) == 2


def test_scrape_error_session_expired_on_day_page(httpserver):
    fake = FakeNetappoint()
    expired = Response(fixture("session_expired.html"))
    fake.day_override = lambda day: expired if day == date(2021, 7, 20) else None
    err = _scrape_error(httpserver, fake, "netappoint session expired")
    assert "day=20" in err.url


def test_scrape_error_bookable_link_without_day(httpserver):
    fake = FakeNetappoint()
    fake.outcomes["casetype_12"] = fixture("calendar.html").replace("&amp;day=14", "")
    err = _scrape_error(httpserver, fake, "lacks a valid year/month/day")
    assert err.url.endswith("month=7")


def test_scrape_error_http_500_on_a_day_page(httpserver):
    fake = FakeNetappoint()
    fake.day_override = lambda day: Response("kaputt", status=500) if day.day == 16 else None
    err = _scrape_error(httpserver, fake, "HTTP 500")
    assert "day=16" in err.url


def test_day_pages_are_fetched_without_the_selection_cookie(httpserver):
    fake = FakeNetappoint()
    serve(httpserver, fake)
    payload, _ = run_scrape(make_source(httpserver))
    day_requests = [req for req, _ in httpserver.log if b"year=" in req.query_string]
    assert len(day_requests) == 27 + 29 and fake.days_with_selection == 0
    # the cookie a day page set is sent with the next category's POST
    posts = [req for req, _ in httpserver.log if req.method == "POST"]
    assert [COOKIE in req.cookies for req in posts] == [True, True, True]
