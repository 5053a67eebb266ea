"""eTermin (www.etermin.net, also its white label www.qtermin.de): a JSON API.

Request sequence of one snapshot (docs/protocols/etermin-tempus.md, section 1):

1. ``/api/servicegroupservice`` lists the services; per service group the service with
   the smallest positive duration is chosen (ties: the first one in response order);
2. ``/api/calendar`` once per chosen group lists that group's calendars (counters);
3. ``/api/timeslots`` with ``rangesearch=1`` walks up to three months of day objects per
   (group, calendar), starting today and then at the first of each following month,
   until a reported day reaches today + 7 x weeks;
4. ``/api/timeslots`` without ``rangesearch`` lists the slots of every available day.

Every answer is read by :func:`read_page`, which ``office-schedule read-page etermin``
also uses. Slots are filed under their own calendar id (``calendarid``, or the first field
of the 2026 ``idandtimeslot``). The raw payload is ``{"services": [...], "calendars":
[...]}`` (section 1.4); a walked calendar without a slot is stored too, with the API's
explicit empty answers named in ``none_free`` and the answer's ``url``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from ...errors import ParseError, ScrapeError
from ...fetch.daily import reuse_kw
from ...model import Location, ParsedSnapshot
from .. import propose
from ..common import parse_slot, sorted_slots
from ..family import Family
from ..pages import PageError, PageView
from .pages import (
    _SLOT_RE,
    API_HOSTS,
    CALENDARS_QUERY,
    DAYS_QUERY,
    DEFAULT_BASE_URL,
    ERROR_KEY,
    MAX_MONTH_REQUESTS,
    NAME,
    NO_CALENDAR,
    NO_FREE_DAY,
    NO_SERVICE,
    NO_SLOT,
    SERVICES_QUERY,
    SLOT_KEY,
    SLOTS_QUERY,
    TIMEZONE,
    read_page,
)

# --------------------------------------------------------------------------- scraping


def _url(base: str, endpoint: str, template: str, **values: str) -> str:
    """``{base}/api/{endpoint}?...``: the query written literally, values quoted (``%20``)."""
    quoted = {key: quote(value, safe="-_.~,:") for key, value in values.items()}
    return f"{base}/api/{endpoint}?" + template.format(**quoted)


def _duration_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _base_url(source: Any) -> str:
    """The API host: ``base_url``, else the host of an eTermin/qtermin ``index_url``."""
    base = str(source.params.get("base_url") or "").strip()
    if base:
        return base.rstrip("/")
    split = urlsplit(str(getattr(source, "index_url", "") or ""))
    if split.hostname in API_HOSTS:
        return f"{split.scheme}://{split.netloc}"
    return DEFAULT_BASE_URL


@dataclass
class _Seen:
    """What the API said about one queried calendar (for its "nothing free" statement)."""

    name: str
    listed: list[str] = field(default_factory=list)
    free: list[str] = field(default_factory=list)
    empty_slots: list[str] = field(default_factory=list)
    other_slots: bool = False
    url: str | None = None

    def marker(self) -> str | None:
        if self.other_slots:  # its days listed slots of other calendars only
            return None
        if self.free:
            return f"{NO_SLOT} for every available day ({', '.join(sorted(set(self.free)))})"
        if self.listed:
            return f"{NO_FREE_DAY} ({len(set(self.listed))} days listed, none available)"
        return f"{NO_FREE_DAY} (empty day lists)"


class _Walk:
    """The state of one snapshot: the session, headers, horizon and collected slots."""

    def __init__(self, source: Any, session: Any, weeks: int, now: datetime):
        self.session = session
        self.slug = str(source.params.get("et_url", "")).strip()
        if not self.slug:
            raise ScrapeError(f"etermin: source {source.id!r} has no et_url")
        self.webid = self.slug.lower()
        self.base = _base_url(source)
        # only these besides the client's own: the reference's fixed browser headers
        # (Host, TE, Content-Type on GET, ...) are the suspects of its 2026 failure
        self.headers = {"Referer": f"{self.base}/{self.webid}", "webid": self.webid}
        self.horizon_days = 7 * weeks
        self.today = now.date()
        #: calendar id -> {"id", "name", "dates": set}
        self.calendars: dict[str, dict[str, Any]] = {}
        #: queried calendar id -> what its answers said
        self.seen: dict[str, _Seen] = {}

    async def view(
        self, url: str, kinds: tuple[str, ...], reuse: bool = False
    ) -> tuple[PageView, str]:
        response = await self.session.get(
            url, headers=self.headers, **reuse_kw(self.session, reuse)
        )
        where = str(response.url)
        view = read_page(response.text, where)
        if view.page == "error-page":
            raise PageError(f"etermin: the API says {view.error!r}", url=where)
        if view.page not in kinds:
            raise PageError(
                f"etermin: expected {' or '.join(kinds)}, got {view.page} ({view.reader})",
                url=where,
            )
        return view, where

    def common(self, service: dict[str, Any], cal_id: str) -> dict[str, str]:
        return {
            "sid": str(service["service_id"]),
            "duration": _duration_text(service["duration"]),
            "future": str(self.horizon_days),
            "cal": cal_id,
        }

    # step 1
    async def services(self) -> tuple[list[dict[str, Any]], list[float | None]]:
        url = _url(self.base, "servicegroupservice", SERVICES_QUERY, webid=self.webid)
        view, where = await self.view(url, ("services", "closed"), reuse=True)
        if view.page == "closed":
            raise ScrapeError(
                f"etermin: empty service list for {self.webid} (account closed or unknown)",
                url=where,
            )
        return view.details["services"], view.details["minutes"]

    # step 2
    async def calendar_ids(self, service_id: Any) -> list[str]:
        url = _url(self.base, "calendar", CALENDARS_QUERY, sid=str(service_id))
        view, _ = await self.view(url, ("offices", "none-free"), reuse=True)
        for office in view.offices:
            self.seen.setdefault(office.id, _Seen(office.name or office.id))
        return [office.id for office in view.offices]

    # step 3
    async def walk(self, service: dict[str, Any], cal_id: str) -> None:
        query_date = self.today
        max_date = self.today
        seen = self.seen[cal_id]
        common = self.common(service, cal_id)
        for _ in range(MAX_MONTH_REQUESTS):
            url = _url(self.base, "timeslots", DAYS_QUERY, day=query_date.isoformat(), **common)
            view, seen.url = await self.view(url, ("days", "none-free"))
            for day in view.details["listed"]:
                seen.listed.append(day)
                day_date = date.fromisoformat(day)
                max_date = max(max_date, day_date)
                if day in view.days:
                    seen.free.append(day)
                    await self.slots(service, cal_id, day_date)
            if (max_date - self.today).days >= self.horizon_days:
                break
            query_date = (query_date.replace(day=1) + timedelta(days=32)).replace(day=1)

    # step 4
    async def slots(self, service: dict[str, Any], cal_id: str, day: date) -> None:
        common = self.common(service, cal_id)
        url = _url(self.base, "timeslots", SLOTS_QUERY, day=day.isoformat(), tz=TIMEZONE, **common)
        view, where = await self.view(url, ("times", "none-free"))
        seen = self.seen[cal_id]
        if view.page == "none-free":
            seen.empty_slots.append(day.isoformat())
            seen.url = where
        for slot_cal, cal_name, start in view.details["slots"]:
            if slot_cal != cal_id:
                seen.other_slots = True
            entry = self.calendars.setdefault(
                slot_cal, {"id": slot_cal, "name": cal_name, "dates": set()}
            )
            entry["dates"].add(start)
            entry.setdefault("url", where)

    def payload_calendars(self) -> list[dict[str, Any]]:
        """Calendars with slots, then the walked ones without, each naming the API's answer."""
        out = [
            {"id": c["id"], "name": c["name"], "dates": sorted(c["dates"]), "url": c["url"]}
            for c in self.calendars.values()
        ]
        for cal_id, seen in self.seen.items():
            marker = seen.marker()
            if cal_id not in self.calendars and seen.url is not None and marker is not None:
                out.append(
                    {
                        "id": cal_id,
                        "name": seen.name,
                        "dates": [],
                        "url": seen.url,
                        "none_free": marker,
                    }
                )
        return out


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of an eTermin account; returns the raw payload of section 1.4."""
    walk = _Walk(source, session, weeks, now)
    services, minutes = await walk.services()

    # smallest positive duration per group; ties keep the first (strict "less than")
    best: dict[Any, tuple[float, dict[str, Any]]] = {}
    for service, length in zip(services, minutes, strict=True):
        if length is None or length <= 0:
            continue
        group_id = service["group_id"]
        if group_id not in best or length < best[group_id][0]:
            best[group_id] = (length, service)
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
    raw: dict[str, Any] = {"services": services, "calendars": walk.payload_calendars()}
    if chosen and not walk.seen:
        ids = ", ".join(str(s["service_id"]) for s in chosen.values())
        raw["none_free"] = f"{NO_CALENDAR} {ids} (every chosen service)"
    return raw


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


def _text_or_none(cal: dict[str, Any], key: str, where: str) -> str | None:
    value = cal.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise _fail(where, f"{key!r} must be non-empty text, got {value!r}")
    return value


def _calendar(index: int, cal: Any) -> tuple[str, str | None, tuple[datetime, ...], Any, Any]:
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
    marker = _text_or_none(cal, "none_free", where)
    if marker is not None and slots:
        raise _fail(where, "has slots and a 'nothing free' statement")
    return cal_id, name, sorted_slots(slots), marker, _text_or_none(cal, "url", where)


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = walked calendars; services = names of the services using them."""
    if not isinstance(raw, dict):
        raise _fail("(top level)", f"expected an object, got {type(raw).__name__}")
    names = _service_names(raw.get("services"))
    calendars = raw.get("calendars")
    if not isinstance(calendars, list):
        raise _fail("calendars", f"expected a list, got {type(calendars).__name__}")
    entries = [_calendar(i, cal) for i, cal in enumerate(calendars)]
    seen: set[str] = set()
    for i, (cal_id, *_) in enumerate(entries):
        if cal_id in seen:
            raise _fail(f"calendars[{i}]", f"calendar id {cal_id!r} appears twice")
        seen.add(cal_id)
    empty = _text_or_none(raw, "none_free", "(top level)")
    if empty is not None and entries:
        raise _fail("none_free", "a snapshot with calendars says no calendar is listed")
    name_counts: dict[str, int] = {}
    for _, name, *_ in entries:
        if name is not None:
            name_counts[name] = name_counts.get(name, 0) + 1
    snapshot = ParsedSnapshot(empty=empty)
    for cal_id, name, slots, marker, url in entries:
        if name is not None and name_counts[name] > 1:
            name = f"{name} ({cal_id})"  # two counters of the same name stay apart
        snapshot.locations[cal_id] = Location(
            id=cal_id,
            name=name,
            services=tuple(sorted(names.get(cal_id, ()))),
            slots=slots,
            empty=marker,
            url=url,
        )
    return snapshot


FAMILY = Family(
    name=NAME,
    summary="JSON API: services -> calendars -> day lists -> slots (etermin.net, qtermin.de)",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("et_url",),
    optional=("base_url", "mp_group"),
    politeness={"per_host_concurrency": 3, "min_gap": 0.1},
    fingerprints=(r"etermin\.net", r"qtermin\.de"),
    propose=propose.etermin,
    server="office_schedule.simulate.etermin_server",
)

__all__ = [
    "API_HOSTS",
    "CALENDARS_QUERY",
    "DAYS_QUERY",
    "DEFAULT_BASE_URL",
    "ERROR_KEY",
    "FAMILY",
    "MAX_MONTH_REQUESTS",
    "NAME",
    "NO_CALENDAR",
    "NO_FREE_DAY",
    "NO_SERVICE",
    "NO_SLOT",
    "SERVICES_QUERY",
    "SLOTS_QUERY",
    "SLOT_KEY",
    "TIMEZONE",
    "parse",
    "read_page",
    "scrape",
]
