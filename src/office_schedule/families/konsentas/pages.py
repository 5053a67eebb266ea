"""konsentas: protocol facts (shared with the fake server) and the readers of every answer.

Sources (docs/protocols/systems-2026.md, section 13): a curl script of the Stuttgart flow
(``id 35165586700``), a catalogue lister (``id 35078269477``), the Stuttgart ABH watcher
(``id 57149744434``) and the Karlsruhe bot (Bayyo1337/karlsruhe-zulassungsstelle-termin-bot
@56a67e9f, ``konsentas.py``, ``CLAUDE.md``). No real answer was ever recorded; the shapes are
those the clients read:

- every answer is ``{"code": 3, "msg": ..., "data": {...}}`` on success (``code`` 3 is what
  the clients check after each step);
- ``getOtaStartUp``: ``data.ota_jwt``, ``data.op_id``, ``data.op_conf.processes[]``, either
  department groups (``department_name``, ``processes[]``) or processes themselves
  (``recno``, ``department_recno[0]``, ``process_name``, ``options[]`` of ``recno``,
  ``option_name``); a choice is ``opt-{department}_{recno of the option or process}``;
- ``postOtaNextStep``: ``data.op_id`` (and ``op_type``) of the next step;
- ``brick_ota_termin_getFirstAvailableTimeslot``: ``data.termin`` = ``{recno, yeardate:
  YYYYMMDD, time: minutes, duration, places}`` or ``null``;
- ``brick_ota_termin_getTimeslot?start=&end=`` (unix seconds): ``data.termins[]`` with
  ``yeardate``, ``places``, ``className`` (``termin-booked-out`` when full) and ``recno``
  ``::YYYYMMDD:start:end`` (minutes after local midnight). Its use in the anonymous flow is
  a GUESS of the notes: the readers accept only these shapes.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from .. import pages
from ..common import is_int
from ..pages import Office, PageError, PageView

NAME = "konsentas"
STARTUP_PATH = "/api/getOtaStartUp/"
#: the start-up query exactly as the clients send it
STARTUP_QUERY = "signupform_id={form}&userauth=&queryParameter%5Bsignup_new%5D=1"
NEXT_STEP_PATH = "/api/postOtaNextStep/"
FIRST_PATH = "/api/brick_ota_termin_getFirstAvailableTimeslot/"
SLOTS_PATH = "/api/brick_ota_termin_getTimeslot/"
FORM_PATH = "/form/{form}/"
OK_CODE = 3
CHOICE_PREFIX = "opt-"
#: the form fields of the two steps that choose a process and confirm it
CHOOSE_FIELD = "formdata[processes][0]"
BOOKED_OUT = "termin-booked-out"
#: ``recno`` of a timeslot: two empty fields, the day, start and end minute
RECNO = re.compile(r"([^:]*):([^:]*):(\d{8}):(\d{1,4}):(\d{1,4})", re.ASCII)
#: a slot of the raw payload

NO_TERMIN = "konsentas: getFirstAvailableTimeslot answered no termin (null)"
NO_TIMESLOT = "konsentas: getTimeslot listed no timeslot"
ALL_BOOKED = f"konsentas: every listed timeslot is {BOOKED_OUT}"
UNVERIFIED = "anonymous timeslot access is unverified"


def _int(value: Any) -> int | None:
    """An integer or a digit string as int; None otherwise."""
    if is_int(value):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def yeardate(value: Any) -> date | None:
    """``20260325`` (int or text) -> the date, or None."""
    number = _int(value)
    if number is None or not 19000101 <= number <= 29991231:
        return None
    try:
        return date(number // 10000, number // 100 % 100, number % 100)
    except ValueError:
        return None


def slot_of(day: date, minutes: int, url: str | None) -> str:
    """``YYYY-MM-DD HH:MM`` of a day and minutes after its local midnight."""
    if not 0 <= minutes < 24 * 60:
        raise PageError(f"konsentas: {minutes} minutes after midnight is no time", url=url)
    return pages.minutes_slot(day, minutes)


def _choices(processes: Any, url: str | None) -> list[dict[str, str]]:
    """Every choice of the catalogue: ``{"id": "12_15", "choice": "opt-12_15", "name"}``."""
    if not isinstance(processes, list):
        raise PageError("konsentas start-up: op_conf.processes is not a list", url=url)
    out: list[dict[str, str]] = []

    def one(process: Any, group: str | None, where: str) -> None:
        if not isinstance(process, dict):
            raise PageError(f"konsentas start-up: {where} is no object", url=url)
        departments = process.get("department_recno")
        dept = _int(departments[0]) if isinstance(departments, list) and departments else None
        recno, name = _int(process.get("recno")), process.get("process_name")
        options = process.get("options")
        if dept is None or recno is None or not isinstance(name, str) or not name.strip():
            raise PageError(
                f"konsentas start-up: {where} lacks department_recno, recno or process_name",
                url=url,
            )
        if not isinstance(options, list):
            raise PageError(f"konsentas start-up: {where} has no options list", url=url)
        title = f"{group}: {name.strip()}" if group else name.strip()
        picks = [(recno, title)] if not options else []
        for j, option in enumerate(options):
            o_recno = _int(option.get("recno")) if isinstance(option, dict) else None
            o_name = option.get("option_name") if isinstance(option, dict) else None
            if o_recno is None or not isinstance(o_name, str):
                raise PageError(f"konsentas start-up: {where}.options[{j}] is odd", url=url)
            picks.append((o_recno, f"{title} ({o_name.strip()})"))
        for pick, label in picks:
            key = f"{dept}_{pick}"
            out.append({"id": key, "choice": CHOICE_PREFIX + key, "name": label})

    for i, entry in enumerate(processes):
        if isinstance(entry, dict) and "processes" in entry:
            group = entry.get("department_name")
            inner = entry.get("processes")
            if not isinstance(group, str) or not isinstance(inner, list):
                raise PageError(f"konsentas start-up: group {i} is odd", url=url)
            for j, process in enumerate(inner):
                one(process, group.strip(), f"processes[{i}].processes[{j}]")
        else:
            one(entry, None, f"processes[{i}]")
    ids = [c["id"] for c in out]
    if len(set(ids)) != len(ids):
        raise PageError("konsentas start-up: a choice appears twice", url=url)
    return out


def _startup(data: dict[str, Any], url: str | None) -> PageView:
    jwt, op_id, conf = data.get("ota_jwt"), data.get("op_id"), data.get("op_conf")
    if not isinstance(jwt, str) or jwt.count(".") != 2 or not isinstance(op_id, str | int):
        raise PageError("konsentas start-up: no ota_jwt (a JWT) or op_id", url=url)
    if not isinstance(conf, dict):
        raise PageError("konsentas start-up: no op_conf object", url=url)
    choices = _choices(conf.get("processes"), url)
    if not choices:
        return PageView(
            "closed", error="konsentas: the form offers no process", reader="konsentas.startup"
        )
    return PageView(
        "services",
        choices=[(c["id"], c["name"]) for c in choices],
        reader="konsentas.startup",
        details={"jwt": jwt, "op_id": str(op_id), "choices": choices},
    )


def _termin(item: Any, where: str, url: str | None) -> tuple[str, int]:
    """``(slot "YYYY-MM-DD HH:MM", places)`` of a timeslot object."""
    if not isinstance(item, dict):
        raise PageError(f"konsentas {where}: not an object", url=url)
    recno, places = item.get("recno"), _int(item.get("places"))
    match = RECNO.fullmatch(recno) if isinstance(recno, str) else None
    day = yeardate(item.get("yeardate"))
    if match is None or day is None or places is None:
        raise PageError(
            f"konsentas {where}: no recno ::YYYYMMDD:start:end, yeardate or places "
            f"({recno!r}, {item.get('yeardate')!r}, {item.get('places')!r}): not the "
            f"documented shape ({UNVERIFIED})",
            url=url,
        )
    start, end = int(match.group(4)), int(match.group(5))
    if yeardate(match.group(3)) != day or end <= start:
        raise PageError(f"konsentas {where}: recno {recno!r} contradicts its yeardate", url=url)
    time = item.get("time")
    if time is not None and _int(time) != start:
        raise PageError(f"konsentas {where}: time {time!r} contradicts recno {recno!r}", url=url)
    return slot_of(day, start, url), places


def _first(termin: Any, url: str | None) -> PageView:
    if termin is None:
        return PageView("none-free", marker=NO_TERMIN, reader="konsentas.first-timeslot")
    if isinstance(termin, dict) and "time" in termin and "recno" in termin:
        day, minutes = yeardate(termin.get("yeardate")), _int(termin.get("time"))
        places = _int(termin.get("places"))
        if day is None or minutes is None or places is None or places <= 0:
            raise PageError(f"konsentas first timeslot: odd termin {termin!r}", url=url)
        slot = slot_of(day, minutes, url)
        recno = str(termin["recno"])
        return PageView(
            "offices",
            offices=[Office(recno, None, earliest=slot)],
            reader="konsentas.first-timeslot",
            details={"first": slot, "recno": recno, "places": places},
        )
    raise PageError(f"konsentas first timeslot: odd termin {termin!r} ({UNVERIFIED})", url=url)


def _timeslots(termins: list[Any], url: str | None) -> PageView:
    free, listed, booked = [], [], 0
    for i, item in enumerate(termins):
        slot, places = _termin(item, f"timeslot {i}", url)
        out = item.get("className") == BOOKED_OUT
        if out and places > 0:
            raise PageError(f"konsentas timeslot {i}: {BOOKED_OUT} with {places} places", url=url)
        listed.append(slot)
        if places > 0:
            free.append(slot)
        else:
            booked += 1
    details = {"listed": listed, "free": free}
    if not termins:
        return PageView(
            "none-free", marker=NO_TIMESLOT, reader="konsentas.timeslots", details=details
        )
    if not free:
        marker = f"{ALL_BOOKED} ({booked} from {min(listed)} to {max(listed)})"
        return PageView("none-free", marker=marker, reader="konsentas.timeslots", details=details)
    return PageView("times", slots=free, reader="konsentas.timeslots", details=details)


def _at(url: str | None, path: str) -> bool:
    """Whether ``url`` (when known) asks for ``path``."""
    return url is None or urlsplit(url).path.endswith(path)


def read_page(text: str, url: str | None = None) -> PageView:
    """Which Konsentas API answer ``text`` is (by its ``data`` keys) and what it shows."""
    value = pages.json_document(text)
    if not isinstance(value, dict) or "code" not in value:
        raise pages.unknown(NAME, text, url, "not a Konsentas API object with a 'code'")
    code, data = value.get("code"), value.get("data")
    if isinstance(data, dict) and "ota_jwt" in data and "op_conf" in data:
        return _startup(data, url)
    if code != OK_CODE:
        message = value.get("msg")
        text_of = message.strip() if isinstance(message, str) and message.strip() else ""
        return PageView(
            "error-page",
            error=f"code {code!r}" + (f": {text_of}" if text_of else ""),
            reader="konsentas.error",
        )
    if not isinstance(data, dict):
        raise pages.unknown(NAME, text, url, "code 3 without a data object")
    if "termins" in data and _at(url, SLOTS_PATH):
        if not isinstance(data["termins"], list):
            raise PageError("konsentas timeslots: 'termins' is not a list", url=url)
        return _timeslots(data["termins"], url)
    if "termin" in data and _at(url, FIRST_PATH):
        return _first(data["termin"], url)
    if "op_id" in data and _at(url, NEXT_STEP_PATH):
        return PageView(
            "start",
            reader="konsentas.next-step",
            details={"op_id": str(data["op_id"]), "op_type": data.get("op_type")},
        )
    raise pages.unknown(NAME, text, url, f"data keys {sorted(data)[:6]}")
