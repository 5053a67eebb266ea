"""TEMPUS (tempus-termine.com and the self-hosted Essen instance): server-rendered PHP pages.

Protocol: docs/protocols/etermin-tempus.md, section 2. The scraper reads the index form,
submits one service per category, follows the location overview (if any) to calendar pages,
and fetches every event day (plus the tail of days after the last event up to the horizon).
The selection lives in the server session, so the session's cookies carry it between pages.

Raw payload::

    {"options": [{"category": str, "name": str, "id": str | None}, ...],
     "calendars": [{"loc": str | None, "queue": str | None, "task": str | None,
                    "category": str, "sub_category": str (overview-derived only),
                    "dates": {"YYYY-MM-DD": ["HH:MM", ...]}}, ...]}

The HTML readers are small pure functions; they raise :class:`PageError`, which ``scrape``
turns into a :class:`ScrapeError` naming the page and its URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import look_ahead_days, parse_slot

NAME = "tempus"

NO_LOCATION_TEXT = "Leider können wir Ihnen im Moment an keinem Standort einen Termin anbieten."
BOOKED_OUT_TEXT = "Leider sind derzeit alle Termine ausgebucht."
OVERVIEW_MARKERS = (
    "Der stadtweit früheste Termin ist",
    "Frühestmögliche Termine",
    "Standorte und frühestmögliche Termine",
    "Standorte und<br/>frühestmögliche Termine",
    "Bürgerbüros und<br/>frühestmögliche Termine",
    "Bürgerbüros und frühestmögliche Termine",
    "Bürgerämter und<br/>frühestmögliche Termine",
    "Zulassungsstelle und<br/>frühestmögliche Termine",
    "Bäder und<br/>frühestmögliche Schwimmzeit",
)
NOTICE_HEADING = "<h1>Wichtiger Hinweis</h1>"
NOTICE_BUTTON_VALUES = (
    "Ich habe die Hinweise zur Kenntnis genommen",
    "Habe ich zur Kenntnis genommen",
    "Ich möchte gern vorbei kommen",
    "Bestätigen und weiter zur Terminauswahl",
)

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_DAY_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATUM = re.compile(r"datum=(" + _DAY_KEY.pattern + ")")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")
_IDENTITY = {"loc": "standortrowid", "queue": "schlangennr", "task": "tasks"}


class PageError(ValueError):
    """A page does not have the shape the protocol expects (message says what was expected)."""


# ---------------------------------------------------------------- pure HTML readers


def resolve_link(base_url: str, href: str) -> str | None:
    """The absolute URL of a page link, or None if it is neither ``index.php…`` nor ``?…``."""
    href = href.strip()
    if href.startswith("?"):
        return base_url.split("?", 1)[0].split("#", 1)[0] + href
    if href.startswith("index.php"):
        return urljoin(base_url, href)
    return None


def serialised(html: str) -> str:
    """The re-serialised page with line breaks written ``<br/>`` (markers are matched on it)."""
    return _BR.sub("<br/>", HTMLParser(html).html or "")


def _text(node: Any) -> str:
    return node.text(deep=True, separator="", strip=False)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _form(html: str) -> Any:
    form = HTMLParser(html).css_first("form#formular")
    if form is None:
        raise PageError('expected the booking form <form id="formular">, found none')
    return form


def form_action(html: str) -> str:
    """The ``action`` of ``<form id="formular">`` on the index page."""
    return _form(html).attributes.get("action") or ""


def _option(category: str, name: str, option_id: str | None) -> dict[str, Any]:
    return {"category": category, "name": name.strip(), "id": option_id}


def _options_from_lists(form: Any) -> list[dict[str, Any]]:
    menu = form.css_first("ul.menuepunkt")
    if menu is None:
        return []
    options = []
    for li in (child for child in menu.iter() if child.tag == "li"):
        h3 = li.css_first("h3")
        category = _text(h3).strip() if h3 is not None else None
        sub = li.css_first("ul.untermenuepunkt")
        if sub is not None:
            if category is None:
                category = _first_line(_text(li))
            for item in sub.css("li"):
                label = item.css_first("span")
                if label is None:
                    label = item.css_first("div.anliegen")
                if label is None:
                    raise PageError(
                        f"option in category {category!r} has neither <span> nor "
                        f'<div class="anliegen"> naming it: {_text(item).strip()[:60]!r}'
                    )
                select = item.css_first("select")
                select_id = select.attributes.get("id") if select is not None else None
                options.append(_option(category, _text(label), select_id))
            continue
        option_id = None
        for selector, attr in (
            ('input[type="radio"]', "value"),
            ('input[type="checkbox"]', "value"),
            ("select", "name"),
        ):
            node = li.css_first(selector)
            if node is not None and node.attributes.get(attr):
                option_id = node.attributes[attr]
                break
        if option_id is not None:
            content = li.css_first("div.liContent")
            named = content if content is not None else li
            options.append(_option("default", _text(named), option_id))
    return options


def _label_option(label: Any, category: str) -> dict[str, Any]:
    span = label.css_first("span")
    if span is None:
        raise PageError(f"option label without <span> naming it: {_text(label).strip()[:60]!r}")
    select = label.css_first("select")
    select_id = select.attributes.get("id") if select is not None else None
    return _option(category, _text(span), select_id)


def _options_from_labels(form: Any) -> list[dict[str, Any]]:
    if not form.css("label.untermenuepunkt"):
        return [_label_option(label, "default") for label in form.css("label.menuepunkt")]
    options, category = [], "-"
    for label in form.css("label"):
        classes = label.attributes.get("class")
        if classes is None:
            raise PageError(f"option label without class: {_text(label).strip()[:60]!r}")
        tokens = classes.split()
        if "menuepunkt" in tokens:
            category = _text(label).strip()
        elif "untermenuepunkt" in tokens:
            options.append(_label_option(label, category))
    return options


def parse_options(html: str) -> list[dict[str, Any]]:
    """The services offered by the index form: ``[{category, name, id}]`` (2.2 A)."""
    form = _form(html)
    return _options_from_lists(form) or _options_from_labels(form)


def category_forms(options: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """Per category with id-bearing options: the form body choosing its first service once."""
    bodies: dict[str, dict[str, str]] = {}
    for opt in options:
        bodies.setdefault(opt["category"], {})
        if opt["id"] is not None:
            body = bodies[opt["category"]]
            body[opt["id"]] = "0" if body else "1"
    return [(category, body) for category, body in bodies.items() if body]


def notice_target(html: str) -> str | None:
    """The link behind the button of a notice ("Wichtiger Hinweis") page, else None."""
    tree = HTMLParser(html)
    is_notice = NOTICE_HEADING in serialised(html) or any(
        node.attributes.get("value") in NOTICE_BUTTON_VALUES for node in tree.css("[value]")
    )
    if not is_notice:
        return None
    button = tree.css_first('input[type="button"]')
    if button is None:
        button = tree.css_first('input[type="submit"]')
    if button is None:
        raise PageError("notice page has no button or submit input to continue")
    onclick = button.attributes.get("onclick") or ""
    start = onclick.find("href='")
    start = onclick.find("?", start) if start >= 0 else -1
    if start < 0 or len(onclick) - start <= 2:
        raise PageError(f"notice page button has no usable onclick link: {onclick!r}")
    return onclick[start:-2]


def classify_answer(html: str) -> str:
    """What the form submission answered: ``none``, ``overview`` or ``calendar``."""
    text = serialised(html)
    if NO_LOCATION_TEXT in text or NO_LOCATION_TEXT in _plain(html):
        return "none"
    if any(marker in text for marker in OVERVIEW_MARKERS):
        return "overview"
    return "calendar"


def _plain(html: str) -> str:
    body = HTMLParser(html).body
    return " ".join(_text(body).split()) if body is not None else ""


def overview_links(html: str) -> list[tuple[str, str]]:
    """``(sub_category, href)`` of every location link on an overview page (2.1 step 4)."""
    tree = HTMLParser(html)
    links = [a for a in tree.css("a.infolink") if "Uhr" not in _text(a)]
    if not links:
        for li in tree.css("ul#nav_menu2 li"):
            a = li.css_first("a")
            if a is not None and not _text(a).strip().endswith("Uhr"):
                links.append(a)
    if not links:
        raise PageError(
            'location overview without location links (a.infolink or "ul#nav_menu2 li a")'
        )
    return [
        (_text(a).strip().removeprefix("Termine in "), a.attributes.get("href") or "")
        for a in links
    ]


@dataclass
class CalendarPage:
    """A month view: the calendar identity and its event days ``(YYYY-MM-DD, href)``."""

    loc: str | None
    queue: str | None
    task: str | None
    events: list[tuple[str, str]]


def link_identity(href: str) -> dict[str, str | None]:
    """``loc``/``queue``/``task`` of an event link (last occurrence of each key wins)."""
    found = {key: re.findall(name + r"=([0-9]+)", href) for key, name in _IDENTITY.items()}
    return {key: values[-1] if values else None for key, values in found.items()}


def parse_calendar(html: str) -> CalendarPage | None:
    """Read the month tables (2.2 B); None for the documented "no calendar" pages."""
    tree = HTMLParser(html)
    tables = tree.css("table.cal")
    if not tables:
        if tree.css_first("table.appointment") is not None or BOOKED_OUT_TEXT in _plain(html):
            return None
        raise PageError(
            'No table found: expected month tables <table class="cal">, a booking screen '
            f'<table class="appointment"> or "{BOOKED_OUT_TEXT}"'
        )
    events = []
    for table in tables:
        for cell in table.css("td.monatevent"):
            a = cell.css_first("a[href]")
            if a is None:
                continue
            href = a.attributes["href"] or ""
            found = _DATUM.findall(href)
            if not found:
                raise PageError(f"event day link without datum=YYYY-MM-DD: {href!r}")
            try:
                date.fromisoformat(found[-1])
            except ValueError:
                raise PageError(f"event day link with impossible date: {href!r}") from None
            events.append((found[-1], href))
    if not events:
        return None
    return CalendarPage(**link_identity(events[0][1]), events=events)


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


def parse_day(html: str) -> list[str]:
    """Sorted unique ``HH:MM`` of a day page: the last time in each cell of table.termine."""
    table = HTMLParser(html).css_first("table.termine")
    if table is None:
        raise PageError('expected the time table <table class="termine">, found none')
    times = set()
    for cell in table.css("td"):
        found = _TIME.findall(_text(cell).strip())
        if found:
            times.add(found[-1])
    return sorted(times)


# ---------------------------------------------------------------- requests


@dataclass
class _Page:
    url: str
    html: str


async def _get(session: Any, url: str) -> _Page:
    response = await session.get(url)
    return _Page(str(response.url), response.text)


def _follow(base_url: str, href: str, what: str, page: _Page) -> str:
    url = resolve_link(base_url, href)
    if url is None:
        raise ScrapeError(
            f"tempus {what}: link {href!r} starts with neither 'index.php' nor '?'", url=page.url
        )
    return url


def _read(reader: Any, page: _Page, what: str) -> Any:
    try:
        return reader(page.html)
    except PageError as exc:
        raise ScrapeError(f"tempus {what}: {exc}", url=page.url) from None


async def _skip_notice(session: Any, base_url: str, page: _Page, what: str) -> _Page:
    href = _read(notice_target, page, what)
    if href is None:
        return page
    return await _get(session, _follow(base_url, href, f"{what} (notice button)", page))


async def _calendar(
    session: Any, base_url: str, page: _Page, labels: dict[str, str], max_date: date
) -> dict[str, Any] | None:
    """Read one calendar page and its days; ``labels`` are category and sub_category."""
    what = "calendar of " + " / ".join(repr(v) for v in labels.values())
    page = await _skip_notice(session, base_url, page, what)
    calendar = _read(parse_calendar, page, what)
    if calendar is None:
        return None
    dates: dict[str, list[str]] = {}
    for day, href in day_links(calendar.events, max_date):
        day_page = await _get(session, _follow(base_url, href, f"{what}, day link", page))
        times = _read(parse_day, day_page, f"day page {day} of {what}")
        if times:
            dates[day] = times
    identity = {"loc": calendar.loc, "queue": calendar.queue, "task": calendar.task}
    return {**identity, **labels, "dates": dates}


def _index_params(source: Any) -> dict[str, str]:
    """``anlagennr`` first, then the ``extra`` parameters (``k=v[&k2=v2]``, Essen: anwendung)."""
    anlagennr, extra = source.params.get("anlagennr"), source.params.get("extra") or ""
    try:
        if not anlagennr:
            raise ValueError("lacks parameter anlagennr")
        pairs = parse_qsl(extra, keep_blank_values=True, strict_parsing=True) if extra else []
    except ValueError as exc:
        raise ScrapeError(f"tempus source {source.id!r}: bad parameters ({exc})") from None
    return {"anlagennr": anlagennr, **dict(pairs)}


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """One snapshot: index form, one submission per category, calendars and their days."""
    base_url = source.base_url
    max_date = look_ahead_days(now.date(), weeks)[-1]
    session.clear_cookies()
    response = await session.get(base_url, params=_index_params(source))
    index = _Page(str(response.url), response.text)
    action = _read(form_action, index, "index page")
    options = _read(parse_options, index, "index page options")
    action_url = _follow(base_url, action, "index page form action", index)
    calendars: list[dict[str, Any] | None] = []
    for category, body in category_forms(options):
        what = f"answer to category {category!r}"
        response = await session.post(action_url, data=body)
        page = await _skip_notice(session, base_url, _Page(str(response.url), response.text), what)
        kind = classify_answer(page.html)
        if kind == "calendar":
            labels = {"category": category}
            calendars.append(await _calendar(session, base_url, page, labels, max_date))
        elif kind == "overview":
            for sub_category, href in _read(overview_links, page, f"location overview of {what}"):
                if "standortrowid" not in href:
                    continue
                url = _follow(base_url, href, f"location overview of {what}", page)
                labels = {"category": category, "sub_category": sub_category}
                cal_page = await _get(session, url)
                calendars.append(await _calendar(session, base_url, cal_page, labels, max_date))
    return {"options": options, "calendars": [c for c in calendars if c is not None]}


# ---------------------------------------------------------------- parse


def _field(obj: dict[str, Any], key: str, where: str, types: tuple[type, ...]) -> Any:
    if key not in obj:
        raise ParseError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise ParseError(f"{where}.{key}: expected {names}, got {value!r}")
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


def parse(raw: Any) -> ParsedSnapshot:
    """Locations ``<loc>/<task>`` with names, services and slots from a raw payload."""
    if not isinstance(raw, dict):
        raise ParseError(f"tempus payload: expected an object, got {type(raw).__name__}")
    options = _field(raw, "options", "tempus payload", (list,))
    calendars = _field(raw, "calendars", "tempus payload", (list,))
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
            if value is not None and not _DIGITS.fullmatch(value):
                raise ParseError(f"{where}.{key}: expected a digit string or null, got {value!r}")
            keys[key] = value
        category = _field(cal, "category", where, (str,))
        sub = _field(cal, "sub_category", where, (str,)) if "sub_category" in cal else None
        dates = _field(cal, "dates", where, (dict,))
        loc_id = f"{keys['loc'] or '-'}/{keys['task'] or '-'}"
        name = (f"{sub}: {category}" if sub else category) or None
        slots = _calendar_slots(dates, where)
        old = locations.get(loc_id)
        if old is not None:  # same loc/task reached from two categories: merge
            name = old.name or name
            slots += list(old.slots)
            merged = set(old.services) | services.get(category, set())
        else:
            merged = services.get(category, set())
        locations[loc_id] = Location(
            id=loc_id, name=name, services=tuple(sorted(merged)), slots=tuple(sorted(set(slots)))
        )
    return ParsedSnapshot(locations=locations)
