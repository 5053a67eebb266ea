"""SmartCJM readers on the real Leipzig pages and on the simulator's pages; parse; markers."""

from __future__ import annotations

import inspect
import json
import string
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from office_schedule.errors import ParseError
from office_schedule.families import check_empty, read_page, smartcjm
from office_schedule.families.pages import PageError
from office_schedule.families.smartcjm import protocol as P
from office_schedule.simulate import smartcjm_server as ss

from .familytools import FUZZ, JSON, real_page, sim_answer, sim_world

FOLDER = "smartcjm"
WITH_SLOTS = "leipzig_with_slots.html"
NO_SLOTS = "leipzig_no_slots.html"
EXPIRED = "leipzig_session_expired.html"
HOST = "127.0.0.1:8000"


def read(text: str):
    return read_page("smartcjm", text, "https://example.invalid/m/x/extern/calendar/")


# --------------------------------------------------------------------------- the simulator


class Browser:
    """Walks one simulated calendar through ``handle`` as the scraper would."""

    def __init__(self, world, src, fault=None):
        self.world, self.src, self.fault = world, src, fault
        self.base = ss.calendar_path(src) + "/"

    def answer(self, method: str, query: dict, form: dict | None = None):
        return sim_answer(ss, self.world, self.src, method, self.base, query=query,
                          form=form, host=HOST, fault=self.fault)  # fmt: skip

    def open(self) -> str:
        reply = self.answer("GET", {"uid": ss.calendar_uid(self.src)})
        assert reply.status == 302
        query = dict(parse_qsl(urlsplit(reply.headers["Location"]).query))
        self.wsid = query["wsid"]
        return self.answer("GET", query).body.decode()

    def post(self, page: str, fields: dict) -> str:
        form = read(page).details["form"]
        query = dict(parse_qsl(form["action"].split("?", 1)[1].split("#")[0]))
        data = {P.TOKEN_FIELD: form["token"], "steps": form["fields"]["steps"],
                "step_goto": P.GOTO_NEXT, **fields}  # fmt: skip
        return self.answer("POST", query, data).body.decode()

    def choose(self, page: str, service: str) -> str:
        fields = {"step_current": P.STEP_SERVICES, "step_current_index": "0",
                  "action_type": "", P.amount_field(service): "1"}  # fmt: skip
        return self.post(page, fields)

    def search(self, page: str) -> str:
        fields = {"step_current": P.STEP_LOCATIONS, "step_current_index": "1",
                  "action_type": P.ACTION_SEARCH, P.LOCATIONS_ALL_FIELD: "1"}  # fmt: skip
        return self.post(page, fields)

    def results(self, service: str | None = None) -> str:
        services = self.open()
        page = self.choose(services, service or read(services).choices[0][0])
        return self.search(page) if ss.has_locations(self.src) else page

    def earliest(self) -> str:
        services = self.open()
        self.choose(services, read(services).choices[0][0])
        query = {"search_mode": P.EARLIEST_MODE, "uid": ss.calendar_uid(self.src),
                 "wsid": self.wsid, "lang": "de", "set_lang_ui": "de"}  # fmt: skip
        return sim_answer(ss, self.world, self.src, "GET", self.base + P.SEARCH_RESULT,
                          query=query, host=HOST, fault=self.fault).body.decode()  # fmt: skip


@pytest.fixture(scope="module")
def world():
    return sim_world("smartcjm", n=6, seed=4)


def pick(world, *, locations: bool | None = None, plain: bool | None = None):
    for src in world.sources.values():
        if locations is not None and ss.has_locations(src) != locations:
            continue
        if plain is not None and (src.index % 2 == 0) != plain:
            continue
        return src
    pytest.skip("no such simulated source in this world")


# --------------------------------------------------------------------------- real pages


def test_real_page_with_slots_reads_exactly_the_three_times():
    view = read(real_page(FOLDER, WITH_SLOTS))
    assert view.page == "times" and view.reader == "smartcjm.slot-buttons"
    assert view.slots == ["2026-05-20 09:15", "2026-05-21 12:50", "2026-05-22 10:50"]
    assert view.days == ["2026-05-20", "2026-05-21", "2026-05-22"]
    offices = {o.id: (o.name, o.earliest) for o in view.offices}
    assert offices == {
        "868036ae-d404-4804-a6b3-3ccccac44071": (
            "Bürgerbüro Ratzelbogen (Grünau)",
            "2026-05-20 09:15",
        ),
        "acf4e0bb-a78c-4670-95fc-50cf15348e0b": (
            "Bürgerbüro Otto-Schill-Straße (Zentrum)",
            "2026-05-21 12:50",
        ),
    }  # fmt: skip
    resources = {s["resource"] for s in view.details["slots"]}
    assert resources == {
        "187fc76b-160a-4c82-9705-deda199a72ca",
        "6ce5bc5f-20ee-4df3-a139-d4d017468dec",
    }
    assert {s["duration"] for s in view.details["slots"]} == {10}
    form = view.details["form"]
    assert form["fields"]["steps"] == "serviceslocationssearch_resultsbookingfinish"
    assert form["fields"]["step_current"] == P.STEP_RESULTS and form["token"]
    assert "rev=EbVjY" in form["action"]


def test_real_no_slots_page_is_none_free_by_the_sites_marker():
    view = read(real_page(FOLDER, NO_SLOTS))
    assert view.page == "none-free" and view.reader == "smartcjm.no-appointment"
    assert view.marker == P.NONE_FREE and not view.slots


def test_real_expired_page_is_an_error_page_with_the_sites_message():
    view = read(real_page(FOLDER, EXPIRED))
    assert view.page == "error-page" and view.reader == "smartcjm.session-expired"
    assert view.error.startswith(P.SESSION_EXPIRED_HEADING)
    assert P.SESSION_EXPIRED_TEXT in view.error


def test_script_text_is_never_read_as_a_slot():
    """The page's own appointment_reserve definition sits in a script: not a slot."""
    text = real_page(FOLDER, WITH_SLOTS)
    assert text.count(P.RESERVE_FUNCTION) == 4  # 3 buttons + the function definition
    head, _, tail = text.partition('<div class="rc_form_layout_70_30">')
    only_script = (
        head + "<p>appointment_reserve('2026-06-01T08%3a00%3a00%2b02%3a00', '10', 'a', 'b')</p>"
    )
    with pytest.raises(PageError, match="zero slots is never a result"):
        read(only_script)


WORDS = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=12)


@FUZZ
@given(keyword=st.sampled_from([P.RESERVE_FUNCTION, "onclick"]), word=WORDS)
def test_renamed_slot_markup_of_the_real_page_is_an_error(keyword, word):
    assume(word.lower() != keyword.lower() and keyword not in word)
    text = real_page(FOLDER, WITH_SLOTS).replace(keyword, word)
    with pytest.raises(PageError):
        read(text)


@FUZZ
@given(keyword=st.sampled_from([P.NONE_FREE_ID, P.NONE_FREE]), word=WORDS)
def test_renamed_marker_of_the_real_page_is_an_error(keyword, word):
    assume(word != keyword)
    text = real_page(FOLDER, NO_SLOTS).replace(keyword, word)
    with pytest.raises(PageError):
        read(text)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("'868036ae-d404-4804-a6b3-3ccccac44071'", "''", "bad duration/location/resource"),
        ("2026-05-20T09:15:00.0000000", "2026-05-20T09:45:00.0000000", "data-slot-from"),
        ("Termin um 12:50 Uhr", "Termin um 12:55 Uhr", "is labelled"),
        ("id=\"'2026-05-22'\"", "id=\"'2026-05-23'\"", "day cards"),
        ("day_2026-05-21", "day_2026-05-24", "container of day"),
        ("2026-05-20T09%3a15%3a00%2b02%3a00", "heute 9 Uhr", "not an ISO date"),
        ('name="step_current" value="search_results"', 'name="step_current" value="services"',
         "results markup on the 'services' step"),
    ],
)  # fmt: skip
def test_a_results_page_that_contradicts_itself_is_an_error(old, new, message):
    text = real_page(FOLDER, WITH_SLOTS)
    assert old in text
    with pytest.raises(PageError, match=message):
        read(text.replace(old, new, 1))


def test_none_free_marker_next_to_slots_is_an_error():
    text = real_page(FOLDER, WITH_SLOTS)
    box = real_page(FOLDER, NO_SLOTS).split('<div id="error_no_appointment_found"')[1]
    text = text.replace(
        '<div class="timeslot_cards">', f'<div id="error_no_appointment_found"{box}', 1
    )
    with pytest.raises(PageError, match="says 'Keine freien Termine gefunden.' and shows 3"):
        read(text)


# --------------------------------------------------------------------------- simulator pages


@pytest.mark.parametrize("plain", [False, True])
def test_simulated_results_page_is_read_like_the_real_one(world, plain):
    src = pick(world, plain=plain)
    text = Browser(world, src).results()
    assert ('data-testid="slot_button-1"' in text) != plain
    view = read(text)
    real = read(real_page(FOLDER, WITH_SLOTS))
    assert view.page == real.page == "times" and view.reader == real.reader
    now = world.now()
    days = ss.truth_days(now, 3)
    published = {f"{slot[:16]}" for lid in src.locations
                 for slot in world.published_slots(src, lid, days, now)}  # fmt: skip
    assert set(view.slots) <= published and view.slots
    names = {ss.location_id(src, loc): loc.name for loc in src.locations.values()}
    assert all(o.name == names[o.id] for o in view.offices)


def test_simulated_pages_of_every_step_have_the_real_readers(world):
    src = pick(world, locations=True)
    browser = Browser(world, src)
    services = browser.open()
    view = read(services)
    assert view.page == "services" and view.reader == "smartcjm.services"
    assert [uid for uid, _ in view.choices] == [uid for uid, _ in ss.services(src)]
    assert [name for _, name in view.choices] == [svc.title for _, svc in ss.services(src)]
    locations = read(browser.choose(services, view.choices[0][0]))
    assert locations.page == "offices" and locations.reader == "smartcjm.locations"
    first = dict(ss.services(src))[view.choices[0][0]]
    assert [o.id for o in locations.offices] == [
        ss.location_id(src, src.locations[lid]) for lid in ss.served(first)
    ]
    assert locations.offices[0].name == src.locations[ss.served(first)[0]].name
    empty = read(Browser(world, src, fault="empty").results())
    assert empty.page == "none-free" and empty.reader == read(real_page(FOLDER, NO_SLOTS)).reader
    assert empty.marker == P.NONE_FREE
    late = Browser(world, src, fault="expired")
    expired = read(late.choose(late.open(), view.choices[0][0]))
    assert expired.page == "error-page" and expired.reader == "smartcjm.session-expired"
    assert expired.error == read(real_page(FOLDER, EXPIRED)).error


def test_simulated_earliest_page(world):
    src = pick(world, locations=True)
    view = read(Browser(world, src).earliest())
    assert view.page == "offices" and view.reader == "smartcjm.earliest"
    first = dict(ss.services(src))[read(Browser(world, src).open()).choices[0][0]]
    expected = {ss.location_id(src, src.locations[lid]) for lid in ss.served(first)}
    assert {o.id for o in view.offices} <= expected and view.offices
    now = world.now()
    for office in view.offices:
        loc = next(x for x in src.locations.values() if ss.location_id(src, x) == office.id)
        first = ss._first_free(world, src, loc, world.horizon_days(now), now)
        assert office.earliest == f"{first:%Y-%m-%d %H:%M}"
    none = read(Browser(world, src, fault="empty").earliest())
    assert none.page == "none-free" and none.marker == P.EARLIEST_NONE


def test_earliest_entry_whose_display_disagrees_is_an_error(world):
    text = Browser(world, pick(world, locations=True)).earliest()
    data = json.loads(text.split('id="json_appointment_list">')[1].split("</div>")[0])
    data["appointments"][0]["date_time"] = "Mo 01.01. 00:00"
    broken = f'<div id="{P.EARLIEST_LIST_ID}">{json.dumps(data)}</div>'
    with pytest.raises(PageError, match="earliest entry shows"):
        read(broken)
    with pytest.raises(PageError, match="neither offices nor nothing_Found"):
        read(f'<div id="{P.EARLIEST_LIST_ID}">{{"appointments": []}}</div>')


@FUZZ
@given(keyword=st.sampled_from([P.RESERVE_FUNCTION, "onclick"]), word=WORDS, plain=st.booleans())
def test_renamed_slot_markup_of_a_simulated_page_is_an_error(world, keyword, word, plain):
    assume(word.lower() != keyword.lower() and keyword not in word)
    text = _sim_results(world, plain).replace(keyword, word)
    with pytest.raises(PageError):
        read(text)


_PAGES: dict[bool, str] = {}


def _sim_results(world, plain: bool) -> str:
    if plain not in _PAGES:
        _PAGES[plain] = Browser(world, pick(world, plain=plain)).results()
    return _PAGES[plain]


def test_services_step_without_amount_field_is_an_error(world):
    text = Browser(world, pick(world)).open()
    uid = read(text).choices[0][0]
    with pytest.raises(PageError, match="has no service_"):
        read(text.replace(f'name="{P.amount_field(uid)}"', 'name="x"'))
    with pytest.raises(PageError, match="lists no service"):
        read(text.replace(P.SERVICE_LABEL_CLASS, "service_name"))


def test_cloudflare_pages_are_blocked():
    for status, message in ((403, P.CLOUDFLARE_BLOCKED), (429, P.CLOUDFLARE_RATE_LIMITED)):
        view = read(ss.cloudflare("termine.example.de", status).body.decode())
        assert view.page == "blocked" and view.error == message


def test_unknown_page_is_an_error():
    with pytest.raises(PageError, match="smartcjm: unrecognised page: page titled 'Wartung'"):
        read("<html><head><title>Wartung</title></head><body><h1>Bald zurück</h1></body></html>")


def test_protocol_texts_live_in_the_family_module_only():
    server = inspect.getsource(ss)
    for text in (P.NONE_FREE, P.EARLIEST_NONE, P.SESSION_EXPIRED_HEADING, "appointment_reserve("):
        assert text not in server


# --------------------------------------------------------------------------- parse


def _search(slots=(), marker=None, name="Wohnsitz anmelden", mode="all"):
    if mode == "all":
        entries = [[s, f"{s[:10]}T{s[11:]}:00+02:00", 10, loc, res] for s, loc, res in slots]
        names = {"L1": "Bürgerbüro Mitte"}
        return {"service": "svc", "name": name, "url": "https://x/?uid=u", "locations": None,
                "none_free": marker, "slots": entries, "names": names}  # fmt: skip
    entries = [[s, "iso", "10", loc, "Amt " + loc, "/booking"] for s, loc, _ in slots]
    return {"service": "svc", "name": name, "url": "https://x/", "locations": None,
            "none_free": marker, "earliest": entries}  # fmt: skip


def payload(*searches, mode="all", until="2026-06-10"):
    return {"v": 1, "mode": mode, "until": until, "calendar": "c", "searches": list(searches)}


def test_parse_unions_services_and_counts_a_start_once_across_resources():
    raw = payload(
        _search(
            [
                ("2026-06-01 09:00", "L1", "R1"),
                ("2026-06-01 09:00", "L1", "R2"),
                ("2026-06-02 10:00", "L2", "R3"),
            ]
        ),  # fmt: skip
        _search([("2026-06-01 09:10", "L1", "R1")], name="Pass "),
        _search(marker=P.NONE_FREE, name="Abmeldung"),
        _search([("2026-07-01 09:10", "L1", "R1")], name="Spät"),
    )
    parsed = check_empty(smartcjm.parse(raw), "smartcjm")
    assert parsed.to_truth() == {
        "L1": ["2026-06-01 09:00:00", "2026-06-01 09:10:00"],
        "L2": ["2026-06-02 10:00:00"],
    }
    assert parsed.locations["L1"].name == "Bürgerbüro Mitte"
    assert parsed.locations["L2"].name is None
    assert parsed.locations["L1"].services == ("Pass", "Wohnsitz anmelden")
    assert parsed.locations["L1"].url == "https://x/?uid=u" and parsed.empty is None


def test_parse_without_any_free_time_carries_the_sites_marker():
    parsed = check_empty(smartcjm.parse(payload(_search(marker=P.NONE_FREE))), "smartcjm")
    assert parsed.locations == {} and parsed.empty == P.NONE_FREE
    later = payload(_search(marker=P.NONE_FREE), _search([("2026-07-01 09:10", "L1", "R1")]))
    parsed = smartcjm.parse(later)
    assert parsed.empty == f"{P.NONE_FREE}; " + smartcjm.LATER.format(first="2026-07-01 09:10")


def test_parse_earliest_mode():
    raw = payload(_search([("2026-06-01 09:00", "L1", None)], mode="earliest"), mode="earliest")
    parsed = smartcjm.parse(raw)
    assert parsed.to_truth() == {"L1": ["2026-06-01 09:00:00"]}
    assert parsed.locations["L1"].name == "Amt L1"
    none = smartcjm.parse(
        payload(_search(marker=P.EARLIEST_NONE, mode="earliest"), mode="earliest")
    )
    assert none.empty == P.EARLIEST_NONE


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"v": 2}, "version 1"),
        (payload(_search()), "neither slots nor"),
        (payload(_search([("2026-06-01 09:00", "L1", "R")], marker=P.NONE_FREE)), "has slots and"),
        (payload(_search([("2026-06-01 9 Uhr", "L1", "R")])), "bad slot"),
        (payload(_search([("2026-06-01 09:00", "", "R")])), "without a location"),
        ({**payload(), "mode": "fast"}, "needs 'mode'"),
    ],
)
def test_parse_refuses_broken_payloads(raw, message):
    with pytest.raises(ParseError, match=message):
        smartcjm.parse(raw)


SLOTS = st.sampled_from(["2026-06-01 09:00", "2026-6-1 09:00", "2026-06-31 09:00", "heute"])
ENTRY = st.one_of(
    st.tuples(
        SLOTS,
        st.just("iso"),
        st.just(10),
        st.sampled_from(["L1", "L2", ""]),
        st.sampled_from(["R1", "Amt", None]),
    ).map(list),  # fmt: skip
    JSON,
)
SEARCH = st.one_of(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["Pass", None, 3]),
            "none_free": st.sampled_from([None, P.NONE_FREE, P.EARLIEST_NONE, ["x"]]),
            "slots": st.lists(ENTRY, max_size=3),
            "earliest": st.lists(ENTRY, max_size=3),
            "names": st.one_of(st.just({"L1": "Mitte"}), JSON),
            "locations": st.one_of(st.just([["L2", "Süd"]]), JSON),
        }  # fmt: skip
    ),
    JSON,
)


@FUZZ
@given(searches=st.lists(SEARCH, max_size=3), mode=st.sampled_from(["all", "earliest"]))
def test_parse_of_junk_is_a_parse_error_or_a_checked_snapshot(searches, mode):
    try:
        parsed = smartcjm.parse(payload(*searches, mode=mode))
    except ParseError:
        return
    check_empty(parsed, "smartcjm")
    for loc in parsed.locations.values():
        assert list(loc.slots) == sorted(set(loc.slots)) and loc.slots
        assert loc.name in (None, "Mitte", "Süd", "Amt", "R1")


# --------------------------------------------------------------------------- the family


def test_family_declaration():
    family = smartcjm.FAMILY
    assert family.required == ("base_url", "uid")
    assert {"mode", "services", "zip_code"} <= set(family.optional)
    assert family.politeness["per_host_concurrency"] == 1
    assert family.politeness["min_gap"] >= 5
    for url in (
        "https://terminvereinbarung.leipzig.de/m/leipzig-ba/extern/calendar/?uid=b76cab25",
        "https://stadt-aachen.saas.smartcjm.com/m/buergerservice/extern/calendar",
        "https://termine.bonn.de/m/dlz/extern/calendar",
    ):
        assert family.matches(url), url
    assert not family.matches("https://termine.dresden.de/select2?md=1")


def test_formats_shared_with_the_server():
    slot = datetime(2026, 5, 20, 9, 15)
    assert P.encoded(slot) == "2026-05-20T09%3a15%3a00%2b02%3a00"  # as on the real page
    assert P.slot_from(slot) == "2026-05-20T09:15:00.0000000+02:00"
    assert P.iso(datetime(2026, 12, 1, 8, 0)).endswith("+01:00")
    assert P.earliest_date_time(datetime(2026, 6, 10, 10, 0)) == "Mi 10.06. 10:00"
