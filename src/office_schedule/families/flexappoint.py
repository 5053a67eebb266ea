"""flexappoint: a JSON API behind a single-page booking app (``{tenant}.flexappoint.de``).

Request sequence of one snapshot, per (department, service) of the catalog's
``departments`` (``departmentId:serviceId`` pairs, comma-separated), as
docs/protocols/systems-2026.md section 15 and tieo/visitorstracker (Stadt Ehingen) read it:

1. ``/api/available-times/disabled-days?departmentId=&year=&month=&format=Y-m-d&
   services[0][id]=&services[0][count]=1`` per month from today's to the horizon's: the
   days of that month *without* a free time;
2. ``/api/available-times?departmentId=&date=&service[0][id]=&service[0][count]=1`` per
   other day from today to today + 7 x weeks: ``{start_time, end_time, count}`` per free
   start, ``count`` the appointments still bookable in parallel.

Every request carries ``X-Requested-With: XMLHttpRequest``; answers are ``{"status": true,
"items": [...]}`` or ``{"status": false, "message": ...}``. Local times. Every answer is read
by :func:`read_page`; the items of an answer do not say which request they answer, so an
empty list (and a time list's date) is read from the request URL.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import is_day, is_int, parse_slot
from .family import Family
from .pages import PageError, PageView
from .payload import SLOT, Payload

NAME = "flexappoint"
DISABLED_PATH = "/api/available-times/disabled-days"
TIMES_PATH = "/api/available-times"
AJAX_HEADERS = {"X-Requested-With": "XMLHttpRequest"}
#: the date format the app asks ``disabled-days`` for (PHP ``date()`` notation)
DAY_FORMAT = "Y-m-d"

# The API has no "nothing free" text of its own: these name its explicit answers.
ALL_DISABLED = "flexappoint: API lists every day of the month as disabled (no free time)"
NO_TIME = "flexappoint: API answered an empty time list"

_TIME_RE = re.compile(r"\d{2}:\d{2}", re.ASCII)
PAYLOAD = Payload(NAME)
_PAIR_RE = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*", re.ASCII)


def disabled_query(department: str, service: str, year: int, month: int) -> list[tuple[str, str]]:
    return [
        ("departmentId", department),
        ("year", str(year)),
        ("month", str(month)),
        ("format", DAY_FORMAT),
        ("services[0][id]", service),
        ("services[0][count]", "1"),
    ]


def times_query(department: str, service: str, day: str) -> list[tuple[str, str]]:
    return [
        ("departmentId", department),
        ("date", day),
        ("service[0][id]", service),
        ("service[0][count]", "1"),
    ]


# --------------------------------------------------------------------------- readers


def _request(url: str | None) -> tuple[str | None, dict[str, str]]:
    if not url:
        return None, {}
    split = urlsplit(url)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    if split.path.endswith(DISABLED_PATH):
        return "disabled", query
    if split.path.endswith(TIMES_PATH):
        return "times", query
    return None, query


def _month(query: dict[str, str], items: list[str], url: str | None) -> tuple[int, int]:
    """The month a ``disabled-days`` answer covers: the URL's, else its days' one."""
    year, month = query.get("year", ""), query.get("month", "")
    if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
        return int(year), int(month)
    months = {day[:7] for day in items}
    if len(months) == 1:
        y, m = months.pop().split("-")
        return int(y), int(m)
    raise PageError("flexappoint disabled days: the answer does not tell its month", url=url)


def _disabled(items: list[str], query: dict[str, str], url: str | None) -> PageView:
    year, month = _month(query, items, url)
    for i, day in enumerate(items):
        if not is_day(day) or (int(day[:4]), int(day[5:7])) != (year, month):
            raise PageError(
                f"flexappoint disabled days: item {i} ({day!r}) is no day of {year}-{month:02d}",
                url=url,
            )
    last = calendar.monthrange(year, month)[1]
    every = [date(year, month, d).isoformat() for d in range(1, last + 1)]
    others = [d for d in every if d not in set(items)]
    details = {"disabled": sorted(set(items)), "month": f"{year}-{month:02d}"}
    if not others:
        marker = f"{ALL_DISABLED} ({year}-{month:02d})"
        return PageView(
            "none-free", marker=marker, reader="flexappoint.disabled-days", details=details
        )
    return PageView("days", days=others, reader="flexappoint.disabled-days", details=details)


def _times(items: list[Any], query: dict[str, str], url: str | None) -> PageView:
    day = query.get("date")
    if not is_day(day):
        raise PageError(
            "flexappoint times: the answer names no date; read it with its request URL", url=url
        )
    times, free = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PageError(f"flexappoint times: item {i} is not an object", url=url)
        start, end, count = item.get("start_time"), item.get("end_time"), item.get("count")
        for key, value in (("start_time", start), ("end_time", end)):
            if (
                not isinstance(value, str)
                or not _TIME_RE.fullmatch(value)
                or not pages.find_time(value)
            ):
                raise PageError(f"flexappoint times: item {i} has an odd {key!r}", url=url)
        if not is_int(count) or count < 0:
            raise PageError(f"flexappoint times: item {i} has an odd 'count' {count!r}", url=url)
        times.append({"start": f"{day} {start}", "end": end, "count": count})
        if count:
            free.append(f"{day} {start}")
    details = {"times": [t for t in times if t["count"]], "date": day}
    if free:
        return PageView("times", slots=free, reader="flexappoint.times", details=details)
    if times:
        raise PageError(
            f"flexappoint times: every one of the {len(times)} times of {day} has count 0 on a "
            "day the API did not disable",
            url=url,
        )
    marker = f"{NO_TIME} for {day}"
    return PageView("none-free", marker=marker, reader="flexappoint.times", details=details)


def read_page(text: str, url: str | None = None) -> PageView:
    """Which flexappoint answer ``text`` is (disabled days, times, error) and what it shows."""
    value = pages.json_document(text)
    if not isinstance(value, dict) or not isinstance(value.get("status"), bool):
        raise pages.unknown(NAME, text, url, "not a flexappoint API answer ({status, items})")
    if value["status"] is False:
        message = value.get("message")
        error = message.strip() if isinstance(message, str) and message.strip() else "status false"
        return PageView("error-page", error=error, reader="flexappoint.api-error")
    items = value.get("items")
    if not isinstance(items, list):
        raise pages.unknown(NAME, text, url, "a status true answer without an 'items' list")
    wanted, query = _request(url)
    if items and all(isinstance(i, str) for i in items):
        kind = "disabled"
    elif items and all(isinstance(i, dict) for i in items):
        kind = "times"
    elif items:
        raise pages.unknown(NAME, text, url, "items of mixed or unknown shape")
    elif wanted is None:
        raise pages.unknown(NAME, text, url, "an empty item list; its request URL tells what")
    else:
        kind = wanted
    if wanted is not None and kind != wanted:
        raise pages.unknown(NAME, text, url, f"{kind} items where the URL asks for {wanted}")
    return (_disabled if kind == "disabled" else _times)(items, query, url)


# --------------------------------------------------------------------------- scraping


def departments(source: Any) -> list[tuple[str, str]]:
    """The catalog's ``departments`` as ``(departmentId, serviceId)`` pairs."""
    text = str(source.params.get("departments", ""))
    pairs = []
    for part in text.split(","):
        match = _PAIR_RE.fullmatch(part)
        if not match:
            raise ScrapeError(
                f"flexappoint: source {source.id!r}: departments {text!r} is not "
                "departmentId:serviceId[,departmentId:serviceId...]"
            )
        pairs.append((match.group(1), match.group(2)))
    return pairs


def api_root(index_url: str) -> str:
    """``https://ehingen.flexappoint.de/#/`` -> ``https://ehingen.flexappoint.de``."""
    split = urlsplit(index_url or "")
    if not split.scheme or not split.netloc:
        raise ScrapeError(f"flexappoint: index_url {index_url!r} is not a tenant URL")
    return f"{split.scheme}://{split.netloc}{split.path.rstrip('/')}"


async def _view(session: Any, url: str, params: list[tuple[str, str]]) -> PageView:
    response = await session.get(url, params=params, headers=AJAX_HEADERS)
    where = str(response.url)
    view = read_page(response.text, where)
    if view.page == "error-page":
        raise PageError(f"flexappoint: the API says {view.error!r}", url=where)
    view.details["url"] = where
    return view


def _months(first: date, last: date) -> list[tuple[int, int]]:
    out, (year, month) = [], (first.year, first.month)
    while (year, month) <= (last.year, last.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


async def _department(
    session: Any, root: str, dep: str, svc: str, first: date, last: date
) -> dict[str, Any]:
    disabled: set[str] = set()
    url = None
    for year, month in _months(first, last):
        view = await _view(session, root + DISABLED_PATH, disabled_query(dep, svc, year, month))
        disabled.update(view.details["disabled"])
        url = view.details["url"]
    slots, empty_days = [], []
    day = first
    while day <= last:
        if day.isoformat() not in disabled:
            view = await _view(session, root + TIMES_PATH, times_query(dep, svc, day.isoformat()))
            url = view.details["url"]
            if view.page == "none-free":
                empty_days.append(day.isoformat())
            slots.extend(view.details["times"])
        day += timedelta(days=1)
    entry: dict[str, Any] = {"id": dep, "service": svc, "slots": slots, "url": url}
    if not slots:
        span = (last - first).days + 1
        entry["none_free"] = (
            f"flexappoint: no free time from {first} to {last}: "
            f"{span - len(empty_days)} days disabled, {len(empty_days)} with an empty time list"
        )
    return entry


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot; returns ``{"departments": [{id, service, slots, url}, ...]}``."""
    root = api_root(source.index_url)
    first = now.date()
    last = first + timedelta(days=7 * weeks)
    out = [
        await _department(session, root, dep, svc, first, last) for dep, svc in departments(source)
    ]
    return {"departments": out}


# --------------------------------------------------------------------------- parsing


def _count(value: Any) -> bool:
    return is_int(value) and value >= 1


def _department_location(where: str, entry: dict[str, Any]) -> Location:
    parsed = []
    for j, slot in enumerate(PAYLOAD.items(entry, "slots", where)):
        start = slot.get("start") if isinstance(slot, dict) else None
        count = slot.get("count") if isinstance(slot, dict) else None
        if not isinstance(start, str) or not SLOT.fullmatch(start) or not _count(count):
            raise PAYLOAD.fail(f"{where}.slots[{j}]", f"{slot!r} is not a free start with a count")
        parsed.append(parse_slot(start, f"flexappoint payload {where}.slots[{j}]"))
    return PAYLOAD.location(entry, where, parsed)


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = the departments read, by ``departmentId``."""
    return PAYLOAD.snapshot(raw, "departments", _department_location, what="department")


FAMILY = Family(
    name=NAME,
    summary="JSON API: disabled days per month -> free times (with count) per other day",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("departments",),
    # sequential, 1 request/s per host (visitorstracker pauses between its requests)
    politeness={"per_host_concurrency": 1, "min_gap": 1.0},
    fingerprints=(r"flexappoint\.de",),
    propose=propose.flexappoint,
    server="office_schedule.simulate.flexappoint_server",
)
