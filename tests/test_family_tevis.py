"""tevis: the readers on the real pages of 2025-2026 and on the simulator's pages; parse.

Real pages are read from ``../shared/data/real-pages/tevis`` (skipped when absent, never
copied here). The simulator's pages of each step must be read by the same reader path as
the real page of that step, and renaming the markup a reader keys on must give a PageError,
never zero slots.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.errors import ParseError
from office_schedule.families import SilentZeroError, check_empty, tevis
from office_schedule.families.pages import PageError
from office_schedule.families.tevis import classic, today
from office_schedule.families.tevis import pages as tp
from office_schedule.simulate import SimWorld
from office_schedule.simulate import tevis_server as ts
from office_schedule.simulate import tevis_today_server as tt
from office_schedule.simulate.pages import SimRequest

from .conftest import SHARED

REAL = SHARED / "data" / "real-pages" / "tevis"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared real pages are not present")


def real(name: str) -> str:
    return (REAL / name).read_text(encoding="utf-8")


def view_json(text: str) -> dict:
    return tp.read_page(text).as_json()


# --------------------------------------------------------------------------- real pages

AACHEN_FREE = ["08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00"]


@needs_real
def test_real_start_page_departments_are_buttons():
    view = tp.read_page(real("nuernberg_2026-02_start_page.html"))
    assert (view.page, view.reader) == ("departments", "tevis.start")
    assert [md for md, _ in view.choices] == [
        "5",
        "19",
        "23",
        "2",
        "29",
        "16",
        "17",
        "8",
        "21",
        "15",
    ]
    assert dict(view.choices)["8"] == "Kfz-Zulassung"


@needs_real
@pytest.mark.parametrize(
    ("name", "count", "mdt", "action", "with_calendars"),
    [
        ("nuernberg_2026-02_select2_md8_kfz.html", 36, "324", "location", False),
        ("muelheim-abh-select2-2026-07-21.html", 49, "150", "location", False),
        ("aachen-abh-schritt2-select2.html", 22, "95", "/auslaenderamt/location", True),
    ],
)
def test_real_service_lists(name, count, mdt, action, with_calendars):
    view = tp.read_page(real(name))
    assert (view.page, view.reader) == ("services", "tevis.select2")
    services = view.details["services"]
    assert len(services) == len(view.choices) == count
    assert {s["mdt"] for s in services} == {mdt}
    assert view.details["action"].endswith(action) and view.details["flow"] == "today"
    assert all(s["name"] and s["cnc"].startswith("cnc-") and s["duration"] for s in services)
    assert all(bool(s["calendar"]) == with_calendars for s in services)
    assert view.as_json()["slots"] == [] and view.as_json()["offices"] == []


@needs_real
def test_real_nuernberg_services_names_and_durations():
    services = tp.read_page(real("nuernberg_2026-02_select2_md8_kfz.html")).details["services"]
    first = services[0]
    assert (first["cnc"], first["name"], first["duration"]) == (
        "cnc-4142",
        "Fabrikneues Fahrzeug zulassen",
        15,
    )


@needs_real
def test_real_office_chooser_single_office():
    page = view_json(real("aachen-abh-schritt3-location.html"))
    assert page["page"] == "offices"
    assert page["offices"] == [
        {"id": "50", "name": "Ausländeramt Aachen - Außenstelle RWTH", "earliest": None}
    ]


@needs_real
def test_real_suggest_page_with_free_and_taken_times():
    view = tp.read_page(real("aachen-abh-suggest-available-2025-10-03.html"))
    assert (view.page, view.reader) == ("times", "tevis.suggest")
    assert view.slots == [f"2025-12-11 {t}" for t in AACHEN_FREE]
    assert view.days == ["2025-12-11"]
    assert view.details["taken"] == ["2025-12-11 08:00", "2025-12-11 12:30"]
    assert view.details["range"] == ["2025-10-03", "2025-12-11"]
    assert view.details["loc"] == "50" and {f["cal"] for f in view.details["free"]} == {"169"}
    assert view.details["filter"] == {"loc": "50", "mdt": "0", "cnc-344": "1"}


@needs_real
def test_real_suggest_page_of_a_browser_dump_with_one_time():
    page = view_json(real("muelheim-abh-suggest-2026-07-22T12-33.html"))
    assert (page["page"], page["slots"], page["days"]) == (
        "times",
        ["2026-07-23 14:30"],
        ["2026-07-23"],
    )
    view = tp.read_page(real("muelheim-abh-suggest-2026-07-22T12-33.html"))
    assert view.details["taken"] == ["2026-07-23 14:00", "2026-07-23 14:15", "2026-07-23 14:45"]
    assert view.details["free"][0]["cal"] == "478" and view.details["loc"] == "136"
    assert view.details["office"] == "Ausländeramt, Leineweberstr. 18, 45468 Mülheim"


@needs_real
def test_real_nothing_free_and_session_error_pages():
    none = tp.read_page(real("aachen-abh-suggest-none.html"))
    assert (none.page, none.marker, none.slots) == ("none-free", "Kein freier Termin verfügbar", [])
    error = view_json(real("nuernberg_2026-02_location_mdt324_no_session.html"))
    assert (error["page"], error["error"]) == ("error-page", "Kein gültiger Mandant gefunden. (0)")


@needs_real
def test_every_real_page_is_recognised():
    for path in sorted(REAL.iterdir()):
        view = tp.read_page(path.read_text(encoding="utf-8"))
        assert view.page in ("departments", "services", "offices", "times", "none-free",
                             "error-page"), path.name  # fmt: skip


# renaming the markup a reader keys on must never turn a page into zero slots
SLOT_MARKUP = {
    "aachen-abh-suggest-available-2025-10-03.html": ["suggestion_form", 'name="start"'],
    "muelheim-abh-suggest-2026-07-22T12-33.html": ["suggestion_form", 'name="start"'],
    "aachen-abh-suggest-none.html": ["Kein freier Termin verfügbar"],
    "aachen-abh-schritt3-location.html": ['name="loc"'],
    "nuernberg_2026-02_select2_md8_kfz.html": ["cnc-item"],
    "nuernberg_2026-02_start_page.html": ["select2?md="],
}


@needs_real
@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(sorted((f, t) for f, tokens in SLOT_MARKUP.items() for t in tokens)),
    word=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12),
)
def test_renamed_slot_markup_is_an_error_never_zero(case, word):
    name, token = case
    text = real(name)
    original = tp.read_page(text)
    renamed = text.replace(token, token[0] + word + token[1:] if token[0] in "'\"" else word)
    try:
        view = tp.read_page(renamed)
    except PageError:
        return
    # a reader may still understand the page by another of its marks, but then it must
    # show exactly what the original shows
    assert (view.page, view.slots, view.offices) == (original.page, original.slots,
                                                     original.offices), token  # fmt: skip
    assert view.page != "none-free" or token not in original.marker


# --------------------------------------------------------------------------- simulator pages


@pytest.fixture(scope="module")
def sim():
    world = SimWorld(seed=3, families={"tevis": 8}, frozen=True)
    return world


def sim_get(world, src, path, query=None, method="GET", form=None, cookies=None):
    request = SimRequest(
        method=method, path=path, query=query or {}, form=form or {}, cookies=cookies or {},
        headers={"host": "127.0.0.1:1"},
    )  # fmt: skip
    reply = ts.handle(world, src, request)
    return reply, reply.body.decode("utf-8")


def today_source(world, with_calendars: bool):
    return next(
        s
        for s in world.sources.values()
        if s.variant == "today" and tt.with_calendars(s) == with_calendars
    )


@pytest.mark.parametrize("with_calendars", [False, True])
def test_simulated_pages_are_read_by_the_real_pages_readers(sim, with_calendars):
    src = today_source(sim, with_calendars)
    reply, start = sim_get(sim, src, "/")
    assert tp.read_page(start).reader == "tevis.start"
    cookie = reply.headers["Set-Cookie"].split(";")[0].split("=", 1)
    jar = {cookie[0]: cookie[1]}
    dep = src.departments[0]
    _, select2 = sim_get(sim, src, "/select2", {"md": dep.md}, cookies=jar)
    services = tp.read_page(select2)
    assert (services.reader, services.details["flow"]) == ("tevis.select2", "today")
    assert all(bool(s["calendar"]) == with_calendars for s in services.details["services"])
    svc = dep.services[0]
    query = {"mdt": dep.mdt, "select_cnc": "1", svc.cnc: "1"}
    _, location = sim_get(sim, src, "/location", query, cookies=jar)
    offices = tp.read_page(location)
    assert offices.reader == "tevis.location" and offices.offices
    loc = offices.offices[0].id
    post, _ = sim_get(sim, src, "/location", query, "POST", {"loc": loc}, jar)
    assert (post.status, post.headers["Location"]) == (302, "suggest")
    _, suggest = sim_get(sim, src, "/suggest", cookies=jar)
    times = tp.read_page(suggest)
    assert times.reader == "tevis.suggest" and times.page in ("times", "none-free")
    _, none = sim_get(sim, src, "/suggest", {"filter_date_from": "01.01.2099"}, cookies=jar)
    assert (tp.read_page(none).page, tp.read_page(none).reader) == ("none-free", "tevis.suggest")
    _, error = sim_get(sim, src, "/location", query)  # without the session cookie
    assert tp.read_page(error).as_json()["error"] == "Kein gültiger Mandant gefunden. (0)"


def sim_steps(world, src) -> dict[str, str]:
    """The pages of one simulated today-tenant, step by step, as a browser meets them."""
    pages = {}
    reply, pages["start"] = sim_get(world, src, "/")
    name, value = reply.headers["Set-Cookie"].split(";")[0].split("=", 1)
    jar = {name: value}
    dep = next(d for d in src.departments if len(tt.offices_of(src, d.services[0])) > 1)
    svc = dep.services[0]
    _, pages["select2"] = sim_get(world, src, "/select2", {"md": dep.md}, cookies=jar)
    query = {"mdt": dep.mdt, "select_cnc": "1", svc.cnc: "1"}
    _, pages["location"] = sim_get(world, src, "/location", query, cookies=jar)
    loc = tp.read_page(pages["location"]).offices[0].id
    sim_get(world, src, "/location", query, "POST", {"loc": loc}, jar)
    _, pages["suggest"] = sim_get(world, src, "/suggest", cookies=jar)
    none_query = {"filter_date_from": "01.01.2099"}
    _, pages["none"] = sim_get(world, src, "/suggest", none_query, cookies=jar)
    _, pages["error"] = sim_get(world, src, "/location", query)
    return pages


REAL_STEPS = {
    "start": "nuernberg_2026-02_start_page.html",
    "select2": "nuernberg_2026-02_select2_md8_kfz.html",
    "location": "aachen-abh-schritt3-location.html",
    "suggest": "aachen-abh-suggest-available-2025-10-03.html",
    "none": "aachen-abh-suggest-none.html",
    "error": "nuernberg_2026-02_location_mdt324_no_session.html",
}


@needs_real
def test_simulated_and_real_pages_share_reader_paths():
    world = SimWorld(seed=5, families={"tevis": 8}, frozen=True)
    src = next(
        s
        for s in world.sources.values()
        if s.variant == "today"
        and any(len(tt.offices_of(s, d.services[0])) > 1 for d in s.departments)
    )
    simulated = sim_steps(world, src)
    for step, name in REAL_STEPS.items():
        real_view = tp.read_page(real(name))
        sim_view = tp.read_page(simulated[step])
        assert (sim_view.page, sim_view.reader) == (real_view.page, real_view.reader), step
    assert tp.read_page(simulated["error"]).error == "Kein gültiger Mandant gefunden. (0)"


def test_classic_simulated_pages(sim):
    src = next(s for s in sim.sources.values() if s.variant == "classic")
    _, start = sim_get(sim, src, "/")
    departments = tp.read_page(start)
    assert [md for md, _ in departments.choices] == [d.md for d in src.departments]
    dep = src.departments[0]
    _, select2 = sim_get(sim, src, "/select2", {"md": dep.md})
    view = tp.read_page(select2)
    assert view.details["flow"] == "classic"
    work = classic.calendar_work_list(view.details["services"])
    assert set(work) <= set(src.locations) | {f"mdt-{dep.mdt}"}
    svc = dep.services[0]
    _, cal = sim_get(sim, src, "/calendar", {"mdt": dep.mdt, "select_cnc": "1", svc.cnc: "1"})
    assert tp.read_page(cal).details["calendar"] == svc.target
    monday = sim.now().date().isocalendar()
    _, week = sim_get(
        sim, src, "/caldiv", {"cal": svc.target, "week": f"{monday[0]}{monday[1]:02d}"}
    )
    caldiv = tp.read_page(week)
    assert caldiv.reader == "tevis.caldiv" and caldiv.page in ("times", "none-free")


# --------------------------------------------------------------------------- parse


def test_services_to_ask_skips_calendars_a_shorter_service_covers():
    records = [
        {"cnc": "cnc-1", "calendar": "7|8", "duration": 30},
        {"cnc": "cnc-2", "calendar": "7", "duration": 10},
        {"cnc": "cnc-3", "calendar": "8", "duration": 15},
        {"cnc": "cnc-4", "calendar": None, "duration": 5},
        {"cnc": "cnc-5", "calendar": "8|7", "duration": 15},
    ]
    asked, skipped = today.services_to_ask(records)
    assert [r["cnc"] for r in asked] == ["cnc-2", "cnc-3", "cnc-4"]
    assert [r["cnc"] for r in skipped] == ["cnc-5", "cnc-1"]


def v3(queries, until="2026-07-31") -> dict:
    return {"v": 3, "flow": "today", "until": until, "md": {"1": "Amt"},
            "services": [{"cnc": "cnc-1", "name": "Pass"}, {"cnc": "cnc-2", "name": "Ausweis"}],
            "queries": queries}  # fmt: skip


def page(slots, none=None, url="http://x/suggest"):
    return {"url": url, "range": None, "slots": [[s, "9"] for s in slots], "taken": [],
            "none_free": none}  # fmt: skip


def test_parse_today_offices_are_the_union_of_their_services():
    raw = v3(
        [
            {"md": "1", "cnc": "cnc-1", "loc": "61", "name": "Bürgerbüro", "earliest": None,
             "pages": [page(["2026-07-14 08:15", "2026-07-14 08:30"])]},
            {"md": "1", "cnc": "cnc-2", "loc": "61", "name": "Bürgerbüro", "earliest": None,
             "pages": [page(["2026-07-14 08:30"]), page(["2026-08-03 09:00"])]},
            {"md": "1", "cnc": "cnc-1", "loc": "63", "name": "Klotzsche", "earliest": None,
             "pages": [page([], "Kein freier Termin verfügbar")]},
            {"md": "1", "cnc": "cnc-2", "loc": "64", "name": "Leuben",
             "earliest": "2026-09-01 08:00", "pages": [], "skipped": today.AFTER_LOOK_AHEAD},
        ]
    )  # fmt: skip
    parsed = check_empty(tevis.parse(raw))
    office = parsed.locations["61"]
    assert office.slots == (datetime(2026, 7, 14, 8, 15), datetime(2026, 7, 14, 8, 30))
    assert (office.name, office.services, office.url) == (
        "Bürgerbüro",
        ("Ausweis", "Pass"),
        "http://x/suggest",
    )
    assert parsed.locations["63"].empty == "Kein freier Termin verfügbar"
    assert parsed.locations["64"].empty == today.AFTER_LOOK_AHEAD


def test_parse_today_zero_without_marker_is_refused():
    raw = v3([{"md": "1", "cnc": "cnc-1", "loc": "61", "pages": [page([])]}])
    with pytest.raises(SilentZeroError, match="'61'.*marker.*http://x/suggest"):
        check_empty(tevis.parse(raw), "tevis")
    later = v3([{"md": "1", "cnc": "cnc-1", "loc": "61", "pages": [page(["2026-08-02 10:00"])]}])
    assert "after the look-ahead" in tevis.parse(later).locations["61"].empty


@pytest.mark.parametrize(
    "raw",
    [
        {"v": 3},
        v3([{"loc": "", "pages": []}]),
        v3([{"loc": "1", "pages": {}}]),
        v3([{"loc": "1", "pages": [{"slots": [["2026-13-01 08:00", "1"]]}]}]),
        v3([{"loc": "1", "pages": [{"slots": ["2026-07-01 08:00"]}]}]),
    ],
)
def test_parse_today_rejects_bad_shapes(raw):
    with pytest.raises(ParseError):
        tevis.parse(raw)


def week(days, valid) -> dict:
    return {"days": days, "valid": valid}


def classic_payload() -> dict:
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
        ],
        "calendar": {
            "97": [week(["20210712", "20210713"], [{"480": 1, "485": 1}, []])] * 2,
            "94": [week(["20210712"], [[]])],
            "301": [week(["20210719", "20210720"], [["600", 615], []])],
            "99": [week(["20210721"], [{"0": 1, "1439": 1}])],
        },
    }  # fmt: skip


def test_parse_classic_locations_names_services_and_markers():
    parsed = check_empty(tevis.parse(classic_payload()))
    assert sorted(parsed.locations) == ["301", "94", "97", "99"]
    loc = parsed.locations["97"]
    assert loc.name == "Bürgerbüro / Personalausweis beantragen"
    assert loc.services == ("Personalausweis beantragen", "Reisepass beantragen")
    assert loc.slots == (datetime(2021, 7, 12, 8, 0), datetime(2021, 7, 12, 8, 5))
    assert parsed.locations["94"].empty == tp.CALDIV_EMPTY
    assert parsed.locations["301"].name == "Fahrerlaubnisbehörde / Umschreibung"
    assert parsed.locations["99"].slots[-1] == datetime(2021, 7, 21, 23, 59)


def test_parse_classic_calendar_without_any_week_is_a_silent_zero():
    raw = {"v": 2, "md": {}, "cnc": [], "calendar": {"5": []}}
    with pytest.raises(SilentZeroError):
        check_empty(tevis.parse(raw))
    with pytest.raises(SilentZeroError, match="no location"):
        check_empty(tevis.parse({"v": 2, "md": {}, "cnc": [], "calendar": {}}))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r["calendar"].update({"97": {}}), "calendar 97"),
        (lambda r: r["calendar"]["301"][0]["days"].__setitem__(0, "2021-07-19"), "YYYYMMDD"),
        (lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, ["1440"]), "0..1439"),
        (lambda r: r["calendar"]["301"][0]["valid"].__setitem__(0, [True]), "integer"),
        (lambda r: r["cnc"][0].update({"md": "nope"}), "service #0"),
        (lambda r: r.update({"v": 1}), "version"),
    ],
)
def test_parse_classic_rejects_bad_shapes(change, match):
    raw = json.loads(json.dumps(classic_payload()))
    change(raw)
    with pytest.raises(ParseError, match=match):
        tevis.parse(raw)


def test_iso_weeks_and_urls():
    assert classic.iso_weeks(date(2020, 12, 28), 2) == ["202053", "202101"]
    from office_schedule.families.tevis import protocol as P

    assert P.caldiv_url("https://x/fulda/", "97", "202128") == (
        "https://x/fulda//caldiv?cal=97&cnc=0&cncdata=&week=202128&json=1&offset=1"
    )
    assert P.calendar_url("https://x/fra", "54", "cnc-122") == (
        "https://x/fra/calendar?mdt=54&select_cnc=1&cnc-122=1"
    )
