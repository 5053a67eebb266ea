"""SmartCJM protocol facts, in one place for the readers, the scraper and the fake server.

Evidence (docs/protocols/systems-2026.md §3): the real Leipzig pages of 2026
(``../shared/data/real-pages/smartcjm``: results with slots, "nothing free", expired session)
and the facts other people's public clients state (buergerwecker, visitorstracker, the Köln
and Aachen clients): the ``wsid`` in the URL, the per-page ``__RequestVerificationToken``, the
hidden step inputs, one service per POST, ``appointment_reserve(...)`` buttons, the
``search_mode=earliest`` page with ``#json_appointment_list``.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

from ...clock import OFFICE_TZ

NAME = "smartcjm"

# -- messages the sites show -------------------------------------------------------------
#: ``<p data-testid="error_message-">`` inside ``#error_no_appointment_found`` (results page)
NONE_FREE = "Keine freien Termine gefunden."
NONE_FREE_ID = "error_no_appointment_found"
#: ``{"appointments": "nothing_Found"}`` of the earliest page (the vendor's spelling)
EARLIEST_NONE = "nothing_Found"
#: the expired-session page: ``<title>… - Session abgelaufen</title>``, ``h2#page_title``
SESSION_EXPIRED_TITLE = "Session abgelaufen"
SESSION_EXPIRED_HEADING = "Ihre Sitzung ist abgelaufen."
SESSION_EXPIRED_TEXT = "Nach 20 min. Inaktivität wird Ihre Sitzung automatisch beendet."
SESSION_EXPIRED_LINK = "Neuen Termin buchen"
#: minutes of inactivity after which a wsid is gone (the Leipzig countdown: ``timeout: "20"``)
SESSION_IDLE_MINUTES = 20
#: Cloudflare in front of ``*.saas.smartcjm.com``: the block page and the rate-limit page
CLOUDFLARE_BLOCKED = "Sorry, you have been blocked"
CLOUDFLARE_RATE_LIMITED = "You are being rate limited"

# -- headings ------------------------------------------------------------------------------
RESULTS_TITLE = "Auswahl des Termins"
DAYS_HEADING = "Tage mit verfügbaren Terminen"
#: h3 of a day's slot container: "Termine Mittwoch, 20.05.2026"; h4 of a month: "Termine Mai"
DAY_HEADING = "Termine {weekday}, {date}"
MONTH_HEADING = "Termine {month}"
SLOT_LABEL = "Termin um {time} Uhr auswählen und zum nächsten Schritt wechseln."
MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
#: the earliest page's ``date_time``: "Mo 10.06. 10:00"
WEEKDAYS_SHORT = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")

# -- the slot buttons ----------------------------------------------------------------------
RESERVE_FUNCTION = "appointment_reserve"
#: ``return appointment_reserve('2026-05-20T09%3a15%3a00%2b02%3a00', '10', '<location>',
#: '<resource>');`` in a button's ``onclick`` (never read from script text)
RESERVE_CALL = re.compile(
    r"appointment_reserve\(\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*\)"
)
SLOT_FROM_ATTR = "data-slot-from"
LOCATION_HEADING_CLASS = "timeslot_cards_locations"
SLOT_CONTAINER_CLASS = "slot_container"
DAY_CLASS_PREFIX = "day_"

# -- the wizard form -----------------------------------------------------------------------
TOKEN_FIELD = "__RequestVerificationToken"
STEP_FIELDS = ("steps", "step_current", "step_current_index", "step_goto")
STEP_SERVICES = "services"
STEP_LOCATIONS = "locations"
STEP_RESULTS = "search_results"
STEP_BOOKING = "booking"
GOTO_NEXT = "+1"
ACTION_SEARCH = "search"
SERVICES_FIELD = "services"
LOCATIONS_FIELD = "locations"
LOCATIONS_ALL_FIELD = "locations_selected_all"
ZIP_FIELD = "zip_code"
#: ``label.service_title[for=service_<uid>]`` and the amount field ``service_<uid>_amount``
SERVICE_LABEL_CLASS = "service_title"
SERVICE_ID_PREFIX = "service_"
LOCATION_ID_PREFIX = "location_"


def amount_field(service: str) -> str:
    return f"service_{service}_amount"


# -- URLs ----------------------------------------------------------------------------------
#: every tenant: ``{host}/m/{mandant}/extern/calendar/?uid={calendar uuid}``
CALENDAR_PATH = re.compile(r"/m/([^/]+)/extern/calendar/?$")
LANG = (("lang", "de"), ("set_lang_ui", "de"))
SEARCH_RESULT = "search_result"
EARLIEST_MODE = "earliest"
EARLIEST_LIST_ID = "json_appointment_list"
EARLIEST_ISO_KEY = "datetime_iso86001"
#: the port Leipzig's load balancer writes into its 302 ``Location``s (unreachable)
BACKEND_PORT = 8443


# -- formats -------------------------------------------------------------------------------
def iso(slot: datetime) -> str:
    """``2026-05-20T09:15:00+02:00``: office time with its offset."""
    return slot.replace(tzinfo=OFFICE_TZ).isoformat()


def encoded(slot: datetime) -> str:
    """A button's first argument: the ISO time URL-encoded as .NET does (``%3a``, ``%2b``)."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(iso(slot), safe=""))


def slot_from(slot: datetime) -> str:
    """``data-slot-from``: ``2026-05-20T09:15:00.0000000+02:00``."""
    text = iso(slot)
    return f"{text[:19]}.0000000{text[19:]}"


def earliest_date_time(value: datetime) -> str:
    """The earliest page's ``date_time``: ``Mo 10.06. 10:00``."""
    return f"{WEEKDAYS_SHORT[value.weekday()]} {value:%d.%m. %H:%M}"
