"""The flexappoint family: read_page on the simulator's answers, renamed keys, parse.

No real answer of flexappoint is in ../shared/data/real-pages (nor was one found in public
code); the shapes are those docs/protocols/systems-2026.md section 15 documents.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.catalog.catalog import Source
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import SilentZeroError, check_empty, flexappoint
from office_schedule.families.pages import PageError
from office_schedule.simulate import SimWorld
from office_schedule.simulate import flexappoint_server as fs
from office_schedule.simulate.pages import SimRequest

from .conftest import SHARED

NOW = datetime(2021, 7, 20, 10, 0)
ROOT = "https://ehingen.flexappoint.de"


def world(seed: int = 2, start: datetime = NOW) -> SimWorld:
    return SimWorld(seed=seed, start=start, families={"flexappoint": 2}, frozen=True)


def ask(w, src, path, query, ajax=True):
    request = SimRequest("GET", path, {k: str(v) for k, v in query})
    request.headers = {"x-requested-with": "XMLHttpRequest"} if ajax else {}
    return fs.handle(w, src, request)


def url(path, query) -> str:
    return ROOT + path + "?" + "&".join(f"{k}={v}" for k, v in query)


def answers(w, src):
    """(url, text) of the simulator's disabled days (this month) and one free day."""
    loc = next(iter(src.locations.values()))
    dep, svc, today = loc.id, fs.service_id(src, loc), w.now().date()
    q = flexappoint.disabled_query(dep, svc, today.year, today.month)
    disabled = ask(w, src, flexappoint.DISABLED_PATH, q).body.decode()
    free = next(
        d
        for d in (today + timedelta(days=i) for i in range(28))
        if d.isoformat() not in json.loads(disabled)["items"]
    )
    t = flexappoint.times_query(dep, svc, free.isoformat())
    times = ask(w, src, flexappoint.TIMES_PATH, t).body.decode()
    return {
        "disabled": (url(flexappoint.DISABLED_PATH, q), disabled),
        "times": (url(flexappoint.TIMES_PATH, t), times),
    }


def test_simulated_answers_are_read_by_their_readers():
    w = world()
    src = next(iter(w.sources.values()))
    got = {k: flexappoint.read_page(text, u) for k, (u, text) in answers(w, src).items()}
    view = got["disabled"]
    assert (view.page, view.reader) == ("days", "flexappoint.disabled-days")
    assert view.days and set(view.days).isdisjoint(view.details["disabled"])
    assert view.details["month"] == f"{NOW:%Y-%m}"
    view = got["times"]
    assert (view.page, view.reader) == ("times", "flexappoint.times")
    loc = next(iter(src.locations.values()))
    day = date.fromisoformat(view.details["date"])
    assert view.slots == [s[:16] for s in w.published_slots(src, loc.id, [day], w.now())]
    assert all(t["count"] == 1 for t in view.details["times"])


def test_empty_lists_are_told_apart_by_their_url():
    empty = '{"status":true,"items":[]}'
    times = flexappoint.read_page(empty, url(flexappoint.TIMES_PATH, [("date", "2026-10-05")]))
    assert times.page == "none-free" and times.marker == f"{flexappoint.NO_TIME} for 2026-10-05"
    q = [("year", "2026"), ("month", "10")]
    days = flexappoint.read_page(empty, url(flexappoint.DISABLED_PATH, q))
    assert days.page == "days" and len(days.days) == 31
    with pytest.raises(PageError, match="request URL tells"):
        flexappoint.read_page(empty)


def test_a_month_of_disabled_days_is_stated():
    month = [f"2026-02-{d:02d}" for d in range(1, 29)]
    view = flexappoint.read_page(json.dumps({"status": True, "items": month}))
    assert view.page == "none-free" and view.marker.startswith(flexappoint.ALL_DISABLED)
    assert view.reader == "flexappoint.disabled-days"


def test_the_apis_refusal_is_an_error_page():
    view = flexappoint.read_page('{"status":false,"message":"Keine Termine buchbar."}')
    assert (view.page, view.error, view.reader) == (
        "error-page",
        "Keine Termine buchbar.",
        "flexappoint.api-error",
    )


TIME = {"start_time": "08:00", "end_time": "08:15", "count": 1}
DAY_URL = url(flexappoint.TIMES_PATH, [("date", "2026-10-05")])


def items(*values) -> str:
    return json.dumps({"status": True, "items": list(values)})


@pytest.mark.parametrize(
    ("text", "at", "match"),
    [
        ('{"items": []}', None, "not a flexappoint API answer"),
        ("<html><body>app</body></html>", None, "not a flexappoint API answer"),
        ('{"status": true}', None, "without an 'items' list"),
        (items("2026-10-05", TIME), None, "mixed"),
        (items(TIME), None, "names no date"),
        (items(TIME), url(flexappoint.DISABLED_PATH, []), "URL asks for disabled"),
        (items("2026-10-05"), DAY_URL, "URL asks for times"),
        (items("2026-10-05", "2026-11-01"), None, "does not tell its month"),
        (items("2026-10-32"), None, "does not tell its month|no day"),
        (
            items("2026-11-01"),
            url(flexappoint.DISABLED_PATH, [("year", 2026), ("month", 10)]),
            "no day of 2026-10",
        ),
        (items({**TIME, "start_time": "8:00"}), DAY_URL, "'start_time'"),
        (items({**TIME, "end_time": "24:00"}), DAY_URL, "'end_time'"),
        (items({**TIME, "count": "1"}), DAY_URL, "'count'"),
        (items({**TIME, "count": 0}), DAY_URL, "count 0 on a day the API did not disable"),
    ],
)
def test_odd_answers_raise(text, at, match):
    with pytest.raises(PageError, match=match):
        flexappoint.read_page(text, at)


KEYS = {
    "disabled": ("items", "status"),
    "times": ("items", "status", "start_time", "end_time", "count"),
}
WORDS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda w: w not in {"message", *KEYS["times"]}
)


@settings(max_examples=40, deadline=None)
@given(step=st.sampled_from(["disabled", "times"]), which=st.integers(0, 4), word=WORDS)
def test_property_renamed_keys_give_page_error(step, which, word):
    w = world(seed=4)
    src = next(iter(w.sources.values()))
    at, text = answers(w, src)[step]
    key = KEYS[step][which % len(KEYS[step])]
    with pytest.raises(PageError):
        view = flexappoint.read_page(text.replace(f'"{key}"', f'"{word}"'), at)
        raise AssertionError(f"renaming {key!r} to {word!r} was read as {view.page}")


# ----------------------------------------------------------------------- catalog values


def source(departments: str, index_url: str = f"{ROOT}/#/") -> Source:
    params = {"departments": departments}
    return Source(
        id="ehingen", name="Ehingen", family="flexappoint", index_url=index_url, params=params
    )


def test_departments_and_api_root():
    assert flexappoint.departments(source("1:8, 2:62,4:38")) == [
        ("1", "8"),
        ("2", "62"),
        ("4", "38"),
    ]
    assert flexappoint.api_root(f"{ROOT}/#/") == ROOT
    assert flexappoint.api_root("http://127.0.0.1:80/sim-x/") == "http://127.0.0.1:80/sim-x"
    for bad in ("1", "1:8;2:3", "", "a:b"):
        with pytest.raises(ScrapeError, match="departmentId:serviceId"):
            flexappoint.departments(source(bad))
    with pytest.raises(ScrapeError, match="not a tenant URL"):
        flexappoint.api_root("ehingen.flexappoint.de")


# ----------------------------------------------------------------------- parse


def raw(**entry):
    out = {"id": "1", "service": "8", "slots": [], "url": f"{ROOT}/api/available-times?x"}
    out.update(entry)
    return {"departments": [out]}


def test_parse_carries_slots_markers_and_urls():
    slot = {"start": "2026-10-05 08:15", "end": "08:30", "count": 2}
    parsed = flexappoint.parse(raw(slots=[slot, {**slot, "start": "2026-10-05 08:00"}]))
    loc = parsed.locations["1"]
    assert [f"{s:%H:%M}" for s in loc.slots] == ["08:00", "08:15"]
    assert loc.url.startswith(ROOT)
    marked = check_empty(flexappoint.parse(raw(none_free="flexappoint: none")), "flexappoint")
    assert marked.locations["1"].empty == "flexappoint: none"
    with pytest.raises(SilentZeroError, match="'1'"):
        check_empty(flexappoint.parse(raw()), "flexappoint")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({}, "top level"),
        (raw(slots=[{"start": "2026-10-05T08:00", "count": 1}]), "free start"),
        (raw(slots=[{"start": "2026-10-05 08:00", "count": 0}]), "free start"),
        (raw(slots=[{"start": "2026-10-05 08:00", "count": 1}], none_free="x"), "slots and a"),
        (raw(id=1), "'id'"),
        ({"departments": raw()["departments"] * 2}, "twice"),
    ],
)
def test_parse_rejects_bad_shapes(payload, match):
    with pytest.raises(ParseError, match=match):
        flexappoint.parse(payload)


def test_real_pages_when_any_were_recorded(shared_dir):
    folder = SHARED / "data" / "real-pages" / "flexappoint"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with pytest.raises(PageError, match="request URL|names no date"):
            flexappoint.read_page(path.read_text(encoding="utf-8"))
