"""TEVIS as the reference read it in 2021: calendars opened per service, weekly ``caldiv`` JSON.

Per department the service list names the calendars that serve each service; a calendar is
opened (``calendar?mdt=..&select_cnc=1&cnc-N=1``, which selects it server-side through
the session cookie) and then read week by week (``caldiv?cal=..&week=YYYYWW&json=1``).
The reference's cost is 1 + M + sum over md of C_md x (1 + W) (protocol notes 1.2); here
the calendars opened by the same service are read together after one open:
1 + M + sum over md of (S_md + C_md x W), S_md = the services that open them.

Unlike the reference, a week whose answer is not a caldiv week fails the source, and the
session messages ("Kein gültiger Mandant gefunden") are errors, not "no calendar": both
would otherwise be reported as "no free slots".

Raw payload (v2): ``{"v": 2, "md": {md: title}, "cnc": [service records], "calendar":
{cal: [caldiv week without html, ...]}, "skipped": [{"md", "cnc", "message"}]}``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ...errors import ParseError, ScrapeError
from ...model import Location, ParsedSnapshot
from ..common import json_from_text
from ..pages import PageError
from . import client
from . import protocol as P
from .pages import CALDIV_EMPTY, week_slots

CLASSIC_KEYS = ("mdt", "cnc", "calendar", "location")


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


def by_service(work: dict[str, tuple[str, str]]) -> list[tuple[str, tuple[str, str]]]:
    """The work list with the calendars of one service next to each other.

    The open request (``calendar?mdt=..&select_cnc=1&cnc-N=1``, protocol notes 1.2 c) names
    only the service; its body is ignored and it selects that service in the session. The
    calendars the reference opens with the same URL one after another thus need it once:
    the same URL sent again in the same session selects the same thing.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for key, service in work.items():
        groups.setdefault(service, []).append(key)
    return [(key, service) for service, keys in groups.items() for key in keys]


def iso_weeks(now: datetime | date, weeks: int) -> list[str]:
    """``YYYYWW`` (ISO year and week) of now + 7 x i days for i in 0..weeks-1."""
    out = []
    for i in range(weeks):
        year, week, _ = (now + timedelta(days=7 * i)).isocalendar()
        out.append(f"{year:04d}{week:02d}")
    return out


def service_record(md: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The 2021 payload's record of a service (``title`` or ``name`` as the reference)."""
    out = {"md": md, **{k: rec.get(k) for k in CLASSIC_KEYS}}
    if rec.get("name"):
        out["name"] = rec["name"]
    return out


async def _resolve_pseudo(session, base: str, mdt: str, cnc: str) -> str | None:
    """A service without calendar ids: its calendar page's script names the calendar."""
    view, _ = await client.fetch_view(
        session, P.calendar_url(base, mdt, cnc), expect=("offices", "error-page")
    )
    if view.page == "error-page":  # "no calendar behind this service"
        return None
    return view.details["calendar"]


async def _weeks(session, base: str, cal_id: str, weeks: list[str]) -> list[dict]:
    stored = []
    for week in weeks:
        response = await session.get(P.caldiv_url(base, cal_id, week))
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
        except PageError as exc:
            raise ScrapeError(f"caldiv answer unusable: {exc}", url=session.last_url) from None
        stored.append(data)
    return stored


async def scrape(session, base: str, departments: dict[str, str], first, weeks: int, now):
    """The 2021 flow; ``first`` is the already read service page of the first md."""
    week_ids = iso_weeks(now, weeks)
    cnc: list[dict[str, Any]] = []
    calendars: dict[str, list[dict]] = {}
    skipped: list[dict[str, str]] = []
    for md_id in departments:
        view = (
            first
            if md_id == next(iter(departments))
            else await client.services(session, base, md_id, reuse=True)
        )
        records = view.details["services"]
        cnc.extend(service_record(md_id, rec) for rec in records)
        opened = None  # the (mdt, cnc) the session has selected last
        for key, (mdt, cnc_name) in by_service(calendar_work_list(records)):
            if key == "0":
                continue
            if key.startswith("mdt-"):
                cal_id = await _resolve_pseudo(session, base, mdt, cnc_name)
                opened = (mdt, cnc_name)
                if cal_id is None or cal_id == "0":
                    skipped.append({"md": md_id, "cnc": cnc_name, "message": "no calendar"})
                    continue
            else:
                cal_id = key
                if opened != (mdt, cnc_name):
                    await session.get(P.calendar_url(base, mdt, cnc_name))
                    opened = (mdt, cnc_name)
            stored = calendars.setdefault(cal_id, [])
            stored.extend(await _weeks(session, base, cal_id, week_ids))
    return {"v": 2, "md": departments, "cnc": cnc, "calendar": calendars, "skipped": skipped}


# --------------------------------------------------------------------------- parsing


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


def _names(md: dict[str, str], records: list[Any]) -> tuple[dict, dict]:
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
    return names, service_names


def parse(raw: dict) -> ParsedSnapshot:
    """Raw payload -> one location per stored calendar with its slots, name and services."""
    md, records, stored = raw.get("md"), raw.get("cnc"), raw.get("calendar")
    if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
        raise ParseError("tevis payload: 'md' must be an object of titles")
    if not isinstance(records, list):
        raise ParseError("tevis payload: 'cnc' must be a list")
    if not isinstance(stored, dict):
        raise ParseError("tevis payload: 'calendar' must be an object")
    names, service_names = _names(md, records)
    slots: dict[str, set[datetime]] = {}
    weeks_seen: dict[str, int] = {}
    for key, weeks in stored.items():
        loc_id = key.split("|", 1)[0] if isinstance(key, str) else ""
        if not loc_id:
            raise ParseError(f"calendar key {key!r} does not start with a calendar id")
        if not isinstance(weeks, list):
            raise ParseError(f"calendar {key}: weeks must be a list")
        bucket = slots.setdefault(loc_id, set())
        weeks_seen[loc_id] = weeks_seen.get(loc_id, 0) + len(weeks)
        for w, week in enumerate(weeks):
            try:
                bucket.update(week_slots(week, f"calendar {key}, week #{w}"))
            except PageError as exc:
                raise ParseError(str(exc)) from None
    skipped = raw.get("skipped") or []
    return ParsedSnapshot(
        locations={
            loc_id: Location(
                id=loc_id,
                name=names.get(loc_id, loc_id),
                services=tuple(sorted(service_names.get(loc_id, ()))),
                slots=tuple(sorted(found)),
                # an explicit caldiv week whose days all have an empty 'valid' list
                empty=CALDIV_EMPTY if weeks_seen[loc_id] else None,
            )
            for loc_id, found in slots.items()
        },
        empty=f"every service's calendar page said: {P.NO_SUCH_CALENDAR}"
        if skipped and not stored
        else None,
    )
