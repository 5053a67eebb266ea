"""Render a simulated source as a Konsentas form (``/form/N/`` and its ``/api/``).

Paths, parameters and JSON keys come from ``families/konsentas/pages.py`` (the clients'
evidence; no real answer was recorded). Departments are the form's departments, each
location is exactly one choice: the first service serving it lists it as an option
(``recno`` 5000 + location id), or, for some single-location services, is itself the
choice. Odd sources group the processes by department (``department_name``), even ones
list the processes flat.

A session is the JWT of the start-up (its payload names the server-side state); the two
``postOtaNextStep`` calls must choose a process, then confirm, each naming the ``op_id``
the previous answer gave. ``getTimeslot`` lists every slot of the asked days still ahead,
the taken ones with ``places`` 0 and ``className`` ``termin-booked-out``. Texts of error
answers (``code`` other than 3) are invented: none was recorded.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import date, datetime

from ..families.common import look_ahead_days
from ..families.konsentas import epoch
from ..families.konsentas.pages import (
    BOOKED_OUT,
    CHOICE_PREFIX,
    CHOOSE_FIELD,
    FIRST_PATH,
    FORM_PATH,
    NEXT_STEP_PATH,
    OK_CODE,
    SLOTS_PATH,
    STARTUP_PATH,
)
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SessionStore, SimRequest, error_page, json_reply, page

FAMILY = "konsentas"
TRUTH_SKIPS_EMPTY = False
#: ``throttle``: 429 on the start-up; ``expired``: the first step says the session expired;
#: ``refused``: getTimeslot refuses the anonymous session; ``shape``: getTimeslot answers
#: calendar events without ``recno``/``places``; ``closed``: the form offers no process
PAGE_FAULTS = ("throttle", "expired", "refused", "shape", "closed")
OPTION_BASE = 5000
EXPIRED_TEXT = "Ihre Sitzung ist abgelaufen. Bitte laden Sie die Seite neu."
REFUSED_TEXT = "Keine Berechtigung für diese Anfrage."
SESSIONS = SessionStore()


def form_id(src: SimSource) -> str:
    return str(src.index)


def grouped(src: SimSource) -> bool:
    return src.index % 2 == 1


def _recno(cnc: str) -> int:
    return int("".join(ch for ch in cnc if ch.isdigit()) or 0)


def catalogue(src: SimSource) -> tuple[list[dict], dict[str, str]]:
    """``op_conf.processes`` and choice id -> location id."""
    owned: set[str] = set()
    owner: dict[str, str] = {}
    groups = []
    for dep in src.departments:
        dept = int(dep.md)
        processes = []
        for svc in dep.services:
            cals = list(svc.calendars) or ([svc.hidden_calendar] if svc.hidden_calendar else [])
            mine = [c for c in cals if c not in owned]
            if not mine:
                continue
            owned.update(mine)
            recno = _recno(svc.cnc)
            process = {"recno": recno, "department_recno": [dept], "process_name": svc.title}
            if len(mine) == 1 and zlib.crc32(f"{src.id}/{svc.cnc}".encode()) % 2:
                process["options"] = []
                owner[f"{dept}_{recno}"] = mine[0]
            else:
                process["options"] = [
                    {"recno": OPTION_BASE + int(c), "option_name": src.locations[c].name}
                    for c in mine
                ]
                owner.update({f"{dept}_{OPTION_BASE + int(c)}": c for c in mine})
            processes.append(process)
        if processes:
            groups.append(
                {"department_recno": dept, "department_name": dep.title, "processes": processes}
            )
    if grouped(src):
        return groups, owner
    return [p for g in groups for p in g["processes"]], owner


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_jwt(src: SimSource) -> tuple[str, str]:
    """A fresh session: (JWT, first op_id)."""
    token = SESSIONS.new(src.id, {"op": "id1", "choice": None, "confirmed": False})
    head = _b64({"typ": "JWT", "alg": "HS256"})
    body = _b64({"jti": token, "signupform_id": form_id(src)})
    return f"{head}.{body}.{zlib.crc32(token.encode()):08x}", "id1"


def _state(src: SimSource, request: SimRequest) -> dict | None:
    auth = request.headers.get("authorization", "")
    parts = auth.removeprefix("Bearer ").split(".")
    if not auth.startswith("Bearer ") or len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return SESSIONS.get(src.id, str(payload.get("jti", "")))


def answer(data: object) -> Reply:
    return json_reply({"code": OK_CODE, "msg": "", "data": data})


def refusal(text: str, code: int = 1) -> Reply:
    return json_reply({"code": code, "msg": text, "data": None})


def _startup(src: SimSource, request: SimRequest, fault) -> Reply:
    query = request.query
    if fault == "throttle":
        reply = error_page("Too Many Requests", status=429)
        reply.headers["Retry-After"] = "3600"
        return reply
    if query.get("signupform_id") != form_id(src) or query.get("queryParameter[signup_new]") != "1":
        return refusal("Das Formular wurde nicht gefunden.")
    jwt, op_id = new_jwt(src)
    processes = [] if fault == "closed" else catalogue(src)[0]
    return answer({"ota_jwt": jwt, "op_id": op_id, "op_conf": {"processes": processes}})


def _next_step(src: SimSource, state: dict, form: dict[str, str], fault) -> Reply:
    if form.get("op_id") != state["op"] or form.get("navigation") != "1":
        return refusal("Ungültiger Schritt.")
    if state["choice"] is None:
        if fault == "expired":
            return refusal(EXPIRED_TEXT)
        picked = form.get(CHOOSE_FIELD, "")
        if picked.removeprefix(CHOICE_PREFIX) not in catalogue(src)[1] or not picked.startswith(
            CHOICE_PREFIX
        ):
            return refusal("Bitte wählen Sie ein Anliegen.")
        state.update(choice=picked.removeprefix(CHOICE_PREFIX), op="id2")
        return answer({"op_id": "id2", "op_type": "review"})
    if not state["confirmed"] and (form.get(CHOOSE_FIELD) == "" or form.get("formdata[0]") == ""):
        state.update(confirmed=True, op="id3")
        return answer({"op_id": "id3", "op_type": "termin"})
    return refusal("Ungültiger Schritt.")


def _termin(loc: Location, day: date, minute: int, free: bool) -> dict:
    yd = int(day.strftime("%Y%m%d"))
    return {
        "recno": f"::{yd}:{minute}:{minute + loc.slot_minutes}",
        "yeardate": yd,
        "time": minute,
        "duration": loc.slot_minutes,
        "places": 1 if free else 0,
        "className": "" if free else BOOKED_OUT,
    }


def _first(world: SimWorld, src: SimSource, loc: Location) -> Reply:
    with world.lock:
        now = world.refresh()
        for day in world.horizon_days(now):
            minutes = world.published_day(src, loc.id, day, now)
            if minutes:
                return answer({"termin": _termin(loc, day, minutes[0], True)})
    return answer({"termin": None})


def _timeslots(world: SimWorld, src: SimSource, loc: Location, query, fault) -> Reply:
    if fault == "refused":
        return refusal(REFUSED_TEXT)
    start, end = query.get("start", ""), query.get("end", "")
    if not (start.isdigit() and end.isdigit()) or int(start) >= int(end):
        return refusal("Ungültiger Zeitraum.")
    termins = []
    with world.lock:
        now = world.refresh()
        for day in world.horizon_days(now):
            if not int(start) <= epoch(day) < int(end):
                continue
            free = set(world.published_day(src, loc.id, day, now))
            for slot in loc.grid(day):
                minute = slot.hour * 60 + slot.minute
                if slot > now:
                    termins.append(_termin(loc, day, minute, minute in free))
    if fault == "shape":
        termins = [
            {"title": "frei", "start": f"{t['yeardate']}T{t['time']}", "allDay": False}
            for t in termins
        ]
    return answer({"termins": termins})


# --------------------------------------------------------------------------- family contract


def location_id(src: SimSource, loc: Location) -> str:
    """The choice id (``{department}_{recno}``) a konsentas scraper reports for ``loc``."""
    return next(cid for cid, lid in catalogue(src)[1].items() if lid == loc.id)


def truth_days(now: datetime, weeks: int) -> list[date]:
    return look_ahead_days(now.date(), weeks)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    index = base_url + FORM_PATH.format(form=form_id(src))
    return index, {"base_url": base_url, "signupform_id": form_id(src)}


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix)."""
    path = request.path
    if path == FORM_PATH.format(form=form_id(src)):
        return page(f"Online-Terminvereinbarung {src.name}", '<div id="ota-app"></div>')
    if path == STARTUP_PATH and request.method == "GET":
        return _startup(src, request, fault)
    if path not in (NEXT_STEP_PATH, FIRST_PATH, SLOTS_PATH):
        return error_page("Seite nicht gefunden", status=404)
    state = _state(src, request)
    if state is None:
        return json_reply({"code": 0, "msg": "Unauthorized", "data": None}, status=401)
    if path == NEXT_STEP_PATH:
        if request.method != "POST":
            return error_page("Method Not Allowed", status=405)
        return _next_step(src, state, request.form, fault)
    if not state["confirmed"]:
        return refusal("Bitte wählen Sie zuerst ein Anliegen.")
    loc = src.locations[catalogue(src)[1][state["choice"]]]
    if path == FIRST_PATH:
        return _first(world, src, loc)
    return _timeslots(world, src, loc, request.query, fault)
