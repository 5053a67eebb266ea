"""Render a simulated source's published state as an eTermin account (JSON API).

``handle`` is pure request -> ``Reply``; the HTTP plumbing lives in ``server.py``.
Shapes follow docs/protocols/etermin-tempus.md, sections 1 and 3:

- ``GET /api/servicegroupservice?cache=1&w=<webid>&vlang=de``: one header entry per service
  group (department) followed by its services, each with a positive ``duration``;
- ``GET /api/calendar?...&serviceid=<sid>&calendarid=undefined``: the calendars (locations)
  serving that service, string ``calendarid``s;
- ``GET /api/timeslots`` with ``rangesearch=1``: every day from ``date`` to the end of that
  month, ``available`` when the day has published slots and lies within ``appfuture`` days
  of today; without ``rangesearch``: the free slots of ``date`` at ``calendarid``.

Two generations, by source index (:func:`is_today`): the 2021 shapes of the reference
(``available`` a flag, slots with ``calendarid``/``calendarname``), and the 2026 ones other
people's bots read (a qtermin-style webid; the day list names only days with free slots,
``available`` their number; slots carry ``idandtimeslot``, ``hv``, ``ecap``, ``capmax``
instead of the calendar fields).

The account is named by the ``webid`` header (the slug lower-cased), else by the last path
segment of the ``Referer`` (a 2026 bot sends only that); an unknown or missing account
gives empty lists, as on the real API. No server-side state.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta
from html import escape

from ..families.etermin import ERROR_KEY, MAX_MONTH_REQUESTS, SLOT_KEY
from .model import HHMMSS, SimWorld
from .offices import Department, Location, SimSource
from .pages import Reply, SimRequest, error_page, json_reply, page

FAMILY = "etermin"
#: the scraper walks every listed calendar and stores the empty ones with the API's answer
TRUTH_SKIPS_EMPTY = False
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("closed", "garbage")
#: booking horizon (days) when a request names no usable ``appfuture``
ACCOUNT_APPFUTURE = 60
#: durations (minutes) handed out to the services that are not the chosen one
LONGER = (10, 15, 20, 30, 45)


# --------------------------------------------------------------------------- account model


def is_today(src: SimSource) -> bool:
    """Whether ``src`` answers in the 2026 shapes (every second source)."""
    return src.variant == "today"


def slug(src: SimSource) -> str:
    """The account's URL slug as published (mixed case; qtermin webids are lower case)."""
    return f"qtermin-simstadt{src.index:02d}" if is_today(src) else f"SimStadt{src.index:02d}"


def webid(src: SimSource) -> str:
    return slug(src).lower()


def _number(text: str) -> int:
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 0


def _group_id(dep: Department) -> int:
    return 500 + _number(dep.md)


def _service_calendars(svc) -> list[str]:
    return list(svc.calendars) or ([svc.hidden_calendar] if svc.hidden_calendar else [])


def _group_services(src: SimSource, dep: Department) -> list[dict]:
    """The group's services in response order with their durations and calendars.

    The service whose calendars cover the whole group gets the smallest duration so the
    scraper's choice reaches every location of the group; the others take longer
    durations, except for a seeded variant: a later tie, a missing or a zero duration.
    """
    union: list[str] = []
    for svc in dep.services:
        union.extend(c for c in _service_calendars(svc) if c not in union)
    variant = zlib.crc32(f"{src.id}/{dep.md}".encode())
    n = len(dep.services)
    shift = variant % n if n else 0
    ordered = dep.services[shift:] + dep.services[:shift]
    covering = [i for i, s in enumerate(ordered) if set(_service_calendars(s)) == set(union)]
    # (make_source always gives a covering service; else the widest one is chosen)
    cover = covering[0] if covering else max(range(n), key=lambda i: len(ordered[i].calendars))
    smallest = 5 if variant & 8 else 10
    # 0 plain, 1 a later tie, 2 one duration missing, 3 one zero (only in groups of 3+,
    # so that every group of two or more still shows differing positive durations)
    kind = (variant >> 4) % 4 if n >= 3 else 0
    out = []
    odd_done = False
    for i, svc in enumerate(ordered):
        duration: int | None = LONGER[(i + variant) % len(LONGER)] + smallest
        if i == cover:
            duration = smallest
        elif not odd_done and kind == 1 and i > cover:
            duration, odd_done = smallest, True
        elif not odd_done and kind == 2:
            duration, odd_done = None, True
        elif not odd_done and kind == 3:
            duration, odd_done = 0, True
        out.append(
            {
                "sid": _number(svc.cnc),
                "s": svc.title,
                "duration": duration,
                "calendars": _service_calendars(svc),
            }
        )
    return out


def services_json(src: SimSource) -> list[dict]:
    entries: list[dict] = []
    for sort, dep in enumerate(src.departments):
        sgid = _group_id(dep)
        entries.append({"sgid": sgid, "sg": dep.title, "sgsort": sort})
        for pos, svc in enumerate(_group_services(src, dep), start=1):
            entry = {"sgid": sgid, "sg": dep.title, "sid": svc["sid"], "s": svc["s"]}
            if svc["duration"] is not None:
                entry["duration"] = svc["duration"]
            entry.update({"sort": pos, "maxcap": 1, "price": 0})
            entries.append(entry)
    return entries


def _service(src: SimSource, sid: str) -> dict | None:
    for dep in src.departments:
        for svc in _group_services(src, dep):
            if str(svc["sid"]) == sid:
                return svc
    return None


def calendars_json(src: SimSource, svc: dict) -> list[dict]:
    out = []
    for sort, cal in enumerate(svc["calendars"], start=1):
        loc = src.locations[cal]
        out.append(
            {"calendarid": loc.id, "calendarname": loc.name, "calendardesc": "", "sort": sort}
        )
    return out


# --------------------------------------------------------------------------- time slots


def _month_end(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _appfuture(query: dict[str, str]) -> int:
    value = query.get("appfuture", "")
    return int(value) if value.isdigit() else ACCOUNT_APPFUTURE


def _bookable(day: date, today: date, appfuture: int) -> bool:
    return 0 <= (day - today).days <= appfuture


def day_list(
    world: SimWorld, src: SimSource, loc: Location, start: date, appfuture: int
) -> list[dict]:
    """Every day from ``start`` to the end of its month, flagged by published slots."""
    with world.lock:
        now = world.refresh()
        today = now.date()
        days = []
        d = start
        last = _month_end(start)
        while d <= last:
            free = (
                world.published_day(src, loc.id, d, now) if _bookable(d, today, appfuture) else []
            )
            day = {"start": f"{d}T00:00:00", "end": f"{d}T23:59:59"}
            if not is_today(src):
                days.append({**day, "available": bool(free), "cap": len(free)})
            elif free:
                days.append({**day, "available": len(free)})
            d += timedelta(days=1)
    return days


def slot_list(
    world: SimWorld, src: SimSource, loc: Location, day: date, appfuture: int
) -> list[dict]:
    with world.lock:
        now = world.refresh()
        if not _bookable(day, now.date(), appfuture):
            return []
        minutes = world.published_day(src, loc.id, day, now)
    out = []
    for m in minutes:
        end = min(m + loc.slot_minutes, 24 * 60 - 1)
        slot = {"start": f"{day}T{HHMMSS[m]}", "end": f"{day}T{HHMMSS[end]}"}
        if is_today(src):
            key = f"{loc.id}|{day} {HHMMSS[m][:5]}|{day} {HHMMSS[end][:5]}|{loc.name}|0"
            digest = f"{zlib.crc32(f'{src.id}/{key}'.encode()):08x}"
            slot.update({SLOT_KEY: key, "hv": digest, "ecap": False, "capmax": 1})
        else:
            slot.update({"calendarid": loc.id, "calendarname": loc.name, "available": 1, "cap": 1})
        out.append(slot)
    return out


def timeslots(world: SimWorld, src: SimSource, query: dict[str, str]) -> Reply:
    svc = _service(src, query.get("serviceid", ""))
    cal = query.get("calendarid", "")
    try:
        day = date.fromisoformat(query.get("date", ""))
    except ValueError:
        return json_reply({"error": "invalid date"}, status=400)
    if svc is None or cal not in svc["calendars"]:
        return json_reply([])
    loc = src.locations[cal]
    if query.get("rangesearch") == "1":
        return json_reply(day_list(world, src, loc, day, _appfuture(query)))
    return json_reply(slot_list(world, src, loc, day, _appfuture(query)))


def maintenance_page() -> Reply:
    body = (
        "<h1>Wartungsarbeiten</h1>\n"
        "<p>eTermin wird gerade aktualisiert. Bitte versuchen Sie es in wenigen Minuten "
        "erneut.</p>\n<p>We are currently performing maintenance. Please try again later.</p>"
    )
    return page("Wartungsarbeiten", body)


# --------------------------------------------------------------------------- family contract


def location_id(src: SimSource, loc: Location) -> str:
    """The location id an etermin scraper reports: the slot's ``calendarid``."""
    return loc.id


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Days an etermin scrape of ``weeks`` covers.

    Replays the scraper's month walk against this server's day lists (``date`` to the end
    of its month): the walk stops once a listed day lies 7 x weeks days ahead, after three
    requests at most; of the listed days only those within ``appfuture`` = 7 x weeks are
    bookable. The 2026 day lists name free days only, so the walk may ask for more months,
    but those lie beyond the horizon: the bookable days covered are the same.
    """
    today = now.date()
    horizon = 7 * weeks
    covered: list[date] = []
    query, max_date = today, today
    for _ in range(MAX_MONTH_REQUESTS):
        last = _month_end(query)
        covered.extend(query + timedelta(days=i) for i in range((last - query).days + 1))
        max_date = max(max_date, last)
        if (max_date - today).days >= horizon:
            break
        query = last + timedelta(days=1)
    return sorted({d for d in covered if (d - today).days <= horizon})


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params) of the catalog row pointing at this simulated account."""
    return f"{base_url}/{slug(src)}", {"et_url": slug(src), "base_url": base_url}


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix, e.g. ``/api/timeslots``)."""
    name = request.path.strip("/")
    query = request.query
    if name == slug(src) or name == "":
        body = f"<h1>Online-Terminbuchung {escape(src.name)}</h1>\n<div id='app'></div>"
        return page(f"{src.name} – Termin buchen", body)
    if not name.startswith("api/"):
        return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
    referer = request.headers.get("referer", "").rstrip("/").rsplit("/", 1)[-1]
    account = request.headers.get("webid", referer.lower()) == webid(src)
    endpoint = name[4:]
    if endpoint == "servicegroupservice":
        if fault == "closed" or not account or query.get("w", webid(src)) != webid(src):
            return json_reply([])
        return json_reply(services_json(src))
    if endpoint == "calendar":
        svc = _service(src, query.get("serviceid", "")) if account else None
        return json_reply(calendars_json(src, svc) if svc else [])
    if endpoint == "timeslots":
        if fault == "garbage":
            return maintenance_page()
        if not account:
            return json_reply([])
        return timeslots(world, src, query)
    if endpoint == "settingbs":
        return json_reply({"ID": src.index, "COMPANY": src.name} if account else {})
    return json_reply({ERROR_KEY: f"No HTTP resource was found for /api/{endpoint}"}, 404)
