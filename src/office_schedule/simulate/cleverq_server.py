"""Render a simulated source as a cleverQ site: a Rails booking page over the v4 JSON API.

``handle`` is pure request -> ``Reply``. Paths and shapes follow the family module
(``families/cleverq``, docs/protocols/systems-2026.md section 4):

- ``GET /public/appointments/<slug>/index.html?lang=de``: a new session (cookie), the
  ``csrf-token`` meta tag and the ``booking_session_key`` in the app's props;
- ``GET /api/external/v4/sites/info?site_url_name=<slug>``: the site, one service per
  simulated location, each with the subtasks of a department serving it (the shortest one
  of them has the location's slot length);
- ``GET …/sites/<id>/appointments/available_days``: the days from ``from_day`` to ``to_day``
  with a published free slot;
- ``GET …/available_time_slots?day=``: every grid slot of the day, ``available`` 1 when
  published free, else 0, ``outdated`` once it has begun.

An unknown subtask answers as the real API is reported to: more days open (every opening
day) and every slot ``available: 0``. The availability endpoints need the session cookie,
its ``booking_session_key`` and its CSRF token (a stale session answers ``error: 1012``,
a wrong token 403: the statuses are guesses). The page's markup beyond the meta tag and
the key is a sketch: no real page was recorded.
"""

from __future__ import annotations

import json
import secrets
import weakref
from datetime import date, datetime, timedelta
from html import escape

from ..families.cleverq.pages import (
    CSRF_HEADER,
    CSRF_META,
    DAYS_PATH,
    EXPIRED_CODE,
    INDEX_PATH,
    INDEX_QUERY,
    MINUTES_PER_UNIT,
    SESSION_COOKIE,
    SESSION_KEY,
    SITE_INFO_PATH,
    SUBTASK_PARAM,
    TIMES_PATH,
)
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SessionStore, SimRequest, json_reply, page

FAMILY = "cleverq"
#: the scraper reads every service and stores the empty ones with the API's answer
TRUTH_SKIPS_EMPTY = False
#: ``expired``: every session answers error 1012; ``expired-once``: only the first one;
#: ``forbidden``: the API answers 403; ``throttle``: 429 with Retry-After;
#: ``wrong-subtask``: the site info lists a subtask the availability API does not know;
#: ``maintenance``: the API answers an HTML page
PAGE_FAULTS = ("expired", "expired-once", "forbidden", "throttle", "wrong-subtask", "maintenance")
SESSIONS = SessionStore(limit=4000)
#: sessions issued per world and source (``expired-once`` spoils only the first)
_ISSUED: weakref.WeakKeyDictionary[SimWorld, dict[str, int]] = weakref.WeakKeyDictionary()
PHANTOM_NAME = "Allgemeine Vorsprache"


# --------------------------------------------------------------------------- site model


def slug(src: SimSource) -> str:
    return f"Zulassung-SimStadt{src.index:02d}"


def site_id(src: SimSource) -> int:
    return 40 + src.index


def service_id(loc: Location) -> int:
    return int(loc.id)


def _serving(src: SimSource, loc: Location):
    for dep in src.departments:
        for svc in dep.services:
            if loc.id in svc.calendars or svc.hidden_calendar == loc.id:
                return dep
    return src.departments[0]


def subtasks(src: SimSource, loc: Location) -> list[dict]:
    """The service's subtasks: the shortest has the location's slot length."""
    dep = _serving(src, loc)
    chosen = loc.slot_minutes // MINUTES_PER_UNIT
    services = dep.services[:3]
    first = int(loc.id) % len(services)
    out = []
    for i, svc in enumerate(services):
        units = chosen if i == first else chosen + 1 + (i % 2)
        number = int(svc.cnc.removeprefix("cnc-"))
        out.append({"id": number, "name": svc.title, "initial_duration": units})
    return out


def phantom(loc: Location) -> dict:
    """The stale subtask of the ``wrong-subtask`` fault: listed first, shortest."""
    return {"id": 90000 + int(loc.id), "name": PHANTOM_NAME, "initial_duration": 1}


def site_info(src: SimSource, fault: str | None) -> dict:
    services = []
    for loc in src.locations.values():
        subs = subtasks(src, loc)
        if fault == "wrong-subtask":
            subs = [phantom(loc), *subs]
        name = f"{_serving(src, loc).title} {loc.name}"
        services.append({"id": service_id(loc), "name": name, "subtasks": subs})
    return {
        "id": site_id(src),
        "name": src.name,
        "url_name": slug(src),
        "appointments_use_subtasks": True,
        "services": services,
    }


# --------------------------------------------------------------------------- pages


def index_page(src: SimSource, csrf: str, key: str) -> Reply:
    props = json.dumps(
        {"site_url_name": slug(src), "locale": "de", SESSION_KEY: key}, separators=(",", ":")
    )
    text = (
        '<!DOCTYPE html>\n<html lang="de">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(src.name)} - Terminvereinbarung</title>\n"
        '<meta name="csrf-param" content="authenticity_token" />\n'
        f'<meta name="{CSRF_META}" content="{escape(csrf)}" />\n'
        '</head>\n<body>\n<div id="background-image">\n'
        f'<div data-react-class="PublicAppointments" data-react-props="{escape(props)}"></div>\n'
        "</div>\n</body>\n</html>\n"
    )
    return Reply(body=text.encode("utf-8"))


def _error(code: int, message: str, status: int) -> Reply:
    return json_reply({"error": code, "message": message}, status=status)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _subtask(query: dict[str, str]) -> int | None:
    try:
        return int(json.loads(query.get(SUBTASK_PARAM, ""))["subtask_id"])
    except (ValueError, TypeError, KeyError):
        return None


def _bookable(world: SimWorld, day: date, now: datetime) -> bool:
    return now.date() <= day <= world.horizon(now)


def available_days(world, src, loc, known: bool, first: date, last: date) -> dict:
    units = min(s["initial_duration"] for s in subtasks(src, loc)) if known else 1
    days = []
    with world.lock:
        now = world.refresh()
        d = first
        while d <= last:
            if _bookable(world, d, now):
                if known and world.published_day(src, loc.id, d, now):
                    days.append({"day": d.isoformat()})
                elif not known and loc.grid(d):
                    days.append({"day": d.isoformat()})
            d += timedelta(days=1)
    return {"duration": units, "duration_minutes": units * MINUTES_PER_UNIT, "available_days": days}


def time_slots(world, src, loc, known: bool, day: date) -> dict:
    slots = []
    with world.lock:
        now = world.refresh()
        if _bookable(world, day, now):
            free = set(world.published_day(src, loc.id, day, now)) if known else set()
            for start in loc.grid(day):
                minute = start.hour * 60 + start.minute
                slots.append(
                    {
                        "time_of_slot": f"{start:%H:%M}",
                        "available": 1 if minute in free else 0,
                        "outdated": start <= now,
                    }
                )
    return {
        "day": day.isoformat(),
        "duration_minutes": loc.slot_minutes,
        "available_time_slots": slots,
    }


# --------------------------------------------------------------------------- family contract


def location_id(src: SimSource, loc: Location) -> str:
    """The location id the cleverq scraper reports: the service id."""
    return str(service_id(loc))


def truth_days(now: datetime, weeks: int) -> list[date]:
    """``from_day`` = today through ``to_day`` = today + 7 x weeks."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}{INDEX_PATH.format(slug=slug(src))}?{INDEX_QUERY}", {}


def _new_session(world: SimWorld, src: SimSource, fault: str | None) -> Reply:
    issued = _ISSUED.setdefault(world, {})
    count = issued.get(src.id, 0)
    issued[src.id] = count + 1
    state = {
        "csrf": secrets.token_urlsafe(32),
        "key": secrets.token_urlsafe(16),
        "expired": fault == "expired" or (fault == "expired-once" and count == 0),
    }
    token = SESSIONS.new(src.id, state)
    reply = index_page(src, state["csrf"], state["key"])
    reply.headers["Set-Cookie"] = f"{SESSION_COOKIE}={token}; path=/; HttpOnly"
    return reply


def _availability(world, src, request: SimRequest, fault, which: str) -> Reply:
    if fault == "throttle":
        reply = json_reply({"error": 429, "message": "Too Many Requests"}, status=429)
        reply.headers["Retry-After"] = "3600"
        return reply
    if fault == "maintenance":
        return page("Wartungsarbeiten", "<h1>Wartungsarbeiten</h1>\n<p>Bitte später.</p>", 200)
    state = SESSIONS.get(src.id, request.cookies.get(SESSION_COOKIE, ""))
    query = request.query
    if fault == "forbidden" or (
        state is not None and request.headers.get(CSRF_HEADER.lower()) != state["csrf"]
    ):
        return page("Forbidden", "<h1>Forbidden</h1>", 403)
    if state is None or state["expired"] or query.get(SESSION_KEY) != state["key"]:
        return _error(EXPIRED_CODE, "Booking session expired", 401)
    loc = next(
        (x for x in src.locations.values() if str(service_id(x)) == query.get("service_id")), None
    )
    if loc is None:
        return _error(404, "Service not found", 404)
    known = _subtask(query) in {s["id"] for s in subtasks(src, loc)}
    if which == "days":
        first, last = _day(query.get("from_day", "")), _day(query.get("to_day", ""))
        if first is None or last is None:
            return _error(422, "Invalid date range", 422)
        return json_reply(available_days(world, src, loc, known, first, last))
    day = _day(query.get("day", ""))
    if day is None:
        return _error(422, "Invalid day", 422)
    return json_reply(time_slots(world, src, loc, known, day))


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix)."""
    path = request.path
    if path == INDEX_PATH.format(slug=slug(src)):
        return _new_session(world, src, fault)
    if path == SITE_INFO_PATH:
        if request.query.get("site_url_name") != slug(src):
            return _error(404, "Site not found", 404)
        return json_reply(site_info(src, fault))
    if path == DAYS_PATH.format(site=site_id(src)):
        return _availability(world, src, request, fault, "days")
    if path == TIMES_PATH.format(site=site_id(src)):
        return _availability(world, src, request, fault, "times")
    return page("The page you were looking for doesn't exist (404)", "<h1>404</h1>", 404)
