"""TEVIS protocol facts, in one place for the readers, the scrapers and the fake server.

Evidence: the reference scraper (2021: ``calendar``/``caldiv``), and real pages of 2025-2026
(Nürnberg, Aachen, Mülheim an der Ruhr, Dresden; ``../shared/data/real-pages/tevis``): start
page -> ``select2?md=N`` -> ``location?mdt=..&select_cnc=1&cnc-N=1`` (office chooser) -> POST
``loc`` -> ``suggest`` (one ``form.suggestion_form`` per free time).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

#: department links on the start page: ``<a href="select2?md=5">`` or
#: ``<button onclick="window.location.href='select2?md=5'">`` (2026)
DEPARTMENT_LINK = re.compile(r"(?:^|[/'\"])select2\?md=([0-9A-Za-z_-]+)")
#: the cookie that holds the selection (a request without it gets NO_MANDANT)
SESSION_COOKIE = "TVWebSession"

# -- messages the sites show -------------------------------------------------------------
#: suggest page without any free time (h2, title "... Keine Zeiten verfügbar")
NONE_FREE = "Kein freier Termin verfügbar"
NONE_FREE_STEP = "Keine Zeiten verfügbar"
#: error page of a request without a valid session ("Kein gültiger Mandant gefunden. (0)")
NO_MANDANT = "Kein gültiger Mandant gefunden"
NO_MANDATOR = "Es wurde kein Mandantor empfangen"
DB_ERROR = "Es ist ein Datenbank-Fehler aufgetreten"
PERSONAL_DATA_FIRST = "Eingabe der persönlichen Daten für den Termin"
NO_SUCH_CALENDAR = "Der ausgewählte Kalender existiert nicht oder kann nicht ausgewählt werden."
#: calendar pages (2021 flow) that mean "no calendar behind this service": skipped, recorded
NO_CALENDAR_MESSAGES = (PERSONAL_DATA_FIRST, NO_SUCH_CALENDAR)
#: messages that mean the session is gone: an error, never "no calendar"
SESSION_MESSAGES = (NO_MANDANT, NO_MANDATOR)
ERROR_PREFIX = "Fehlermeldung:"

# -- step headings ("Schritt N von 6: ...") ----------------------------------------------
STEP_DEPARTMENTS = "Auswahl der Funktionseinheit"
STEP_SERVICES = "Auswahl des Anliegens"
STEP_OFFICES = "Standortauswahl"
STEP_TIMES = "Auswahl der Zeit"

# -- the office chooser (location) -------------------------------------------------------
#: "Termine ab 14.07.2026, 08:15 Uhr" (h3 title) / "ab 14.07.2026, 08:15 Uhr" (dd)
EARLIEST = re.compile(r"\bab\s+(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s*(\d{1,2}):(\d{2})")
NEXT_LABEL = "Nächster Termin"
SELECT_LOCATION = "select_location"

# -- the suggest page --------------------------------------------------------------------
SUGGESTION_FORM = "suggestion_form"
SUGGEST_BUTTON = "suggest_btn"
FILTER_FORM = "suggest_filter_form"
FILTER_SUBMIT = ("suggest_filter", "Filtern")
DAY_FORMAT = "%d.%m.%Y"  # filter_date_from / filter_date_to
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")

# -- 2021 flow (reference) ---------------------------------------------------------------
SCRIPT_MARKER = "window.tevis = window.tevis || {"
SCRIPT_END = "$(document).ready("


def url(base: str, path: str, query: list[tuple[str, str]] | None = None) -> str:
    """``{base}/{path}?{query}`` with the parameters in the given order."""
    target = f"{base}/{path}"
    return f"{target}?{urlencode(query)}" if query else target


def select2_url(base: str, md: str) -> str:
    return url(base, "select2", [("md", md)])


def service_query(mdt: str, cnc: str) -> list[tuple[str, str]]:
    """``mdt=..&select_cnc=1&cnc-N=1``: one service chosen once."""
    return [("mdt", mdt), ("select_cnc", "1"), (cnc, "1")]


def calendar_url(base: str, mdt: str, cnc: str) -> str:
    return url(base, "calendar", service_query(mdt, cnc))


def caldiv_url(base: str, cal: str, week: str) -> str:
    query = [("cal", cal), ("cnc", "0"), ("cncdata", ""), ("week", week)]
    return url(base, "caldiv", [*query, ("json", "1"), ("offset", "1")])
