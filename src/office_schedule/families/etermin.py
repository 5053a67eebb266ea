"""eTermin (www.etermin.net): a JSON API walked service group by service group.

Request sequence of one snapshot (see docs/protocols/etermin-tempus.md, section 1):

1. ``/api/servicegroupservice`` lists the services; per service group the service with
   the smallest positive duration is chosen (ties: the first one in response order);
2. ``/api/calendar`` once per chosen group lists that group's calendars (counters);
3. ``/api/timeslots`` with ``rangesearch=1`` walks up to three months of day objects per
   (group, calendar), starting today and then at the first of each following month,
   until a reported day reaches today + 7 x weeks;
4. ``/api/timeslots`` without ``rangesearch`` lists the slots of every available day.

Slots are filed under their own ``calendarid``. The raw payload is
``{"services": [...], "calendars": [...]}`` as documented in section 1.4.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import parse_slot, response_json, sorted_slots

NAME = "etermin"
DEFAULT_BASE_URL = "https://www.etermin.net"
#: day-list requests per (group, calendar): today's month plus up to two following months
MAX_MONTH_REQUESTS = 3
TIMEZONE = "W. Europe Standard Time"

_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SLOT_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?", re.ASCII)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


# --------------------------------------------------------------------------- scraping


def _url(base: str, endpoint: str, query: Sequence[tuple[str, str]]) -> str:
    """``{base}/api/{endpoint}?k=v&...`` in the given order, spaces as ``%20``."""
    parts = "&".join(f"{key}={quote(value, safe='-_.~,:')}" for key, value in query)
    return f"{base}/api/{endpoint}?{parts}"


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip() != ""


def _minutes(value: Any, url: str, where: str) -> float | None:
    """A service duration as a number (None when missing); odd types are a ScrapeError."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        return float(value)
    raise ScrapeError(f"etermin services: {where} has an unexpected duration {value!r}", url=url)


def _is_slot_time(value: Any) -> bool:
    """``YYYY-MM-DDTHH:MM[:SS]`` naming a real date and time."""
    if not isinstance(value, str) or not _SLOT_RE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _duration_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Walk:
    """The state of one snapshot: the session, headers, horizon and collected slots."""

    def __init__(self, source: Any, session: Any, weeks: int, now: datetime):
        self.session = session
        self.slug = str(source.params.get("et_url", "")).strip()
        if not self.slug:
            raise ScrapeError(f"etermin: source {source.id!r} has no et_url")
        self.webid = self.slug.lower()
        self.base = str(source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.headers = {
            "Accept": "application/json, text/plain",
            "Referer": f"{self.base}/{self.slug}",
            "webid": self.webid,
        }
        self.horizon_days = 7 * weeks
        self.today = now.date()
        #: calendar id -> {"id", "name", "dates": set}
        self.calendars: dict[str, dict[str, Any]] = {}

    async def get_list(self, url: str, what: str) -> tuple[list[dict[str, Any]], str]:
        """GET a JSON array of objects; anything else is a ScrapeError naming the URL."""
        response = await self.session.get(url, headers=self.headers)
        final = str(response.url)
        data = response_json(response, f"etermin {what}")
        if not isinstance(data, list):
            raise ScrapeError(
                f"etermin {what}: expected a JSON array, got {type(data).__name__}", url=final
            )
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ScrapeError(
                    f"etermin {what}: entry {i} is {type(item).__name__}, not an object",
                    url=final,
                )
        return data, final

    # step 1
    async def services(self) -> list[dict[str, Any]]:
        url = _url(
            self.base, "servicegroupservice", [("cache", "1"), ("w", self.webid), ("vlang", "de")]
        )
        entries, final = await self.get_list(url, "services")
        if not entries:
            raise ScrapeError(
                f"etermin: empty service list for {self.webid} (account closed or unknown)",
                url=final,
            )
        services = []
        for i, entry in enumerate(entries):
            name = entry.get("s")
            if name is None or name == "":
                continue  # a pure group header
            if not isinstance(name, str):
                raise ScrapeError(f"etermin services: entry {i} has a non-text name", url=final)
            for key in ("sgid", "sid"):
                if not _is_id(entry.get(key)):
                    raise ScrapeError(
                        f"etermin services: entry {i} ({name!r}) lacks a usable {key!r}", url=final
                    )
            group_name = entry.get("sg")
            if group_name is not None and not isinstance(group_name, str):
                raise ScrapeError(f"etermin services: entry {i} has a non-text 'sg'", url=final)
            duration = entry.get("duration")
            minutes = _minutes(duration, final, f"entry {i} ({name!r})")
            services.append(
                {
                    "group_id": entry["sgid"],
                    "service_id": entry["sid"],
                    "name": name,
                    "group_name": group_name,
                    "duration": duration,
                    "_minutes": minutes,  # removed again once the groups are chosen
                }
            )
        return services

    # step 2
    async def calendar_ids(self, service_id: Any) -> list[str]:
        url = _url(
            self.base,
            "calendar",
            [
                ("availablecal", "1"),
                ("lang", "de"),
                ("serviceid", str(service_id)),
                ("calendarid", "undefined"),
            ],
        )
        entries, final = await self.get_list(url, "calendar list")
        ids: list[str] = []
        for i, entry in enumerate(entries):
            cal_id = entry.get("calendarid")
            if not _is_id(cal_id) or not isinstance(entry.get("calendarname"), str):
                raise ScrapeError(
                    f"etermin calendar list: entry {i} lacks 'calendarid' or 'calendarname'",
                    url=final,
                )
            if str(cal_id) not in ids:
                ids.append(str(cal_id))
        return ids

    # step 3
    async def walk(self, service: dict[str, Any], cal_id: str) -> None:
        query_date = self.today
        max_date = self.today
        for _ in range(MAX_MONTH_REQUESTS):
            url = _url(
                self.base,
                "timeslots",
                [
                    ("date", query_date.isoformat()),
                    ("serviceid", str(service["service_id"])),
                    ("rangesearch", "1"),
                    ("caching", "false"),
                    ("capacity", ""),
                    ("duration", _duration_text(service["duration"])),
                    ("cluster", "false"),
                    ("slottype", "0"),
                    ("fillcalendarstrategy", "0"),
                    ("showavcap", "true"),
                    ("appfuture", str(self.horizon_days)),
                    ("appdeadline", "0"),
                    ("appdeadlinewm", "0"),
                    ("msdcm", "0"),
                    ("calendarid", cal_id),
                ],
            )
            days, final = await self.get_list(url, "day list")
            for i, day in enumerate(days):
                start = day.get("start")
                if not isinstance(start, str) or not _DAY_RE.fullmatch(start[:10]):
                    raise ScrapeError(
                        f"etermin day list: entry {i} has no usable 'start' ({start!r})", url=final
                    )
                try:
                    day_date = date.fromisoformat(start[:10])
                except ValueError:
                    raise ScrapeError(
                        f"etermin day list: entry {i} has an impossible date {start!r}", url=final
                    ) from None
                max_date = max(max_date, day_date)
                if day.get("available"):
                    await self.slots(service, cal_id, day_date)
            if (max_date - self.today).days >= self.horizon_days:
                break
            query_date = (query_date.replace(day=1) + timedelta(days=32)).replace(day=1)

    # step 4
    async def slots(self, service: dict[str, Any], cal_id: str, day: date) -> None:
        url = _url(
            self.base,
            "timeslots",
            [
                ("date", day.isoformat()),
                ("serviceid", str(service["service_id"])),
                ("capacity", "1"),
                ("caching", "false"),
                ("duration", _duration_text(service["duration"])),
                ("cluster", "false"),
                ("slottype", "0"),
                ("fillcalendarstrategy", "0"),
                ("showavcap", "true"),
                ("appfuture", str(self.horizon_days)),
                ("appdeadline", "0"),
                ("msdcm", "0"),
                ("appdeadlinewm", "0"),
                ("tz", TIMEZONE),
                ("tzaccount", TIMEZONE),
                ("calendarid", cal_id),
            ],
        )
        slots, final = await self.get_list(url, "slot list")
        for i, slot in enumerate(slots):
            start = slot.get("start")
            slot_cal = slot.get("calendarid")
            cal_name = slot.get("calendarname")
            if not _is_slot_time(start):
                raise ScrapeError(
                    f"etermin slot list: entry {i} has no usable 'start' ({start!r})", url=final
                )
            if not _is_id(slot_cal) or not isinstance(cal_name, str):
                raise ScrapeError(
                    f"etermin slot list: entry {i} lacks 'calendarid' or 'calendarname'", url=final
                )
            entry = self.calendars.setdefault(
                str(slot_cal), {"id": str(slot_cal), "name": cal_name, "dates": set()}
            )
            entry["dates"].add(start)


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of an eTermin account; returns the raw payload of section 1.4."""
    walk = _Walk(source, session, weeks, now)
    services = await walk.services()

    # smallest positive duration per group; ties keep the first (strict "less than")
    best: dict[Any, tuple[float, dict[str, Any]]] = {}
    for service in services:
        minutes = service.pop("_minutes")
        if minutes is None or minutes <= 0:
            continue
        group_id = service["group_id"]
        if group_id not in best or minutes < best[group_id][0]:
            best[group_id] = (minutes, service)
    chosen = {group_id: service for group_id, (_, service) in best.items()}

    calendar_ids: dict[int, set[str]] = {}
    for group_id, service in chosen.items():
        ids = await walk.calendar_ids(service["service_id"])
        for i, other in enumerate(services):
            if other["group_id"] == group_id and ids:
                calendar_ids.setdefault(i, set()).update(ids)
        for cal_id in ids:
            await walk.walk(service, cal_id)

    for i, service in enumerate(services):
        if i in calendar_ids:
            service["calendar_ids"] = sorted(calendar_ids[i])
    calendars = [
        {"id": c["id"], "name": c["name"], "dates": sorted(c["dates"])}
        for c in walk.calendars.values()
    ]
    return {"services": services, "calendars": calendars}


# --------------------------------------------------------------------------- parsing


def _fail(where: str, problem: str) -> ParseError:
    return ParseError(f"etermin payload {where}: {problem}")


def _service_names(services: Any) -> dict[str, set[str]]:
    """calendar id -> names of the services referencing it."""
    if not isinstance(services, list):
        raise _fail("services", f"expected a list, got {type(services).__name__}")
    names: dict[str, set[str]] = {}
    for i, service in enumerate(services):
        where = f"services[{i}]"
        if not isinstance(service, dict):
            raise _fail(where, f"expected an object, got {type(service).__name__}")
        name = service.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(where, f"'name' must be non-empty text, got {name!r}")
        ids = service.get("calendar_ids")
        if ids is None:
            continue
        if not isinstance(ids, list):
            raise _fail(where, f"'calendar_ids' must be a list, got {type(ids).__name__}")
        for j, cal_id in enumerate(ids):
            if not isinstance(cal_id, str) or not cal_id:
                raise _fail(f"{where}.calendar_ids[{j}]", f"expected an id text, got {cal_id!r}")
            names.setdefault(cal_id, set()).add(name)
    return names


def _calendar(index: int, cal: Any) -> tuple[str, str | None, tuple[datetime, ...]]:
    where = f"calendars[{index}]"
    if not isinstance(cal, dict):
        raise _fail(where, f"expected an object, got {type(cal).__name__}")
    cal_id = cal.get("id")
    if not isinstance(cal_id, str) or not cal_id:
        raise _fail(where, f"'id' must be non-empty text, got {cal_id!r}")
    name = cal.get("name")
    if name is not None and not isinstance(name, str):
        raise _fail(where, f"'name' must be text, got {type(name).__name__}")
    dates = cal.get("dates")
    if not isinstance(dates, list):
        raise _fail(where, f"'dates' must be a list, got {type(dates).__name__}")
    slots = []
    for j, text in enumerate(dates):
        spot = f"etermin payload {where}.dates[{j}]"
        if not isinstance(text, str) or not _SLOT_RE.fullmatch(text):
            raise ParseError(f"{spot}: {text!r} is not a YYYY-MM-DDTHH:MM:SS time")
        slots.append(parse_slot(text, spot))
    return cal_id, name, sorted_slots(slots)


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = calendars that had slots; services = names of the services using them."""
    if not isinstance(raw, dict):
        raise _fail("(top level)", f"expected an object, got {type(raw).__name__}")
    names = _service_names(raw.get("services"))
    calendars = raw.get("calendars")
    if not isinstance(calendars, list):
        raise _fail("calendars", f"expected a list, got {type(calendars).__name__}")
    entries = [_calendar(i, cal) for i, cal in enumerate(calendars)]
    seen: set[str] = set()
    for i, (cal_id, _, _) in enumerate(entries):
        if cal_id in seen:
            raise _fail(f"calendars[{i}]", f"calendar id {cal_id!r} appears twice")
        seen.add(cal_id)
    name_counts: dict[str, int] = {}
    for _, name, _ in entries:
        if name is not None:
            name_counts[name] = name_counts.get(name, 0) + 1
    snapshot = ParsedSnapshot()
    for cal_id, name, slots in entries:
        if name is not None and name_counts[name] > 1:
            name = f"{name} ({cal_id})"  # two counters of the same name stay apart
        snapshot.locations[cal_id] = Location(
            id=cal_id,
            name=name,
            services=tuple(sorted(names.get(cal_id, ()))),
            slots=slots,
        )
    return snapshot
