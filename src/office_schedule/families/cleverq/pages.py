"""cleverQ: protocol facts (shared with the fake server) and the readers of every answer.

Evidence (docs/protocols/systems-2026.md section 4): a Norderstedt bot of 2025-26 (index
page with ``booking_session_key``, ``sites/info``, ``available_days`` with the subtask as
JSON, ``available_time_slots``, expired session = 403 or ``error: 1012``), the SIRI
Copenhagen watcher (``<meta name="csrf-token">`` sent as ``X-CSRF-TOKEN``, the session
cookie, ``available > 0`` is the only free signal, the wrong-subtask trap) and a 2021 bot's
exact empty answer ``{"duration":3,"duration_minutes":15,"available_days":[]}``. No real
answer of the API is in ../shared; nothing here was checked against the live site.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import pages
from ..common import is_day, is_int
from ..pages import PageError, PageView

NAME = "cleverq"
#: the booking page of a site: it sets the session cookie and carries both tokens
INDEX_PATH = "/public/appointments/{slug}/index.html"
INDEX_QUERY = "lang=de"
API_PREFIX = "/api/external/v4"
SITE_INFO_PATH = API_PREFIX + "/sites/info"
DAYS_PATH = API_PREFIX + "/sites/{site}/appointments/available_days"
TIMES_PATH = API_PREFIX + "/sites/{site}/appointments/available_time_slots"
#: the Rails CSRF meta tag and the header the token goes back in
CSRF_META = "csrf-token"
CSRF_HEADER = "X-CSRF-TOKEN"
SESSION_KEY = "booking_session_key"
#: the only attested session cookie name (scandic.cleverq.de); the scraper keeps any cookie
SESSION_COOKIE = "_scandic_session"
#: ``error`` code of an expired booking session
EXPIRED_CODE = 1012
#: ``initial_duration`` counts units of this many minutes
MINUTES_PER_UNIT = 5
#: the subtask parameter: one JSON object per subtask and person count
SUBTASK_PARAM = "subtask_items[]"

# The API has no "nothing free" text of its own: these name its explicit answers.
NO_OPEN_DAY = "cleverq: API answered no open day (available_days: [])"
ALL_OUTDATED = "cleverq: every slot with available > 0 is outdated"
NO_SERVICE = "cleverq: the site lists no service"

#: ``booking_session_key`` in the page, as JSON or HTML-escaped JSON in an attribute
_KEY_RE = re.compile(
    r"booking_session_key(?:&quot;|\")\s*:\s*(?:&quot;|\")([A-Za-z0-9_\-]+)(?:&quot;|\")"
)
_TIME_RE = re.compile(r"\d{2}:\d{2}", re.ASCII)


class AllZeroDay(PageError):
    """A time-slot list whose every slot answers ``available: 0``.

    On a day ``available_days`` reported open this contradicts the API (the symptom of a
    wrong subtask id); it never means "fully booked".
    """

    def __init__(self, message: str, url: str | None, day: str | None):
        super().__init__(message, url=url)
        self.day = day


def subtask_item(subtask_id: int | str, number: int = 1) -> str:
    """The value of one ``subtask_items[]`` parameter."""
    return json.dumps({"subtask_id": int(subtask_id), "number": number}, separators=(",", ":"))


def _query(url: str | None) -> tuple[str, dict[str, str]]:
    if not url:
        return "", {}
    split = urlsplit(url)
    return split.path, dict(parse_qsl(split.query, keep_blank_values=True))


def _endpoint(url: str | None) -> str | None:
    path, _ = _query(url)
    if path.endswith("/sites/info"):
        return "info"
    if path.endswith("/appointments/available_days"):
        return "days"
    if path.endswith("/appointments/available_time_slots"):
        return "times"
    if path.endswith("/index.html"):
        return "index"
    return None


def _subtask_of(url: str | None) -> str:
    """``subtask N`` as the request named it, for error messages."""
    _, query = _query(url)
    try:
        return f"subtask {json.loads(query.get(SUBTASK_PARAM, ''))['subtask_id']}"
    except (ValueError, TypeError, KeyError):
        return "the requested subtask"


# --------------------------------------------------------------------------- readers


def _index(text: str, url: str | None) -> PageView:
    doc = pages.tree(text)
    meta = doc.css_first(f'meta[name="{CSRF_META}"]')
    csrf = (meta.attributes.get("content") or "").strip() if meta is not None else ""
    key = _KEY_RE.search(text)
    if not csrf or key is None:
        missing = " and ".join(
            n for n, ok in ((f"<meta name={CSRF_META}>", csrf), (SESSION_KEY, key)) if not ok
        )
        raise pages.unknown(NAME, text, url, f"a booking page needs {missing}")
    return PageView(
        "start",
        reader="cleverq.index",
        details={"csrf": csrf, "session_key": key.group(1)},
    )


def _site_info(value: dict[str, Any], url: str | None) -> PageView:
    site_id, services = value.get("id"), value.get("services")
    if not is_int(site_id) or not isinstance(services, list):
        raise PageError("cleverq site info: no integer 'id' or no 'services' list", url=url)
    out = []
    for i, service in enumerate(services):
        where = f"cleverq site info: services[{i}]"
        if not isinstance(service, dict):
            raise PageError(f"{where} is not an object", url=url)
        sid, name, subtasks = service.get("id"), service.get("name"), service.get("subtasks")
        if not is_int(sid) or not isinstance(name, str) or not isinstance(subtasks, list):
            raise PageError(f"{where} lacks an integer 'id', a 'name' or 'subtasks'", url=url)
        items = []
        for j, sub in enumerate(subtasks):
            if not isinstance(sub, dict):
                raise PageError(f"{where}.subtasks[{j}] is not an object", url=url)
            tid, tname, units = sub.get("id"), sub.get("name"), sub.get("initial_duration")
            if not is_int(tid) or not isinstance(tname, str) or not is_int(units) or units < 1:
                raise PageError(
                    f"{where}.subtasks[{j}] lacks an integer 'id', a 'name' or a positive "
                    f"'initial_duration'",
                    url=url,
                )
            items.append({"id": tid, "name": tname, "minutes": units * MINUTES_PER_UNIT})
        out.append({"id": sid, "name": name, "subtasks": items})
    details = {"site_id": site_id, "site_name": value.get("name"), "services": out}
    if not out:
        return PageView("closed", error=NO_SERVICE, reader="cleverq.site-info", details=details)
    return PageView(
        "services",
        choices=[(str(s["id"]), s["name"]) for s in out],
        reader="cleverq.site-info",
        details=details,
    )


def _days(value: dict[str, Any], url: str | None) -> PageView:
    listed = value["available_days"]
    if not isinstance(listed, list):
        raise PageError("cleverq day list: 'available_days' is not a list", url=url)
    days = []
    for i, item in enumerate(listed):
        day = item.get("day") if isinstance(item, dict) else item
        if not is_day(day):
            raise PageError(f"cleverq day list: entry {i} has no usable 'day' ({day!r})", url=url)
        days.append(day)
    if days:
        return PageView("days", days=days, reader="cleverq.days")
    _, query = _query(url)
    span = f" from {query.get('from_day', '?')} to {query.get('to_day', '?')}"
    return PageView("none-free", marker=NO_OPEN_DAY + span, reader="cleverq.days")


def _times(value: dict[str, Any], url: str | None) -> PageView:
    day, listed = value.get("day"), value["available_time_slots"]
    _, query = _query(url)
    if not is_day(day) or not isinstance(listed, list):
        raise PageError("cleverq time slots: no usable 'day' or no slot list", url=url)
    if query.get("day") not in (None, day):
        raise PageError(f"cleverq time slots: the answer is for {day}, not {query['day']}", url=url)
    free, counted = [], 0
    for i, slot in enumerate(listed):
        if not isinstance(slot, dict):
            raise PageError(f"cleverq time slots: entry {i} is not an object", url=url)
        time, available = slot.get("time_of_slot"), slot.get("available")
        outdated = slot.get("outdated")
        if not isinstance(time, str) or not _TIME_RE.fullmatch(time) or not pages.find_time(time):
            raise PageError(f"cleverq time slots: entry {i} has an odd 'time_of_slot'", url=url)
        if not is_int(available) or available < 0 or not isinstance(outdated, bool):
            raise PageError(
                f"cleverq time slots: entry {i} has an odd 'available' or 'outdated'", url=url
            )
        counted += available > 0
        if available > 0 and not outdated:
            free.append(f"{day} {pages.find_time(time)}")
    details = {"day": day, "listed": len(listed)}
    if free:
        return PageView("times", slots=free, reader="cleverq.time-slots", details=details)
    if counted:
        marker = f"{ALL_OUTDATED} ({day})"
        return PageView("none-free", marker=marker, reader="cleverq.time-slots", details=details)
    raise AllZeroDay(
        f"cleverq time slots: every one of the {len(listed)} slots of {day} answers "
        f"available 0 — on an open day this is the wrong-subtask symptom ({_subtask_of(url)}), "
        "never 'fully booked'",
        url,
        day,
    )


def _api_error(value: dict[str, Any]) -> PageView:
    code = value["error"]
    message = value.get("message") or value.get("error_message")
    text = f"error {code}" + (f": {message}" if isinstance(message, str) and message else "")
    return PageView(
        "error-page",
        error=text,
        reader="cleverq.api-error",
        details={"code": code, "expired": code == EXPIRED_CODE or code == str(EXPIRED_CODE)},
    )


def read_page(text: str, url: str | None = None) -> PageView:
    """Which cleverQ answer ``text`` is (booking page, site info, days, slots, error)."""
    wanted = _endpoint(url)
    value = pages.json_document(text)
    if value is None:
        if wanted in (None, "index") and "<" in text:
            return _index(text, url)
        raise pages.unknown(NAME, text, url, "not a JSON answer of the cleverQ API")
    if not isinstance(value, dict):
        raise pages.unknown(NAME, text, url, "the cleverQ API answers JSON objects")
    if "error" in value and not {"available_days", "available_time_slots"} & set(value):
        return _api_error(value)
    if "available_time_slots" in value:
        kind, reader = "times", _times
    elif "available_days" in value:
        kind, reader = "days", _days
    elif "services" in value and "id" in value:
        kind, reader = "info", _site_info
    else:
        raise pages.unknown(NAME, text, url, "no known key of a cleverQ answer")
    if wanted is not None and wanted != kind:
        raise pages.unknown(NAME, text, url, f"a {kind} answer where the URL asks for {wanted}")
    return reader(value, url)
