"""leipzig (eKOL/TNV): page readers on simulated and real pages, parse, scrape end to end."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import check_empty, leipzig
from office_schedule.families.pages import PageError
from office_schedule.simulate import leipzig_server

from .conftest import SHARED
from .familytools import (
    DAYS,
    FUZZ,
    ID,
    NAME,
    _check,
    _day_and_time,
    or_junk,
    records,
    scrape,
    serve_sim,
    sim_text,
    sim_world,
)


class Wizard:
    """Drives the simulated wizard through ``leipzig_server.handle`` and reads every page."""

    def __init__(self, world, src):
        self.world, self.src = world, src
        self.text = sim_text(leipzig_server, world, src, "GET", "/tnv")
        self.view = leipzig.read_page(self.text)

    def press(self, **fields: str) -> leipzig.PageView:
        action, hidden = self.view.details["form"]
        form = {**hidden, "SELECTED_LANGUAGE": "de", **fields}
        self.text = sim_text(
            leipzig_server, self.world, self.src, "POST", f"/tnv/{action}", form=form
        )
        self.view = leipzig.read_page(self.text)
        return self.view

    def to_calendar(self) -> list[tuple[str, str]]:
        """Walk to the calendar of the first office; returns (kind, reader) of every page."""
        seen = [(self.view.page, self.view.reader)]
        if self.view.page == "start":
            self.press(AGREEMENT_ACCEPT="on", AGREEMENT_REQUIRED="true", ACTION_INFOPAGE_NEXT="")
            seen.append((self.view.page, self.view.reader))
        office = self.view.details["offices"][0]
        if not office.get("book"):
            self.press(**{office["open"]: "Öffnen", **leipzig.OFFICE_FIELDS})
            seen.append((self.view.page, self.view.reader))
            office = self.view.details["offices"][0]
        self.press(**{office["book"]: "", **leipzig.OFFICE_FIELDS})
        seen.append((self.view.page, self.view.reader))
        counts = {name: "1" if i == 0 else "0" for i, (name, _) in enumerate(self.view.choices)}
        self.press(**counts, ACTION_CONCERNSELECT_NEXT="")
        seen.append((self.view.page, self.view.reader))
        if self.view.reader == "leipzig.concern-comments":
            self.press(ACTION_CONCERNCOMMENTS_NEXT="")
            seen.append((self.view.page, self.view.reader))
        return seen


def world_and_source(spelling: str, seed: int = 1, **kw):
    world = sim_world("leipzig", 3, seed, **kw)
    src = next(s for s in world.sources.values() if leipzig_server.spelling(s) == spelling)
    return world, src


def book_everything(world, loc) -> None:
    now = world.now()
    day = now.date()
    while day <= world.horizon(now):
        loc.booked.update(loc.grid(day))
        day += timedelta(days=1)


@pytest.mark.parametrize("spelling", leipzig.SPELLINGS)
def test_every_simulated_step_is_read(spelling):
    world, src = world_and_source(spelling)
    wiz = Wizard(world, src)
    seen = wiz.to_calendar()
    first = [("start", "leipzig.info")] if spelling == "classic" else []
    panel = [("offices", "leipzig.offices")] if spelling == "classic" else []
    assert seen[: len(first) + 2 + len(panel)] == [
        *first,
        ("offices", "leipzig.offices"),
        *panel,
        ("services", "leipzig.concerns"),
    ]
    assert seen[-1] == ("days", f"leipzig.calendar.{spelling}")
    assert wiz.view.details["spelling"] == spelling
    free = wiz.view.details["free"]
    assert free and wiz.view.days == [f["date"] for f in free]
    view = wiz.press(**{free[0]["button"]: ""})
    assert (view.page, view.reader) == ("times", f"leipzig.popup.{spelling}")
    assert view.details["popup"] == free[0]["date"]
    assert len(view.slots) == free[0]["num_free"]
    assert all(s.startswith(free[0]["date"]) for s in view.slots)
    view = wiz.press(**{view.details["close"]: ""})
    assert (view.page, view.reader) == ("days", f"leipzig.calendar.{spelling}")


@pytest.mark.parametrize("spelling", leipzig.SPELLINGS)
def test_day_cells_are_written_in_each_spelling(spelling):
    world, src = world_and_source(spelling)
    wiz = Wizard(world, src)
    wiz.to_calendar()
    cells = re.findall(r'<div class="(ekolCalendar_?DayNumberInRange)">(.*?)</div>', wiz.text)
    assert cells
    names = {name for name, _ in cells}
    if spelling == "classic":
        assert names == {"ekolCalendarDayNumberInRange"} and all(n.isdigit() for _, n in cells)
    elif spelling == "span":
        assert names == {"ekolCalendarDayNumberInRange"}
        assert all(re.fullmatch(r"\d+<span>\.\d+\.</span>", n) for _, n in cells)
    else:
        assert names == {"ekolCalendar_DayNumberInRange"}
        assert all(re.fullmatch(r'\d+<span class="conMonthNr">\.\d+\.</span>', n) for _, n in cells)
    assert re.search(r">\d+ frei<", wiz.text)


def test_the_simulated_popup_uses_the_popup_reader_of_its_spelling():
    world, src = world_and_source("span")
    wiz = Wizard(world, src)
    wiz.to_calendar()
    simulated = wiz.press(**{wiz.view.details["free"][0]["button"]: ""})
    assert (simulated.page, simulated.reader) == ("times", "leipzig.popup.span")


REAL_EKOL = [SHARED / "data" / "real-pages" / folder for folder in ("ekol", "tnv", "leipzig")]


@pytest.mark.skipif(
    not any(d.is_dir() for d in REAL_EKOL), reason="no real eKOL/TNV pages in ../shared"
)
def test_every_real_ekol_page_in_shared_is_recognised():
    pages = [p for d in REAL_EKOL if d.is_dir() for p in sorted(d.iterdir())]
    for path in pages:
        view = leipzig.read_page(path.read_text(encoding="utf-8"))
        assert view.reader.startswith("leipzig."), path.name
        if view.page == "times":
            assert view.slots, path.name


@pytest.mark.parametrize("spelling", leipzig.SPELLINGS)
def test_a_calendar_without_a_free_day_is_none_free_by_the_sites_text(spelling):
    world, src = world_and_source(spelling)
    for loc in src.locations.values():
        book_everything(world, loc)
    wiz = Wizard(world, src)
    wiz.to_calendar()
    assert (wiz.view.page, wiz.view.reader) == ("none-free", f"leipzig.calendar.{spelling}")
    assert wiz.view.marker in ("0 frei", "0 frei / geschlossen")
    # the same page without the counts it states is not understood
    silent = re.sub(r">(0 frei|geschlossen)<", "><", wiz.text)
    with pytest.raises(PageError, match="free count"):
        leipzig.read_page(silent)


def _calendar_page(spelling: str) -> str:
    world, src = world_and_source(spelling, seed=2)
    wiz = Wizard(world, src)
    wiz.to_calendar()
    return wiz.text


CALENDARS = {s: _calendar_page(s) for s in leipzig.SPELLINGS}
WORDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=12
)


@FUZZ
@given(
    spelling=st.sampled_from(leipzig.SPELLINGS),
    key=st.sampled_from(["cell", "number", "free", "frei"]),
    word=WORDS,
)
def test_renamed_day_cell_markup_is_an_error_never_zero_slots(spelling, key, word):
    text = CALENDARS[spelling]
    if key == "frei":
        renamed = text.replace(" frei<", f" {word}<")
    else:
        name = leipzig.CLASSES[spelling][key]
        if word.lower().replace("_", "") == name.lower().replace("_", ""):
            return
        renamed = re.sub(rf'(class="[^"]*)\b{name}\b', rf"\g<1>{word}", text)
    assert renamed != text
    if key == "frei" and word in ("frei", "freie", "freier"):
        return
    with pytest.raises(PageError):
        leipzig.read_page(renamed)


def test_pages_of_no_step():
    world, src = world_and_source("classic")
    notice = leipzig_server.notice_page(src, leipzig_server.EXPIRED).body.decode()
    view = leipzig.read_page(notice)
    assert (view.page, view.error) == ("error-page", leipzig_server.EXPIRED)
    with pytest.raises(PageError, match="no eKOL wizard step"):
        leipzig.read_page("<html><body><h1>Willkommen</h1></body></html>")


@pytest.mark.parametrize("spelling", ["classic", "underscore"])
def test_scrape_end_to_end_records_markers_and_urls(httpserver, spelling):
    world, src = world_and_source(spelling, seed=4)
    locs = list(src.locations.values())
    book_everything(world, locs[0])
    log = serve_sim(httpserver, leipzig_server, world, src)
    raw = scrape(leipzig, {"base_url": httpserver.url_for("/tnv")}, now=world.now())
    posts = [(path, form) for path, _, form, _ in log if form]
    assert posts and all(p.startswith("/tnv/bgr;jsessionid=") for p, _ in posts)
    assert all(len([k for k in f if k.startswith("ACTION_")]) == 1 for _, f in posts)
    assert all(f["SELECTED_LANGUAGE"] == "de" and f["PGUTSMSC"] for _, f in posts)
    by_id = {o["id"]: o for o in raw}
    empty = by_id[leipzig_server.location_id(src, locs[0])]
    assert empty["days"] == [] and empty["none_free"].startswith("0 frei")
    parsed = check_empty(leipzig.parse(raw))
    assert parsed.locations[empty["id"]].empty == empty["none_free"]
    assert all(loc.url and "/tnv/bgr;jsessionid=" in loc.url for loc in parsed.locations.values())
    truth = world.truth(weeks=4)[src.id]
    assert parsed.to_truth() == truth


def test_an_error_page_instead_of_the_office_chooser_names_both(httpserver):
    world, src = world_and_source("classic")
    notice = leipzig_server.notice_page(src, leipzig_server.MAINTENANCE).body.decode()
    start = sim_text(leipzig_server, world, src, "GET", "/tnv")
    httpserver.expect_request("/tnv", method="GET").respond_with_data(
        start, content_type="text/html"
    )
    httpserver.expect_request(re.compile("^/tnv/bgr")).respond_with_data(
        notice, content_type="text/html"
    )
    with pytest.raises(ScrapeError, match="expected page OFFICESELECT, found error-page") as info:
        scrape(leipzig, {"base_url": httpserver.url_for("/tnv")})
    assert leipzig_server.MAINTENANCE in str(info.value)
    assert "/tnv/bgr;jsessionid=" in info.value.url


def test_parse_carries_markers_and_refuses_bad_ones():
    raw = [
        {"name": "A", "id": "1", "days": [], "none_free": "0 frei", "url": "https://x/bgr"},
        {
            "name": "B",
            "id": "2",
            "days": [{"date": "2021-07-22", "num_free": 1, "times": ["08:00"]}],
        },
        {"name": "C", "id": "3", "days": []},
    ]
    parsed = leipzig.parse(raw)
    assert parsed.locations["1"].empty == "0 frei" and parsed.locations["1"].url == "https://x/bgr"
    assert parsed.locations["2"].empty is None and parsed.to_truth()["2"] == ["2021-07-22 08:00:00"]
    with pytest.raises(Exception, match="location '3' shows no free slot"):
        check_empty(parsed, "leipzig")
    with pytest.raises(ParseError, match="bad none_free"):
        leipzig.parse([{"id": "1", "days": [], "none_free": 0}])


@FUZZ
@given(or_junk(records(name=NAME, id=ID, days=DAYS)))
def test_leipzig_parse_never_invents_slots(raw):
    _check(leipzig, raw, _day_and_time)
