"""Stadt Berlin: the citizen offices (Bürgerämter) of service.berlin.de, read from the HTML.

Sequence: ``GET {base_url}/standorte/buergeraemter/`` lists the offices per district
(``<div class="ort-group">``: ``<h2>`` district, ``<a href="/standort/...">`` offices). Per
office: the office page (closed when a ``<div class="alert">`` says ``bis auf Weiteres
geschlossen``), then the ``<form id="termin_form">`` as a GET (hidden fields, ``termin=1`` and
the first ``anliegen[]`` checkbox), following the restart link when the page says the choice
"hat sich geändert". The calendar page's ``<div class="calendar-month-table">`` tables have a
``<th class="month">`` (``Juli 2021``) and day cells of class ``buchbar``/``nichtbuchbar``;
every bookable day inside the look-ahead has its link followed.

Assumption (the reference never parsed it): a day page lists its free times as links inside
``<td class="frei">`` cells whose text holds the time as ``HH:MM`` (e.g. ``<td class="frei">
<a href="...">08:30</a></td>``); cells without such a time are ignored.

The site protects itself: the throttle page (``Zu viele Zugriffe``; HTTP 429, or shown with
200) and captcha pages raise :class:`BlockedError` at once, with no further request. The
scraper sleeps ``request_delay`` seconds between its requests.

Catalog parameters (all optional): ``base_url`` (default ``https://service.berlin.de``),
``request_delay`` (seconds, default 1.0).

Raw payload: ``[{"id": str, "name": str, "district": str, "url": str, "closed": bool,
"days": [{"date": "YYYY-MM-DD", "bookable": bool, "times": ["HH:MM", ...]}]}]``; an office
whose page offers no booking form carries ``"error": "..."`` instead of ``days`` and is
skipped by ``parse``. Location id = ``id`` (the number in the office URL, else
``to_id(name)``), name = ``name``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import BlockedError, ParseError
from ..model import Location, ParsedSnapshot
from .common import PacedSession, day_times_slots, look_ahead_days, sorted_slots, to_id

NAME = "berlin"
DEFAULT_BASE_URL = "https://service.berlin.de"
DEFAULT_REQUEST_DELAY = 1.0
THROTTLE_TEXT = "Zu viele Zugriffe"
ROBOT_TEXT = "Bitte bestätigen Sie, dass Sie kein Roboter sind"
CLOSED_TEXT = "bis auf Weiteres geschlossen"
CHANGED_TEXT = "hat sich geändert"
RESTART_PREFIX = "/terminvereinbarung/termin/restart/?"
MONTHS = {
    name: i + 1
    for i, name in enumerate(
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
    )
}

_TIME_IN_TEXT = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_OFFICE_NUMBER = re.compile(r"/standort/(\d+)")


# ----------------------------------------------------------------------------- page reading


def is_throttled(html: str) -> bool:
    tree = HTMLParser(html)
    return any(THROTTLE_TEXT in node.text() for node in tree.css("h1, title"))


def is_captcha(html: str) -> bool:
    """A robot check: the German prompt, or a form/img/div/iframe whose id or class says captcha."""
    if ROBOT_TEXT in html:
        return True
    for node in HTMLParser(html).css("form, img, div, iframe, input"):
        attrs = node.attributes
        if "captcha" in f"{attrs.get('id') or ''} {attrs.get('class') or ''}".lower():
            return True
    return False


def office_list(html: str, base_url: str) -> list[dict[str, str]]:
    """Offices per district: ``{"id", "name", "district", "url"}``."""
    found = []
    for group in HTMLParser(html).css("div.ort-group"):
        heading = group.css_first("h2")
        district = heading.text(strip=True) if heading is not None else ""
        district = district.removesuffix("nach oben").strip()
        for link in group.css("a"):
            href = link.attributes.get("href") or ""
            if not href.startswith("/standort/"):
                continue
            name = link.text(strip=True)
            number = _OFFICE_NUMBER.match(href)
            office_id = number.group(1) if number else to_id(name)
            found.append(
                {"id": office_id, "name": name, "district": district, "url": base_url + href}
            )
    return found


def is_closed(html: str) -> bool:
    return any(CLOSED_TEXT in node.text() for node in HTMLParser(html).css("div.alert"))


def booking_request(html: str, page_url: str) -> tuple[str, dict[str, str]] | None:
    """``(url, query parameters)`` of the booking form for the first service, or None."""
    form = HTMLParser(html).css_first("form#termin_form")
    if form is None:
        return None
    params: dict[str, str] = {}
    for node in form.css("input"):
        attrs = node.attributes
        if (attrs.get("type") or "").lower() == "hidden" and attrs.get("name"):
            params[attrs["name"]] = attrs.get("value") or ""
    params["termin"] = "1"
    box = form.css_first('input[type="checkbox"][name="anliegen[]"]')
    if box is None:
        return None
    params["anliegen[]"] = box.attributes.get("value") or ""
    action = (form.attributes.get("action") or "").split("?", 1)[0]
    return urljoin(page_url, action), params


def restart_link(html: str) -> str | None:
    if CHANGED_TEXT not in html:
        return None
    for link in HTMLParser(html).css("a"):
        href = link.attributes.get("href") or ""
        if href.startswith(RESTART_PREFIX):
            return href
    return None


def calendar_cells(html: str) -> list[tuple[date, bool, str | None]]:
    """``(day, bookable, link)`` per day cell of the calendar month tables."""
    days = []
    for table in HTMLParser(html).css("div.calendar-month-table"):
        month_cell = table.css_first("th.month")
        parts = month_cell.text(strip=True).split() if month_cell is not None else []
        if len(parts) != 2 or parts[0] not in MONTHS or not parts[1].isdigit():
            continue
        year, month = int(parts[1]), MONTHS[parts[0]]
        for cell in table.css("td"):
            classes = (cell.attributes.get("class") or "").split()
            bookable = "buchbar" in classes
            if not bookable and "nichtbuchbar" not in classes:
                continue
            text = cell.text(strip=True).lstrip("0")
            if not text.isdigit():
                continue
            try:
                day = date(year, month, int(text))
            except ValueError:
                continue
            link = cell.css_first("a")
            href = (link.attributes.get("href") or None) if link is not None else None
            days.append((day, bookable, href if bookable else None))
    return days


def day_times(html: str) -> list[str]:
    """``HH:MM`` of every free time link (``<td class="frei"><a>08:30</a></td>``), sorted."""
    times = set()
    for cell in HTMLParser(html).css("td.frei"):
        for link in cell.css("a"):
            match = _TIME_IN_TEXT.search(link.text(strip=True))
            if match and int(match.group(1)) < 24:
                times.add(f"{int(match.group(1)):02d}:{match.group(2)}")
    return sorted(times)


# ----------------------------------------------------------------------------- scraping


class _Pacer(PacedSession):
    """Paced requests that stop at the first throttle or captcha page."""

    def check(self, response) -> None:
        where = str(response.url)
        if is_throttled(response.text):
            raise BlockedError(f"berlin: throttled ({THROTTLE_TEXT}), back off", url=where)
        if is_captcha(response.text):
            raise BlockedError("berlin: captcha page, needs a human", url=where)


async def _office(pacer: _Pacer, office: dict[str, str], days: set[date]) -> dict[str, Any]:
    entry: dict[str, Any] = dict(office)
    response = await pacer.get(office["url"])
    if is_closed(response.text):
        return {**entry, "closed": True, "days": []}
    form = booking_request(response.text, str(response.url))
    if form is None:
        return {**entry, "closed": False, "error": "no booking form on the office page"}
    response = await pacer.get(*form)
    restart = restart_link(response.text)
    if restart is not None:
        response = await pacer.get(urljoin(str(response.url), restart))
    calendar_url = str(response.url)
    found = []
    for day, bookable, href in calendar_cells(response.text):
        times: list[str] = []
        if bookable and href and day in days:
            times = day_times((await pacer.get(urljoin(calendar_url, href))).text)
        found.append({"date": day.isoformat(), "bookable": bookable, "times": times})
    return {**entry, "closed": False, "days": found}


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    pacer = _Pacer(session, float(source.params.get("request_delay") or DEFAULT_REQUEST_DELAY))
    response = await pacer.get(f"{base_url}/standorte/buergeraemter/")
    days = set(look_ahead_days(now.date(), weeks))
    return [await _office(pacer, office, days) for office in office_list(response.text, base_url)]


# ----------------------------------------------------------------------------- parsing


def _office_slots(days: Any, where: str) -> list[datetime]:
    if not isinstance(days, list):
        raise ParseError(f"{where}: days is not a list")
    slots = []
    for day in days:
        if not isinstance(day, dict) or not isinstance(day.get("bookable", False), bool):
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
        if "error" in office:
            if not isinstance(office["error"], str):
                raise ParseError(f"{where}: error is not a string")
            continue
        slots = _office_slots(office.get("days"), where)
        if office_id in locations:
            slots.extend(locations[office_id].slots)
        locations[office_id] = Location(id=office_id, name=name or None, slots=sorted_slots(slots))
    return ParsedSnapshot(locations)
