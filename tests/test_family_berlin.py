"""berlin: the readers on the real pages of service.berlin.de, parse, and scrapes over loopback."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.errors import BlockedError, ParseError
from office_schedule.families import SilentZeroError, berlin, check_empty
from office_schedule.families.pages import PageError
from office_schedule.simulate import SimWorld, berlin_server

from .conftest import SHARED
from .familytools import (
    ANY_PATH,
    DAYS,
    FUZZ,
    ID,
    NAME,
    _check,
    _day_and_time,
    html,
    or_junk,
    paths,
    records,
    scrape,
)

REAL = SHARED / "data" / "real-pages" / "berlin"
TIME_2022 = "jesusvalera_2022_day_time_selection.html"
CALENDAR_2022 = "jesusvalera_2022_calendar_day_selection.html"
EDITED = "similicious_2021-09_calendar_excerpt_edited.html"
MULTIPLE = "similicious_2021-09_calendar_excerpt_multiple.html"
NONE_2021 = "similicious_2021-09_calendar_excerpt_none.html"


def real(name: str) -> str:
    if not REAL.is_dir():
        pytest.skip("../shared/data/real-pages/berlin is not present")
    return (REAL / name).read_text(encoding="utf-8")


# ============================================================================ the real pages

#: file -> (page, days, slots, reader) as a person sees the page
SEEN = {
    TIME_2022: ("times", ["2022-08-29"], ["2022-08-29 13:24"], "berlin.time-rows"),
    CALENDAR_2022: ("days", ["2022-06-03"], [], "berlin.month-calendar"),
    "Day.html": ("days", ["2024-12-12"], [], "berlin.month-calendar"),
    "Taken.html": ("none-free", [], [], "berlin.taken"),
    EDITED: ("days", ["2021-10-26"], [], "berlin.month-calendar"),
    MULTIPLE: ("days", ["2021-09-08", "2021-10-26"], [], "berlin.month-calendar"),
    NONE_2021: ("none-free", [], [], "berlin.month-calendar"),
}


@pytest.mark.parametrize("name", sorted(SEEN))
def test_real_page_reads_as_a_person_sees_it(name, shared_dir):
    view = berlin.read_page(real(name))
    assert (view.page, view.days, view.slots, view.reader) == SEEN[name]
    assert view.error is None


def test_every_real_berlin_page_is_known_here(shared_dir):
    assert sorted(p.name for p in REAL.glob("*.html")) == sorted(SEEN)


def test_real_time_page_names_the_office_and_its_first_time(shared_dir):
    view = berlin.read_page(real(TIME_2022))
    assert [o.as_json() for o in view.offices] == [
        {
            "id": "2863",
            "name": "Bürgeramt Sonnenallee - Vorzugstermine",
            "earliest": "2022-08-29 13:24",
        }
    ]
    assert view.details["date"] == "2022-08-29"


def test_real_nothing_free_markers(shared_dir):
    assert berlin.read_page(real("Taken.html")).marker == berlin.TAKEN_TITLE
    # the 2021 excerpt has no legend: the class is all the site says
    assert berlin.read_page(real(NONE_2021)).marker == "nichtbuchbar"


def test_real_calendar_links_and_statements(shared_dir):
    view = berlin.read_page(real("Day.html"), "https://service.berlin.de/terminvereinbarung/")
    assert view.details["links"] == {
        "2024-12-12": "https://service.berlin.de/terminvereinbarung/termin/time/1733958000/"
    }
    cells = {c["date"]: c for c in view.details["cells"]}
    assert len(cells) == 31 + 31
    assert cells["2024-12-04"]["statement"] == berlin.DAY_FULL_TEXT
    assert cells["2024-12-13"]["statement"] == berlin.DAY_NONE_TEXT
    old = berlin.read_page(real(CALENDAR_2022), "https://service.berlin.de/terminvereinbarung/")
    assert old.details["links"] == {
        "2022-06-03": "https://service.berlin.de/terminvereinbarung/termin/time/1654207200/"
    }
    # the page's legend names what nichtbuchbar means
    assert {c["statement"] for c in old.details["cells"] if not c["bookable"]} == {
        berlin.LEGEND_FULL,
        None,
    }


def test_real_calendar_all_booked_out_is_none_free_with_the_site_statement(shared_dir):
    text = real("Day.html")
    cell = re.search(r'<td class="buchbar">.*?</td>', text).group(0)
    label = f"12.12.2024 - {berlin.DAY_FULL_TEXT}"
    full = f'<td tabindex="0" class="nichtbuchbar" aria-label="{label}" title="{label}">12</td>'
    view = berlin.read_page(text.replace(cell, full))
    assert view.page == "none-free"
    assert view.marker == f"{berlin.DAY_FULL_TEXT}; {berlin.DAY_NONE_TEXT}"


# ============================================================================ time rows


def _second_row(text: str, head: str, href: str, office: str) -> str:
    row = re.search(r"<tr>\s*<th.*?</tr>", text, re.S).group(0)
    extra = (
        f'<tr><th class="buchbar">{head}</th><td class="frei"><a href="{href}">{office}</a>'
        "</td></tr>"
    )
    return text.replace(row, row + extra)


def test_empty_th_repeats_the_time_above(shared_dir):
    text = _second_row(
        real(TIME_2022), "", "/terminvereinbarung/termin/time/1661772240/122210/", "Bürgeramt X"
    )
    view = berlin.read_page(text)
    assert view.slots == ["2022-08-29 13:24"]
    assert [(o.id, o.earliest) for o in view.offices] == [
        ("2863", "2022-08-29 13:24"),
        ("122210", "2022-08-29 13:24"),
    ]
    later = _second_row(
        real(TIME_2022), "13:30", "/terminvereinbarung/termin/time/1661772600/2863/", "B"
    )
    assert berlin.read_page(later).slots == ["2022-08-29 13:24", "2022-08-29 13:30"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("1661772240/2863", "1661772300/2863", "links to another time"),  # 13:25
        ("1661772240/2863", "1661858640/2863", "another time|lists times of"),  # next day
        ("13:24", "25:24", "time row with the time"),
        ("Mo. 29. August 2022", "Di. 30. August 2022", "lists times of"),
        ("Mo. 29. August 2022", "demnächst", "for the day"),
        ('<td class="frei">', '<td class="belegt">', "not a td.frei"),
    ],
)
def test_time_page_contradictions_raise(old, new, message, shared_dir):
    text = real(TIME_2022)
    assert old in text
    with pytest.raises(PageError, match=message):
        berlin.read_page(text.replace(old, new, 1))


def test_time_page_checks_the_day_of_its_url(shared_dir):
    text = real(TIME_2022)
    url = "https://service.berlin.de/terminvereinbarung/termin/time/{}/"
    shown = text.replace("Mo. 29. August 2022", "")  # then only the URL names the day
    assert berlin.read_page(shown, url.format(1661724000)).slots == ["2022-08-29 13:24"]
    with pytest.raises(PageError, match="lists times of"):
        berlin.read_page(shown, url.format(1661810400))


def test_first_row_without_time_and_empty_table_raise(shared_dir):
    text = real(TIME_2022)
    with pytest.raises(PageError, match="first time row has no time"):
        berlin.read_page(re.sub(r"\s13:24\s", "", text, count=1))
    with pytest.raises(PageError, match="without a free time"):
        berlin.read_page(re.sub(r"<tr>.*?</tr>", "", text, flags=re.S))


# ============================================================================ calendar cells


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("Day.html", "time/1733958000/", "time/1734044400/", "names another day"),
        ("Day.html", '"12.12.2024 - An diesem', '"13.12.2024 - An diesem', "says"),
        ("Day.html", '"04.12.2024 - An diesem', '"05.12.2024 - An diesem', "says"),
        ("Day.html", ">Dezember 2024<", ">Dezembre 2024<", "month header"),
        (CALENDAR_2022, '<td class="">04</td>', '<td class=""><a href="/x/">04</a></td>', "link"),
        (CALENDAR_2022, '<td class="">30</td>', '<td class="">31</td>', "no day 31"),
        (MULTIPLE, ">26</a>", ">27</a>", "names another day"),
    ],
)
def test_calendar_contradictions_raise(name, old, new, message, shared_dir):
    text = real(name)
    assert old in text
    with pytest.raises(PageError, match=message):
        berlin.read_page(text.replace(old, new, 1))


def test_calendar_without_any_statement_is_an_error(shared_dir):
    bare = real(NONE_2021).replace('class="nichtbuchbar"', 'class=""')
    with pytest.raises(PageError, match="without the site's per-day statement"):
        berlin.read_page(bare)


# ============================================================================ properties

#: real pages with free slots -> (the markup their reader keys on, the word in it to rename)
SLOT_MARKUP = {
    TIME_2022: ("frei", "buchbar", "time", "timetable"),
    CALENDAR_2022: ("buchbar", "time", "month", "calendar-month-table"),
    "Day.html": ("buchbar", "time", "month", "calendar-month-table"),
    EDITED: ("buchbar", "time", "month"),
    MULTIPLE: ("buchbar", "time", "month"),
}
#: word -> how it stands in the markup
MARKUP = {
    "frei": 'class="frei"',
    "buchbar": 'class="buchbar"',
    "time": "/termin/time/",
    "timetable": 'class="timetable"',
    "month": 'class="month"',
    "calendar-month-table": "calendar-month-table",
}
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)


@FUZZ
@given(st.sampled_from(sorted((f, w) for f, ws in SLOT_MARKUP.items() for w in ws)), WORDS)
def test_renamed_slot_markup_is_an_error_never_zero(case, word):
    name, old = case
    if word == old:
        return
    text = real(name)
    markup = MARKUP[old]
    assert markup in text
    with pytest.raises(PageError):
        berlin.read_page(text.replace(markup, markup.replace(old, word)))


@FUZZ
@given(WORDS)
def test_renamed_statement_markup_is_an_error_never_none_free(word):
    if word == "nichtbuchbar":
        return
    with pytest.raises(PageError):
        berlin.read_page(real(NONE_2021).replace('class="nichtbuchbar"', f'class="{word}"'))


# ============================================================================ other pages


def test_blocked_pages():
    throttle = berlin_server.throttle_page(429).body.decode()
    assert berlin.read_page(throttle).page == "blocked"
    assert "Zu viele Zugriffe" in berlin.read_page(throttle).error
    real_title = f"<html><head><title>{berlin.THROTTLE_TITLE}</title></head><body></body></html>"
    assert berlin.read_page(real_title).reader == "berlin.throttle"
    world = SimWorld(seed=1, families={"berlin": 1}, frozen=True)
    (src,) = world.sources.values()
    captcha = berlin.read_page(berlin_server.captcha_page(src).body.decode())
    assert (captcha.page, captcha.reader) == ("blocked", "berlin.captcha")
    assert berlin.read_page('<div id="g-recaptcha" data-sitekey="x"></div>').page == "blocked"


def test_maintenance_and_unknown_pages():
    view = berlin.read_page(f"<html><body><p>{berlin.MAINTENANCE_TEXT}.</p></body></html>")
    assert (view.page, view.error) == ("error-page", berlin.MAINTENANCE_TEXT)
    with pytest.raises(PageError, match="unrecognised page"):
        berlin.read_page("<html><head><title>Hallo</title></head><body></body></html>")
    with pytest.raises(PageError, match="unrecognised page"):
        berlin.read_page(berlin_server.message_page("Ihre Sitzung ist abgelaufen.").body.decode())
    with pytest.raises(PageError, match="without a /standort/ link"):
        berlin.read_page('<div class="ort-group"><h2>Mitte</h2><a href="/x/">X</a></div>')


def test_closed_office_page():
    said = f"Der Standort ist {berlin.CLOSED_TEXT}. Bitte wählen Sie einen anderen Standort."
    view = berlin.read_page(
        f'<h1>Bürgeramt</h1><div class="alert alert-warning"><p>{said}</p></div>'
    )
    assert (view.page, view.marker, view.reader) == ("closed", said, "berlin.office-closed")


# ============================================================================ parse


def _office(id="122210", **extra):
    base = {"id": id, "name": "Bürgeramt Wedding", "district": "Mitte", "closed": False}
    return {**base, "url": f"https://service.berlin.de/standort/{id}/", **extra}


def test_parse_carries_markers_and_urls():
    cal = "https://service.berlin.de/terminvereinbarung/termin/day/"
    raw = [
        _office(
            calendar=cal,
            days=[
                {"date": "2021-07-21", "times": ["10:10", "08:00"], "url": "u"},
                {"date": "2021-07-22", "times": ["14:20"], "url": "v"},
            ],
            none_free=None,
        ),
        _office(id="122217", calendar=cal, days=[], none_free=berlin.TAKEN_TITLE),
        _office(id="122280", closed=True, calendar=None, days=[], none_free="geschlossen"),
        _office(id="122281", calendar=cal, days=[], none_free=None),
    ]
    snapshot = berlin.parse(json.loads(json.dumps(raw)))
    assert snapshot.to_truth() == {
        "122210": ["2021-07-21 08:00:00", "2021-07-21 10:10:00", "2021-07-22 14:20:00"],
        "122217": [],
        "122280": [],
        "122281": [],
    }
    locs = snapshot.locations
    assert locs["122210"].empty is None and locs["122210"].url == cal
    assert locs["122217"].empty == berlin.TAKEN_TITLE
    assert locs["122280"].url == "https://service.berlin.de/standort/122280/"
    with pytest.raises(SilentZeroError, match="122281"):
        check_empty(snapshot, "berlin")  # zero slots without the site's marker
    assert check_empty(berlin.parse(raw[:3]))


@pytest.mark.parametrize(
    "bad",
    [
        {"days": "x"},
        {"days": [{"date": "2021-07-21", "times": ["8"]}]},
        {"days": [], "none_free": 3},
        {"days": [], "calendar": 5},
        {"days": None},
    ],
)
def test_parse_refuses_bad_offices(bad):
    with pytest.raises(ParseError, match="berlin office #0"):
        berlin.parse([_office(**bad)])


@FUZZ
@given(or_junk(records(id=ID, name=NAME, days=DAYS)))
def test_berlin_parse_never_invents_slots(raw):
    _check(berlin, raw, _day_and_time)


# ============================================================================ real pages, served


def _site(httpserver, answers: dict[str, Response]) -> None:
    """The simulator's office list and office page; ``answers`` by path suffix after that."""
    world = SimWorld(seed=1, families={"berlin": 1}, frozen=True)
    (src,) = world.sources.values()
    loc = next(iter(src.locations.values()))
    number = berlin_server.location_id(src, loc)
    listing = berlin_server.offices_page(src).body.decode()
    office = berlin_server.office_page(src, loc).body.decode()

    def handler(request) -> Response:
        if request.path == "/standorte/buergeraemter/":
            return html(listing)
        if request.path == f"/standort/{number}/":
            return html(office)
        for suffix, answer in answers.items():
            if request.path.endswith(suffix):
                return answer
        return Response("Seite nicht gefunden", status=404)

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)


def _scrape(httpserver, weeks: int = 4, now: datetime | None = None):
    params = {"base_url": httpserver.url_for("/"), "request_delay": "0"}
    return scrape(berlin, params, weeks, now or datetime(2021, 7, 20, 10, 0))


def test_booking_to_the_real_taken_page_is_zero_slots_with_its_marker(httpserver, shared_dir):
    _site(httpserver, {"tag.php": html(real("Taken.html"))})
    (office,) = _scrape(httpserver)
    assert office["days"] == [] and office["none_free"] == berlin.TAKEN_TITLE
    (loc,) = check_empty(berlin.parse([office])).locations.values()
    assert loc.slots == () and loc.empty == berlin.TAKEN_TITLE
    assert "/terminvereinbarung/termin/tag.php?" in loc.url


def test_a_day_page_that_contradicts_its_calendar_is_an_error(httpserver, shared_dir):
    # the real 2022 calendar offers 03.06.2022; the real time page is for 29.08.2022
    _site(
        httpserver,
        {
            "tag.php": html(real(CALENDAR_2022)),
            "/time/1654207200/": html(real(TIME_2022)),
        },
    )
    with pytest.raises(PageError, match="lists times of 2022-08-29"):
        _scrape(httpserver, now=datetime(2022, 6, 1, 9, 0))


def test_a_day_page_that_is_no_time_page_is_an_error(httpserver, shared_dir):
    _site(
        httpserver,
        {"tag.php": html(real(CALENDAR_2022)), "/time/1654207200/": html(real(CALENDAR_2022))},
    )
    with pytest.raises(PageError, match="expected a times page, got days"):
        _scrape(httpserver, now=datetime(2022, 6, 1, 9, 0))


def test_bookable_days_outside_the_look_ahead_give_the_site_statement(httpserver, shared_dir):
    _site(httpserver, {"tag.php": html(real("Day.html"))})
    (office,) = _scrape(httpserver, weeks=1, now=datetime(2024, 12, 2, 9, 0))
    assert office["days"] == []  # 12.12. is outside the week: not opened
    assert office["none_free"] == f"{berlin.DAY_FULL_TEXT}; {berlin.DAY_NONE_TEXT}"
    assert paths(httpserver)[-1].endswith("tag.php")


def test_throttle_page_with_200_stops_at_once(httpserver):
    _site(httpserver, {"tag.php": html(berlin_server.throttle_page(200).body.decode())})
    with pytest.raises(BlockedError, match="Zu viele Zugriffe") as info:
        _scrape(httpserver)
    assert "/terminvereinbarung/termin/tag.php?" in info.value.url
    assert len(paths(httpserver)) == 3 and paths(httpserver)[-1].endswith("tag.php")
