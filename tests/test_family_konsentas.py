"""The konsentas family: read_page on the simulator's answers, markers, parse.

No real Konsentas answer was recorded anywhere (../shared has none, public code has only
the clients that read them), so the readers are tested on the simulator's answers, which
follow the keys those clients read, and on the documented examples.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.errors import ParseError
from office_schedule.families import SilentZeroError, check_empty, konsentas
from office_schedule.families.konsentas import pages as kp
from office_schedule.families.pages import PageError
from office_schedule.simulate import SimWorld
from office_schedule.simulate import konsentas_server as ks
from office_schedule.simulate.pages import SimRequest

NOW = datetime(2026, 3, 24, 9, 0)
HOST = "http://sim"


def world(seed: int = 3, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, start=kw.pop("start", NOW), families={"konsentas": 3}, **kw)


def call(w, src, method, path, query=None, form=None, jwt=None, fault=None) -> tuple[str, str]:
    headers = {"authorization": f"Bearer {jwt}"} if jwt else {}
    request = SimRequest(method, path, dict(query or {}), dict(form or {}), headers=headers)
    reply = ks.handle(w, src, request, fault)
    return reply.body.decode("utf-8"), HOST + path


def flow(w, src, choice: str | None = None, fault=None) -> dict[str, tuple[str, str]]:
    """The simulator's answer of every step for one choice (the first one by default)."""
    query = {"signupform_id": ks.form_id(src), "userauth": "", "queryParameter[signup_new]": "1"}
    startup = call(w, src, "GET", kp.STARTUP_PATH, query)
    data = json.loads(startup[0])["data"]
    jwt, choice = data["ota_jwt"], choice or next(iter(ks.catalogue(src)[1]))
    pick = {kp.CHOOSE_FIELD: kp.CHOICE_PREFIX + choice, "op_id": data["op_id"], "navigation": "1"}
    chosen = call(w, src, "POST", kp.NEXT_STEP_PATH, form=pick, jwt=jwt, fault=fault)
    op_id = json.loads(chosen[0])["data"]["op_id"]
    confirm = {"0": "", kp.CHOOSE_FIELD: "", "op_id": op_id, "navigation": "1"}
    confirmed = call(w, src, "POST", kp.NEXT_STEP_PATH, form=confirm, jwt=jwt)
    first = call(w, src, "GET", kp.FIRST_PATH, jwt=jwt)
    day = NOW.date()
    span = {"start": str(konsentas.epoch(day)), "end": str(konsentas.epoch(day) + 14 * 86400)}
    slots = call(w, src, "GET", kp.SLOTS_PATH, span, jwt=jwt, fault=fault)
    return {"startup": startup, "chosen": chosen, "confirmed": confirmed, "first": first}, slots


STEPS = {
    "startup": ("services", "konsentas.startup"),
    "chosen": ("start", "konsentas.next-step"),
    "confirmed": ("start", "konsentas.next-step"),
    "first": ("offices", "konsentas.first-timeslot"),
}


@pytest.mark.parametrize("index", [0, 1])
def test_every_simulated_step_is_read_by_its_reader(index):
    w = world()
    src = list(w.sources.values())[index]
    steps, slots = flow(w, src)
    for step, (text, url) in steps.items():
        view = konsentas.read_page(text, url)
        assert (view.page, view.reader) == STEPS[step], step
        assert konsentas.read_page(text).reader == view.reader
    view = konsentas.read_page(*slots)
    assert (view.page, view.reader) == ("times", "konsentas.timeslots")
    first = konsentas.read_page(*steps["first"]).details["first"]
    assert first == view.slots[0]  # a frozen world: the earliest free slot is listed first
    assert len(view.details["listed"]) > len(view.slots)  # taken slots are listed too


def test_the_catalogue_in_both_shapes_with_and_without_options():
    seen = set()
    for seed in (3, 4):
        w = world(seed)
        for src in w.sources.values():
            text, url = flow(w, src)[0]["startup"]
            view = konsentas.read_page(text, url)
            owner = ks.catalogue(src)[1]
            assert [c for c, _ in view.choices] == list(owner)
            for cid, name in view.choices:
                loc = src.locations[owner[cid]]
                process = int(cid.split("_")[1]) < ks.OPTION_BASE
                assert name.endswith(f"({loc.name})") != process
                assert (":" in name) == ks.grouped(src)
                seen.add((ks.grouped(src), process))
            assert view.details["jwt"].count(".") == 2 and view.details["op_id"] == "id1"
    assert seen == {(True, True), (True, False), (False, True), (False, False)}


def test_the_documented_first_timeslot_example():
    text = json.dumps(
        {
            "code": 3,
            "data": {
                "termin": {
                    "recno": "::20260325:825:840",
                    "yeardate": 20260325,
                    "time": 825,
                    "duration": 15,
                    "places": 1,
                }
            },
        }
    )
    view = konsentas.read_page(text)
    assert view.page == "offices" and view.offices[0].earliest == "2026-03-25 13:45"
    view = konsentas.read_page('{"code":3,"data":{"termin":null}}')
    assert view.page == "none-free" and view.marker == kp.NO_TERMIN


def _timeslot(recno="::20260326:620:635", places=1, **extra) -> dict:
    return {"recno": recno, "yeardate": int(recno.split(":")[2]), "places": places, **extra}


def _slots(*termins) -> str:
    return json.dumps({"code": 3, "msg": "", "data": {"termins": list(termins)}})


def test_timeslot_markers():
    view = konsentas.read_page(_slots(_timeslot()))
    assert view.slots == ["2026-03-26 10:20"]
    view = konsentas.read_page(_slots())
    assert view.page == "none-free" and view.marker == kp.NO_TIMESLOT
    booked = _timeslot(places=0, className=kp.BOOKED_OUT)
    view = konsentas.read_page(_slots(booked, _timeslot("::20260327:600:615", places=0)))
    assert view.page == "none-free" and view.marker.startswith(kp.ALL_BOOKED)
    assert "(2 from 2026-03-26 10:20 to 2026-03-27 10:00)" in view.marker


def test_error_answers_show_the_sites_message():
    view = konsentas.read_page('{"code":1,"msg":"Ihre Sitzung ist abgelaufen.","data":null}')
    assert view.page == "error-page" and view.error == "code 1: Ihre Sitzung ist abgelaufen."
    assert konsentas.read_page('{"code":0}').error == "code 0"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_slots(_timeslot("::20260326:620")), "documented shape"),
        (_slots({**_timeslot(), "yeardate": 20260327}), "contradicts its yeardate"),
        (_slots(_timeslot(time=621)), "contradicts recno"),
        (_slots(_timeslot(className=kp.BOOKED_OUT)), "termin-booked-out with 1 places"),
        (_slots({"recno": "::20260326:620:635", "yeardate": 20260326}), "documented shape"),
        (_slots(_timeslot("::20260326:1500:1515")), "no time"),
        ('{"code":3,"data":{"termins":{}}}', "not a list"),
        ('{"code":3,"data":{"termin":{"time":1}}}', "odd termin"),
        ('{"code":3,"data":{"ota_jwt":"x","op_id":"id1","op_conf":{}}}', "a JWT"),
        ('{"code":3,"data":{"ota_jwt":"a.b.c","op_id":"id1","op_conf":{}}}', "not a list"),
        ('{"code":3,"data":{"something":1}}', "unrecognised page"),
        ("[]", "not a Konsentas API object"),
        ("<html><title>Wartung</title></html>", "page titled 'Wartung'"),
    ],
)
def test_odd_answers_raise(text, match):
    with pytest.raises(PageError, match=match):
        konsentas.read_page(text)


def test_an_answer_at_the_wrong_endpoint_is_not_read():
    with pytest.raises(PageError, match="unrecognised"):
        konsentas.read_page(_slots(_timeslot()), HOST + kp.FIRST_PATH)


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=9)


@settings(max_examples=60, deadline=None)
@given(word=WORDS, key=st.sampled_from(["recno", "places", "yeardate"]))
def test_property_renamed_slot_keys_give_page_error(word, key):
    w = world()
    src = next(iter(w.sources.values()))
    text, url = flow(w, src)[1]
    if word in json.loads(text)["data"]["termins"][0]:
        return
    with pytest.raises(PageError):  # never zero slots, never "none-free"
        konsentas.read_page(text.replace(f'"{key}":', f'"{word}":'), url)


def test_real_answers_when_any_are_in_shared(shared_dir):
    folder = shared_dir / "data" / "real-pages" / "konsentas"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        pytest.skip("no real Konsentas answer is recorded (none was found anywhere)")
    for path in files:
        assert konsentas.read_page(path.read_text(encoding="utf-8-sig")).reader, path


# ----------------------------------------------------------------- parse


def payload(**entry) -> dict:
    return {"form": "1", "choices": [{"id": "12_15", "name": "Übertrag", "slots": [], **entry}]}


def test_parse_carries_slots_markers_and_urls():
    raw = payload(slots=["2026-03-26 10:35", "2026-03-26 10:20"], url="u")
    loc = konsentas.parse(raw).locations["12_15"]
    assert [f"{s:%H:%M}" for s in loc.slots] == ["10:20", "10:35"]
    assert loc.services == ("Übertrag",) and loc.url == "u"
    parsed = check_empty(konsentas.parse(payload(none_free=kp.NO_TERMIN)), "konsentas")
    assert parsed.locations["12_15"].empty == kp.NO_TERMIN
    with pytest.raises(SilentZeroError):
        check_empty(konsentas.parse(payload()), "konsentas")


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({}, "top level"),
        (payload(slots=["2026-03-26T10:20"]), "slots"),
        (payload(slots="x"), "slots"),
        (payload(id=""), "'id'"),
        (payload(slots=["2026-03-26 10:20"], none_free="x"), "has slots and"),
        ({"choices": payload()["choices"] * 2}, "appears twice"),
    ],
)
def test_parse_rejects_bad_shapes(raw, where):
    with pytest.raises(ParseError, match=where):
        konsentas.parse(raw)


def test_family_declaration():
    family = konsentas.FAMILY
    assert family.matches("https://stuttgart.konsentas.de/form/1/")
    assert family.matches("https://karlsruhe.konsentas.de/form/1/manage/x")
    assert family.required == ("base_url", "signupform_id") and family.optional == ("choices",)
    assert family.politeness["per_host_concurrency"] == 1 and family.politeness["min_gap"] >= 1
