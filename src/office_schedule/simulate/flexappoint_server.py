"""Render a simulated source as a flexappoint tenant (the JSON API behind its app).

``handle`` is pure request -> ``Reply``. Paths and shapes follow ``families/flexappoint``
(docs/protocols/systems-2026.md section 15): every simulated location is a department
(``departmentId`` = its id) booked through one service (the number of the first service
serving it).

- ``GET /api/available-times/disabled-days?departmentId=&year=&month=&…``: every day of the
  month without a published free time (past days, closed days, days beyond the horizon);
- ``GET /api/available-times?departmentId=&date=&service[0][id]=&…``: the published free
  starts of the day, ``count`` 1 each (a simulated location is one counter).

An unknown department or service answers ``{"status": false, "message": …}``; a request
without ``X-Requested-With: XMLHttpRequest`` gets the app's HTML shell (both guesses: no
real answer was recorded). No server-side state.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from html import escape

from ..families.flexappoint import AJAX_HEADERS, DAY_FORMAT, DISABLED_PATH, TIMES_PATH
from .model import HHMMSS, SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, json_reply, page

FAMILY = "flexappoint"
#: the scraper reads every department of its catalog row, empty ones with the API's answers
TRUTH_SKIPS_EMPTY = False
#: ``throttle``: 429 with Retry-After; ``refused``: ``status: false`` on every API request;
#: ``maintenance``: the API answers an HTML page
PAGE_FAULTS = ("throttle", "refused", "maintenance")
_AJAX = next(iter(AJAX_HEADERS.items()))


def service_id(src: SimSource, loc: Location) -> str:
    for dep in src.departments:
        for svc in dep.services:
            if loc.id in svc.calendars or svc.hidden_calendar == loc.id:
                return svc.cnc.removeprefix("cnc-")
    return "1"


def _location(src: SimSource, query: dict[str, str], key: str) -> Location | None:
    loc = src.locations.get(query.get("departmentId", ""))
    if loc is None or query.get(key) != service_id(src, loc):
        return None
    return loc


def app_shell(src: SimSource) -> Reply:
    note = f"{escape(src.name)}: bitte JavaScript aktivieren."
    body = f'<div id="app"></div>\n<noscript>{note}</noscript>'
    return page(f"Online-Terminvergabe {src.name}", body)


def disabled_days(world: SimWorld, src: SimSource, loc: Location, year: int, month: int) -> list:
    last = calendar.monthrange(year, month)[1]
    with world.lock:
        now = world.refresh()
        return [
            date(year, month, d).isoformat()
            for d in range(1, last + 1)
            if not world.published_day(src, loc.id, date(year, month, d), now)
        ]


def free_times(world: SimWorld, src: SimSource, loc: Location, day: date) -> list[dict]:
    with world.lock:
        now = world.refresh()
        minutes = world.published_day(src, loc.id, day, now)
    return [
        {
            "start_time": HHMMSS[m][:5],
            "end_time": HHMMSS[min(m + loc.slot_minutes, 24 * 60 - 1)][:5],
            "count": 1,
        }
        for m in minutes
    ]


# --------------------------------------------------------------------------- family contract


def location_id(src: SimSource, loc: Location) -> str:
    """The location id the flexappoint scraper reports: the ``departmentId``."""
    return loc.id


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Today through today + 7 x weeks."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    pairs = ",".join(f"{loc.id}:{service_id(src, loc)}" for loc in src.locations.values())
    return f"{base_url}/#/", {"departments": pairs}


def _failure(message: str) -> Reply:
    return json_reply({"status": False, "message": message})


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix)."""
    path, query = request.path.rstrip("/") or "/", request.query
    if path not in (DISABLED_PATH, TIMES_PATH):
        if path.startswith("/api"):
            return json_reply({"message": "Not Found"}, status=404)
        return app_shell(src)
    if request.headers.get(_AJAX[0].lower()) != _AJAX[1]:
        return app_shell(src)
    if fault == "throttle":
        reply = json_reply({"message": "Too Many Attempts."}, status=429)
        reply.headers["Retry-After"] = "3600"
        return reply
    if fault == "maintenance":
        return page("Wartungsmodus", "<h1>Wir sind gleich wieder da.</h1>", 200)
    if fault == "refused":
        return _failure("Die Terminvergabe ist derzeit deaktiviert.")
    if path == DISABLED_PATH:
        loc = _location(src, query, "services[0][id]")
        year, month = query.get("year", ""), query.get("month", "")
        if loc is None:
            return _failure("Abteilung oder Dienstleistung nicht gefunden.")
        if query.get("format") != DAY_FORMAT or not (year.isdigit() and month.isdigit()):
            return _failure("Ungültige Anfrage.")
        if not 1 <= int(month) <= 12:
            return _failure("Ungültige Anfrage.")
        return json_reply(
            {"status": True, "items": disabled_days(world, src, loc, int(year), int(month))}
        )
    loc = _location(src, query, "service[0][id]")
    if loc is None:
        return _failure("Abteilung oder Dienstleistung nicht gefunden.")
    try:
        day = date.fromisoformat(query.get("date", ""))
    except ValueError:
        return _failure("Ungültiges Datum.")
    return json_reply({"status": True, "items": free_times(world, src, loc, day)})
