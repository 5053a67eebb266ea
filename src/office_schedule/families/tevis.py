"""Kommunix TEVIS: departments (md) -> services (cnc) -> calendars -> weekly caldiv JSON.

Request sequence per snapshot (see docs/protocols/tevis-netappoint.md, 1.2): the start page
lists the departments; each department's service list names the calendars that serve each
service; a calendar is opened once (``calendar?mdt=..&select_cnc=1&cnc-N=1``, which selects it
server-side through the session cookie) and then read week by week as JSON
(``caldiv?cal=..&week=YYYYWW&json=1``). Cost = 1 + M + sum over md of C_md x (1 + W).

Unlike the reference scraper, a week whose answer is not JSON fails the source instead of
being skipped: a silently missing week would be reported as "no free slots".
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import json_from_text, page_title

NAME = "tevis"
REQUIRED_PARAMS = ("base_url",)
OPTIONAL_PARAMS = ("mp_group",)

MD_PREFIX = "select2?md="
SCRIPT_MARKER = "window.tevis = window.tevis || {"
SCRIPT_END = "$(document).ready("
DB_ERROR = "Es ist ein Datenbank-Fehler aufgetreten"
#: calendar pages without the script that mean "no calendar here" (calendar id 0)
NO_CALENDAR_MESSAGES = (
    "Eingabe der persönlichen Daten für den Termin",
    "Der ausgewählte Kalender existiert nicht oder kann nicht ausgewählt werden.",
    "Kein gültiger Mandant gefunden",
    "Es wurde kein Mandantor empfangen",
    DB_ERROR,
)
_CALENDAR_VALUE = re.compile(r"calendar:\s*([^,}\n;]*)")
_DAY = re.compile(r"\d{8}")


# --------------------------------------------------------------------------- HTML helpers


def _text(node: Node | None) -> str:
    return node.text().strip() if node is not None else ""


def md_links(html: str) -> dict[str, str]:
    """Start page -> ordered ``{md id: title}`` from ``<a href="select2?md=ID">`` links."""
    result: dict[str, str] = {}
    for a in HTMLParser(html).css("a[href]"):
        href = a.attributes.get("href") or ""
        if href.startswith(MD_PREFIX):
            result[href[len(MD_PREFIX) :]] = _text(a)
    return result


def _split_locations(value: str | None) -> str | None:
    if value is None:
        return None
    return "|".join(sorted(set(value.split("|"))))


def _service_fields(item: Node) -> dict[str, Any]:
    """``cnc``, ``calendar`` and ``location`` of one ``input.cnc-item``."""
    attrs = item.attributes
    cnc = attrs.get("name")
    if not cnc:
        raise ScrapeError("service input (class cnc-item) has no name")
    return {
        "cnc": cnc,
        "calendar": attrs.get("data-tevis-calendars") or attrs.get("data-tevis-calendar"),
        "location": _split_locations(attrs.get("data-tevis-locations")),
    }


def _mdt_value(node: Node | None, where: str) -> str:
    value = (node.attributes.get("value") or "").strip() if node is not None else ""
    if not value:
        raise ScrapeError(f'{where} has no <input name="mdt"> with a value')
    return value


def services(html: str) -> list[dict[str, Any]]:
    """Service list page -> records ``{mdt, cnc, calendar, location, title | name}``.

    Form layout (one ``form.cnc-form`` per service) when the page has any such form, else
    the flat layout (one page-level ``mdt``, every ``input.cnc-item`` a service).
    """
    tree = HTMLParser(html)
    forms = tree.css("form.cnc-form")
    records: list[dict[str, Any]] = []
    if forms:
        for index, form in enumerate(forms):
            mdt = _mdt_value(form.css_first('input[name="mdt"]'), f"service form #{index}")
            item = form.css_first("input.cnc-item")
            if item is None:
                raise ScrapeError(f"service form #{index} has no input of class cnc-item")
            record = {"mdt": mdt, **_service_fields(item), "title": _text(form.css_first("a"))}
            records.append(record)
        return records
    items = tree.css("input.cnc-item")
    if not items:
        return records
    mdt = _mdt_value(tree.css_first('input[name="mdt"]'), "flat service list")
    for item in items:
        record = {"mdt": mdt, **_service_fields(item)}
        grandparent = item.parent.parent if item.parent is not None else None
        link = grandparent.css_first('a[data-html="true"]') if grandparent is not None else None
        name = _text(link) or (item.attributes.get("data-tevis-cncname") or "").strip()
        if name:
            record["name"] = name
        records.append(record)
    return records


def script_calendar_id(html: str) -> str | None:
    """The calendar id of the ``window.tevis = window.tevis || {`` script, or None."""
    for script in HTMLParser(html).css("script"):
        text = script.text()
        start = text.find(SCRIPT_MARKER)
        if start < 0:
            continue
        section = text[start + len(SCRIPT_MARKER) :].split(SCRIPT_END, 1)[0]
        match = _CALENDAR_VALUE.search(section)
        if match is None:
            continue
        value = match.group(1).strip().strip("\"'").strip()
        if value:
            return value
    return None


def no_calendar_message(html: str) -> str | None:
    """The known "no calendar / session problem" message a page shows, if any."""
    return next((m for m in NO_CALENDAR_MESSAGES if m in html), None)


def calendar_work_list(records: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """One md's services -> ordered ``{calendar id or "mdt-N": (mdt, cnc)}``.

    A calendar keeps the first service naming it; services without calendars map to the
    pseudo key ``mdt-{mdt}`` whose last service wins.
    """
    work: dict[str, tuple[str, str]] = {}
    for rec in records:
        calendar = rec.get("calendar")
        if calendar:
            for cal_id in calendar.split("|"):
                cal_id = cal_id.strip()
                if cal_id and cal_id not in work:
                    work[cal_id] = (rec["mdt"], rec["cnc"])
        else:
            work[f"mdt-{rec['mdt']}"] = (rec["mdt"], rec["cnc"])
    return work


def iso_weeks(now: datetime | date, weeks: int) -> list[str]:
    """``YYYYWW`` (ISO year and week) of now + 7 x i days for i in 0..weeks-1."""
    out = []
    for i in range(weeks):
        year, week, _ = (now + timedelta(days=7 * i)).isocalendar()
        out.append(f"{year:04d}{week:02d}")
    return out


# --------------------------------------------------------------------------- scraping


def _url(base: str, path: str, query: list[tuple[str, str]] | None = None) -> str:
    url = f"{base}/{path}"
    return f"{url}?{urlencode(query)}" if query else url


def calendar_url(base: str, mdt: str, cnc: str) -> str:
    return _url(base, "calendar", [("mdt", mdt), ("select_cnc", "1"), (cnc, "1")])


def caldiv_url(base: str, cal: str, week: str) -> str:
    query = [("cal", cal), ("cnc", "0"), ("cncdata", ""), ("week", week)]
    return _url(base, "caldiv", [*query, ("json", "1"), ("offset", "1")])


def _title_hint(html: str) -> str:
    title = page_title(html)
    return f" (page title: {title!r})" if title else ""


async def _page(session, url: str) -> str:
    """GET an HTML page; the database error page and HTTP errors fail the source."""
    response = await session.get(url, allow_error_status=True)
    text = response.text
    if DB_ERROR in text:
        raise ScrapeError("tevis database error page", url=session.last_url)
    if response.status_code >= 400:
        raise ScrapeError(
            f"HTTP {response.status_code} {response.reason_phrase}{_title_hint(text)}",
            url=session.last_url,
        )
    return text


async def _resolve_pseudo(session, base: str, mdt: str, cnc: str) -> str:
    """Fetch the calendar page of a service without calendar ids; its script names the id."""
    response = await session.get(calendar_url(base, mdt, cnc), allow_error_status=True)
    text = response.text
    cal_id = script_calendar_id(text) if response.status_code < 400 else None
    if cal_id is not None:
        return cal_id
    if no_calendar_message(text):
        return "0"
    if response.status_code >= 400:
        raise ScrapeError(
            f"HTTP {response.status_code} {response.reason_phrase}{_title_hint(text)}",
            url=session.last_url,
        )
    raise ScrapeError(
        f"Missing tevis script data for mdt {mdt}{_title_hint(text)}", session.last_url
    )


async def _weeks(session, base: str, cal_id: str, weeks: list[str]) -> list[dict]:
    stored = []
    for week in weeks:
        response = await session.get(caldiv_url(base, cal_id, week))
        data = json_from_text(response.text, session.last_url, "caldiv answer")
        if data == {}:
            continue
        if not isinstance(data, dict) or "days" not in data or "valid" not in data:
            raise ScrapeError(
                f"caldiv answer for calendar {cal_id} week {week} is not an object with "
                f"'days' and 'valid' (got {type(data).__name__})",
                url=session.last_url,
            )
        data = {k: v for k, v in data.items() if k != "html"}
        try:
            week_slots(data, f"calendar {cal_id} week {week}")
        except ParseError as exc:
            raise ScrapeError(f"caldiv answer unusable: {exc}", url=session.last_url) from None
        stored.append(data)
    return stored


async def scrape(source, session, weeks: int, now: datetime) -> dict:
    """Take one snapshot of a tevis tenant; returns the raw payload (protocol notes 1.6)."""
    base = source.base_url
    week_ids = iso_weeks(now, weeks)
    start = await _page(session, _url(base, ""))
    departments = md_links(start)
    if not departments:
        raise ScrapeError(
            f"start page lists no departments (no {MD_PREFIX} links){_title_hint(start)}",
            url=session.last_url,
        )
    cnc: list[dict[str, Any]] = []
    calendars: dict[str, list[dict]] = {}
    for md_id in departments:
        html = await _page(session, _url(base, "select2", [("md", md_id)]))
        try:
            records = services(html)
        except ScrapeError as exc:
            raise ScrapeError(f"md {md_id}: {exc}", url=session.last_url) from None
        cnc.extend({"md": md_id, **rec} for rec in records)
        for key, (mdt, cnc_name) in calendar_work_list(records).items():
            if key == "0":
                continue
            if key.startswith("mdt-"):
                cal_id = await _resolve_pseudo(session, base, mdt, cnc_name)
                if cal_id == "0":
                    continue
            else:
                cal_id = key
                await session.get(calendar_url(base, mdt, cnc_name))
            stored = calendars.setdefault(cal_id, [])
            stored.extend(await _weeks(session, base, cal_id, week_ids))
    return {"v": 2, "md": departments, "cnc": cnc, "calendar": calendars}


# --------------------------------------------------------------------------- parsing


def _minutes(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ParseError(f"{where}: minutes {value!r} is not an integer")
    if isinstance(value, int):
        minutes = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        minutes = int(value)
    else:
        raise ParseError(f"{where}: minutes {value!r} is not an integer")
    if not 0 <= minutes < 24 * 60:
        raise ParseError(f"{where}: minutes {minutes} outside 0..1439")
    return minutes


def _day(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ParseError(f"{where}: day {value!r} is not YYYYMMDD")
    try:
        return datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise ParseError(f"{where}: day {value!r} is not a valid date") from None


def week_slots(week: Any, where: str) -> list[datetime]:
    """Free slots of one stored caldiv week (``days`` and ``valid`` zipped)."""
    if not isinstance(week, dict):
        raise ParseError(f"{where}: week is a {type(week).__name__}, not an object")
    days, valid = week.get("days"), week.get("valid")
    if not isinstance(days, list) or not isinstance(valid, list):
        raise ParseError(f"{where}: 'days' and 'valid' must both be lists")
    slots = []
    for k, (day_text, entry) in enumerate(zip(days, valid, strict=False)):
        day = _day(day_text, f"{where}, day #{k}")
        if not isinstance(entry, dict | list):
            raise ParseError(f"{where}, day {day_text}: valid entry is {type(entry).__name__}")
        for value in entry:
            slots.append(day + timedelta(minutes=_minutes(value, f"{where}, day {day_text}")))
    return slots


def _service_calendars(rec: dict[str, Any], where: str) -> list[str]:
    calendar = rec.get("calendar")
    if calendar is None or calendar == "":
        return []
    if not isinstance(calendar, str):
        raise ParseError(f"{where}: 'calendar' is {type(calendar).__name__}, not a string")
    return [c.strip() for c in calendar.split("|")]


def _opt_str(rec: dict[str, Any], key: str, where: str) -> str | None:
    value = rec.get(key)
    if value is not None and not isinstance(value, str):
        raise ParseError(f"{where}: {key!r} is {type(value).__name__}, not a string")
    return value


def parse(raw: Any) -> ParsedSnapshot:
    """Raw payload -> one location per stored calendar with its slots, name and services."""
    if not isinstance(raw, dict):
        raise ParseError(f"tevis payload is a {type(raw).__name__}, not an object")
    if "v" in raw and raw["v"] != 2:
        raise ParseError(f"tevis payload version {raw['v']!r} is not 2")
    md, records, stored = raw.get("md"), raw.get("cnc"), raw.get("calendar")
    if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
        raise ParseError("tevis payload: 'md' must be an object of titles")
    if not isinstance(records, list):
        raise ParseError("tevis payload: 'cnc' must be a list")
    if not isinstance(stored, dict):
        raise ParseError("tevis payload: 'calendar' must be an object")

    names: dict[str, str] = {}
    service_names: dict[str, set[str]] = {}
    for index, rec in enumerate(records):
        where = f"service #{index}"
        if not isinstance(rec, dict):
            raise ParseError(f"{where} is a {type(rec).__name__}, not an object")
        label = _opt_str(rec, "title", where) or _opt_str(rec, "name", where)
        md_id = _opt_str(rec, "md", where)
        if md_id is not None and md_id not in md:
            raise ParseError(f"{where}: md {md_id!r} is not in the payload's md list")
        if md_id is None:
            name = label
        else:
            name = f"{md[md_id]} / {label}" if label else md[md_id]
        for cal_id in _service_calendars(rec, where):
            if name and cal_id not in names:
                names[cal_id] = name
            if label:
                service_names.setdefault(cal_id, set()).add(label)

    slots: dict[str, set[datetime]] = {}
    for key, weeks in stored.items():
        loc_id = key.split("|", 1)[0] if isinstance(key, str) else ""
        if not loc_id:
            raise ParseError(f"calendar key {key!r} does not start with a calendar id")
        if not isinstance(weeks, list):
            raise ParseError(f"calendar {key}: weeks must be a list")
        bucket = slots.setdefault(loc_id, set())
        for w, week in enumerate(weeks):
            bucket.update(week_slots(week, f"calendar {key}, week #{w}"))

    return ParsedSnapshot(
        locations={
            loc_id: Location(
                id=loc_id,
                name=names.get(loc_id, loc_id),
                services=tuple(sorted(service_names.get(loc_id, ()))),
                slots=tuple(sorted(found)),
            )
            for loc_id, found in slots.items()
        }
    )
