"""Readers of the WEB_APPOINT ("AJAX") netappoint skin (Munich's netappoint, 2019-2024).

- the **form page** (``…/termin/index.php?loc=FS``): a ``WEB_APPOINT_CASETYPELIST`` with one
  count ``<select name="CASETYPES[<service>]">`` per service and hidden fields (``step``,
  a token ``FRM_CASETYPES_token`` or ``__ncforminfo``) -> ``services``;
- the **answer** to ``POST CASETYPES[<service>]=1&step=WEB_APPOINT_SEARCH_BY_CASETYPES``:
  ``var jsonAppoints = '{"<queue>": {"caption", "id", "appoints": {"YYYY-MM-DD": ["HH:MM"]}}}';``
  plus ``div#locationContent``, one calendar block per location -> ``times`` (or
  ``none-free`` when every day cell says ``Keine freien Termine am``). The calendar's
  bookable days and the non-empty days of jsonAppoints must agree;
- the **calendar fragment** alone (the outerHTML of ``#locationContent``, like the real
  file ``real-pages/netappoint/muenchen_abh_2023-10_calendar_fragment.html``) -> ``days``
  or ``none-free``.

A calendar cell is either empty padding, ``<span class="hidden">Keine freien Termine am
</span>1<span class="hidden">.10.2023</span>`` or a link ``a.nat_calendar_weekday_bookable``
to ``javascript:locationList.showTimeList('<id>','<id>TL','YYYY-MM-DD')`` reading ``Termin am
28.4.2022 reservieren``; anything else is a PageError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..pages import Office, PageError, PageView, hhmm, node_text, squash
from . import protocol as p

FORM = "netappoint.web-appoint-form"
CALENDAR = "netappoint.web-appoint-calendar"
ANSWER = "netappoint.web-appoint-answer"

_CELL_DATE = r"(\d{1,2})\.(\d{1,2})\.(\d{4})"
_NONE_CELL = re.compile(re.escape(p.NONE_FREE_CELL) + r"\s*" + _CELL_DATE)
_BOOKABLE_CELL = re.compile(
    re.escape(p.BOOKABLE_CELL[0]) + r"\s*" + _CELL_DATE + r"\s*" + re.escape(p.BOOKABLE_CELL[1])
)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"(\d{2}):(\d{2})")


@dataclass(frozen=True)
class WebForm:
    """The WEB_APPOINT form: where to POST, its hidden fields and the service names."""

    action: str | None
    hidden: dict[str, str]
    casetypes: tuple[str, ...]


@dataclass
class WebLocation:
    """One location of a WEB_APPOINT answer or calendar, keyed by its 32-hex id."""

    id: str
    caption: str
    queues: list[str] = field(default_factory=list)
    days: set[str] = field(default_factory=set)  # bookable days (calendar)
    slots: set[str] = field(default_factory=set)  # free times (jsonAppoints)
    shown: list[tuple[int, int]] = field(default_factory=list)  # (year, month) blocks


# --------------------------------------------------------------------------- form page


def _form_of(node: Node) -> Node | None:
    while node is not None and node.tag != "form":
        node = node.parent
    return node


def form_view(doc: HTMLParser, url: str | None) -> PageView | None:
    """The service form: every ``CASETYPES[<name>]`` field inside the casetype list."""
    box = doc.css_first(f"#{p.CASETYPE_LIST}, .{p.CASETYPE_LIST}")
    if box is None:
        return None
    names, labels = [], {}
    for node in box.css("select[name], input[name]"):
        match = p.CASETYPES_FIELD.fullmatch(node.attributes.get("name") or "")
        if not match or match.group(1) in labels:
            continue
        names.append(match.group(1))
        label = None
        if node.attributes.get("id"):
            label = doc.css_first(f'label[for="{node.attributes["id"]}"]')
        labels[match.group(1)] = node_text(label) or match.group(1)
    if not names:
        raise PageError(f"netappoint {p.CASETYPE_LIST} without any CASETYPES[…] field", url)
    form = _form_of(box) or _form_of(box.css_first("select, input") or box)
    scope = form if form is not None else doc.root
    hidden = {
        n.attributes["name"]: n.attributes.get("value") or ""
        for n in scope.css('input[type="hidden"][name]')
    }
    step = hidden.setdefault("step", p.SEARCH_STEP)
    if step != p.SEARCH_STEP:
        raise PageError(f"netappoint WEB_APPOINT form has step={step!r}", url)
    action = (form.attributes.get("action") or "").strip() or None if form is not None else None
    return PageView(
        "services",
        choices=[(name, labels[name]) for name in names],
        reader=FORM,
        details={"form": WebForm(action, hidden, tuple(names))},
    )


# --------------------------------------------------------------------------- calendar


def _cell_date(match: re.Match[str]) -> date | None:
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _read_cell(td: Node, loc_id: str, month: tuple[int, int], url: str | None):
    """(date, bookable?) of a day cell, None for padding; PageError for anything else."""
    text = squash(td.text(separator=""))
    links = td.css("a")
    if not links:
        if not text and not list(td.iter(include_text=False)):
            return None
        match = _NONE_CELL.fullmatch(text)
        day = _cell_date(match) if match else None
        bookable = False
    else:
        link = links[0]
        href = (link.attributes.get("href") or "").strip()
        target = p.SHOW_TIME_LIST.fullmatch(href)
        match = _BOOKABLE_CELL.fullmatch(text)
        ok = len(links) == 1 and p.BOOKABLE_CLASS in (link.attributes.get("class") or "").split()
        if not (ok and target and match):
            raise PageError(f"netappoint calendar cell {text!r} has an unknown link {href!r}", url)
        if target.group(1) != loc_id or target.group(2) != loc_id:
            raise PageError(f"netappoint day link {href!r} names another location", url)
        day = _cell_date(match)
        if day is None or day.isoformat() != target.group(3):
            raise PageError(f"netappoint day link {href!r} reads {text!r}", url)
        bookable = True
    if day is None or (day.year, day.month) != month:
        raise PageError(f"netappoint calendar cell {text!r} is not a day of {month}", url)
    return day, bookable


def _read_month(block: Node, loc: WebLocation, url: str | None) -> None:
    tables = block.css(f"table.{p.CALENDAR_CLASS}")
    if len(tables) != 1:
        raise PageError(f"netappoint month block with {len(tables)} calendar tables", url)
    caption = node_text(tables[0].css_first("caption"))
    month = p.parse_month_name(caption.removeprefix(p.CALENDAR_CAPTION).strip())
    if not caption.startswith(p.CALENDAR_CAPTION) or month is None:
        raise PageError(f"netappoint calendar caption {caption!r} names no month", url)
    if block.attributes.get("id") != p.month_id(loc.id, *month):
        raise PageError(f"netappoint month block id {block.attributes.get('id')!r}", url)
    seen = set()
    for td in tables[0].css("td"):
        cell = _read_cell(td, loc.id, month, url)
        if cell is None:
            continue
        day, bookable = cell
        if day in seen:
            raise PageError(f"netappoint calendar shows {day} twice", url)
        seen.add(day)
        if bookable:
            loc.days.add(day.isoformat())
    if not seen:
        raise PageError(f"netappoint calendar of {caption!r} shows no day", url)
    loc.shown.append(month)


def read_calendar(doc: HTMLParser, url: str | None) -> dict[str, WebLocation] | None:
    """The locations of ``div#locationContent`` with their bookable days; None without it."""
    box = doc.css_first(f"div#{p.LOCATION_LIST_ID}")
    if box is None:
        return None
    locations: dict[str, WebLocation] = {}
    for headline in box.css(f"input.{p.HEADLINE_CLASS}"):
        match = p.HEADLINE_TOGGLE.search(headline.attributes.get("onclick") or "")
        caption = squash(headline.attributes.get("value") or "")
        if match is None or not caption:
            raise PageError("netappoint location headline without caption or toggle id", url)
        loc = locations.setdefault(match.group(1), WebLocation(match.group(1), caption))
        content = box.css(f'div.{p.CONTENT_CLASS}[id="{loc.id}"]')
        if len(content) != 1:
            raise PageError(f"netappoint location {caption!r} has {len(content)} contents", url)
        blocks = content[0].css(f"div.{p.MONTH_CLASS}")
        if not blocks:
            raise PageError(f"netappoint location {caption!r} shows no month", url)
        for block in blocks:
            _read_month(block, loc, url)
    if not locations:
        raise PageError(f"netappoint #{p.LOCATION_LIST_ID} without any location headline", url)
    if len(box.css(f"div.{p.CONTENT_CLASS}")) != len(locations):
        raise PageError("netappoint location contents without a headline", url)
    return locations


def _is_fragment(doc: HTMLParser) -> bool:
    """True when the document is only ``div#locationContent`` (a saved outerHTML)."""
    if doc.body is None or doc.head is None or list(doc.head.iter(include_text=False)):
        return False
    children = list(doc.body.iter(include_text=False))
    return len(children) == 1 and children[0].id == p.LOCATION_LIST_ID


def calendar_view(doc: HTMLParser, url: str | None) -> PageView | None:
    """The bare calendar fragment: bookable showTimeList days -> days, else none-free."""
    locations = read_calendar(doc, url)
    if locations is None:
        return None
    if not _is_fragment(doc):
        raise PageError(f"netappoint WEB_APPOINT calendar inside a page without {p.JSON_VAR}", url)
    days = sorted(set().union(*(loc.days for loc in locations.values())))
    offices = [Office(loc.id, loc.caption) for loc in locations.values()]
    details = {"locations": locations}
    if days:
        return PageView("days", days=days, offices=offices, reader=CALENDAR, details=details)
    return PageView(
        "none-free", marker=p.NONE_FREE_CELL, offices=offices, reader=CALENDAR, details=details
    )


# --------------------------------------------------------------------------- answer


def read_appoints(text: str, url: str | None) -> dict[str, WebLocation] | None:
    """The locations of ``var jsonAppoints = '…';`` with their free times; None without it."""
    match = p.JSON_ASSIGNMENT.search(text)
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError as exc:
        raise PageError(f"netappoint {p.JSON_VAR} is not JSON ({exc})", url) from None
    if not isinstance(data, dict) or not data:
        raise PageError(f"netappoint {p.JSON_VAR} lists no location", url)
    locations: dict[str, WebLocation] = {}
    for queue, entry in data.items():
        where = f"netappoint {p.JSON_VAR}[{queue!r}]"
        if not isinstance(entry, dict):
            raise PageError(f"{where} is not an object", url)
        caption, loc_id, appoints = entry.get("caption"), entry.get("id"), entry.get("appoints")
        if not isinstance(caption, str) or not caption.strip():
            raise PageError(f"{where} has no caption", url)
        if not isinstance(loc_id, str) or not p.WEB_ID.fullmatch(loc_id):
            raise PageError(f"{where} has no 32-hex id", url)
        if not isinstance(appoints, dict):
            raise PageError(f"{where} has no appoints object", url)
        loc = locations.setdefault(loc_id, WebLocation(loc_id, squash(caption)))
        loc.queues.append(queue)
        for day, times in appoints.items():
            if not _ISO_DAY.fullmatch(day) or not isinstance(times, list):
                raise PageError(f"{where}: day {day!r} -> {times!r}", url)
            try:
                date.fromisoformat(day)
            except ValueError:
                raise PageError(f"{where}: {day!r} is not a date", url) from None
            for value in times:
                time = _HHMM.fullmatch(value) if isinstance(value, str) else None
                if time is None or hhmm(*time.groups()) is None:
                    raise PageError(f"{where}: {value!r} on {day} is not HH:MM", url)
                loc.slots.add(f"{day} {value}")
    return locations


def answer_view(doc: HTMLParser, text: str, url: str | None) -> PageView | None:
    """jsonAppoints + calendar: every free time, cross-checked against the calendar."""
    appoints = read_appoints(text, url)
    if appoints is None:
        return None
    calendar = read_calendar(doc, url)
    if calendar is None:
        raise PageError(f"netappoint {p.JSON_VAR} without #{p.LOCATION_LIST_ID} calendar", url)
    if set(calendar) != set(appoints):
        raise PageError(
            f"netappoint calendar locations {sorted(calendar)} differ from {p.JSON_VAR} "
            f"{sorted(appoints)}",
            url,
        )
    for loc_id, loc in appoints.items():
        shown = calendar[loc_id]
        free_days = {slot[:10] for slot in loc.slots}
        if free_days != shown.days:
            raise PageError(
                f"netappoint {loc.caption!r}: calendar bookable {sorted(shown.days)} but "
                f"{p.JSON_VAR} has times on {sorted(free_days)}",
                url,
            )
        loc.days, loc.shown = shown.days, shown.shown
    slots = sorted(set().union(*(loc.slots for loc in appoints.values())))
    offices = [
        Office(loc.id, loc.caption, min(loc.slots) if loc.slots else None)
        for loc in appoints.values()
    ]
    days = sorted({slot[:10] for slot in slots})
    details = {"locations": appoints}
    if slots:
        return PageView(
            "times", days=days, slots=slots, offices=offices, reader=ANSWER, details=details
        )
    return PageView(
        "none-free", marker=p.NONE_FREE_CELL, offices=offices, reader=ANSWER, details=details
    )
