"""netappoint protocol facts in one place: markers, class names, URL and link forms.

The readers and the fake server (``simulate/netappoint_server.py`` and
``simulate/netappoint_ajax_server.py``) both import these, so a marker or a link form
exists exactly once. Two skins of the same product are in use:

- **classic** (protocol notes, section 2): ``index.php?company=…`` with the
  ``frm_casetype`` form, ``step=4`` month calendar links, ``step=3`` day pages;
- **WEB_APPOINT** ("AJAX", Munich 2019-2024): ``index.php?loc=…`` with a
  ``WEB_APPOINT_CASETYPELIST`` of ``CASETYPES[<name>]`` selects; one POST answers with the
  free times of every location as ``var jsonAppoints = '<JSON>';`` plus a calendar of
  several months whose cells say ``Keine freien Termine am`` or link to
  ``locationList.showTimeList('<id>','<id>TL','YYYY-MM-DD')``.
"""

from __future__ import annotations

import re
from datetime import date

NAME = "netappoint"

#: German month names as both skins print them ("Oktober 2023")
MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
WEEKDAY_TITLES = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")

#: the session cookie both skins set (never read by name by the scraper)
COOKIE = "PHPSESSID"

# --------------------------------------------------------------------------- classic skin

CLASSIC_FORM = "frm_casetype"
CATEGORY_LIST_CLASS = "nat_casetypelist"
#: class of a count ``<select>`` case (the first class of the attribute)
CASE_SELECT_CLASS = "nat_casetypelist_casetype"
#: class attribute an ``<input>`` case must have, exactly
CHECKBOX_CLASS = "nat_casetypelist_casetype casetype_checkbox"
SUBMIT_NAME, SUBMIT_VALUE = "sentcasetypes", "Weiter"
CALENDAR_CLASS = "nat_calendar"
#: class of a bookable day's link (classic: ``step=4`` URL; WEB_APPOINT: showTimeList)
BOOKABLE_CLASS = "nat_calendar_weekday_bookable"
#: a classic day cell without a link is "not bookable" by a class ending in this
NOT_BOOKABLE_SUFFIX = "_notbookable"
BRANCH_ITEM_CLASS = "nat_casetypelist_casetype_li"
TIMES_CLASS = "nat_timeslist"
#: answers to the selection POST that mean "no slots" (checked before the branch chooser)
NO_SLOTS_AFTER_SELECTION = (
    "Die von Ihnen gewählte Dienstleistungs-Kombination kann nicht an einem Standort bearbeitet"
    " werden",
    "Bitte geben Sie mindestens 1 Dienstleistung an.",
)
#: answers that mean "no slots" when the page has no branch chooser link either
NO_SLOTS_WITHOUT_BRANCH = (
    "Die vorraussichtliche Dauer der von Ihnen gewählten Dienstleistungen ist zu lang.",
    "Bitte geben Sie mindestens ein Anliegen an.",
    "Die von Ihnen gewählte Anliegens-Kombination kann nicht an einem Standort bearbeitet werden",
)
#: a classic day page without a free time
DAY_NONE_FREE = "An diesem Tag sind keine Termine frei."
#: the expired-session message; pages are recognised by SESSION_EXPIRED_TEXT
SESSION_EXPIRED = "Ihre Sitzung ist abgelaufen oder ungültig."
SESSION_EXPIRED_TEXT = re.compile(
    r"\b(?:Sitzung|Session)\s+(?:ist\s+)?(?:leider\s+)?abgelaufen", re.IGNORECASE
)
#: ``javascript:toggle('cat_1');`` links name the categories of the classic index
CLASSIC_TOGGLE = re.compile(r"javascript:toggle\('([^']*)'\);")

# --------------------------------------------------------------------------- WEB_APPOINT skin

CASETYPE_LIST = "WEB_APPOINT_CASETYPELIST"
CASETYPES_FIELD = re.compile(r"CASETYPES\[(.+)\]", re.S)
SEARCH_STEP = "WEB_APPOINT_SEARCH_BY_CASETYPES"
#: hidden form tokens seen on WEB_APPOINT form pages (2019: __ncforminfo, 2023: the other)
TOKEN_FIELDS = ("FRM_CASETYPES_token", "__ncforminfo")
FORWARD_BUTTON = "WEB_APPOINT_FORWARDBUTTON"
JSON_VAR = "jsonAppoints"
JSON_ASSIGNMENT = re.compile(r"var\s+jsonAppoints\s*=\s*'(.*?)';", re.S)
LOCATION_LIST_ID = "locationContent"
HEADLINE_CLASS = "WEB_APPOINT_LOCATION_HEADLINE"
CONTENT_CLASS = "WEBAPPOINT_LOCATION_CONTENT"
MONTH_CLASS = "htmlCalendarMonth"
TIMELIST_CLASS = "WEB_APPOINT_TIMELIST"
#: hidden text of a day cell without free time, followed by ``1`` and ``.10.2023``
NONE_FREE_CELL = "Keine freien Termine am"
#: hidden text around a bookable day's number: ``Termin am 28.4.2022 reservieren``
BOOKABLE_CELL = ("Termin am", "reservieren")
CALENDAR_CAPTION = "Verfügbare Tage im"
CALENDAR_SUMMARY = (
    "Tabelle, die alle verfügbaren Tage des Monats als Link anbietet, um im Anschluss zur "
    "Auswahl der gewünschten Uhrzeit zu gelangen"
)
WEB_ID = re.compile(r"[0-9a-f]{32}")
HEADLINE_TOGGLE = re.compile(r"javascript:toggle\('([0-9a-f]{32})'\);")
SHOW_TIME_LIST = re.compile(
    r"javascript:locationList\.showTimeList\(\s*'([0-9a-f]{32})'\s*,\s*'([0-9a-f]{32})TL'\s*,"
    r"\s*'(\d{4}-\d{2}-\d{2})'\s*\)"
)


def headline_onclick(loc_id: str) -> str:
    return f"javascript:toggle('{loc_id}'); nav('NAV_DATE');"


def month_id(loc_id: str, year: int, month: int) -> str:
    """``<id><YYYY><M>`` (month unpadded), the id of one month's calendar block."""
    return f"{loc_id}{year}{month}"


def show_time_list(loc_id: str, day: date) -> str:
    """The href of a bookable day in the WEB_APPOINT calendar."""
    return f"javascript:locationList.showTimeList('{loc_id}','{loc_id}TL','{day.isoformat()}')"


def switch_month(loc_id: str, block_id: str, direction: str) -> str:
    """The month navigation href (``direction`` is ``PREV`` or ``NEXT``), spaces as seen."""
    return f"javascript:locationList.switchMonth( '{loc_id}', '{block_id}', '{direction}' );"


def month_name(day: date) -> str:
    """``Oktober 2023``."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def parse_month_name(text: str) -> tuple[int, int] | None:
    """``Oktober 2023`` -> (2023, 10); None if it is not a German month and year."""
    parts = text.split()
    if len(parts) != 2 or parts[0] not in MONTHS or not re.fullmatch(r"\d{4}", parts[1]):
        return None
    return int(parts[1]), MONTHS.index(parts[0]) + 1
