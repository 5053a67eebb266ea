"""eKOL / TNV (Telecomputer GmbH): the form wizard, walked one office at a time.

Leipzig's own citizen offices left this system: they now book on SmartCJM
(``terminvereinbarung.leipzig.de/m/leipzig-ba``, real pages of 2026 in ``real-pages/
smartcjm/``; this reader rejects them), so the 2021 source ``tnv.leipzig.de/tnv`` is
obsolete. Other eKOL/TNV tenants still run it, e.g. Potsdam
(``egov.potsdam.de/tnv/?START_OFFICE=buergerservice``) and LK Uelzen
(``kfz-termin.landkreis-uelzen.de/?START_OFFICE=KFZZUL``).

Every step POSTs the page's form (``form#contextForm``, else the first form: its hidden
fields such as ``PGUTSMSC``/``TCSID``, ``SELECTED_LANGUAGE=de`` and the step's own button)
to its action (``bgr;jsessionid=…``). A step is recognised by ``<h2 class="ekolStepBox2">``
(Leipzig 2021) or by the step named in its buttons (``ACTION_CALENDARSELECT_PREVIOUS``).
The calendar shows month tables (``<caption>Juli 2021</caption>``); each in-range day cell
holds a day number and a free count (``3 frei``, ``0 frei``, ``geschlossen``) in one of
three spellings (:data:`SPELLINGS`): a bare number (Leipzig 2021), ``26<span>.10.</span>``
(Potsdam 2020-2022) or the same with ``ekolCalendar_*`` classes and
``<span class="conMonthNr">`` (2025). A free day's button opens a popup whose
``select[name=ekolCalendarTimeSelect]`` lists the times. Whatever months the calendar shows
are read; the look-ahead is ignored.

Catalog parameters: ``base_url`` (optional, default ``https://tnv.leipzig.de/tnv``).

Raw payload: ``[{"name": str, "id": str, "days": [{"date": "YYYY-MM-DD", "num_free": int,
"times": ["HH:MM", ...]}], "none_free": str|null, "url": str}]``; location id = ``id``,
name = ``name``, slot = ``date time``; ``none_free`` is the site's statement when no day
is free (every day ``0 frei``/``geschlossen``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborNode as Node

from ..clock import OFFICE_TZ
from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import day_times_slots, sorted_slots
from .family import Family
from .pages import Office, PageView

NAME = "leipzig"
DEFAULT_BASE_URL = "https://tnv.leipzig.de/tnv"

INFOPAGE = "INFOPAGE"
OFFICESELECT = "OFFICESELECT"
CONCERNSELECT = "CONCERNSELECT"
CONCERNCOMMENTS = "CONCERNCOMMENTS"
CALENDARSELECT = "CALENDARSELECT"
#: ``h2.ekolStepBox2`` heading -> step (Leipzig 2021)
PAGES = {
    "Allgemeine Informationen": INFOPAGE,
    "Termin vereinbaren bei": OFFICESELECT,
    "Auswahl des Anliegens": CONCERNSELECT,
    "Zusatzinformationen zu den Anliegen": CONCERNCOMMENTS,
    "Auswahl des Termins": CALENDARSELECT,
}
STEPS = tuple(PAGES.values())
#: the view kind and reader name of each step outside the calendar
STEP_VIEWS = {
    INFOPAGE: ("start", "leipzig.info"),
    OFFICESELECT: ("offices", "leipzig.offices"),
    CONCERNSELECT: ("services", "leipzig.concerns"),
    CONCERNCOMMENTS: ("services", "leipzig.concern-comments"),
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

# -- markup facts (the fake server imports these) -------------------------------------------
CONTEXT_FORM = "contextForm"
TREE_HEAD = "CLASS_TREEVIEWSEARCH_HEAD_LEVEL_2"
OFFICE_BUTTON = "class_BuergerAuswahlDienststelle_office-button"
TERMNEW_PREFIX = "ACTION_OFFICESELECT_TERMNEW_PREFIX"
CONCERN_CELL = "CLASS_METADATAGRIDENTRY_VALUECONTAINER"
TIME_SELECT = "ekolCalendarTimeSelect"
TIME_SELECT_ID = "ekolcalendartimeselectbox"
POPUP_DAY_ID = "ekolcalendarpopupdaytermineamcontainer"
POPUP_COUNT_ID = "ekolcalendarpopupdayfreieterminecontainer"
CLOSE_BUTTON = "messagebox_buttonclose"
DAY_SELECT = "||DAY_SELECT||"
POPUP_OK = "||POPUP_TIME_OK||"
#: free-count texts of a day cell and of the popup
FREE_TEXT = "{n} frei"
CLOSED_TEXT = "geschlossen"
POPUP_TITLE = "Verfügbare Termine am: {day:%d.%m.%Y}"
POPUP_COUNT = "{n} freie Termine"
SPELLINGS = ("classic", "span", "underscore")
#: class names of the calendar per spelling; the reader compares them lower-cased and
#: without ``_``, so it reads every spelling with one rule
CLASSES = {
    "classic": {
        "cell": "eKOLCalendarCellInRange",
        "cell_out": "eKOLCalendarCellOutOfRange",
        "number": "ekolCalendarDayNumberInRange",
        "number_out": "ekolCalendarDayNumberOutOfRange",
        "free": "ekolCalendarFreeTimeContainer",
        "button": "eKOLCalendarButtonDay",
        "table": "ekolCalendarMonthTable",
        "container": "ekolCalendarContainer",
    },
}
CLASSES["span"] = CLASSES["classic"]
CLASSES["underscore"] = {
    key: value.replace("eKOL", "ekol").replace("ekolCalendar", "ekolCalendar_")
    for key, value in CLASSES["classic"].items()
}
MONTH_SPAN_CLASS = {"classic": None, "span": "", "underscore": "conMonthNr"}

_COUNT = re.compile(r"(\d+) frei(?:e Termine|er Termin)?")
_POPUP_ZERO = re.compile(r"0 freie? Termine?")
_DAY_NUMBER = re.compile(r"(\d{1,2})(?:\.(\d{1,2})\.)?")
_HHMM = re.compile(r"\d{1,2}:\d{2}")


# ----------------------------------------------------------------------------- page reading


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


_WANTED = {key: _norm(value) for key, value in CLASSES["classic"].items()}


def _has(node: Node, key: str) -> bool:
    return any(_norm(c) == _WANTED[key] for c in (node.attributes.get("class") or "").split())


def _first(node: Node, key: str) -> Node | None:
    return next((n for n in node.css("[class]") if _has(n, key)), None)


def _form(doc) -> tuple[str, dict[str, str]]:
    form = doc.css_first(f"form#{CONTEXT_FORM}") or doc.css_first("form")
    if form is None:
        return "", {}
    hidden = {}
    for node in form.css("input"):
        attrs = node.attributes
        if (attrs.get("type") or "").lower() == "hidden" and attrs.get("name"):
            hidden[attrs["name"]] = attrs.get("value") or ""
    return form.attributes.get("action") or "", hidden


def _step(doc, text: str, url: str | None) -> str | None:
    heading = PAGES.get(pages.node_text(doc.css_first("h2.ekolStepBox2")))
    names = [b.attributes.get("name") or "" for b in doc.css("button, input[type=submit]")]
    steps = {s for s in STEPS for n in names if n.startswith(f"ACTION_{s}_")}
    if heading and steps - {heading}:
        raise pages.unknown(NAME, text, url, f"heading says {heading}, buttons {sorted(steps)}")
    if heading:
        return heading
    if len(steps) > 1:
        raise pages.unknown(NAME, text, url, f"buttons of several steps {sorted(steps)}")
    return steps.pop() if steps else None


def _messages(doc) -> list[str]:
    return [pages.node_text(li) for li in doc.css('ul[id$="msglist"] li') if pages.node_text(li)]


def _offices(doc, text: str, url: str | None) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for head in doc.css(f"div.{TREE_HEAD}"):
        button = head.css_first("button")
        name = pages.node_text(button)
        button_name = (button.attributes.get("name") or "") if button is not None else ""
        if name in SKIPPED_GROUPS or not button_name:
            continue
        office_id = button_name.rsplit("-", 1)[-1]
        found[office_id] = {"id": office_id, "name": name or None, "open": button_name}
    for button in doc.css("button"):
        button_name = button.attributes.get("name") or ""
        if _has_class(button, OFFICE_BUTTON):
            for office_id, office in found.items():
                if office_id in button_name and not office.get("book"):
                    office["book"] = button_name
        elif button_name.startswith(TERMNEW_PREFIX):
            office_id = button_name[len(TERMNEW_PREFIX) :]
            parent = button.parent
            label = pages.node_text(parent).replace(pages.node_text(button), "", 1).strip()
            found.setdefault(office_id, {"id": office_id, "name": label or None})
            found[office_id]["book"] = button_name
    if not found:
        raise pages.unknown(NAME, text, url, "an office chooser without offices")
    return list(found.values())


def _has_class(node: Node, name: str) -> bool:
    return name in (node.attributes.get("class") or "").split()


def _concerns(doc, text: str, url: str | None) -> list[tuple[str, str]]:
    choices = []
    for select in doc.css("select"):
        name = select.attributes.get("name") or ""
        if not name or name == TIME_SELECT:
            continue
        label = doc.css_first(f'label[for="{select.attributes.get("id") or "-"}"]')
        cell = select.parent
        if label is None and cell is not None and _has_class(cell, CONCERN_CELL):
            label = cell.prev if cell.prev is not None and cell.prev.tag == "td" else None
        choices.append((name, pages.node_text(label)))
    if not choices:
        raise pages.unknown(NAME, text, url, "a concern page without a count select")
    return choices


def _caption_month(table: Node) -> tuple[int, int] | None:
    parts = pages.node_text(table.css_first("caption")).split()
    if len(parts) != 2 or parts[0] not in MONTHS or not parts[1].isdigit():
        return None
    return int(parts[1]), MONTHS[parts[0]]


def _epoch_day(name: str, marker: str) -> date | None:
    tail = name.rsplit(marker, 1)[1] if marker in name else ""
    if not tail.isdigit():
        return None
    return datetime.fromtimestamp(int(tail) / 1000, OFFICE_TZ).date()


def _calendar(doc, text: str, url: str | None) -> dict[str, Any]:
    """Every in-range day: ``{"days": [(day, count, button, text)], "spelling": ...}``."""
    days, spelling = [], "classic"
    for table in doc.css("table"):
        month = _caption_month(table)
        if month is None:
            continue
        for cell in (td for td in table.css("td") if _has(td, "cell")):
            if "_" in (cell.attributes.get("class") or ""):
                spelling = "underscore"
            number, free = _first(cell, "number"), _first(cell, "free")
            if number is None or free is None:
                raise pages.unknown(NAME, text, url, "a day cell without day number or count")
            match = _DAY_NUMBER.fullmatch(re.sub(r"\s", "", number.text()))
            if match is None:
                raise pages.unknown(NAME, text, url, f"day number {number.text()!r}")
            if match.group(2) is not None:
                spelling = "underscore" if spelling == "underscore" else "span"
                if int(match.group(2)) != month[1]:
                    raise pages.unknown(NAME, text, url, f"day {number.text()} in {month}")
            try:
                day = date(month[0], month[1], int(match.group(1)))
            except ValueError:
                raise pages.unknown(NAME, text, url, f"no day {number.text()}") from None
            label = pages.node_text(free)
            count = _COUNT.fullmatch(label)
            if count is None and label != CLOSED_TEXT:
                raise pages.unknown(NAME, text, url, f"free count {label!r} of {day}")
            button = number.parent
            while button is not None and not button.attributes.get("name") and button != cell:
                button = button.parent
            button_name = (button.attributes.get("name") or "") if button is not None else ""
            stamped = _epoch_day(button_name, DAY_SELECT)
            if stamped is not None and stamped != day:
                raise pages.unknown(NAME, text, url, f"day button {button_name} for {day}")
            days.append((day, int(count.group(1)) if count else 0, button_name, label))
    return {"days": days, "spelling": spelling}


def _popup(doc, text: str, url: str | None) -> dict[str, Any] | None:
    select = doc.css_first(f'select[name="{TIME_SELECT}"]') or doc.css_first(
        f"select#{TIME_SELECT_ID}"
    )
    if select is None:
        return None
    box = select
    while box.parent is not None and not _has_class(box, "messagebox"):
        box = box.parent
    title = doc.css_first(f"#{POPUP_DAY_ID}")
    day = pages.find_date(pages.node_text(title if title is not None else box))
    ok = next((b for b in box.css("button") if POPUP_OK in (b.attributes.get("name") or "")), None)
    stamped = _epoch_day(ok.attributes.get("name") or "", POPUP_OK) if ok is not None else None
    if day is None or (stamped is not None and stamped != day):
        raise pages.unknown(NAME, text, url, f"a time popup for day {day} / {stamped}")
    times = []
    for option in select.css("option"):
        value = option.attributes.get("value") or ""
        if not value:
            continue
        label = pages.node_text(option)
        if not _HHMM.fullmatch(label):
            raise pages.unknown(NAME, text, url, f"time option {label!r}")
        time = pages.find_time(label)
        if len(value) >= 12 and value.isdigit():
            at = datetime.fromtimestamp(int(value) / 1000, OFFICE_TZ)
            if (at.date(), f"{at:%H:%M}") != (day, time):
                raise pages.unknown(NAME, text, url, f"time {label} has the value {value}")
        times.append(time)
    count = pages.node_text(doc.css_first(f"#{POPUP_COUNT_ID}"))
    if not times and not _POPUP_ZERO.fullmatch(count):
        raise pages.unknown(NAME, text, url, f"a time popup of {day} without times")
    close = box.css_first(f"button.{CLOSE_BUTTON}") or doc.css_first(f"button.{CLOSE_BUTTON}")
    close_name = (close.attributes.get("name") or None) if close is not None else None
    return {"day": day, "times": times, "count": count, "close": close_name}


def _calendar_view(doc, text: str, url: str | None, details: dict[str, Any]) -> PageView:
    cal = _calendar(doc, text, url)
    if not cal["days"]:
        raise pages.unknown(NAME, text, url, "a calendar without an in-range day cell")
    free = [(d, n, b) for d, n, b, _ in cal["days"] if n > 0]
    for d, _, b in free:
        if not b:
            raise pages.unknown(NAME, text, url, f"the free day {d} has no button")
    details.update(
        spelling=cal["spelling"],
        free=[{"date": d.isoformat(), "num_free": n, "button": b} for d, n, b in free],
    )
    days = [d.isoformat() for d, _, _ in free]
    popup = _popup(doc, text, url)
    if popup is not None:
        day = popup["day"]
        details.update(popup=day.isoformat(), times=popup["times"], close=popup["close"])
        reader = f"leipzig.popup.{cal['spelling']}"
        if not popup["times"]:
            marker = popup["count"]
            return PageView("none-free", days=days, marker=marker, reader=reader, details=details)
        slots = [f"{day.isoformat()} {t}" for t in popup["times"]]
        return PageView("times", days=days, slots=slots, reader=reader, details=details)
    reader = f"leipzig.calendar.{cal['spelling']}"
    if free:
        return PageView("days", days=days, reader=reader, details=details)
    marker = " / ".join(sorted({label for _, _, _, label in cal["days"]}))
    return PageView("none-free", marker=marker, reader=reader, details=details)


def read_page(text: str, url: str | None = None) -> PageView:
    """Recognise a step of the eKOL/TNV wizard and read it.

    INFOPAGE -> "start"; OFFICESELECT -> "offices" (``details["offices"]`` with the
    buttons that open and book each); CONCERNSELECT -> "services" (choices = the count
    selects); CONCERNCOMMENTS -> "services" without choices; CALENDARSELECT -> "days"
    (the free days), "times" (a day's popup is open) or "none-free" (every in-range day
    says ``0 frei``/``geschlossen``, or the popup says ``0 freie Termine``: the marker is
    that text). An eKOL page of no step that shows messages -> "error-page". Anything
    else raises PageError.
    """
    doc = pages.tree(text)
    step = _step(doc, text, url)
    action, hidden = _form(doc)
    details: dict[str, Any] = {"step": step, "form": [action, hidden], "messages": _messages(doc)}
    if step is None:
        if details["messages"] and (doc.css_first("h1.ekolHeadBox1, h2.ekolStepBox2")):
            error = " ".join(details["messages"])
            return PageView("error-page", error=error, reader="leipzig.message", details=details)
        raise pages.unknown(NAME, text, url, "no eKOL wizard step")
    if not action and not hidden:
        raise pages.unknown(NAME, text, url, f"step {step} without a form")
    if step == CALENDARSELECT:
        return _calendar_view(doc, text, url, details)
    kind, reader = STEP_VIEWS[step]
    if step == OFFICESELECT:
        details["offices"] = _offices(doc, text, url)
        offices = [Office(o["id"], o["name"]) for o in details["offices"]]
        return PageView(kind, offices=offices, reader=reader, details=details)
    if step == CONCERNSELECT:
        choices = _concerns(doc, text, url)
        return PageView(kind, choices=choices, reader=reader, details=details)
    return PageView(kind, reader=reader, details=details)


# ----------------------------------------------------------------------------- scraping


class _Wizard:
    """The current page of the form session (as read by ``read_page``) and how to submit it."""

    def __init__(self, session: Any, base_url: str):
        self.session = session
        self.root = base_url.split("?", 1)[0].rstrip("/") + "/"
        self.base_url = base_url
        self.url = base_url
        self.view = PageView("start")

    def _read(self, response) -> None:
        self.url = str(response.url)
        self.view = read_page(response.text, self.url)

    async def open(self) -> None:
        self._read(await self.session.get(self.base_url))

    @property
    def step(self) -> str | None:
        return self.view.details.get("step")

    def expect(self, *steps: str) -> str:
        if self.step not in steps:
            found = self.step or self.view.page
            extra = f" ({self.view.error})" if self.view.error else ""
            raise ScrapeError(f"expected page {' or '.join(steps)}, found {found}{extra}", self.url)
        return str(self.step)

    async def submit(self, fields: dict[str, str]) -> None:
        action, hidden = self.view.details["form"]
        if action.startswith(("http://", "https://", "/")):
            target = urljoin(self.url, action)
        else:
            target = urljoin(self.root, action)
        data = {**hidden, "SELECTED_LANGUAGE": "de", **fields}
        self._read(await self.session.post(target, data=data))

    async def back_to_offices(self) -> None:
        for _ in range(MAX_BACK_STEPS):
            step = self.expect(*STEPS)
            if step == OFFICESELECT:
                return
            await self.submit({f"ACTION_{step}_PREVIOUS": ""})
        raise ScrapeError("could not step back to the office list", url=self.url)


async def _to_calendar(wiz: _Wizard, office: dict[str, Any]) -> None:
    book = office.get("book")
    if not book:
        await wiz.submit({office["open"]: "Öffnen", **OFFICE_FIELDS})
        wiz.expect(OFFICESELECT)
        listed = {o["id"]: o for o in wiz.view.details["offices"]}
        book = listed.get(office["id"], {}).get("book")
        if not book:
            raise ScrapeError(f"no office button for office {office['id']}", url=wiz.url)
    await wiz.submit({book: "", **OFFICE_FIELDS})
    wiz.expect(CONCERNSELECT)
    fields = {name: "1" if i == 0 else "0" for i, (name, _) in enumerate(wiz.view.choices)}
    await wiz.submit({**fields, "ACTION_CONCERNSELECT_NEXT": ""})
    if wiz.expect(CONCERNCOMMENTS, CALENDARSELECT) == CONCERNCOMMENTS:
        await wiz.submit({"ACTION_CONCERNCOMMENTS_NEXT": ""})
    wiz.expect(CALENDARSELECT)


async def _office_days(wiz: _Wizard, office: dict[str, Any]) -> dict[str, Any]:
    await _to_calendar(wiz, office)
    calendar, url = wiz.view, wiz.url
    days, markers = [], []
    for free in calendar.details["free"]:
        await wiz.submit({free["button"]: ""})
        wiz.expect(CALENDARSELECT)
        if wiz.view.details.get("popup") != free["date"]:
            raise ScrapeError(f"the button of {free['date']} opened no popup of it", wiz.url)
        times = list(wiz.view.details["times"])
        if wiz.view.marker:
            markers.append(f"{free['date']}: {wiz.view.marker}")
        if wiz.view.details.get("close"):
            await wiz.submit({wiz.view.details["close"]: ""})
            wiz.expect(CALENDARSELECT)
        days.append({"date": free["date"], "num_free": free["num_free"], "times": times})
    none_free = calendar.marker
    if none_free is None and markers and len(markers) == len(days):
        none_free = "; ".join(markers)  # every free day's popup said it had none left
    return {"days": days, "none_free": none_free, "url": url}


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    """Walk the wizard: agreement (if asked), then per office concern and calendar, then back."""
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    wiz = _Wizard(session, base_url)
    await wiz.open()
    if wiz.expect(INFOPAGE, OFFICESELECT) == INFOPAGE:
        await wiz.submit(
            {"AGREEMENT_ACCEPT": "on", "AGREEMENT_REQUIRED": "true", "ACTION_INFOPAGE_NEXT": ""}
        )
        wiz.expect(OFFICESELECT)
    raw = []
    for office in list(wiz.view.details["offices"]):
        found = await _office_days(wiz, office)
        raw.append({"name": office["name"], "id": office["id"], **found})
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
        marker, url = office.get("none_free"), office.get("url")
        if marker is not None and not isinstance(marker, str):
            raise ParseError(f"{where}: bad none_free {marker!r}")
        slots = [s for day in days for s in _day_slots(day, where)]
        loc_id = str(office_id)
        known = locations.get(loc_id)
        if known is not None:
            slots.extend(known.slots)
            marker = marker or known.empty
        locations[loc_id] = Location(
            id=loc_id,
            name=name or None,
            slots=sorted_slots(slots),
            empty=None if slots else marker,
            url=url if isinstance(url, str) else None,
        )
    return ParsedSnapshot(locations)


FAMILY = Family(
    name=NAME,
    summary="eKOL/TNV form wizard (Telecomputer): offices -> concerns -> calendar -> time popup",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("base_url",),
    fingerprints=(r"/tnv/?(\?|$)", r"START_OFFICE=", r"ekol"),
    page_fingerprints=(
        r"\bekol(?:Body|Container|StepBox2|CalendarMonthTable)\b",
        r'name="PGUTSMSC"',
    ),
    propose=propose.leipzig,
    server="office_schedule.simulate.leipzig_server",
)
