"""The qmatic family: read_page on the simulator's answers, markers, parse.

No real Qmatic answer is in ../shared. The answers of broneering.politsei.ee recorded on
2026-10-02 (umutdinceryananer/ppa-slot-watch, tests/fixtures) were read locally by these
readers as: serviceGroups -> ``qmatic.service-groups``, ``branches/available`` (``{"value":
[...]}``) -> ``qmatic.branch-value``, dates -> ``qmatic.dates``, times -> ``qmatic.times``;
``REAL_READERS`` pins those names and the simulator's answers must be read the same way.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.errors import ParseError
from office_schedule.families import SilentZeroError, check_empty, qmatic
from office_schedule.families.pages import PageError
from office_schedule.families.qmatic import pages as qp
from office_schedule.simulate import SimWorld
from office_schedule.simulate import qmatic_server as qs
from office_schedule.simulate.pages import SimRequest

NOW = datetime(2026, 10, 2, 9, 0)
BASE = "http://sim/qmaticwebbooking"
#: the reader of each step's recorded real answer (2026-10-02, see the module docstring)
REAL_READERS = {
    "service-groups": "qmatic.service-groups",
    "branches": "qmatic.branch-value",
    "dates": "qmatic.dates",
    "times": "qmatic.times",
}


def world(seed: int = 2, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, start=kw.pop("start", NOW), families={"qmatic": 2}, **kw)


def answer(w, src, path: str, fault=None) -> tuple[str, str]:
    """The simulator's body for ``{base}/rest/schedule/{path}`` and its URL."""
    full = f"{qs.APP}{qp.REST}/{path}"
    reply = qs.handle(w, src, SimRequest("GET", full, {}), fault)
    assert reply.status == 200, (reply.status, path)
    return reply.body.decode("utf-8"), f"http://sim{full}"


def first_free(w, src):
    """(service json, branch id, first free day) of a source."""
    for svc, data in qs.services(src):
        for cal in qs.calendars(svc):
            days = qs._free_days(w, src, src.locations[cal])
            if days:
                return data, qs.public_id(src, "branch", cal), days[0]
    raise AssertionError("no free day")


def step_pages(w, src) -> dict[str, tuple[str, str]]:
    service, branch, day = first_free(w, src)
    common = {"branch": branch, "service": service["publicId"], "length": "15"}
    return {
        "services": answer(w, src, qp.SERVICES_PATH),
        "service-groups": answer(w, src, qp.SERVICE_GROUPS_PATH),
        "branches": answer(w, src, qp.BRANCHES_PATH.format(service=service["publicId"])),
        "dates": answer(w, src, qp.DATES_PATH.format(**common)),
        "times": answer(w, src, qp.TIMES_PATH.format(day=day.isoformat(), **common)),
    }


@pytest.mark.parametrize("index", [0, 1])
def test_every_simulated_step_is_read_by_its_reader(index):
    w = world()
    src = list(w.sources.values())[index]
    kinds = {"services": "services", "service-groups": "services", "branches": "offices"}
    kinds.update(dates="days", times="times")
    for step, (text, url) in step_pages(w, src).items():
        view = qmatic.read_page(text, url)
        assert view.page == kinds[step], step
        assert qmatic.read_page(text).reader == view.reader  # the shape alone tells the same
        if step == "branches" and not qs.is_wrapped(src):
            assert view.reader == "qmatic.branch-list"
        elif step in REAL_READERS:
            assert view.reader == REAL_READERS[step], step
        else:
            assert view.reader == "qmatic.services"
    assert qs.is_wrapped(src) == (src.index % 2 == 1)


def test_what_the_readers_show():
    w = world()
    src = next(iter(w.sources.values()))
    pages = step_pages(w, src)
    services = qmatic.read_page(*pages["services"])
    assert [s for s, _ in services.choices] == [d["publicId"] for _, d in qs.services(src)]
    assert services.details["services"][0]["duration"] in qs.DURATIONS
    groups = qmatic.read_page(*pages["service-groups"])
    assert groups.choices == services.choices
    branches = qmatic.read_page(*pages["branches"])
    assert all(
        qp.PUBLIC_ID.fullmatch(o.id) and o.name.startswith("Standort") for o in branches.offices
    )
    dates = qmatic.read_page(*pages["dates"])
    times = qmatic.read_page(*pages["times"])
    assert times.slots and all(s.startswith(dates.days[0] + " ") for s in times.slots)


def test_empty_lists_are_told_apart_by_their_url():
    sid, bid = "a" * 64, "b" * 64
    base = f"{BASE}{qp.REST}/"
    view = qmatic.read_page("[]", base + qp.SERVICES_PATH)
    assert view.page == "closed" and view.error == qp.NO_SERVICE
    view = qmatic.read_page("[]", base + qp.BRANCHES_PATH.format(service=sid))
    assert view.page == "none-free" and view.marker == f"{qp.NO_BRANCH} {sid}"
    view = qmatic.read_page('{"value":[]}', base + qp.BRANCHES_PATH.format(service=sid))
    assert view.page == "none-free"
    url = base + qp.DATES_PATH.format(branch=bid, service=sid, length="60")
    view = qmatic.read_page("[]", url)
    assert view.page == "none-free" and view.marker.startswith(qp.NO_DATE) and bid in view.marker
    url = base + qp.TIMES_PATH.format(branch=bid, service=sid, length="60", day="2026-11-19")
    view = qmatic.read_page("[]", url)
    assert view.marker == f"{qp.NO_TIME} for 2026-11-19"
    with pytest.raises(PageError, match="request URL tells"):
        qmatic.read_page("[]")


def test_the_documented_2026_shapes():
    """The examples of the PPA brief (2026-10-02), written out in the test."""
    dates = '[{"date":"2026-11-19"},{"date":"2026-11-20"},{"date":"2026-11-23"}]'
    assert qmatic.read_page(dates).days == ["2026-11-19", "2026-11-20", "2026-11-23"]
    times = '[{"date":"2026-11-19","time":"09:15"},{"date":"2026-11-19","time":"10:15"}]'
    assert qmatic.read_page(times).slots == ["2026-11-19 09:15", "2026-11-19 10:15"]


@pytest.mark.parametrize(
    ("text", "url_step", "match"),
    [
        ('[{"date":"2026-11-19","time":"9:15"}]', None, "odd 'time'"),
        ('[{"date":"2026-11-31","time":"09:15"}]', None, "no usable 'date'"),
        ('[{"date":"2026-11-20","time":"09:15"}]', "times", "not 2026-11-19"),
        ('[{"date":"2026-11-19"}]', "times", "dates where the URL asks for times"),
        ('[{"date":"2026-11-19","time":"09:15"}]', "dates", "times where the URL asks"),
        ('[{"id":"x","name":"A"}]', None, "no 64-hex 'id'"),
        ('[{"publicId":"' + "a" * 64 + '","name":"A","duration":"15"}]', None, "odd duration"),
        (
            '{"value":[{"date":"2026-11-19"}]}',
            None,
            "dates where the .value. wrapper of branch lists asks for branches",
        ),
        ('{"error":"x"}', None, "not a JSON list"),
        ("<html><title>Wartung</title></html>", None, "page titled 'Wartung'"),
        ('[{"date":"2026-11-19"},{"date":"2026-11-20","time":"09:00"}]', None, "mixed"),
    ],
)
def test_odd_answers_raise(text, url_step, match):
    url = None
    if url_step == "times":
        path = qp.TIMES_PATH.format(branch="b" * 64, service="a" * 64, length="5", day="2026-11-19")
        url = f"{BASE}{qp.REST}/{path}"
    elif url_step == "dates":
        url = f"{BASE}{qp.REST}/" + qp.DATES_PATH.format(
            branch="b" * 64, service="a" * 64, length="5"
        )
    with pytest.raises(PageError, match=match):
        qmatic.read_page(text, url)


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(step=st.sampled_from(["dates", "times", "branches"]), word=WORDS, which=st.integers(0, 1))
def test_property_renamed_slot_keys_give_page_error(step, word, which):
    w = world()
    src = next(iter(w.sources.values()))
    text, url = step_pages(w, src)[step]
    keys = {"dates": ["date"], "times": ["time", "date"], "branches": ["id", "name"]}[step]
    key = keys[which % len(keys)]
    item = json.loads(text)
    first = (item[qp.VALUE_KEY] if isinstance(item, dict) else item)[0]
    if word in first or word == qp.VALUE_KEY:
        return
    renamed = text.replace(f'"{key}":', f'"{word}":')
    with pytest.raises(PageError):  # never zero slots, never "none-free"
        qmatic.read_page(renamed, url)


def test_real_answers_when_any_are_in_shared(shared_dir):
    folder = shared_dir / "data" / "real-pages" / "qmatic"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        pytest.skip("no real Qmatic answer is in ../shared")
    for path in files:
        text = path.read_text(encoding="utf-8-sig")
        if text.strip() != "[]":
            assert qmatic.read_page(text).reader.startswith("qmatic."), path


# ----------------------------------------------------------------- parse

SID, BID = "a" * 64, "b" * 64


def payload(**branch) -> dict:
    entry = {"id": BID, "name": "Bürgerbüro", "services": [SID], "slots": []}
    entry.update(branch)
    return {"services": [{"id": SID, "name": "Ausweis", "duration": 15}], "branches": [entry]}


def test_parse_carries_slots_markers_and_urls():
    raw = payload(slots=["2026-11-19 10:15", "2026-11-19 09:15", "2026-11-19 09:15"], url="u")
    loc = qmatic.parse(raw).locations[BID]
    assert [f"{s:%H:%M}" for s in loc.slots] == ["09:15", "10:15"]
    assert loc.services == ("Ausweis",) and loc.url == "u" and loc.empty is None
    raw = payload(none_free=qp.NO_DATE + " (x)", url="u")
    parsed = check_empty(qmatic.parse(raw), "qmatic")
    assert parsed.locations[BID].empty.startswith(qp.NO_DATE)
    with pytest.raises(SilentZeroError):
        check_empty(qmatic.parse(payload()), "qmatic")
    empty = {"services": [], "branches": [], "none_free": "qmatic: API listed no branch"}
    assert check_empty(qmatic.parse(empty), "qmatic").empty


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ([], "top level"),
        ({"services": [], "branches": {}}, "top level"),
        (payload(slots=["2026-11-19T09:15"]), "slots"),
        (payload(slots=["2026-11-19 9:15"]), "slots"),
        (payload(services=["c" * 64]), "catalogue ids"),
        (payload(slots=["2026-11-19 09:15"], none_free="x"), "has slots and"),
        (payload(id=""), "'id'"),
        ({**payload(), "none_free": "x"}, "none_free"),
    ],
)
def test_parse_rejects_bad_shapes(raw, where):
    with pytest.raises(ParseError, match=where):
        qmatic.parse(raw)


def test_parse_rejects_a_branch_twice():
    raw = payload()
    raw["branches"] = raw["branches"] * 2
    with pytest.raises(ParseError, match="appears twice"):
        qmatic.parse(raw)


def test_family_declaration():
    family = qmatic.FAMILY
    assert family.matches("https://onlinetermin.mtk.org/qmaticwebbooking/#/preselect/branch/x")
    assert family.matches("https://www.lra-aoe.de/qmaticwebbooking/#/")
    assert not family.matches("https://www.etermin.net/qmatic")
    assert family.politeness["per_host_concurrency"] == 1 and family.politeness["min_gap"] >= 1
    assert family.required == ("base_url",) and set(family.optional) == {"services", "branches"}
