"""Render a simulated source as a Qmatic Web Booking tenant (anonymous JSON GETs).

Paths below ``/qmaticwebbooking/rest/schedule/`` as ``families/qmatic/pages.py`` lists
them, with matrix parameters; JSON shapes and field names as recorded at
broneering.politsei.ee (2026-10-02): services (``additionalDuration``, ``custom``,
``duration``, ``internalId``, ``name``, ``publicId``, ``qpId``), service groups, branches
(``addressCity``, ``addressLine1``, ``custom``, ``id``, ``internalId``, ``name``, ``qpId``,
``timeZone``), dates listing only days with free times, times ``{"date", "time"}``.

Departments are service groups, services keep their calendars, locations are branches;
every id is a 64-hex public id derived from the source. Odd sources wrap the branch list
in ``{"value": [...]}`` (2026), even ones answer a bare list (older installs). Requests
naming an unknown branch or service, or a missing ``customSlotLength``, are refused with
HTTP 404/400 (the real error bodies were never recorded). No server-side state.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

from ..families.common import look_ahead_days
from ..families.qmatic.pages import PUBLIC_ID, REST, VALUE_KEY, endpoint
from .model import SimWorld
from .offices import Location, Service, SimSource
from .pages import Reply, SimRequest, error_page, json_reply, page

FAMILY = "qmatic"
#: every branch is reported, the empty ones with the API's empty answer
TRUTH_SKIPS_EMPTY = False
#: ``closed``: no service in the catalogue; ``garbage``: a maintenance page for the dates;
#: ``throttle``: HTTP 429 with a long Retry-After for the dates
PAGE_FAULTS = ("closed", "garbage", "throttle")
APP = "/qmaticwebbooking"
TIMEZONE = "Europe/Berlin"
#: service durations (minutes) handed out by a hash of the service
DURATIONS = (10, 15, 20, 30, 45, 60)


def public_id(src: SimSource, kind: str, key: str) -> str:
    """A stable 64-hex public id (branch or service)."""
    return hashlib.sha256(f"{src.id}/{kind}/{key}".encode()).hexdigest()


def is_wrapped(src: SimSource) -> bool:
    """Whether the branch list comes as ``{"value": [...]}`` (the 2026 shape)."""
    return src.index % 2 == 1


def calendars(svc: Service) -> list[str]:
    return list(svc.calendars) or ([svc.hidden_calendar] if svc.hidden_calendar else [])


def duration(src: SimSource, svc: Service) -> int:
    digest = hashlib.sha256(f"{src.id}/{svc.cnc}".encode()).digest()
    return DURATIONS[digest[0] % len(DURATIONS)]


def _names(text: str) -> str:
    return json.dumps({"names": {"de": text, "en": text}}, ensure_ascii=False)


def service_json(src: SimSource, svc: Service) -> dict:
    number = int("".join(ch for ch in svc.cnc if ch.isdigit()) or 0)
    return {
        "additionalDuration": 0,
        "custom": _names(svc.title),
        "duration": duration(src, svc),
        "internalId": number,
        "name": svc.title,
        "publicId": public_id(src, "service", svc.cnc),
        "qpId": str(number % 97 + 1),
    }


def services(src: SimSource) -> list[tuple[Service, dict]]:
    """Every service of the tenant with its JSON, in catalogue order."""
    return [(svc, service_json(src, svc)) for dep in src.departments for svc in dep.services]


def service_groups(src: SimSource) -> list[dict]:
    groups = []
    for dep in src.departments:
        listed = [service_json(src, svc) for svc in dep.services]
        groups.append(
            {
                "id": dep.title,
                "names": {"de": dep.title, "en": dep.title},
                "serviceIds": [s["internalId"] for s in listed],
                "services": listed,
            }
        )
    return groups


def branch_json(src: SimSource, loc: Location) -> dict:
    address = {"address1": f"Rathausplatz {loc.id}", "address2": "", "city": "", "country": ""}
    custom = {"names": {"de": loc.name, "en": loc.name}, "address": {"de": address}}
    return {
        "addressCity": src.name,
        "addressLine1": f"Rathausplatz {loc.id}",
        "custom": json.dumps(custom, ensure_ascii=False),
        "id": public_id(src, "branch", loc.id),
        "internalId": int(loc.id),
        "name": loc.name,
        "qpId": str(int(loc.id) % 50 + 1),
        "timeZone": TIMEZONE,
    }


def _service_by_id(src: SimSource, sid: str) -> Service | None:
    return next((svc for svc, data in services(src) if data["publicId"] == sid), None)


def _branch_by_id(src: SimSource, bid: str) -> Location | None:
    return next(
        (loc for loc in src.locations.values() if public_id(src, "branch", loc.id) == bid), None
    )


def _free_days(world: SimWorld, src: SimSource, loc: Location) -> list[date]:
    with world.lock:
        now = world.refresh()
        return [d for d in world.horizon_days(now) if world.published_day(src, loc.id, d, now)]


def _free_minutes(world: SimWorld, src: SimSource, loc: Location, day: date) -> list[int]:
    with world.lock:
        now = world.refresh()
        return world.published_day(src, loc.id, day, now)


def maintenance_page() -> Reply:
    body = (
        "<h1>Wartungsarbeiten</h1>\n<p>Die Online-Terminvereinbarung ist vorübergehend nicht "
        "erreichbar. Bitte versuchen Sie es später erneut.</p>"
    )
    return page("Wartungsarbeiten", body, status=200)


def throttled() -> Reply:
    reply = error_page("Too Many Requests", status=429)
    reply.headers["Retry-After"] = "3600"
    return reply


def _calendar(world, src, request, values, kind, fault) -> Reply:
    """Dates or times of one (branch, service); checks the matrix parameters."""
    loc = _branch_by_id(src, values.get("branch", ""))
    svc = _service_by_id(src, values.get("servicePublicId", ""))
    if loc is None or svc is None or loc.id not in calendars(svc):
        return error_page("Not Found", status=404)
    length = values.get("customSlotLength", "")
    if not length.isdigit() or int(length) <= 0:
        return error_page("Bad Request: customSlotLength", status=400)
    if kind == "dates":
        if fault == "garbage":
            return maintenance_page()
        if fault == "throttle":
            return throttled()
        return json_reply([{"date": d.isoformat()} for d in _free_days(world, src, loc)])
    try:
        day = date.fromisoformat(values.get("day", ""))
    except ValueError:
        return error_page("Bad Request: date", status=400)
    times = [f"{m // 60:02d}:{m % 60:02d}" for m in _free_minutes(world, src, loc, day)]
    return json_reply([{"date": day.isoformat(), "time": t} for t in times])


# --------------------------------------------------------------------------- family contract


def location_id(src: SimSource, loc: Location) -> str:
    """The branch public id a qmatic scraper reports."""
    return public_id(src, "branch", loc.id)


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Every day from today through today + 7 x weeks (the scraper's horizon)."""
    return look_ahead_days(now.date(), weeks)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}{APP}/#/", {"base_url": f"{base_url}{APP}"}


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix)."""
    path = request.path
    if path in (APP, APP + "/"):
        body = '<div id="app"></div>\n<noscript>Bitte aktivieren Sie JavaScript.</noscript>'
        return page("Qmatic Web Booking", body)
    if not path.startswith(APP + REST + "/") or request.method != "GET":
        return error_page("Not Found", status=404)
    kind, values = endpoint(f"http://sim{path}")
    if kind == "services":
        return json_reply([] if fault == "closed" else [data for _, data in services(src)])
    if kind == "service-groups":
        return json_reply([] if fault == "closed" else service_groups(src))
    if kind == "branches":
        svc = _service_by_id(src, values.get("servicePublicId", ""))
        if svc is None or not PUBLIC_ID.fullmatch(values.get("servicePublicId", "")):
            return error_page("Not Found", status=404)
        listed = [branch_json(src, src.locations[c]) for c in calendars(svc)]
        return json_reply({VALUE_KEY: listed} if is_wrapped(src) else listed)
    if kind in ("dates", "times"):
        return _calendar(world, src, request, values, kind, fault)
    return error_page("Not Found", status=404)
