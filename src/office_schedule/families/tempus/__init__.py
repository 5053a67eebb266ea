"""TEMPUS (tempus-termine.com and the self-hosted Essen instance): server-rendered PHP pages.

Protocol: docs/protocols/etermin-tempus.md, section 2; systems-2026.md sections 11 and 23.
The scraper reads the index form, submits one service per category, follows the location
overview (if any) to calendar pages, and fetches every event day (plus the tail of days
after the last event up to the horizon). The selection lives in the server session (a
cookie, or ``sna=T...`` in the links). Every answer is read by :func:`read_page`.

Raw payload::

    {"options": [{"category": str, "name": str, "id": str | None}, ...],
     "calendars": [{"loc": str | None, "queue": str | None, "task": str | None,
                    "category": str, "sub_category": str (overview-derived only),
                    "dates": {"YYYY-MM-DD": ["HH:MM", ...]},
                    "url": str, "none_free": str (only without dates)}, ...],
     "none_free": [{"category": str, "marker": str, "url": str}, ...]}

``none_free`` of a calendar is the site's statement that it has nothing free (an overview
row's "Kein Termin verfügbar", the calendar's "ausgebucht", no bookable day up to the
horizon, empty time tables); the top-level list holds the categories the site answered
with "keinem Standort" / "Keine Termine verfügbar".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from ...errors import ParseError, ScrapeError
from ...model import Location, ParsedSnapshot
from .. import propose
from ..common import look_ahead_days, parse_slot
from ..family import Family
from ..pages import PageError, PageView
from .pages import (
    _DAY_KEY,
    _DIGITS,
    _QUEUES,
    _TIME,
    BOOKED_OUT_TEXT,
    DAY_CLASS,
    EMPTY_DAY,
    EVENT_CLASS,
    EXPIRED_TEXT,
    IDENTITY,
    NAME,
    NO_APPOINTMENTS_TEXT,
    NO_BOOKABLE_DAY,
    NO_LOCATION_TEXT,
    NOTICE_BUTTON_VALUES,
    NOTICE_HEADING,
    OVERVIEW_MARKERS,
    QUEUES_KEY,
    ROW_NONE_TEXT,
    _first_line,
    category_forms,
    link_identity,
    read_page,
    resolve_link,
)

# ---------------------------------------------------------------- requests


def _read(response: Any) -> tuple[PageView, str]:
    where = str(response.url)
    try:
        view = read_page(response.text, where)
    except PageError as exc:
        exc.url = exc.url or where
        raise
    if view.page == "error-page":
        raise PageError(f"tempus: the site says {view.error!r}", url=where)
    return view, where


def _follow(base_url: str, href: str, what: str, where: str) -> str:
    url = resolve_link(base_url, href)
    if url is None:
        raise ScrapeError(
            f"tempus {what}: link {href!r} starts with neither 'index.php' nor '?'", url=where
        )
    return url


def _expect(view: PageView, kinds: tuple[str, ...], what: str, where: str) -> None:
    if view.page not in kinds:
        raise PageError(
            f"tempus {what}: expected {' or '.join(kinds)}, got {view.page} ({view.reader})",
            url=where,
        )


def day_links(events: list[tuple[str, str]], max_date: date) -> list[tuple[str, str]]:
    """Event days up to ``max_date`` (sorted), then synthesised links for the tail after them."""
    kept: dict[str, str] = {}
    for day, href in sorted(events, key=lambda e: e[0]):
        if day <= max_date.isoformat():
            kept.setdefault(day, href)
    links = list(kept.items())
    if links:
        last_day, last_href = links[-1]
        current = date.fromisoformat(last_day) + timedelta(days=1)
        while current <= max_date:
            href = last_href.replace(f"datum={last_day}", f"datum={current.isoformat()}")
            links.append((current.isoformat(), href))
            current += timedelta(days=1)
    return links


class _Run:
    """One snapshot's session, base URL and horizon; every answer read by read_page."""

    def __init__(self, session: Any, base_url: str, max_date: date):
        self.session, self.base_url, self.max_date = session, base_url, max_date

    async def view(self, href: str, what: str, where: str, data: dict | None = None):
        url = _follow(self.base_url, href, what, where)
        post = data is not None
        return _read(await (self.session.post(url, data=data) if post else self.session.get(url)))

    async def answer(self, view: PageView, where: str) -> tuple[PageView, str]:
        """Past a notice page (one hop) to the answer behind it."""
        if view.page != "start":
            return view, where
        return await self.view(view.details["next"], "notice button", where)

    async def calendar(self, view: PageView, where: str, labels: dict) -> dict[str, Any]:
        """One calendar page and its days as a raw ``calendars`` entry."""
        what = "calendar of " + " / ".join(repr(v) for v in labels.values())
        view, where = await self.answer(view, where)
        _expect(view, ("days", "none-free"), what, where)
        identity = view.details.get("identity") or link_identity(where)
        entry = {**identity, **labels, "dates": {}, "url": where}
        if view.page == "none-free":
            return {**entry, "none_free": view.marker}
        links = day_links(view.details["events"], self.max_date)
        for day, href in links:
            day_view, day_url = await self.view(href, f"{what}, day link", where)
            _expect(day_view, ("times", "none-free"), f"day page {day} of {what}", day_url)
            if day_view.page == "times":
                entry["dates"][day] = day_view.details["times"]
        if not entry["dates"]:
            first = min(d for d, _ in view.details["events"])
            entry["none_free"] = (
                f"{EMPTY_DAY} (the {len(links)} days from {links[0][0]} to {self.max_date})"
                if links
                else f"{NO_BOOKABLE_DAY} up to {self.max_date} (first bookable day {first})"
            )
        return entry


def _index_params(source: Any) -> dict[str, str]:
    """``anlagennr``, ``anlagentoken`` (newer installations), then ``extra`` (``k=v&k2=v2``)."""
    anlagennr, extra = source.params.get("anlagennr"), source.params.get("extra") or ""
    token = source.params.get("anlagentoken")
    try:
        if not anlagennr:
            raise ValueError("lacks parameter anlagennr")
        pairs = parse_qsl(extra, keep_blank_values=True, strict_parsing=True) if extra else []
    except ValueError as exc:
        raise ScrapeError(f"tempus source {source.id!r}: bad parameters ({exc})") from None
    return {"anlagennr": anlagennr, **({"anlagentoken": token} if token else {}), **dict(pairs)}


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """One snapshot: index form, one submission per category, calendars and their days."""
    base_url = source.base_url
    max_date = look_ahead_days(now.date(), weeks)[-1]
    session.clear_cookies()
    index, index_url = _read(await session.get(base_url, params=_index_params(source)))
    _expect(index, ("services",), "index page", index_url)
    options, action = index.details["options"], index.details["action"]
    _follow(base_url, action, "index page form action", index_url)
    run = _Run(session, base_url, max_date)
    calendars: list[dict[str, Any]] = []
    none_free: list[dict[str, str]] = []
    for category, body in category_forms(options):
        what = f"answer to category {category!r}"
        view, where = await run.answer(*await run.view(action, what, index_url, body))
        _expect(view, ("none-free", "offices", "days"), what, where)
        labels = {"category": category}
        calendar_reader = view.reader in ("tempus.calendar", "tempus.booked-out")
        if view.page == "days" or calendar_reader and any(link_identity(where).values()):
            calendars.append(await run.calendar(view, where, labels))
        elif view.page == "none-free":
            none_free.append({"category": category, "marker": view.marker, "url": where})
        else:
            for row in view.details["rows"]:
                row_labels = {**labels, "sub_category": row["name"]}
                if row["none_free"]:
                    empty = {"dates": {}, "url": where, "none_free": row["none_free"]}
                    calendars.append({**link_identity(row["href"]), **row_labels, **empty})
                    continue
                cal = await run.view(row["href"], f"location overview of {what}", where)
                calendars.append(await run.calendar(*cal, row_labels))
    return {"options": options, "calendars": calendars, "none_free": none_free}


# ---------------------------------------------------------------- parse


def _field(obj: dict[str, Any], key: str, where: str, types: tuple[type, ...]) -> Any:
    if key not in obj:
        raise ParseError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise ParseError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _optional_text(obj: dict[str, Any], key: str, where: str) -> str | None:
    if key not in obj:
        return None
    value = _field(obj, key, where, (str,))
    if not value:
        raise ParseError(f"{where}.{key}: empty text")
    return value


def _service_name(name: str) -> str:
    return _first_line(name.replace("Infolink", ""))


def _calendar_slots(dates: dict[str, Any], where: str) -> list[datetime]:
    slots = []
    for day, times in dates.items():
        if not isinstance(day, str) or not _DAY_KEY.fullmatch(day):
            raise ParseError(f"{where}.dates: key {day!r} is not YYYY-MM-DD")
        if not isinstance(times, list):
            raise ParseError(f"{where}.dates[{day!r}]: expected a list of HH:MM, got {times!r}")
        for time in times:
            if not isinstance(time, str) or not _TIME.fullmatch(time):
                raise ParseError(f"{where}.dates[{day!r}]: {time!r} is not HH:MM")
            slots.append(parse_slot(f"{day} {time}", f"{where}.dates[{day!r}]"))
    return slots


def _empty_statement(raw: dict[str, Any]) -> str | None:
    """The first "keinem Standort" answer of the snapshot, if it stored any."""
    answers = raw.get("none_free", [])
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise ParseError(f"tempus payload none_free: expected a list of objects, got {answers!r}")
    markers = [_optional_text(a, "marker", f"none_free[{i}]") for i, a in enumerate(answers)]
    return next((m for m in markers if m), None)


def parse(raw: Any) -> ParsedSnapshot:
    """Locations ``<loc>/<task>`` with names, services and slots from a raw payload."""
    if not isinstance(raw, dict):
        raise ParseError(f"tempus payload: expected an object, got {type(raw).__name__}")
    options = _field(raw, "options", "tempus payload", (list,))
    calendars = _field(raw, "calendars", "tempus payload", (list,))
    nothing = _empty_statement(raw)
    services: dict[str, set[str]] = {}
    for i, opt in enumerate(options):
        where = f"options[{i}]"
        if not isinstance(opt, dict):
            raise ParseError(f"{where}: expected an object, got {opt!r}")
        category = _field(opt, "category", where, (str,))
        name = _field(opt, "name", where, (str,))
        _field(opt, "id", where, (str, type(None)))
        if _service_name(name):
            services.setdefault(category, set()).add(_service_name(name))
    locations: dict[str, Location] = {}
    for i, cal in enumerate(calendars):
        where = f"calendars[{i}]"
        if not isinstance(cal, dict):
            raise ParseError(f"{where}: expected an object, got {cal!r}")
        keys = {}
        for key in ("loc", "queue", "task"):
            value = _field(cal, key, where, (str, type(None)))
            pattern = _QUEUES if key == "queue" else _DIGITS
            if value is not None and not pattern.fullmatch(value):
                raise ParseError(f"{where}.{key}: expected digits or null, got {value!r}")
            keys[key] = value
        category = _field(cal, "category", where, (str,))
        sub = _field(cal, "sub_category", where, (str,)) if "sub_category" in cal else None
        dates = _field(cal, "dates", where, (dict,))
        marker, url = _optional_text(cal, "none_free", where), _optional_text(cal, "url", where)
        loc_id = f"{keys['loc'] or '-'}/{keys['task'] or '-'}"
        name = (f"{sub}: {category}" if sub else category) or None
        slots = _calendar_slots(dates, where)
        if marker is not None and slots:
            raise ParseError(f"{where}: has slots and a 'nothing free' statement")
        merged = set(services.get(category, set()))
        old = locations.get(loc_id)
        if old is not None:  # same loc/task reached from two categories: merge
            name, url = old.name or name, old.url or url
            marker = old.empty or marker
            slots += list(old.slots)
            merged |= set(old.services)
        slots = sorted(set(slots))
        empty = None if slots else marker
        locations[loc_id] = Location(loc_id, name, tuple(sorted(merged)), tuple(slots), empty, url)
    return ParsedSnapshot(locations=locations, empty=None if locations else nothing)


FAMILY = Family(
    name=NAME,
    summary="tempus-termine.com / Essen HTML: options -> calendars -> day pages, session",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url", "anlagennr"),
    optional=("extra", "mp_group", "mp_max", "anlagentoken"),
    politeness={"per_host_concurrency": 3, "min_gap": 0.1},
    fingerprints=(r"tempus-termine\.com", r"[?&](anlagennr|anr)=\d+"),
    page_fingerprints=(propose.TEMPUS_FORM,),
    propose=propose.tempus,
    server="office_schedule.simulate.tempus_server",
)

__all__ = [
    "DAY_CLASS",
    "EVENT_CLASS",
    "BOOKED_OUT_TEXT",
    "EMPTY_DAY",
    "EXPIRED_TEXT",
    "FAMILY",
    "IDENTITY",
    "NAME",
    "NOTICE_BUTTON_VALUES",
    "NOTICE_HEADING",
    "NO_APPOINTMENTS_TEXT",
    "NO_BOOKABLE_DAY",
    "NO_LOCATION_TEXT",
    "OVERVIEW_MARKERS",
    "QUEUES_KEY",
    "ROW_NONE_TEXT",
    "category_forms",
    "link_identity",
    "parse",
    "read_page",
    "resolve_link",
    "scrape",
]
