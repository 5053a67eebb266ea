"""Render a simulated source as Munich's ZMS citizen API (JSON), in three generations.

``handle`` is pure request -> ``Reply``. Shapes and rules follow it-at-m/eappointment
(docs/protocols/systems-2026.md, sections 1 and 23; facts in ``families/zms/protocol.py``):

- ``calendar`` (2026, source index 1, 4, …): ``…/api/citizen/offices-and-services/`` with
  integer ids and boolean ``captchaActivatedRequired``; ``available-calendar/`` as the
  backend's ``CalendarAvailability`` computes it: bookable days of the months of the slot
  window, the appointments of one day only (the first bookable day of a multi-day window,
  a single-day window snapping to the first bookable day of its month, and a window without
  any bookable day to the first one after it);
- ``by-office`` (until 2026-06, index 2, 5, …): ``available-days-by-office/`` (``time``,
  ``providerIDs``; none: 404 ``noAppointmentForThisDay``) and
  ``available-appointments-by-office/`` (integer ``officeId``; none: 404
  ``appointmentNotAvailable``); ``available-calendar/`` is the catch-all 404 ``notFound``;
- ``backend`` (2025, index 3, 6, …): ``…/api/backend/`` with string ids and ``"0"``/``"1"``
  flags, ``available-days`` / ``available-appointments`` for one office, "nothing free" as a
  flat HTTP 200 ``{"errorCode", "errorMessage", "lastModified"}``.

The source's service (the first of its first department) is offered at every simulated
location and at one more office whose scope requires a captcha: requests naming that office
answer ``captchaMissing``. JSON is written as PHP's ``json_encode`` writes it (compact).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from ..families.common import is_day
from ..families.zms import protocol as p
from .model import SimWorld
from .offices import Location, Service, SimSource
from .pages import JSON, Reply, SimRequest, error_page, page

FAMILY = "zms"
TRUTH_SKIPS_EMPTY = False
#: ``ratelimit`` 429 and ``blacklist`` 403 on every request (the middlewares' answers),
#: ``maintenance`` 503 ``serviceUnavailable``, ``captcha`` = ``captchaMissing`` and
#: ``blank`` = an empty HTTP 200 body on the availability requests
PAGE_FAULTS = ("ratelimit", "blacklist", "maintenance", "captcha", "blank")
PREFIX = {"calendar": "/buergeransicht/api/citizen", "by-office": "/buergeransicht/api/citizen"}
PREFIX["backend"] = "/buergeransicht/api/backend"
CAPTCHA_OFFICE_NAME = "Schnellschalter"
ORGANIZATION = "Landeshauptstadt München"


def generation(src: SimSource) -> str:
    return p.GENERATIONS[(src.index - 1) % len(p.GENERATIONS)]


def office_of(loc: Location) -> str:
    return str(10_200_000 + int(loc.id))


def captcha_office(src: SimSource) -> str:
    return str(10_400_000 + src.index)


def service_of(svc: Service) -> str:
    return str(1_063_000 + int(svc.cnc.removeprefix("cnc-")))


def queried(src: SimSource) -> Service:
    """The service a catalog row of this source names."""
    return src.departments[0].services[0]


def relations(src: SimSource) -> dict[str, list[str]]:
    """service id -> office ids offering it, in catalogue order."""
    out: dict[str, list[str]] = {}
    for dep in src.departments:
        for svc in dep.services:
            cals = svc.calendars or [svc.hidden_calendar]
            out.setdefault(service_of(svc), [office_of(src.locations[c]) for c in cals if c])
    every = [office_of(loc) for loc in src.locations.values()] + [captcha_office(src)]
    out[service_of(queried(src))] = every
    return out


# --------------------------------------------------------------------------- answers


def _json(data: object, status: int = 200, limits: bool = True) -> Reply:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    reply = Reply(status=status, body=body, content_type=JSON)
    if limits:  # RateLimitingMiddleware on every answer it let through
        reply.headers.update({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"})
    return reply


def errors(*codes: str, limits: bool = True) -> Reply:
    entries = []
    for code in codes:
        status, message, kind = p.ERRORS[code]
        entries.append(
            {"errorCode": code, "errorMessage": message, "statusCode": status, "errorType": kind}
        )
    return _json({"errors": entries}, max(p.ERRORS[c][0] for c in codes), limits)


def flat_error(world: SimWorld, code: str, message: str) -> Reply:
    """The 2025 backend's "nothing free": HTTP 200, flat, with ``lastModified`` (ms)."""
    stamp = p.epoch_at(world.now()) * 1000
    return _json({"errorCode": code, "errorMessage": message, "lastModified": stamp}, 200, False)


def catalogue(src: SimSource) -> dict:
    old = generation(src) == "backend"
    ident = str if old else int
    offices = [(office_of(loc), loc.name, False) for loc in src.locations.values()]
    offices.append((captcha_office(src), CAPTCHA_OFFICE_NAME, True))
    out_offices = []
    for n, (oid, name, captcha) in enumerate(offices, start=1):
        if old:
            scope = {
                "id": str(n),
                "provider": {"id": oid, "source": "dldb"},
                "shortName": name,
                "telephoneActivated": "0",
                "telephoneRequired": "0",
                "customTextfieldActivated": "0",
                "customTextfieldRequired": "0",
                "customTextfieldLabel": "",
                "captchaActivatedRequired": "1" if captcha else "0",
                "displayInfo": "",
            }
            entry = {"id": oid, "name": name, "displayNameAlternatives": [name]}
            entry.update({"organization": ORGANIZATION, "organizationUnit": src.name})
            entry.update({"showAlternativeLocations": True, "scope": scope})
        else:
            provider = {"id": int(oid), "name": name, "displayName": name, "source": "dldb"}
            scope = {"id": n, "provider": provider, "shortName": name}
            scope.update({"telephoneActivated": False, "telephoneRequired": False})
            scope.update({"captchaActivatedRequired": captcha, "hint": None})
            entry = {"id": int(oid), "name": name, "address": None}
            entry.update({"showAlternativeLocations": False, "displayNameAlternatives": []})
            entry.update({"organization": ORGANIZATION, "organizationUnit": src.name})
            entry.update({"slotTimeInMinutes": None, "geo": None, "disabledByServices": []})
            entry.update({"priority": 1, "scope": scope, "slotsPerAppointment": None})
            entry.update({"parentId": None, "allowDisabledServicesMix": None})
            entry["sharedBookingOfficeIds"] = None
        out_offices.append(entry)
    services, rels = [], []
    for dep in src.departments:
        for svc in dep.services:
            sid = service_of(svc)
            if old:
                services.append({"id": sid, "name": svc.title, "maxQuantity": 1})
            else:
                entry = {"id": int(sid), "name": svc.title, "maxQuantity": 1, "combinable": []}
                entry.update({"parentId": None, "variantId": None, "rootParentId": int(sid)})
                entry["showOnStartPage"] = True
                services.append(entry)
    for sid, oids in relations(src).items():
        for oid in oids:
            rel = {"officeId": ident(oid), "serviceId": ident(sid), "slots": 1}
            if not old:
                rel.update({"public": True, "maxQuantity": None})
            rels.append(rel)
    return {"offices": out_offices, "services": services, "relations": rels}


# --------------------------------------------------------------------------- availability


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text and is_day(text) else None


def _free(world: SimWorld, src: SimSource, oids: list[str], day: date, now) -> dict[str, list]:
    """office id -> epochs of its free appointments on ``day`` (offices with some only)."""
    locs = {office_of(loc): loc for loc in src.locations.values()}
    base = datetime(day.year, day.month, day.day)
    out = {}
    for oid in sorted(oids):
        minutes = world.published_day(src, locs[oid].id, day, now) if oid in locs else []
        if minutes:
            out[oid] = [p.epoch_at(base + timedelta(minutes=m)) for m in minutes]
    return out


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _months(first: date, last: date, start: date, end: date) -> tuple[date, date]:
    """``resolveResponseDaysRange``: whole months of the slot window, clamped to the range."""
    low = max(first.replace(day=1), start)
    high = (last.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return low, min(high, end)


def _checked(src: SimSource, query: dict[str, str], plural: bool) -> Reply | tuple:
    """The request's dates, offices and service, or the validation errors it earns."""
    names = ("officeIds", "serviceIds", "serviceCounts") if plural else ("officeId", "serviceId")
    oids = [o.strip() for o in query.get(names[0], "").split(",") if o.strip()]
    sid = query.get(names[1], "").strip()
    found = []
    if not oids or any(p.office_id(o) is None for o in oids):
        found.append("invalidOfficeId")
    if p.office_id(sid) is None:
        found.append("invalidServiceId")
    for key, code in (("startDate", "invalidStartDate"), ("endDate", "invalidEndDate")):
        if key in query and _day(query[key]) is None:
            found.append(code)
    count = query.get(names[2] if plural else "serviceCount", "1")
    if not count.isdigit() or not 0 < int(count) <= 25:
        found.append("invalidServiceCount")
    if found:
        return errors(*found)
    offering = relations(src).get(sid, [])
    if any(o not in offering for o in oids):
        return errors("invalidLocationAndServiceCombination")
    if captcha_office(src) in oids and not query.get("captchaToken"):
        return errors("captchaMissing")
    return oids, sid


def available_calendar(world: SimWorld, src: SimSource, query: dict[str, str]) -> Reply:
    checked = _checked(src, query, plural=True)
    if isinstance(checked, Reply):
        return checked
    oids, _ = checked
    start, end = _day(query.get("startDate")), _day(query.get("endDate"))
    if start is None or end is None:
        return errors(
            *[c for c, d in (("invalidStartDate", start), ("invalidEndDate", end)) if not d]
        )
    bad = [k for k in ("slotsStartDate", "slotsEndDate") if k in query and not _day(query[k])]
    if bad:
        return errors(*[f"invalid{k[0].upper()}{k[1:]}" for k in bad])
    first = max(_day(query.get("slotsStartDate")) or start, start)
    last = min(_day(query.get("slotsEndDate")) or end, end)
    with world.lock:
        now = world.refresh()
        free = {d: f for d in _span(start, end) if (f := _free(world, src, oids, d, now))}
    low, high = _months(first, last, start, end)
    shown = [d for d in free if low <= d <= high]
    window = [d for d in free if first <= d <= last]
    if first != last and window:
        first = last = window[0]
    elif first == last and not window and shown:
        first = last = shown[0]
    if not shown:
        later = [d for d in free if d >= low]
        if later:
            first = last = later[0]
            low, high = _months(first, last, start, end)
            shown = [d for d in free if low <= d <= high]
    days = []
    for d in shown:
        if first <= d <= last:
            offices = [{"officeId": oid, "appointments": e} for oid, e in free[d].items()]
        else:
            offices = []
        days.append({"date": d.isoformat(), "providerIDs": ",".join(free[d]), "offices": offices})
    before = [d for d in free if d < low]
    after = [d for d in free if d > high]
    return _json(
        {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "slotsStartDate": first.isoformat(),
            "slotsEndDate": last.isoformat(),
            "prevBookableDate": before[-1].isoformat() if before else None,
            "nextBookableDate": after[0].isoformat() if after else None,
            "availableDays": days,
        }
    )


def days_list(world: SimWorld, src: SimSource, query: dict[str, str]) -> Reply:
    """``available-days-by-office/`` (by-office) and ``available-days`` (backend)."""
    checked = _checked(src, query, plural=False)
    if isinstance(checked, Reply):
        return checked
    oids, _ = checked
    start, end = _day(query.get("startDate")), _day(query.get("endDate"))
    if start is None or end is None:
        return errors("invalidStartDate" if start is None else "invalidEndDate")
    with world.lock:
        now = world.refresh()
        free = {d: f for d in _span(start, end) if (f := _free(world, src, oids, d, now))}
    if generation(src) == "backend":
        if not free:
            return flat_error(world, p.BACKEND_NONE_CODE, p.BACKEND_NONE_MESSAGE)
        return _json({"availableDays": [d.isoformat() for d in free]}, limits=False)
    if not free:
        return errors("noAppointmentForThisDay")
    days = [{"time": d.isoformat(), "providerIDs": ",".join(f)} for d, f in free.items()]
    return _json({"availableDays": days})


def appointments(world: SimWorld, src: SimSource, query: dict[str, str]) -> Reply:
    """``available-appointments-by-office/`` (by-office) and ``available-appointments``."""
    checked = _checked(src, query, plural=False)
    if isinstance(checked, Reply):
        return checked
    oids, _ = checked
    day = _day(query.get("date"))
    if day is None:
        return errors("invalidStartDate")
    with world.lock:
        free = _free(world, src, oids, day, world.refresh())
    if generation(src) == "backend":
        if not free:
            return flat_error(world, "noAppointmentForThisDay", p.BACKEND_NO_DAY_MESSAGE)
        return _json({"appointmentTimestamps": free[oids[0]]}, limits=False)
    if not free:
        return errors("appointmentNotAvailable")
    return _json({"offices": [{"officeId": int(o), "appointments": e} for o, e in free.items()]})


# --------------------------------------------------------------------------- family contract

_ROUTES = {
    "calendar": {p.CATALOGUE: "catalogue", p.CALENDAR: "calendar"},
    "by-office": {
        p.CATALOGUE: "catalogue",
        p.DAYS_BY_OFFICE: "days",
        p.APPOINTMENTS_BY_OFFICE: "appointments",
    },
    "backend": {
        p.CATALOGUE: "catalogue",
        p.BACKEND_DAYS: "days",
        p.BACKEND_APPOINTMENTS: "appointments",
        p.CAPTCHA_DETAILS: "captcha",
    },
}


def _route(src: SimSource, endpoint: str) -> str | None:
    routes = _ROUTES[generation(src)]
    if endpoint in routes:
        return routes[endpoint]
    if generation(src) != "calendar":  # the older APIs answered with and without the slash
        return routes.get(endpoint.rstrip("/")) or routes.get(endpoint + "/")
    return None


def location_id(src: SimSource, loc: Location) -> str:
    """The location id the zms scraper reports: the office id."""
    return office_of(loc)


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Today through today + 7 x weeks (``startDate``..``endDate`` of the requests)."""
    today = now.date()
    return _span(today, today + timedelta(days=min(7 * weeks, p.MAX_FUTURE_DAYS)))


#: the citizen view's page; its ``#/services/{id}`` route is read by the browser only
BOOKING_PAGE = "/buergerservice/terminvereinbarung.html"


def booking_page(src: SimSource) -> Reply:
    """The page hosting the ``zms-appointment`` web component (zmscitizenview markup);
    the component is told its API as ``base-url`` (an assumption of the simulator)."""
    root = f"/{src.id}"
    body = (
        f'<script src="{root}/buergeransicht/zms-appointment-webcomponent.js" type="module">'
        "</script>\n<noscript>\n    <strong>Damit das Widget korrekt funktioniert, muss "
        "Javascript aktiviert werden.</strong>\n</noscript>\n"
        f'<zms-appointment base-url="{root}{PREFIX[generation(src)]}"></zms-appointment>'
    )
    return page("Terminvereinbarung Bürgeransicht", body)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params) of the catalog row of this source's service."""
    sid = service_of(queried(src))
    index = f"{base_url}/buergerservice/terminvereinbarung.html#/services/{sid}"
    return index, {"service_id": sid, "base_url": base_url + PREFIX[generation(src)]}


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix)."""
    prefix = PREFIX[generation(src)] + "/"
    if request.path == BOOKING_PAGE:
        return booking_page(src)
    if not request.path.startswith(prefix):
        return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
    if fault == "ratelimit":
        return errors("rateLimitExceeded", limits=False)
    if fault == "blacklist":
        return errors("IP_BLACKLISTED", limits=False)
    if fault == "maintenance":
        return errors("serviceUnavailable", limits=False)
    route = _route(src, request.path[len(prefix) :])
    if route is None:
        return errors(p.NOT_FOUND, limits=False)
    if route == "catalogue":
        return _json(catalogue(src), limits=generation(src) != "backend")
    if route == "captcha":
        puzzle = "https://eu-api.friendlycaptcha.eu/api/v1/puzzle"
        return _json(
            {
                "siteKey": f"FCMSIM{src.index:010d}",
                "captchaEndpoint": "https://eu-api.friendlycaptcha.eu/api/v1/siteverify",
                "puzzle": puzzle,
                "captchaEnabled": True,
            },
            limits=False,
        )
    if fault == "captcha":
        return errors("captchaMissing")
    if fault == "blank":
        return Reply(status=200, body=b"", content_type=JSON)
    if route == "calendar":
        return available_calendar(world, src, request.query)
    if route == "days":
        return days_list(world, src, request.query)
    return appointments(world, src, request.query)
