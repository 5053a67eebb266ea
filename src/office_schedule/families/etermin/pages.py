"""etermin: protocol facts and the readers of every answer (``read_page``)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import pages
from ..pages import Office, PageError, PageView

NAME = "etermin"
DEFAULT_BASE_URL = "https://www.etermin.net"
#: hosts of the same API: an index_url on one of them names the API host
API_HOSTS = ("www.etermin.net", "etermin.net", "www.qtermin.de", "qtermin.de")
#: day-list requests per (group, calendar): today's month plus up to two following months
MAX_MONTH_REQUESTS = 3
TIMEZONE = "W. Europe Standard Time"
SERVICES_QUERY = "cache=1&w={webid}&vlang=de"
CALENDARS_QUERY = "availablecal=1&lang=de&serviceid={sid}&calendarid=undefined"
#: the day list (``capacity`` empty) and the slot list of a day, as the reference wrote them
DAYS_QUERY = (
    "date={day}&serviceid={sid}&rangesearch=1&caching=false&capacity=&duration={duration}"
    "&cluster=false&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture={future}"
    "&appdeadline=0&appdeadlinewm=0&msdcm=0&calendarid={cal}"
)
SLOTS_QUERY = (
    "date={day}&serviceid={sid}&capacity=1&caching=false&duration={duration}&cluster=false"
    "&slottype=0&fillcalendarstrategy=0&showavcap=true&appfuture={future}&appdeadline=0"
    "&msdcm=0&appdeadlinewm=0&tz={tz}&tzaccount={tz}&calendarid={cal}"
)
#: the 2026 slot field ``"<calendarid>|<start>|<end>|<calendarname>|<n>"``
SLOT_KEY = "idandtimeslot"
#: an error object as ASP.NET Web API writes it (a guess: the Windows time zone names hint
#: at .NET; no real error answer was recorded)
ERROR_KEY = "Message"

# The API has no "nothing free" text of its own: these name its explicit empty answers.
NO_SERVICE = "etermin: the account lists no service (closed or unknown webid)"
NO_CALENDAR = "etermin: API listed no calendar for service"
NO_FREE_DAY = "etermin: API answered no free day"
NO_SLOT = "etermin: API answered an empty slot list"

_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T00:00(?::00)?)?", re.ASCII)
_SLOT_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?", re.ASCII)
_KEY_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", re.ASCII)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
#: keys only a day or slot object carries: without ``start`` such an object is broken
_TIMED_KEYS = ("end", "cap", "available", SLOT_KEY)


# --------------------------------------------------------------------------- reading answers


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip() != ""


def _minutes(value: Any) -> float | None:
    """A service duration as a number (None when missing); odd types raise ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        return float(value)
    raise ValueError(f"an unexpected duration {value!r}")


def _is_slot_time(value: Any) -> bool:
    """``YYYY-MM-DDTHH:MM[:SS]`` naming a real date and time."""
    if not isinstance(value, str) or not _SLOT_RE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _endpoint(url: str | None) -> tuple[str | None, dict[str, str]]:
    """The kind of answer a URL asks for (``services``, ``calendars``, ``days``, ``slots``)."""
    if not url:
        return None, {}
    split = urlsplit(url)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    name = split.path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name == "timeslots":
        return ("days" if query.get("rangesearch") == "1" else "slots"), query
    return {"servicegroupservice": "services", "calendar": "calendars"}.get(name), query


def _shape(item: dict[str, Any]) -> str | None:
    """Which list an object belongs to, by the keys the readers use."""
    if "sgid" in item:
        return "services"
    if SLOT_KEY in item:  # 2026 bots read nothing else of a slot
        return "slots"
    if "start" in item:
        if "calendarid" in item or "calendarname" in item:
            return "slots"
        return "days" if "available" in item else None
    if "calendarid" in item and not any(key in item for key in _TIMED_KEYS):
        return "calendars"
    return None


def _services(items: list[dict[str, Any]], url: str | None) -> PageView:
    services, minutes = [], []
    for i, entry in enumerate(items):
        name = entry.get("s")
        if name is None or name == "":
            continue  # a pure group header
        if not isinstance(name, str):
            raise PageError(f"etermin services: entry {i} has a non-text name", url=url)
        for key in ("sgid", "sid"):
            if not _is_id(entry.get(key)):
                raise PageError(
                    f"etermin services: entry {i} ({name!r}) lacks a usable {key!r}", url=url
                )
        group_name = entry.get("sg")
        if group_name is not None and not isinstance(group_name, str):
            raise PageError(f"etermin services: entry {i} has a non-text 'sg'", url=url)
        try:
            minutes.append(_minutes(entry.get("duration")))
        except ValueError as exc:
            raise PageError(f"etermin services: entry {i} ({name!r}) has {exc}", url=url) from None
        services.append(
            {
                "group_id": entry["sgid"],
                "service_id": entry["sid"],
                "name": name,
                "group_name": group_name,
                "duration": entry.get("duration"),
            }
        )
    return PageView(
        "services",
        choices=[(str(s["service_id"]), s["name"]) for s in services],
        reader="etermin.services",
        details={"services": services, "minutes": minutes},
    )


def _calendars(items: list[dict[str, Any]], url: str | None) -> PageView:
    offices: dict[str, Office] = {}
    for i, entry in enumerate(items):
        cal_id, name = entry.get("calendarid"), entry.get("calendarname")
        if not _is_id(cal_id) or not isinstance(name, str):
            raise PageError(
                f"etermin calendar list: entry {i} lacks 'calendarid' or 'calendarname'", url=url
            )
        offices.setdefault(str(cal_id), Office(str(cal_id), name))
    return PageView("offices", offices=list(offices.values()), reader="etermin.calendars")


def _days(items: list[dict[str, Any]], url: str | None) -> PageView:
    listed, free = [], []
    for i, day in enumerate(items):
        start, available = day.get("start"), day.get("available")
        try:
            if not isinstance(start, str) or not _DAY_RE.fullmatch(start):
                raise ValueError
            listed.append(date.fromisoformat(start[:10]).isoformat())
        except ValueError:
            raise PageError(
                f"etermin day list: entry {i} has no usable 'start' ({start!r})", url=url
            ) from None
        # a flag (2021 sketches) or the number of free slots (the API's documentation)
        if not isinstance(available, int) or available < 0:
            raise PageError(
                f"etermin day list: entry {i} has an odd 'available' {available!r}", url=url
            )
        if available:
            free.append(listed[-1])
    details = {"listed": listed}
    if not free:
        marker = f"{NO_FREE_DAY} ({len(listed)} days listed, {min(listed)} to {max(listed)})"
        return PageView("none-free", marker=marker, reader="etermin.day-list", details=details)
    return PageView("days", days=free, reader="etermin.day-list", details=details)


def _key_fields(value: Any, url: str | None, i: int) -> tuple[str, str, str]:
    """``(calendar id, start "YYYY-MM-DD HH:MM", calendar name)`` of an ``idandtimeslot``."""
    parts = value.split("|") if isinstance(value, str) else []
    if len(parts) < 5 or not parts[0].strip() or not _KEY_TIME_RE.fullmatch(parts[1]):
        raise PageError(f"etermin slot list: entry {i} has an odd {SLOT_KEY!r} {value!r}", url=url)
    return parts[0].strip(), parts[1], "|".join(parts[3:-1])


def _slots(items: list[dict[str, Any]], url: str | None) -> PageView:
    found, keyed = [], False
    for i, slot in enumerate(items):
        start, cal_id, cal_name = (
            slot.get("start"),
            slot.get("calendarid"),
            slot.get("calendarname"),
        )
        if SLOT_KEY in slot:
            key_id, key_start, key_name = _key_fields(slot[SLOT_KEY], url, i)
            if start is None:
                start = key_start.replace(" ", "T") + ":00"
            if str(start)[:16].replace("T", " ") != key_start or (
                cal_id is not None and str(cal_id) != key_id
            ):
                raise PageError(f"etermin slot list: entry {i} contradicts its {SLOT_KEY}", url=url)
            keyed = keyed or cal_id is None or cal_name is None
            cal_id = key_id if cal_id is None else cal_id
            cal_name = key_name if cal_name is None else cal_name
        if not _is_slot_time(start):
            raise PageError(
                f"etermin slot list: entry {i} has no usable 'start' ({start!r})", url=url
            )
        if not _is_id(cal_id) or not isinstance(cal_name, str):
            raise PageError(
                f"etermin slot list: entry {i} lacks 'calendarid' or 'calendarname'", url=url
            )
        found.append((str(cal_id), cal_name, start))
    return PageView(
        "times",
        slots=[start[:16].replace("T", " ") for _, _, start in found],
        reader="etermin.slot-key" if keyed else "etermin.slot-list",
        details={"slots": found},
    )


def _empty(kind: str | None, query: dict[str, str], text: str, url: str | None) -> PageView:
    """An empty array: what it states depends on the request it answers."""
    if kind == "services":
        return PageView("closed", error=NO_SERVICE, reader="etermin.services")
    if kind == "calendars":
        marker = f"{NO_CALENDAR} {query.get('serviceid', '?')}"
        return PageView("none-free", marker=marker, reader="etermin.calendars")
    if kind == "days":
        marker = f"{NO_FREE_DAY} (empty day list from {query.get('date', '?')})"
        return PageView(
            "none-free", marker=marker, reader="etermin.day-list", details={"listed": []}
        )
    if kind == "slots":
        marker = f"{NO_SLOT} for {query.get('date', '?')}"
        return PageView(
            "none-free", marker=marker, reader="etermin.slot-list", details={"slots": []}
        )
    raise pages.unknown(NAME, text, url, "an empty array; the request URL tells what it answers")


def read_page(text: str, url: str | None = None) -> PageView:
    """Which answer of the eTermin API ``text`` is (by its shape and URL) and what it shows."""
    value = pages.json_document(text)
    if isinstance(value, dict):
        message = value.get(ERROR_KEY)
        if isinstance(message, str) and message.strip():
            return PageView("error-page", error=message.strip(), reader="etermin.api-error")
    if not isinstance(value, list):
        raise pages.unknown(NAME, text, url, "not a JSON array of the eTermin API")
    wanted, query = _endpoint(url)
    shapes = {_shape(item) if isinstance(item, dict) else None for item in value}
    if None in shapes or len(shapes) > 1:
        raise pages.unknown(NAME, text, url, "array entries of no (or mixed) known shape")
    kind = shapes.pop() if shapes else wanted
    if wanted is not None and kind != wanted:
        raise pages.unknown(NAME, text, url, f"{kind} where the URL asks for {wanted}")
    if not value:
        return _empty(kind, query, text, url)
    reader = {"services": _services, "calendars": _calendars, "days": _days, "slots": _slots}
    return reader[kind](value, url)
