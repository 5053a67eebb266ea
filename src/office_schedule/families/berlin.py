"""Stadt Berlin: the citizen offices (Bürgerämter) of service.berlin.de (ZMS), read from the HTML.

Flow (the 2021 reference's): ``GET {base_url}/standorte/buergeraemter/`` lists the offices
per district (``div.ort-group``: ``h2`` district, ``a[href^="/standort/"]`` offices). Per
office: the office page (closed when a ``div.alert`` says ``bis auf Weiteres geschlossen``),
then the ``form#termin_form`` as a GET (hidden fields, ``termin=1``, the first ``anliegen[]``),
following the restart link when the page says the choice "hat sich geändert". The answer is
the day chooser, or the "Taken" page when nothing is free; every bookable day inside the
look-ahead has its time chooser opened.

What the real pages show (``../shared/data/real-pages/berlin/``):

- day chooser: ``div.calendar-month-table`` with ``th.month`` (``Juni 2022``; in 2024 in a
  table of its own inside the same div); a bookable day is ``td.buchbar > a`` linking to
  ``…/terminvereinbarung/termin/time/{local midnight, epoch seconds}/`` (relative or
  absolute); other days are ``td.nichtbuchbar`` or ``td.``; 2024 cells say it in
  ``aria-label``/``title`` (``04.12.2024 - An diesem Tag sind keine Termine mehr verfügbar``);
- time chooser: ``div.timetable`` rows ``<th class="buchbar">13:24</th><td class="frei"><a
  href="…/time/{slot epoch}/{office}/">Bürgeramt …</a></td>``: the time is in the ``th`` (an
  empty ``th`` repeats the row above), the link text is the office, the epoch must agree;
- "Taken": title ``Entschuldigung, es sind aktuell keine Termine für ihre Auswahl verfügbar``.

The site protects itself: the throttle page (``Zu viele Zugriffe``; HTTP 429, or shown with
200) and captcha pages raise :class:`BlockedError` at once, with no further request. The
host sees one request at a time with at least 3 s between them (the family's politeness;
``request_delay`` can ask for more). Every answer goes through :func:`read_page`; a page it
does not recognise stops the scrape with a ``PageError``.

Catalog parameters (all optional): ``base_url`` (default ``https://service.berlin.de``),
``request_delay`` (seconds between requests to the host, if more than 3).

Raw payload: ``[{"id", "name", "district", "url", "closed": bool, "calendar": url | None,
"days": [{"date": "YYYY-MM-DD", "times": ["HH:MM", ...], "url": time page}], "none_free":
marker | None}]``; ``none_free`` is what the site showed when the office has no free time
in the look-ahead. Location id = ``id`` (the number in the office URL, else ``to_id(name)``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..clock import local_from_ts
from ..errors import BlockedError, ParseError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import CheckedSession, day_times_slots, look_ahead_days, sorted_slots, to_id
from .family import Family
from .pages import Office, PageError, PageView, hhmm, node_text, title_of

NAME = "berlin"
DEFAULT_BASE_URL = "https://service.berlin.de"

# --- protocol facts (the fake server imports them from here)
SITE_TITLE = "Service Berlin - Berlin.de"
DAY_TITLE = "Terminvergabe - Auswahl des Tages"
TIME_TITLE = "Terminvergabe - Auswahl des Termins"
THROTTLE_TEXT = "Zu viele Zugriffe"
THROTTLE_TITLE = "Service-Portal Berlin - (null) - 429"
ROBOT_TEXT = "Bitte bestätigen Sie, dass Sie kein Roboter sind"
CLOSED_TEXT = "bis auf Weiteres geschlossen"
#: the reference's sentence (sic: "Diensteistung"); the reader looks for its end only
CHANGED_SENTENCE = "Ihre Auswahl von Standort und Diensteistung hat sich geändert."
CHANGED_TEXT = "hat sich geändert"
MAINTENANCE_TEXT = "Terminverwaltung wird momentan gewartet"
TAKEN_TITLE = "Entschuldigung, es sind aktuell keine Termine für ihre Auswahl verfügbar"
TAKEN_HEADING = "Leider sind aktuell keine Termine für ihre Auswahl verfügbar."
DAY_BOOKABLE_TEXT = "An diesem Tag einen Termin buchen"
DAY_FULL_TEXT = "An diesem Tag sind keine Termine mehr verfügbar"
DAY_NONE_TEXT = "An diesem Tag sind keine Termine möglich"
#: what every per-day "nothing free" label says
NO_APPOINTMENT = "keine Termine"
SLOT_LINK_TITLE = "Zu diesem Zeitpunkt einen Termin eintragen…"
LEGEND_FREE = "verfügbar"
LEGEND_FULL = "ausgebucht"
TERMIN_PATH = "/terminvereinbarung/termin/"
DAY_PATH = TERMIN_PATH + "day/"
TIME_PATH = TERMIN_PATH + "time/"
TAKEN_PATH = TERMIN_PATH + "taken/"
RESTART_PATH = TERMIN_PATH + "restart/"
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)
MONTHS = {name: i + 1 for i, name in enumerate(MONTH_NAMES)}
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")

_DAY_LINK = re.compile(re.escape(TIME_PATH) + r"(\d+)/$")
_SLOT_LINK = re.compile(re.escape(TIME_PATH) + r"(\d+)/(\d+)/$")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_LONG_DATE = re.compile(r"(\d{1,2})\.\s*(\w+)\s+(\d{4})")
_LABEL = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})\s*-\s*(.+)")
_OFFICE_NUMBER = re.compile(r"/standort/(\d+)")


# ----------------------------------------------------------------------------- page reading


def _classes(node: Node) -> set[str]:
    return set((node.attributes.get("class") or "").split())


def _path(href: str) -> str:
    return urlsplit(href).path


def is_throttled(doc: HTMLParser) -> bool:
    """``Zu viele Zugriffe``, or the portal's status title (``… - (null) - 429``, also 428)."""
    title = title_of(doc)
    if title == THROTTLE_TITLE or (
        title.startswith("Service-Portal Berlin") and title[-4:] in (" 429", " 428")
    ):
        return True
    return any(THROTTLE_TEXT in node.text() for node in doc.css("h1, title"))


def is_captcha(html: str, doc: HTMLParser | None = None) -> bool:
    """A robot check: the German prompt, or a form/img/div/iframe whose id or class says captcha."""
    if ROBOT_TEXT in html:
        return True
    for node in (doc or HTMLParser(html)).css("form, img, div, iframe, input"):
        attrs = node.attributes
        if "captcha" in f"{attrs.get('id') or ''} {attrs.get('class') or ''}".lower():
            return True
    return False


def _office_list(doc: HTMLParser, text: str, url: str | None) -> PageView:
    found = []
    for group in doc.css("div.ort-group"):
        district = node_text(group.css_first("h2")).removesuffix("nach oben").strip()
        for link in group.css("a"):
            href = link.attributes.get("href") or ""
            if not href.startswith("/standort/"):
                continue
            name = node_text(link)
            number = _OFFICE_NUMBER.match(href)
            office_id = number.group(1) if number else to_id(name)
            found.append({"id": office_id, "name": name, "district": district, "href": href})
    if not found:
        raise pages.unknown(NAME, text, url, "office list without a /standort/ link")
    return PageView(
        "offices",
        offices=[Office(o["id"], o["name"]) for o in found],
        reader="berlin.office-list",
        details={"offices": found},
    )


def _office_page(doc: HTMLParser, text: str, url: str | None) -> PageView:
    form = doc.css_first("form#termin_form")
    assert form is not None
    params: dict[str, str] = {}
    for node in form.css('input[type="hidden"]'):
        if node.attributes.get("name"):
            params[node.attributes["name"]] = node.attributes.get("value") or ""
    choices = []
    for box in form.css('input[type="checkbox"][name="anliegen[]"]'):
        box_id = box.attributes.get("id")
        label = form.css_first(f'label[for="{box_id}"]') if box_id else None
        choices.append((box.attributes.get("value") or "", node_text(label)))
    if not choices:
        raise pages.unknown(NAME, text, url, "booking form without an anliegen[] checkbox")
    params["termin"] = "1"
    params["anliegen[]"] = choices[0][0]
    action = (form.attributes.get("action") or "").split("?", 1)[0]
    return PageView(
        "services",
        choices=choices,
        reader="berlin.office-page",
        details={"form_url": urljoin(url or "", action), "params": params},
    )


def _restart(doc: HTMLParser, text: str, url: str | None) -> PageView | None:
    for link in doc.css("a"):
        href = link.attributes.get("href") or ""
        if _path(href).endswith(RESTART_PATH) and urlsplit(href).query:
            message = next(
                (node_text(n) for n in doc.css("div.alert p") if CHANGED_TEXT in n.text()),
                CHANGED_SENTENCE,
            )
            return PageView(
                "start",
                error=message,
                reader="berlin.restart",
                details={"restart": urljoin(url or "", href)},
            )
    return None


def _legend_full(doc: HTMLParser) -> str | None:
    """The legend's word for ``nichtbuchbar`` days (``ausgebucht``), when the page has one."""
    for element in doc.css("span.legend-element"):
        if element.css_first("span.legend-color.nichtbuchbar") is not None:
            return node_text(element) or None
    return None


def _month_of(box: Node, text: str, url: str | None) -> tuple[int, int]:
    parts = node_text(box.css_first("th.month")).split()
    if len(parts) != 2 or parts[0] not in MONTHS or not parts[1].isdigit():
        raise pages.unknown(NAME, text, url, f"calendar month header {' '.join(parts)!r}")
    return int(parts[1]), MONTHS[parts[0]]


def _label(node: Node, day: date, url: str | None) -> str | None:
    """A cell's own statement (``aria-label``/``title``) without its date, checked against it."""
    label = node.attributes.get("aria-label") or node.attributes.get("title")
    if not label:
        return None
    label = pages.squash(label)
    match = _LABEL.fullmatch(label)
    if not match:
        return label
    d, m, y, statement = match.groups()
    if (int(y), int(m), int(d)) != (day.year, day.month, day.day):
        raise PageError(f"berlin: calendar cell {day} says {label!r}", url=url)
    return statement


def _cell(cell: Node, day: date, legend: str | None, url: str | None) -> dict[str, Any]:
    classes = _classes(cell)
    link = cell.css_first("a")
    where = f"berlin: calendar day {day.isoformat()}"
    if "buchbar" not in classes:
        statement = _label(cell, day, url)
        if link is not None or statement == DAY_BOOKABLE_TEXT:
            raise PageError(f"{where} has a booking link but not class buchbar", url=url)
        if statement and NO_APPOINTMENT not in statement:
            statement = None  # a label that says something else about the day
        full = "nichtbuchbar" in classes
        if full and not statement:
            statement = legend or "nichtbuchbar"
        return {"date": day.isoformat(), "bookable": False, "full": full, "statement": statement}
    href = (link.attributes.get("href") or "") if link is not None else ""
    match = _DAY_LINK.search(_path(href))
    if match is None:
        raise PageError(f"{where} is buchbar without a {TIME_PATH}{{day}}/ link", url=url)
    if local_from_ts(int(match.group(1))).date() != day:
        raise PageError(f"{where}: its link {href!r} names another day", url=url)
    _label(link, day, url)
    return {"date": day.isoformat(), "bookable": True, "href": urljoin(url or "", href)}


def calendar_cells(doc: HTMLParser, text: str, url: str | None = None) -> list[dict[str, Any]]:
    """Every day cell of the month tables: ``date``, ``bookable``, ``href`` or ``statement``."""
    legend = _legend_full(doc)
    cells = []
    for box in doc.css("div.calendar-month-table"):
        year, month = _month_of(box, text, url)
        for cell in box.css("td"):
            number = node_text(cell)
            if not number:
                if cell.css_first("a") is not None:
                    raise PageError("berlin: calendar cell without a day has a link", url=url)
                continue
            if not number.isdigit():
                raise pages.unknown(NAME, text, url, f"calendar cell {number!r}")
            try:
                day = date(year, month, int(number))
            except ValueError:
                raise PageError(f"berlin: no day {number} in {month}/{year}", url=url) from None
            cells.append(_cell(cell, day, legend, url))
    return cells


def statement_of(cells: list[dict[str, Any]]) -> str | None:
    """The site's "nothing free" statements of non-bookable cells, booked-out days' first."""
    shut = [c for c in cells if not c["bookable"] and c["statement"]]
    said = dict.fromkeys(c["statement"] for c in sorted(shut, key=lambda c: not c["full"]))
    return "; ".join(said) or None


def _calendar(doc: HTMLParser, text: str, url: str | None) -> PageView:
    cells = calendar_cells(doc, text, url)
    if not cells:
        raise pages.unknown(NAME, text, url, "calendar without a day")
    links = {c["date"]: c["href"] for c in cells if c["bookable"]}
    details = {"cells": cells, "links": links}
    if links:
        return PageView("days", days=list(links), reader="berlin.month-calendar", details=details)
    marker = statement_of(cells)
    if marker is None:
        raise PageError(
            "berlin: calendar without a bookable day and without the site's per-day "
            "statement (nichtbuchbar, 'keine Termine')",
            url=url,
        )
    return PageView("none-free", marker=marker, reader="berlin.month-calendar", details=details)


def _page_days(doc: HTMLParser, url: str | None) -> set[date]:
    """The day a time chooser is for: its "Datum" step (``Mo. 29. August 2022``) and its URL."""
    days = set()
    for group in doc.css("div.collapsible-group"):
        shown = node_text(group.css_first(".collapsible-description"))
        if node_text(group.css_first(".collapsible-title")) != "Datum" or not shown:
            continue
        match = _LONG_DATE.search(shown)
        try:
            days.add(date(int(match.group(3)), MONTHS[match.group(2)], int(match.group(1))))
        except (AttributeError, KeyError, ValueError):
            raise PageError(f"berlin: time chooser for the day {shown!r}", url=url) from None
    match = _DAY_LINK.search(_path(url or ""))
    if match:
        days.add(local_from_ts(int(match.group(1))).date())
    return days


def _time_row(row: Node, above: str | None, url: str | None) -> tuple[str, str, str, str]:
    """``(time, epoch, office id, office name)`` of one free-time row."""
    head, cell = row.css_first("th"), row.css_first("td")
    shown = node_text(head)
    if shown:
        match = _TIME.fullmatch(shown)
        if match is None or hhmm(*match.groups()) is None:
            raise PageError(f"berlin: time row with the time {shown!r}", url=url)
        if "buchbar" not in _classes(head):
            raise PageError(f"berlin: time row {shown} is not th.buchbar", url=url)
        time = hhmm(*match.groups())
    elif above is None:
        raise PageError("berlin: the first time row has no time", url=url)
    else:
        time = above
    link = cell.css_first("a") if cell is not None else None
    if cell is None or "frei" not in _classes(cell) or link is None:
        raise PageError(f"berlin: time row {time} is not a td.frei with a link", url=url)
    href = link.attributes.get("href") or ""
    match = _SLOT_LINK.search(_path(href))
    if match is None:
        raise PageError(f"berlin: time row {time} links to {href!r}", url=url)
    epoch, office = match.groups()
    if local_from_ts(int(epoch)).strftime("%H:%M") != time:
        raise PageError(f"berlin: time row {time} links to another time ({href!r})", url=url)
    return time, epoch, office, node_text(link)


def _time_page(doc: HTMLParser, text: str, url: str | None) -> PageView:
    rows, above = [], None
    for row in doc.css("div.timetable tr"):
        time, epoch, office, name = _time_row(row, above, url)
        above = time
        rows.append({"time": time, "epoch": epoch, "office": office, "name": name})
    if not rows:
        raise PageError("berlin: time chooser without a free time and without a marker", url=url)
    days = {local_from_ts(int(r["epoch"])).date() for r in rows}
    shown = _page_days(doc, url)
    if len(days) != 1 or not shown <= days:
        found = ", ".join(sorted(d.isoformat() for d in days))
        named = ", ".join(sorted(d.isoformat() for d in shown)) or "its day"
        raise PageError(f"berlin: time chooser for {named} lists times of {found}", url=url)
    (day,) = days
    slots = [f"{day.isoformat()} {r['time']}" for r in rows]
    offices: dict[str, Office] = {}
    for r, slot in zip(rows, slots, strict=True):
        known = offices.get(r["office"])
        if known is None or slot < (known.earliest or slot):
            offices[r["office"]] = Office(r["office"], r["name"] or None, slot)
    return PageView(
        "times",
        days=[day.isoformat()],  # the bookable day whose times the page lists
        slots=slots,
        offices=list(offices.values()),
        reader="berlin.time-rows",
        details={"date": day.isoformat(), "rows": rows},
    )


def _blocked(doc: HTMLParser, text: str) -> PageView | None:
    if is_throttled(doc):
        error = f"berlin: throttled ({THROTTLE_TEXT}), back off"
        return PageView("blocked", error=error, reader="berlin.throttle")
    if is_captcha(text, doc):
        return PageView(
            "blocked", error="berlin: captcha page, needs a human", reader="berlin.captcha"
        )
    return None


def _taken(doc: HTMLParser) -> PageView | None:
    title = title_of(doc)
    heading = {node_text(h) for h in doc.css("h1")}
    if title.startswith(TAKEN_TITLE) or TAKEN_HEADING in heading:
        marker = TAKEN_TITLE if title.startswith(TAKEN_TITLE) else TAKEN_HEADING
        return PageView("none-free", marker=marker, reader="berlin.taken")
    return None


def read_page(text: str, url: str | None = None) -> PageView:
    """Which step of the Berlin booking flow ``text`` is, and what it shows."""
    doc = pages.tree(text)
    view = _blocked(doc, text) or _taken(doc)
    if view is not None:
        return view
    if MAINTENANCE_TEXT in pages.visible_text(doc):
        return PageView("error-page", error=MAINTENANCE_TEXT, reader="berlin.maintenance")
    if doc.css_first("div.timetable") is not None:
        return _time_page(doc, text, url)
    if doc.css_first("div.calendar-month-table") is not None:
        return _calendar(doc, text, url)
    if CHANGED_TEXT in text:
        view = _restart(doc, text, url)
        if view is not None:
            return view
    alerts = [node_text(n) for n in doc.css("div.alert") if CLOSED_TEXT in n.text()]
    if alerts:
        return PageView("closed", marker=alerts[0], reader="berlin.office-closed")
    if doc.css_first("form#termin_form") is not None:
        return _office_page(doc, text, url)
    if doc.css_first("div.ort-group") is not None:
        return _office_list(doc, text, url)
    raise pages.unknown(NAME, text, url)


# ----------------------------------------------------------------------------- scraping


class _Pacer(CheckedSession):
    """Requests whose answers are read by :func:`read_page`; stops at throttle or captcha."""

    async def view(self, url: str, params: dict[str, str] | None = None) -> tuple[str, PageView]:
        response = await self.get(url, params)
        where = str(response.url)
        view = read_page(response.text, where)
        if view.page == "blocked":
            raise BlockedError(view.error or "berlin: blocked", url=where)
        if view.page == "error-page":
            raise PageError(f"berlin: the site says {view.error!r}", url=where)
        return where, view


def _expect(view: PageView, kinds: tuple[str, ...], where: str) -> None:
    if view.page not in kinds:
        raise PageError(
            f"berlin: expected a {' or '.join(kinds)} page, got {view.page} ({view.reader})",
            url=where,
        )


async def _day(pacer: _Pacer, day: str, link: str) -> dict[str, Any]:
    where, view = await pacer.view(link)
    if view.page == "none-free":  # booked out between the calendar and this request
        return {"date": day, "times": [], "url": where, "none_free": view.marker}
    _expect(view, ("times",), where)
    if view.details["date"] != day:
        shown = view.details["date"]
        raise PageError(f"berlin: the time chooser of {day} shows {shown}", url=where)
    return {"date": day, "times": [s[11:] for s in view.slots], "url": where}


async def _office(pacer: _Pacer, office: dict[str, str], window: set[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {**office, "closed": False, "calendar": None, "days": []}
    where, view = await pacer.view(office["url"])
    if view.page == "closed":
        return {**entry, "closed": True, "none_free": view.marker}
    _expect(view, ("services",), where)
    where, view = await pacer.view(view.details["form_url"], view.details["params"])
    if view.page == "start":
        where, view = await pacer.view(view.details["restart"])
    _expect(view, ("days", "none-free"), where)
    entry["calendar"] = where
    if view.page == "none-free":
        return {**entry, "none_free": view.marker}
    days = [await _day(pacer, d, view.details["links"][d]) for d in view.days if d in window]
    none_free = None
    if not any(d["times"] for d in days):
        shown = [c for c in view.details["cells"] if c["date"] in window]
        said = [d["none_free"] for d in days] + [statement_of(shown) or ""]
        none_free = "; ".join(dict.fromkeys(s for s in said if s)) or None
    return {**entry, "days": days, "none_free": none_free}


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    pacer = _Pacer(session)
    where, listing = await pacer.view(f"{base_url}/standorte/buergeraemter/")
    _expect(listing, ("offices",), where)
    window = {d.isoformat() for d in look_ahead_days(now.date(), weeks)}
    out = []
    for found in listing.details["offices"]:
        office = {k: found[k] for k in ("id", "name", "district")}
        office["url"] = base_url + found["href"]
        out.append(await _office(pacer, office, window))
    return out


# ----------------------------------------------------------------------------- parsing


def _office_slots(days: Any, where: str) -> list[datetime]:
    if not isinstance(days, list):
        raise ParseError(f"{where}: days is not a list")
    slots = []
    for day in days:
        if not isinstance(day, dict):
            raise ParseError(f"{where}: bad day {day!r}")
        slots.extend(day_times_slots(day.get("date"), day.get("times"), where))
    return slots


def parse(raw: Any) -> ParsedSnapshot:
    if not isinstance(raw, list):
        raise ParseError("berlin: raw payload is not a list of offices")
    locations: dict[str, Location] = {}
    for i, office in enumerate(raw):
        where = f"berlin office #{i}"
        if not isinstance(office, dict):
            raise ParseError(f"{where}: not an object")
        office_id, name = office.get("id"), office.get("name")
        if not isinstance(office_id, str) or not office_id:
            raise ParseError(f"{where}: bad id {office_id!r}")
        if name is not None and not isinstance(name, str):
            raise ParseError(f"{where}: bad name {name!r}")
        marker, url = office.get("none_free"), office.get("calendar") or office.get("url")
        if marker is not None and not isinstance(marker, str):
            raise ParseError(f"{where}: none_free is not a string")
        if url is not None and not isinstance(url, str):
            raise ParseError(f"{where}: bad url {url!r}")
        slots = _office_slots(office.get("days"), where)
        known = locations.get(office_id)
        if known is not None:
            slots.extend(known.slots)
            marker = known.empty or marker
        locations[office_id] = Location(
            id=office_id,
            name=name or None,
            slots=sorted_slots(slots),
            empty=None if slots else marker,
            url=url,
        )
    return ParsedSnapshot(locations)


FAMILY = Family(
    name=NAME,
    summary="service.berlin.de: offices -> calendar -> time chooser; disabled: robots.txt",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("base_url", "request_delay"),
    politeness={"per_host_concurrency": 1, "min_gap": 3.0, "attempts": 1},
    fingerprints=(r"service\.berlin\.de",),
    page_fingerprints=(
        r" - Service Berlin - Berlin\.de\s*</title>",
        r'class="calendar-month-table',
    ),
    propose=propose.berlin,
    server="office_schedule.simulate.berlin_server",
    disabled_by_default=True,
)
