"""TEVIS as its tenants serve it in 2025-2026: service -> office chooser -> suggest pages.

Per department (``select2?md=N``, which also issues the ``TVWebSession`` cookie) every
service is chosen once (``GET location?mdt=..&select_cnc=1&cnc-N=1``): the answer is the
office chooser (one form per office, "Nächster Termin ab ..."), or directly the suggest page
when only one office serves it. Each office's suggest page is asked directly with the
fields of the suggest page's own filter form (``suggest?loc=..&mdt=0&cnc-N=1&filter_date_from=
..&filter_date_to=..``), not by POSTing the chooser's form and following its redirect: one
``form.suggestion_form`` per free time, "Kein freier Termin verfügbar" when none. A suggest
page states the range it covers (``filter_date_from``/``filter_date_to``); while that range
ends before the look-ahead, the filter form is sent again from the next day on.

The start page, the service lists after the first and the office choosers are kept for a
day (``fetch/daily.py``). Requests per snapshot: 1 + sum over the services asked of
([1 chooser] + sum over their offices of (1 + further suggest pages)), + M and the
choosers once a day. Services whose ``data-tevis-calendars`` are all served by a shorter
service already asked are skipped; with a fresh chooser, offices whose next free time lies
after the look-ahead are not opened.

Locations are the offices (``loc``): the union of the free times of every service asked
there, named as the chooser names the office. The raw payload keeps each page's slots with
their calendar (``cal``), the taken times and the stated range, so a parser can later split
offices by calendar.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin

from ...errors import ParseError, ScrapeError
from ...fetch.daily import StaleReuse, reused
from ...model import Location, ParsedSnapshot
from ..common import sorted_slots
from ..pages import PageView
from . import client
from . import protocol as P

MAX_SUGGEST_PAGES = 12
AFTER_LOOK_AHEAD = "the office's next free time lies after the look-ahead"
_FILTER = ("filter_date_from", "filter_date_to", P.FILTER_SUBMIT[0])


def services_to_ask(records: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(services to ask, services skipped): shortest first, skipping covered calendars."""
    order = sorted(
        range(len(records)),
        key=lambda i: (records[i].get("duration") or 10**6, i),
    )
    covered: set[str] = set()
    asked, skipped = [], []
    for i in order:
        rec = records[i]
        cals = {c for c in (rec.get("calendar") or "").split("|") if c}
        if cals and cals <= covered:
            skipped.append(rec)
            continue
        covered |= cals
        asked.append(rec)
    asked.sort(key=records.index)
    return asked, skipped


def _page_entry(view: PageView, url: str) -> dict[str, Any]:
    details = view.details
    return {
        "url": url,
        "range": details.get("range"),
        "slots": [[f["slot"], f["cal"]] for f in details.get("free", [])],
        "taken": details.get("taken", []),
        "none_free": view.marker,
    }


def _filter_url(page_url: str, fields: dict[str, str], start: date, last: date) -> str:
    query = [
        *fields.items(),
        ("filter_date_from", start.strftime(P.DAY_FORMAT)),
        ("filter_date_to", last.strftime(P.DAY_FORMAT)),
        P.FILTER_SUBMIT,
    ]
    return f"{page_url.split('?', 1)[0]}?{urlencode(query)}"


async def _walk(session, view: PageView, url: str, last: date) -> list[dict[str, Any]]:
    """The suggest pages of one office from the first one until the look-ahead is covered."""
    pages = [_page_entry(view, url)]
    while len(pages) < MAX_SUGGEST_PAGES and view.page == "times":
        covered = view.details.get("range") or [None, None]
        fields = view.details.get("filter")
        if not covered[1] or not fields:
            break
        end = date.fromisoformat(covered[1])
        if end >= last:
            break
        next_url = _filter_url(url, fields, end + timedelta(days=1), last)
        view, url = await client.fetch_view(session, next_url, expect=("times", "none-free"))
        pages.append(_page_entry(view, url))
    return pages


def _suggest_url(loc_url: str, cnc: str, loc: str, first: date, last: date) -> str:
    """An office's first suggest page, asked directly: the suggest page's own filter form
    (real Aachen and Mülheim pages: GET, action "", hidden ``loc``, ``mdt=0``, ``cnc-N=1``,
    ``filter_date_from``/``filter_date_to``) names the office and the service in its URL, as
    the bots of systems-2026.md 8.1 step 4 ask ``suggest?cnc-N=1&loc=..``; it replaces the
    chooser's POST and its redirect (two requests) by one GET."""
    fields = {"loc": loc, "mdt": "0", cnc: "1"}
    return _filter_url(urljoin(loc_url, "suggest"), fields, first, last)


def _same_office(chosen: str | None, shown: str | None) -> bool:
    if not chosen or not shown:
        return True
    a, b = " ".join(chosen.split()), " ".join(shown.split())
    return a in b or b in a


async def _ask_service(session, base, action, md, rec, today, last) -> list[dict[str, Any]]:
    """Every office of one service: its suggest pages (or why it was not opened).

    The office chooser is kept for a day (``fetch/daily.py``) as the list of offices; a kept
    one says nothing about their next free times, so then every office is asked. A service
    with one office answers its suggest page instead of a chooser: never the kept copy.
    """
    query = urlencode(P.service_query(rec["mdt"], rec["cnc"]))
    loc_url = urljoin(P.url(base, "select2"), action or "location").split("?", 1)[0]
    loc_url = f"{loc_url}?{query}"
    expect = ("offices", "times", "none-free")
    before = reused(session)
    view, url = await client.fetch_view(session, loc_url, expect=expect, reuse=True)
    kept = reused(session) > before
    if kept and view.page != "offices":
        view, url = await client.fetch_view(session, loc_url, expect=expect)
        kept = False
    ask = {"md": md, "cnc": rec["cnc"]}
    if view.page != "offices":  # one office only: the chooser was skipped
        loc = view.details.get("loc")
        if not loc:
            raise ScrapeError("tevis: suggest page without the office (loc) it shows", url=url)
        pages = await _walk(session, view, url, last)
        return [{**ask, "loc": loc, "name": view.details.get("office"), "earliest": None,
                 "pages": pages}]  # fmt: skip
    found = []
    for office in view.offices:
        earliest = None if kept else office.earliest
        entry = {**ask, "loc": office.id, "name": office.name, "earliest": earliest}
        if earliest and date.fromisoformat(earliest[:10]) > last:
            found.append({**entry, "pages": [], "skipped": AFTER_LOOK_AHEAD})
            continue
        # the GET names service and office: it needs no earlier GET of the chooser in this
        # session (a kept chooser is as good)
        page_url = _suggest_url(url, rec["cnc"], office.id, today, last)
        page, page_url = await client.fetch_view(session, page_url, expect=("times", "none-free"))
        if kept and not _same_office(office.name, page.details.get("office")):
            raise StaleReuse(
                f"tevis: office {office.id} is {page.details.get('office')!r} now, the kept "
                f"chooser calls it {office.name!r}",
                url=page_url,
            )
        found.append({**entry, "pages": await _walk(session, page, page_url, last)})
    return found


async def _department(session, base, md: str, view: PageView, today, last) -> list[dict]:
    asked, _ = services_to_ask(view.details["services"])
    queries: list[dict[str, Any]] = []
    for rec in asked:
        args = (session, base, view.details["action"], md, rec, today, last)
        try:
            queries.extend(await _ask_service(*args))
        except client.SessionLost:  # sessions idle out: choose the department again, once
            await client.services(session, base, md)
            queries.extend(await _ask_service(*args))
    return queries


async def scrape(session, base: str, departments: dict[str, str], first, weeks: int, now):
    """Today's flow; ``first`` is the already read service page of the first md."""
    last = now.date() + timedelta(days=7 * weeks)
    services: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    for md in departments:
        view = (
            first
            if md == next(iter(departments))
            else await client.services(session, base, md, reuse=True)
        )
        asked, _ = services_to_ask(view.details["services"])
        services.extend(
            {"md": md, "asked": rec in asked, **rec} for rec in view.details["services"]
        )
        queries.extend(await _department(session, base, md, view, now.date(), last))
    return {
        "v": 3,
        "flow": "today",
        "until": last.isoformat(),
        "md": departments,
        "services": services,
        "queries": queries,
    }


# --------------------------------------------------------------------------- parsing


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ParseError(f"tevis: {where} is not a non-empty string")
    return value


def _query_slots(
    query: dict, until: str, where: str
) -> tuple[set[datetime], list[str], str | None]:
    """A query's free times up to ``until``, the markers it met and its first page URL."""
    pages = query.get("pages")
    if not isinstance(pages, list):
        raise ParseError(f"tevis: {where}: pages is not a list")
    found: set[datetime] = set()
    later: list[str] = []
    markers: list[str] = []
    if query.get("skipped"):
        markers.append(_text(query["skipped"], f"{where}: skipped"))
    for p, page in enumerate(pages):
        if not isinstance(page, dict) or not isinstance(page.get("slots"), list):
            raise ParseError(f"tevis: {where}, page #{p}: slots is not a list")
        if page.get("none_free"):
            markers.append(_text(page["none_free"], f"{where}, page #{p}: none_free"))
        for item in page["slots"]:
            if not isinstance(item, list) or not item or not isinstance(item[0], str):
                raise ParseError(f"tevis: {where}, page #{p}: bad slot {item!r}")
            try:
                slot = datetime.strptime(item[0], "%Y-%m-%d %H:%M")
            except ValueError:
                raise ParseError(f"tevis: {where}: bad slot {item[0]!r}") from None
            if item[0][:10] <= until:
                found.add(slot)
            else:
                later.append(item[0])
    if later and not found:
        markers.append(f"free times only after the look-ahead (first {min(later)})")
    url = pages[0].get("url") if pages and isinstance(pages[0], dict) else None
    return found, markers, _without_filter(url) if isinstance(url, str) else url


def _without_filter(url: str) -> str:
    """The office's suggest URL without the day's filter range (stable from day to day)."""
    if "?" not in url:
        return url
    path, query = url.split("?", 1)
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _FILTER]
    return f"{path}?{urlencode(kept)}" if kept else path


def parse(raw: dict) -> ParsedSnapshot:
    """One location per office: the union of its services' free times in the look-ahead."""
    until, md, queries = raw.get("until"), raw.get("md"), raw.get("queries")
    if not isinstance(until, str) or not isinstance(md, dict) or not isinstance(queries, list):
        raise ParseError("tevis payload v3: needs 'until', 'md' and a 'queries' list")
    names = {s.get("cnc"): s.get("name") for s in raw.get("services") or [] if isinstance(s, dict)}
    offices: dict[str, dict[str, Any]] = {}
    for q, query in enumerate(queries):
        where = f"query #{q}"
        if not isinstance(query, dict):
            raise ParseError(f"tevis: {where} is not an object")
        loc = _text(query.get("loc"), f"{where}: loc")
        slots, markers, url = _query_slots(query, until, where)
        office = offices.setdefault(
            loc, {"name": None, "slots": set(), "markers": [], "services": set(), "url": url}
        )
        office["name"] = office["name"] or query.get("name")
        office["slots"] |= slots
        office["markers"] += markers
        if names.get(query.get("cnc")):
            office["services"].add(names[query.get("cnc")])
    locations = {}
    for loc, office in offices.items():
        empty = None
        if not office["slots"] and office["markers"]:
            empty = "; ".join(sorted(set(office["markers"])))
        locations[loc] = Location(
            id=loc,
            name=office["name"],
            services=tuple(sorted(office["services"])),
            slots=sorted_slots(office["slots"]),
            empty=empty,
            url=office["url"],
        )
    return ParsedSnapshot(locations)
