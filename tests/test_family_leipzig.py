"""leipzig: page readers, parse and scrape end to end over loopback HTTP."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from hypothesis import given
from werkzeug import Response

from office_schedule.errors import ScrapeError
from office_schedule.families import leipzig

from .familytools import (
    DAYS,
    FUZZ,
    ID,
    NAME,
    _check,
    _day_and_time,
    fixture,
    html,
    or_junk,
    paths,
    records,
    scrape,
    slot_strings,
)

# ============================================================================ leipzig


def test_leipzig_page_readers():
    assert leipzig.page_kind(fixture("leipzig", "info.html")) == "INFOPAGE"
    assert leipzig.page_kind(fixture("leipzig", "comments.html")) == "CONCERNCOMMENTS"
    assert leipzig.page_kind(fixture("leipzig", "maintenance.html")) is None
    action, hidden = leipzig.first_form(fixture("leipzig", "info.html"))
    assert action == "bgr?SID=4711"
    assert hidden == {"FRM_SESSION": "a1b2c3", "FRM_STEP": "1", "AGREEMENT_REQUIRED": "true"}
    offices = leipzig.offices(fixture("leipzig", "offices.html"))
    assert [(i, n) for i, n, _ in offices] == [
        ("1279700237", "Bürgeramt Otto-Schill-Straße"),
        ("1279700301", "Bürgeramt Grünau"),
    ]
    panel = fixture("leipzig", "office_panel.html").replace("{office_id}", "1279700301")
    assert leipzig.office_button(panel, "1279700301") == "ACTION_OFFICESELECT_BOOK-1279700301"
    assert leipzig.office_button(panel, "1279700237") is None
    assert leipzig.concern_selects(fixture("leipzig", "concern.html")) == [
        "CONCERN_COUNT_5001",
        "CONCERN_COUNT_5002",
    ]


def test_leipzig_calendar_and_times():
    days = leipzig.calendar_days(fixture("leipzig", "calendar.html"))
    assert days == [
        (date(2021, 7, 22), 2, "ACTION_CALENDARSELECT_DAY_20210722"),
        (date(2021, 7, 23), 1, "ACTION_CALENDARSELECT_DAY_20210723"),
        (date(2022, 3, 1), 3, "ACTION_CALENDARSELECT_DAY_20220301"),
    ]
    popup = fixture("leipzig", "popup.html").replace(
        "<!--OPTIONS-->", '<option value="0800"> 08:00 </option><option value="0820">08:20</option>'
    )
    assert leipzig.select_times(popup) == ["08:00", "08:20"]
    assert leipzig.close_button(popup) == "ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE"


def test_leipzig_parse_fixture():
    snapshot = leipzig.parse(json.loads(fixture("leipzig", "raw.json")))
    assert slot_strings(snapshot) == {
        "1279700237": ["2021-07-22 08:00:00", "2021-07-22 08:20:00", "2021-07-23 14:40:00"],
        "1279700301": [],
    }
    assert snapshot.locations["1279700301"].name == "Bürgeramt Grünau"


LEIPZIG_TIMES = {
    "20210722": ["08:00", "08:20"],
    "20210723": ["14:40"],
    "20220301": ["09:00", "09:15", "09:30"],
}


class LeipzigSite:
    """A stateful stand-in for the eKOL wizard, checking what each step submits."""

    def __init__(self, after_agreement: str = "offices.html"):
        self.after_agreement = after_agreement
        self.office = ""

    def page(self, name: str, panel: str = "", popup: str = "") -> Response:
        text = fixture("leipzig", name)
        text = text.replace("<!--OFFICE_PANEL-->", panel).replace("<!--POPUP-->", popup)
        return html(text)

    def __call__(self, request) -> Response:
        if request.method == "GET":
            return self.page("info.html")
        form = request.form
        assert form["SELECTED_LANGUAGE"] == "de" and form["FRM_SESSION"] == "a1b2c3"
        actions = [k for k in form if k.startswith("ACTION_")]
        assert len(actions) == 1, actions
        action = actions[0]
        if action == "ACTION_INFOPAGE_NEXT":
            assert form["AGREEMENT_ACCEPT"] == "on"
            return self.page(self.after_agreement)
        if action.startswith("ACTION_OFFICESELECT_TREEVIEW-HEAD-"):
            assert form[action] == "Öffnen" and form["OFFICESELECT_TERMID"] == ""
            office = action.rsplit("-", 1)[1]
            panel = fixture("leipzig", "office_panel.html").replace("{office_id}", office)
            return self.page("offices.html", panel=panel)
        if action.startswith("ACTION_OFFICESELECT_BOOK-"):
            self.office = action.rsplit("-", 1)[1]
            return self.page("concern.html")
        if action == "ACTION_CONCERNSELECT_NEXT":
            assert form["CONCERN_COUNT_5001"] == "1" and form["CONCERN_COUNT_5002"] == "0"
            return self.page("comments.html" if self.office == "1279700237" else "calendar.html")
        if action == "ACTION_CONCERNCOMMENTS_NEXT":
            return self.page("calendar.html")
        if action.startswith("ACTION_CALENDARSELECT_DAY_"):
            times = LEIPZIG_TIMES[action.rsplit("_", 1)[1]]
            options = "".join(f'<option value="{t}">{t}</option>' for t in times)
            popup = fixture("leipzig", "popup.html").replace("<!--OPTIONS-->", options)
            return self.page("calendar.html", popup=popup)
        if action == "ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE":
            return self.page("calendar.html")
        if action == "ACTION_CALENDARSELECT_PREVIOUS":
            return self.page("comments.html" if self.office == "1279700237" else "concern.html")
        if action == "ACTION_CONCERNCOMMENTS_PREVIOUS":
            return self.page("concern.html")
        if action == "ACTION_CONCERNSELECT_PREVIOUS":
            return self.page("offices.html")
        raise AssertionError(f"unexpected step {action}")


def test_leipzig_scrape_end_to_end(httpserver):
    httpserver.expect_request(re.compile("^/tnv")).respond_with_handler(LeipzigSite())
    raw = scrape(leipzig, {"base_url": httpserver.url_for("/tnv")})
    assert json.loads(json.dumps(raw)) == raw
    assert [(o["id"], o["name"]) for o in raw] == [
        ("1279700237", "Bürgeramt Otto-Schill-Straße"),
        ("1279700301", "Bürgeramt Grünau"),
    ]
    assert raw[0]["days"][0] == {"date": "2021-07-22", "num_free": 2, "times": ["08:00", "08:20"]}
    truth = leipzig.parse(raw).to_truth()
    assert truth["1279700301"] == [
        "2021-07-22 08:00:00",
        "2021-07-22 08:20:00",
        "2021-07-23 14:40:00",
        "2022-03-01 09:00:00",
        "2022-03-01 09:15:00",
        "2022-03-01 09:30:00",
    ]
    assert truth["1279700237"] == truth["1279700301"]
    assert all(p == "/tnv/bgr" for p in paths(httpserver)[1:])


def test_leipzig_unknown_page_names_expected_and_found(httpserver):
    site = LeipzigSite(after_agreement="maintenance.html")
    httpserver.expect_request(re.compile("^/tnv")).respond_with_handler(site)
    with pytest.raises(ScrapeError, match="expected page OFFICESELECT") as info:
        scrape(leipzig, {"base_url": httpserver.url_for("/tnv")})
    assert "Wartungsarbeiten" in str(info.value)
    assert info.value.url.endswith("/tnv/bgr?SID=4711")


@FUZZ
@given(or_junk(records(name=NAME, id=ID, days=DAYS)))
def test_leipzig_parse_never_invents_slots(raw):
    _check(leipzig, raw, _day_and_time)
