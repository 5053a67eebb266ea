"""Stadt Leipzig: the eKOL form wizard (Telecomputer GmbH) walked one office at a time.

Every step POSTs the page's first ``<form>`` (its hidden fields, ``SELECTED_LANGUAGE=de`` and
the step's own fields) to ``{base_url}/{action}``. Pages are recognised by the text of
``<h2 class="ekolStepBox2">``. The look-ahead is ignored: whatever month tables the calendar
page shows are read.

Catalog parameters: ``base_url`` (optional, default ``https://tnv.leipzig.de/tnv``).

Raw payload: ``[{"name": str, "id": str, "days": [{"date": "YYYY-MM-DD", "num_free": int,
"times": ["HH:MM", ...]}]}]``; location id = ``id``, name = ``name``, slot = ``date time``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import day_times_slots, sorted_slots

NAME = "leipzig"
DEFAULT_BASE_URL = "https://tnv.leipzig.de/tnv"

INFOPAGE = "INFOPAGE"
OFFICESELECT = "OFFICESELECT"
CONCERNSELECT = "CONCERNSELECT"
CONCERNCOMMENTS = "CONCERNCOMMENTS"
CALENDARSELECT = "CALENDARSELECT"
PAGES = {
    "Allgemeine Informationen": INFOPAGE,
    "Termin vereinbaren bei": OFFICESELECT,
    "Auswahl des Anliegens": CONCERNSELECT,
    "Zusatzinformationen zu den Anliegen": CONCERNCOMMENTS,
    "Auswahl des Termins": CALENDARSELECT,
}
SKIPPED_GROUPS = {"Bürgerämter", "Ordnungsamt"}
MONTHS = {
    name: i + 1
    for i, name in enumerate(
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
    )
}
OFFICE_FIELDS = {"OFFICESELECT_TERMID": "", "OFFICESELECT_RESERVATIONPIN": ""}
MAX_BACK_STEPS = 8


# ----------------------------------------------------------------------------- page reading


def step_heading(html: str) -> str | None:
    """The stripped text of ``<h2 class="ekolStepBox2">``, or None."""
    node = HTMLParser(html).css_first("h2.ekolStepBox2")
    return node.text(strip=True) if node is not None else None


def page_kind(html: str) -> str | None:
    """INFOPAGE, OFFICESELECT, ... for a known wizard page, else None."""
    return PAGES.get(step_heading(html) or "")


def first_form(html: str) -> tuple[str, dict[str, str]]:
    """``(action, hidden fields)`` of the page's first form; ``("", {})`` if it has none."""
    form = HTMLParser(html).css_first("form")
    if form is None:
        return "", {}
    hidden = {}
    for node in form.css("input"):
        attrs = node.attributes
        if (attrs.get("type") or "").lower() == "hidden" and attrs.get("name"):
            hidden[attrs["name"]] = attrs.get("value") or ""
    return form.attributes.get("action") or "", hidden


def offices(html: str) -> list[tuple[str, str, str]]:
    """``(office id, name, button name)`` per office button, group headings skipped."""
    found = []
    for head in HTMLParser(html).css("div.CLASS_TREEVIEWSEARCH_HEAD_LEVEL_2"):
        button = head.css_first("button")
        if button is None:
            continue
        name = button.text(strip=True)
        button_name = button.attributes.get("name") or ""
        if name in SKIPPED_GROUPS or not button_name:
            continue
        found.append((button_name.rsplit("-", 1)[-1], name, button_name))
    return found


def office_button(html: str, office_id: str) -> str | None:
    """Name of the first office-select button whose name contains the office id."""
    for node in HTMLParser(html).css("button.class_BuergerAuswahlDienststelle_office-button"):
        name = node.attributes.get("name") or ""
        if office_id in name:
            return name
    return None


def concern_selects(html: str) -> list[str]:
    """Names of the concern count selects, in page order."""
    names = []
    for cell in HTMLParser(html).css("td.CLASS_METADATAGRIDENTRY_VALUECONTAINER"):
        select = cell.css_first("select")
        if select is not None and select.attributes.get("name"):
            names.append(select.attributes["name"])
    return names


def month_of(caption: str) -> tuple[int, int] | None:
    """``Juli 2021`` -> (2021, 7)."""
    parts = caption.split()
    if len(parts) != 2 or parts[0] not in MONTHS or not parts[1].isdigit():
        return None
    return int(parts[1]), MONTHS[parts[0]]


def calendar_days(html: str) -> list[tuple[date, int, str]]:
    """``(day, number of free times, day button name)`` for every in-range day with free times."""
    days = []
    for table in HTMLParser(html).css("table.ekolCalendarMonthTable"):
        caption = table.css_first("caption")
        month = month_of(caption.text(strip=True)) if caption is not None else None
        if month is None:
            continue
        for cell in table.css("td.eKOLCalendarCellInRange"):
            number = cell.css_first("div.ekolCalendarDayNumberInRange")
            free = cell.css_first("div.ekolCalendarFreeTimeContainer")
            if number is None or free is None:
                continue
            words = free.text(strip=True).split()
            count = int(words[0]) if words and words[0].isdigit() else 0
            day_text = number.text(strip=True)
            if count <= 0 or not day_text.isdigit():
                continue
            parent = number.parent
            button = (parent.attributes.get("name") or "") if parent is not None else ""
            try:
                day = date(month[0], month[1], int(day_text))
            except ValueError:
                continue
            days.append((day, count, button))
    return days


def select_times(html: str) -> list[str]:
    """Texts of the options with a value in ``<select name="ekolCalendarTimeSelect">``."""
    select = HTMLParser(html).css_first('select[name="ekolCalendarTimeSelect"]')
    if select is None:
        return []
    return [
        opt.text(strip=True) for opt in select.css("option") if (opt.attributes.get("value") or "")
    ]


def close_button(html: str) -> str | None:
    node = HTMLParser(html).css_first("button.messagebox_buttonclose")
    return (node.attributes.get("name") or None) if node is not None else None


# ----------------------------------------------------------------------------- scraping


class _Wizard:
    """The current page of the form session and how to submit it."""

    def __init__(self, session: Any, base_url: str):
        self.session = session
        self.base_url = base_url
        self.html = ""
        self.url = base_url

    async def open(self) -> None:
        response = await self.session.get(self.base_url)
        self.html, self.url = response.text, str(response.url)

    def expect(self, *kinds: str) -> str:
        kind = page_kind(self.html)
        if kind not in kinds:
            found = kind or f"unknown page (heading {step_heading(self.html)!r})"
            raise ScrapeError(f"expected page {' or '.join(kinds)}, found {found}", url=self.url)
        return kind

    async def submit(self, fields: dict[str, str]) -> None:
        action, hidden = first_form(self.html)
        if not action and not hidden:
            raise ScrapeError("page has no form to submit", url=self.url)
        if action.startswith(("http://", "https://", "/")):
            target = urljoin(self.url, action)
        else:
            target = f"{self.base_url}/{action}"
        data = {**hidden, "SELECTED_LANGUAGE": "de", **fields}
        response = await self.session.post(target, data=data)
        self.html, self.url = response.text, str(response.url)

    async def back_to_offices(self) -> None:
        for _ in range(MAX_BACK_STEPS):
            kind = self.expect(*PAGES.values())
            if kind == OFFICESELECT:
                return
            await self.submit({f"ACTION_{kind}_PREVIOUS": ""})
        raise ScrapeError("could not step back to the office list", url=self.url)


async def _office_days(wiz: _Wizard, office_id: str, button_name: str) -> list[dict[str, Any]]:
    await wiz.submit({button_name: "Öffnen", **OFFICE_FIELDS})
    select = office_button(wiz.html, office_id)
    if select is None:
        raise ScrapeError(f"no office button for office {office_id}", url=wiz.url)
    await wiz.submit({select: "", **OFFICE_FIELDS})
    wiz.expect(CONCERNSELECT)
    fields = {name: "1" if i == 0 else "0" for i, name in enumerate(concern_selects(wiz.html))}
    await wiz.submit({**fields, "ACTION_CONCERNSELECT_NEXT": ""})
    if wiz.expect(CONCERNCOMMENTS, CALENDARSELECT) == CONCERNCOMMENTS:
        await wiz.submit({"ACTION_CONCERNCOMMENTS_NEXT": ""})
    wiz.expect(CALENDARSELECT)
    days = []
    for day, count, day_button in calendar_days(wiz.html):
        times: list[str] = []
        if day_button:
            await wiz.submit({day_button: ""})
            times = select_times(wiz.html)
            close = close_button(wiz.html)
            if close:
                await wiz.submit({close: ""})
            wiz.expect(CALENDARSELECT)
        days.append({"date": day.isoformat(), "num_free": count, "times": times})
    return days


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    """Walk the wizard: agreement, then per office concern and calendar, then back."""
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    wiz = _Wizard(session, base_url)
    await wiz.open()
    wiz.expect(INFOPAGE)
    await wiz.submit(
        {"AGREEMENT_ACCEPT": "on", "AGREEMENT_REQUIRED": "true", "ACTION_INFOPAGE_NEXT": ""}
    )
    wiz.expect(OFFICESELECT)
    raw = []
    for office_id, name, button_name in offices(wiz.html):
        days = await _office_days(wiz, office_id, button_name)
        raw.append({"name": name, "id": office_id, "days": days})
        await wiz.back_to_offices()
    return raw


# ----------------------------------------------------------------------------- parsing


def _day_slots(day: Any, where: str) -> list[datetime]:
    if not isinstance(day, dict):
        raise ParseError(f"{where}: day is not an object")
    return day_times_slots(day.get("date"), day.get("times"), where)


def parse(raw: Any) -> ParsedSnapshot:
    if not isinstance(raw, list):
        raise ParseError("leipzig: raw payload is not a list of offices")
    locations: dict[str, Location] = {}
    for i, office in enumerate(raw):
        where = f"leipzig office #{i}"
        if not isinstance(office, dict):
            raise ParseError(f"{where}: not an object")
        office_id, name, days = office.get("id"), office.get("name"), office.get("days")
        if isinstance(office_id, bool) or not isinstance(office_id, str | int):
            raise ParseError(f"{where}: bad id {office_id!r}")
        if name is not None and not isinstance(name, str):
            raise ParseError(f"{where}: bad name {name!r}")
        if not isinstance(days, list):
            raise ParseError(f"{where}: days is not a list")
        slots = [s for day in days for s in _day_slots(day, where)]
        loc_id = str(office_id)
        if loc_id in locations:
            slots.extend(locations[loc_id].slots)
        locations[loc_id] = Location(id=loc_id, name=name or None, slots=sorted_slots(slots))
    return ParsedSnapshot(locations)
