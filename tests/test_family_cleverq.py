"""The cleverq family: read_page on the simulator's answers (and the one real answer the
notes quote), the wrong-subtask contradiction, renamed keys, parse.

No real page of cleverQ is in ../shared/data/real-pages; the exact empty day list a 2021 bot
recorded is quoted in ../shared/docs/protocols/systems-2026.md and read from there.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.errors import ParseError
from office_schedule.families import SilentZeroError, check_empty, cleverq
from office_schedule.families.cleverq import pages as cp
from office_schedule.families.pages import PageError
from office_schedule.simulate import SimWorld
from office_schedule.simulate import cleverq_server as cs
from office_schedule.simulate.pages import SimRequest

from .conftest import SHARED

NOW = datetime(2021, 7, 20, 10, 0)
API = "https://cqm.cleverq.de"


def world(seed: int = 2, start: datetime = NOW) -> SimWorld:
    return SimWorld(seed=seed, start=start, families={"cleverq": 2}, frozen=True)


def ask(w, src, path, query=None, cookies=None, headers=None, fault=None):
    request = SimRequest("GET", path, dict(query or {}), cookies=dict(cookies or {}))
    request.headers = {k.lower(): v for k, v in (headers or {}).items()}
    return cs.handle(w, src, request, fault)


def session(w, src, fault=None):
    """A fresh simulated session: (cookies, headers, key) as the scraper would send them."""
    reply = ask(w, src, cp.INDEX_PATH.format(slug=cs.slug(src)), fault=fault)
    view = cleverq.read_page(reply.body.decode(), "x/index.html")
    token = reply.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    return (
        {cp.SESSION_COOKIE: token},
        {cp.CSRF_HEADER: view.details["csrf"]},
        view.details["session_key"],
    )


def answers(w, src, fault=None):
    """The simulator's answers of one service: (url, text) for info, days and one day."""
    cookies, headers, key = session(w, src)
    loc = next(iter(src.locations.values()))
    sub = min(cs.subtasks(src, loc), key=lambda s: s["initial_duration"])
    item = cp.subtask_item(sub["id"])
    today = w.now().date()
    common = {"service_id": str(cs.service_id(loc)), cp.SUBTASK_PARAM: item, cp.SESSION_KEY: key}
    info = ask(w, src, cp.SITE_INFO_PATH, {"site_url_name": cs.slug(src)}, fault=fault)
    span = {"from_day": today.isoformat(), "to_day": (today + timedelta(days=28)).isoformat()}
    days_path = cp.DAYS_PATH.format(site=cs.site_id(src))
    days = ask(w, src, days_path, {**common, **span}, cookies, headers, fault)
    first = json.loads(days.body)["available_days"][0]["day"]
    times_path = cp.TIMES_PATH.format(site=cs.site_id(src))
    times = ask(w, src, times_path, {**common, "day": first}, cookies, headers, fault)
    return {
        "info": (f"{API}{cp.SITE_INFO_PATH}?site_url_name=x", info.body.decode()),
        "days": (f"{API}{days_path}?from_day={span['from_day']}", days.body.decode()),
        "times": (f"{API}{times_path}?day={first}&{cp.SUBTASK_PARAM}={item}", times.body.decode()),
    }


# ----------------------------------------------------------------------- simulator pages


def test_booking_page_gives_both_tokens():
    w = world()
    src = next(iter(w.sources.values()))
    reply = ask(w, src, cp.INDEX_PATH.format(slug=cs.slug(src)))
    view = cleverq.read_page(reply.body.decode(), f"{API}/public/appointments/x/index.html")
    assert (view.page, view.reader) == ("start", "cleverq.index")
    assert len(view.details["csrf"]) > 20 and len(view.details["session_key"]) > 15
    assert reply.headers["Set-Cookie"].startswith(f"{cp.SESSION_COOKIE}=")


def test_a_page_without_the_key_or_the_token_is_unknown():
    w = world()
    src = next(iter(w.sources.values()))
    text = ask(w, src, cp.INDEX_PATH.format(slug=cs.slug(src))).body.decode()
    with pytest.raises(PageError, match="booking_session_key"):
        cleverq.read_page(text.replace("booking_session_key", "session"))
    with pytest.raises(PageError, match="csrf-token"):
        cleverq.read_page(text.replace('name="csrf-token"', 'name="csrf"'))


def test_every_simulated_answer_is_read_by_its_reader():
    w = world()
    src = next(iter(w.sources.values()))
    got = {k: cleverq.read_page(text, url) for k, (url, text) in answers(w, src).items()}
    assert (got["info"].page, got["info"].reader) == ("services", "cleverq.site-info")
    assert [c[0] for c in got["info"].choices] == [str(int(i)) for i in src.locations]
    assert (got["days"].page, got["days"].reader) == ("days", "cleverq.days")
    assert (got["times"].page, got["times"].reader) == ("times", "cleverq.time-slots")
    day = got["times"].details["day"]
    loc = next(iter(src.locations.values()))
    truth = w.published_slots(src, loc.id, [datetime.fromisoformat(day).date()], w.now())
    assert got["times"].slots == [s[:16] for s in truth]


def test_empty_day_list_of_the_2021_bot_is_read_like_the_simulators(shared_dir):
    notes = (shared_dir / "docs" / "protocols" / "systems-2026.md").read_text(encoding="utf-8")
    real = re.search(r'\{"duration":3,"duration_minutes":15,"available_days":\[\]\}', notes)
    assert real, "the notes no longer quote the 2021 empty answer"
    view = cleverq.read_page(real.group(0))
    assert (view.page, view.reader) == ("none-free", "cleverq.days")
    assert view.marker.startswith(cleverq.NO_OPEN_DAY)
    w = world(start=datetime(2021, 7, 17, 19, 0))  # Saturday evening: nothing today
    src = next(iter(w.sources.values()))
    cookies, headers, key = session(w, src)
    loc = next(iter(src.locations.values()))
    sub = min(cs.subtasks(src, loc), key=lambda s: s["initial_duration"])
    query = {"service_id": str(cs.service_id(loc)), cp.SUBTASK_PARAM: cp.subtask_item(sub["id"])}
    query.update({cp.SESSION_KEY: key, "from_day": "2021-07-17", "to_day": "2021-07-17"})
    sim = ask(w, src, cp.DAYS_PATH.format(site=cs.site_id(src)), query, cookies, headers)
    assert set(json.loads(sim.body)) == set(json.loads(real.group(0)))
    assert cleverq.read_page(sim.body.decode()).reader == view.reader


def test_outdated_slots_are_not_free_and_a_day_of_only_outdated_ones_is_stated():
    text = json.dumps(
        {
            "day": "2026-03-17",
            "duration_minutes": 15,
            "available_time_slots": [
                {"time_of_slot": "08:00", "available": 1, "outdated": True},
                {"time_of_slot": "08:15", "available": 0, "outdated": False},
            ],
        }
    )
    view = cleverq.read_page(text)
    assert view.page == "none-free" and view.marker.startswith(cleverq.ALL_OUTDATED)
    free = text.replace('"available": 0', '"available": 2')
    assert cleverq.read_page(free).slots == ["2026-03-17 08:15"]


def test_a_day_whose_every_slot_answers_zero_is_a_contradiction_never_none_free():
    w = world()
    src = next(iter(w.sources.values()))
    url, text = answers(w, src)["times"]
    zero = re.sub(r'"available": \d+', '"available": 0', text)
    with pytest.raises(cp.AllZeroDay, match=r"wrong-subtask symptom \(subtask \d+\)"):
        cleverq.read_page(zero, url)
    empty = json.dumps({**json.loads(text), "available_time_slots": []})
    with pytest.raises(cp.AllZeroDay):
        cleverq.read_page(empty, url)


def test_api_errors_and_the_expired_session():
    view = cleverq.read_page('{"error":1012,"message":"Booking session expired"}')
    assert (view.page, view.reader, view.details["expired"]) == (
        "error-page",
        "cleverq.api-error",
        True,
    )
    assert view.error == "error 1012: Booking session expired"
    assert cleverq.read_page('{"error":404}').details["expired"] is False


SLOT = {"time_of_slot": "08:00", "available": 1, "outdated": False}
TIMES_URL = f"{API}/api/external/v4/sites/3/appointments/available_time_slots"


def slots_of(*items) -> str:
    return json.dumps({"day": "2026-03-17", "available_time_slots": list(items)})


def info_with(subtask) -> str:
    return json.dumps({"id": 3, "services": [{"id": 1, "name": "A", "subtasks": [subtask]}]})


@pytest.mark.parametrize(
    ("text", "url", "match"),
    [
        ("<html><body>Wartung</body></html>", f"{API}{cp.SITE_INFO_PATH}", "not a JSON answer"),
        ("[]", None, "answers JSON objects"),
        ('{"days": []}', None, "no known key"),
        ('{"available_days": []}', TIMES_URL, "URL asks for times"),
        ('{"available_days": [{"day": "2026-02-30"}]}', None, "no usable 'day'"),
        ('{"id": "3", "services": []}', None, "no integer 'id'"),
        (info_with({"id": 2, "name": "B", "initial_duration": 0}), None, "positive"),
        (slots_of({**SLOT, "time_of_slot": "8:00"}), None, "time_of_slot"),
        (slots_of({**SLOT, "available": True}), None, "'available'"),
        (slots_of({**SLOT, "outdated": None}), None, "'outdated'"),
        (slots_of(), f"{TIMES_URL}?day=2026-03-18", "not 2026-03-18"),
    ],
)
def test_odd_answers_raise(text, url, match):
    with pytest.raises(PageError, match=match):
        cleverq.read_page(text, url)


def test_a_site_without_services_is_closed():
    view = cleverq.read_page('{"id": 3, "name": "X", "services": []}')
    assert (view.page, view.error) == ("closed", cp.NO_SERVICE)


#: keys the readers key on, per answer
KEYS = {
    "days": ("available_days", "day"),
    "times": ("available_time_slots", "time_of_slot", "available", "outdated", "day"),
}
WORDS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda w: w not in {"error", "id", "services", *KEYS["times"], *KEYS["days"]}
)


@settings(max_examples=40, deadline=None)
@given(step=st.sampled_from(["days", "times"]), which=st.integers(0, 4), word=WORDS)
def test_property_renamed_slot_keys_give_page_error(step, which, word):
    w = world(seed=4)
    src = next(iter(w.sources.values()))
    url, text = answers(w, src)[step]
    key = KEYS[step][which % len(KEYS[step])]
    renamed = text.replace(f'"{key}"', f'"{word}"')
    with pytest.raises(PageError):
        view = cleverq.read_page(renamed, url)
        # (only reached when renaming did not break the reader: never zero or none-free)
        assert view.page not in ("none-free", "times") or view.slots
        raise AssertionError(f"renaming {key!r} to {word!r} was read as {view.page}")


# ----------------------------------------------------------------------- parse


def raw(**service):
    entry = {
        "id": "280",
        "name": "Zulassung",
        "subtask": {"id": 191, "name": "Neuzulassung", "minutes": 15},
        "days": [],
        "slots": [],
        "url": f"{API}/x",
    }
    entry.update(service)
    return {"site": {"id": 3, "name": "Norderstedt", "slug": "norderstedt"}, "services": [entry]}


def test_parse_carries_slots_markers_and_urls():
    parsed = cleverq.parse(raw(slots=["2026-03-17 08:15", "2026-03-17 08:00", "2026-03-17 08:00"]))
    loc = parsed.locations["280"]
    assert [f"{s:%H:%M}" for s in loc.slots] == ["08:00", "08:15"]
    assert (loc.name, loc.services, loc.url) == ("Zulassung", ("Neuzulassung",), f"{API}/x")
    empty = check_empty(cleverq.parse(raw(none_free=cleverq.NO_OPEN_DAY)), "cleverq")
    assert empty.locations["280"].empty == cleverq.NO_OPEN_DAY


def test_a_service_without_slots_and_marker_is_a_silent_zero():
    with pytest.raises(SilentZeroError, match="'280'"):
        check_empty(cleverq.parse(raw()), "cleverq")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ([], "top level"),
        (raw(slots=["2026-03-17T08:00"]), "YYYY-MM-DD HH:MM"),
        (raw(slots=["2026-03-17 08:00"], none_free="x"), "slots and a"),
        (raw(subtask=None), "subtask"),
        (raw(id=280), "'id'"),
        ({**raw(), "services": raw()["services"] * 2}, "twice"),
    ],
)
def test_parse_rejects_bad_shapes(payload, match):
    with pytest.raises(ParseError, match=match):
        cleverq.parse(payload)


def test_real_pages_when_any_were_recorded(shared_dir):
    folder = SHARED / "data" / "real-pages" / "cleverq"
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        view = cleverq.read_page(path.read_text(encoding="utf-8"))
        assert view.page != "none-free" or view.marker
