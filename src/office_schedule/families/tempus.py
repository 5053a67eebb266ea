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

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages
from .common import look_ahead_days, parse_slot
from .pages import Office, PageError, PageView

NAME = "tempus"

NO_LOCATION_TEXT = "Leider können wir Ihnen im Moment an keinem Standort einen Termin anbieten."
BOOKED_OUT_TEXT = "Leider sind derzeit alle Termine ausgebucht."
#: the location chooser (``page=standortauswahl``) with nothing free (2025-26 bots' code)
NO_APPOINTMENTS_TEXT = "Keine Termine verfügbar"
#: one location of a chooser without a free appointment (a 2023 bot counts it per queue)
ROW_NONE_TEXT = "Kein Termin verfügbar"
#: not seen on a real page: the simulator's wording of a lost session
EXPIRED_TEXT = "Ihre Sitzung ist abgelaufen oder die gewählte Anlage ist nicht verfügbar."
OVERVIEW_MARKERS = (
    "Der stadtweit früheste Termin ist", "Frühestmögliche Termine",
    "Standorte und frühestmögliche Termine", "Standorte und<br/>frühestmögliche Termine",
    "Bürgerbüros und<br/>frühestmögliche Termine", "Bürgerbüros und frühestmögliche Termine",
    "Bürgerämter und<br/>frühestmögliche Termine",
    "Zulassungsstelle und<br/>frühestmögliche Termine", "Bäder und<br/>frühestmögliche Schwimmzeit",
)  # fmt: skip
NOTICE_HEADING = "<h1>Wichtiger Hinweis</h1>"
NOTICE_BUTTON_VALUES = (
    "Ich habe die Hinweise zur Kenntnis genommen", "Habe ich zur Kenntnis genommen",
    "Ich möchte gern vorbei kommen", "Bestätigen und weiter zur Terminauswahl",
)  # fmt: skip
#: calendar cells: a bookable day (with a link carrying ``datum=``) and a day without
EVENT_CLASS, DAY_CLASS = "monatevent", "monat"
#: URL keys of a calendar's identity; newer links write the queues ``schlangen=1-2-3``
IDENTITY = {"loc": "standortrowid", "queue": "schlangennr", "task": "tasks"}
QUEUES_KEY = "schlangen"
#: the statements derived from a calendar's structure (the site has no text for them)
NO_BOOKABLE_DAY = "tempus: the calendar marks no day bookable"
EMPTY_DAY = "tempus: the time table lists no time"

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_DAY_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATUM = re.compile(r"datum=(" + _DAY_KEY.pattern + ")")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")
_QUEUES = re.compile(r"[0-9]+(?:-[0-9]+)*")
_OPTION_IDS = (
    ('input[type="radio"]', "value"),
    ('input[type="checkbox"]', "value"),
    ("select", "name"),
)


def resolve_link(base_url: str, href: str) -> str | None:
    """The absolute URL of a page link, or None if it is neither ``index.php…`` nor ``?…``."""
    href = href.strip()
    if href.startswith("?"):
        return base_url.split("?", 1)[0].split("#", 1)[0] + href
    if href.startswith("index.php"):
        return urljoin(base_url, href)
    return None


def _text(node: Any) -> str:
    return node.text(deep=True, separator="", strip=False)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def link_identity(href: str) -> dict[str, str | None]:
    """``loc``/``queue``/``task`` of a link (last occurrence of each key wins)."""
    found = {key: re.findall(name + r"=([0-9]+)", href) for key, name in IDENTITY.items()}
    out = {key: values[-1] if values else None for key, values in found.items()}
    if out["queue"] is None:
        queues = re.findall(QUEUES_KEY + r"=(" + _QUEUES.pattern + ")", href)
        out["queue"] = queues[-1] if queues else None
    return out


# ---------------------------------------------------------------- index form (2.2 A)


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
                label = item.css_first("span") or item.css_first("div.anliegen")
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
        for selector, attr in _OPTION_IDS:
            node = li.css_first(selector)
            if node is not None and node.attributes.get(attr):
                option_id = node.attributes[attr]
                break
        if option_id is not None:
            content = li.css_first("div.liContent")
            options.append(_option("default", _text(content or li), option_id))
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


def category_forms(options: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """Per category with id-bearing options: the form body choosing its first service once."""
    bodies: dict[str, dict[str, str]] = {}
    for opt in options:
        bodies.setdefault(opt["category"], {})
        if opt["id"] is not None:
            body = bodies[opt["category"]]
            body[opt["id"]] = "0" if body else "1"
    return [(category, body) for category, body in bodies.items() if body]


def _index(form: Any) -> PageView:
    options, reader = _options_from_lists(form), "tempus.index-lists"
    if not options:
        options, reader = _options_from_labels(form), "tempus.index-labels"
    if not any(opt["id"] for opt in options):
        raise PageError("the booking form offers no service with a quantity field")
    return PageView(
        "services",
        choices=[(opt["id"], opt["name"]) for opt in options if opt["id"]],
        reader=reader,
        details={"options": options, "action": form.attributes.get("action") or ""},
    )


# ---------------------------------------------------------------- the other pages


def _notice(doc: HTMLParser, serial: str) -> PageView | None:
    """The link behind the button of a notice ("Wichtiger Hinweis") page."""
    is_notice = NOTICE_HEADING in serial or any(
        node.attributes.get("value") in NOTICE_BUTTON_VALUES for node in doc.css("[value]")
    )
    if not is_notice:
        return None
    button = doc.css_first('input[type="button"]') or doc.css_first('input[type="submit"]')
    if button is None:
        raise PageError("notice page has no button or submit input to continue")
    onclick = button.attributes.get("onclick") or ""
    start = onclick.find("href='")
    start = onclick.find("?", start) if start >= 0 else -1
    if start < 0 or len(onclick) - start <= 2:
        raise PageError(f"notice page button has no usable onclick link: {onclick!r}")
    return PageView("start", reader="tempus.notice", details={"next": onclick[start:-2]})


def _office_id(href: str) -> str:
    keys = link_identity(href)
    return f"{keys['loc'] or '-'}/{keys['task'] or '-'}"


def _earliest(text: str) -> str | None:
    day, time = pages.find_date(text), pages.find_time(text)
    return f"{day.isoformat()} {time}" if day and time else None


def _row_of(link: Any) -> Any:
    node = link.parent
    while node is not None and node.tag not in ("tr", "li"):
        node = node.parent
    return node if node is not None else link.parent


def _overview(doc: HTMLParser) -> PageView:
    """The location overview: one row per location, with its earliest time or none."""
    links = [a for a in doc.css("a.infolink") if "Uhr" not in _text(a)]
    reader = "tempus.overview"
    if not links:
        reader = "tempus.overview-nav"
        items = doc.css("ul#nav_menu2 li") or doc.css("ul.nav_menu2 li")
        for li in items:
            a = li.css_first("a")
            if a is not None and not _text(a).strip().endswith("Uhr"):
                links.append(a)
    rows, offices = [], []
    for a in links:
        href = a.attributes.get("href") or ""
        if "standortrowid" not in href:
            continue  # an information link
        row = _row_of(a)
        text = pages.node_text(row)
        times = [b for b in row.css("a") if _text(b).strip().endswith("Uhr")]
        earliest = _earliest(_text(times[0])) if times else None
        marker = ROW_NONE_TEXT if ROW_NONE_TEXT in text and earliest is None else None
        name = _text(a).strip().removeprefix("Termine in ")
        rows.append({"name": name, "href": href, "none_free": marker})
        offices.append(Office(_office_id(href), name, earliest))
    if not rows:
        raise PageError(
            'location overview without location links (a.infolink or "ul#nav_menu2 li a" '
            "with standortrowid)"
        )
    return PageView("offices", offices=offices, reader=reader, details={"rows": rows})


def _calendar(doc: HTMLParser, url: str | None) -> PageView:
    """Month tables (2.2 B): event days, or none when every day is marked not bookable."""
    events, odd = [], []
    for table in doc.css("table.cal"):
        for cell in table.css("td"):
            classes = (cell.attributes.get("class") or "").split()
            if EVENT_CLASS in classes:
                a = cell.css_first("a[href]")
                href = (a.attributes.get("href") or "") if a is not None else ""
                found = _DATUM.findall(href)
                if not found:
                    raise PageError(f"bookable day without a datum=YYYY-MM-DD link: {href!r}")
                try:
                    date.fromisoformat(found[-1])
                except ValueError:
                    raise PageError(f"event day link with impossible date: {href!r}") from None
                events.append((found[-1], href))
            elif _text(cell).strip().isdigit() and DAY_CLASS not in classes:
                odd.append(" ".join(classes) or "(none)")
    identity = link_identity(events[0][1]) if events else link_identity(url or "")
    details = {"events": events, "identity": identity}
    if events:
        return PageView(
            "days", days=[d for d, _ in events], reader="tempus.calendar", details=details
        )
    if odd:
        raise PageError(f"calendar days in cells of unknown class {sorted(set(odd))}")
    return PageView("none-free", marker=NO_BOOKABLE_DAY, reader="tempus.calendar", details=details)


def _day(doc: HTMLParser, text: str, url: str | None) -> PageView:
    """A day's time table (2.2 C): the last ``HH:MM`` of every cell is one free time."""
    table = doc.css_first("table.termine")
    times = set()
    for cell in table.css("td"):
        found = _TIME.findall(_text(cell).strip())
        if found:
            times.add(found[-1])
    dates = _DATUM.findall(url or "") or _DATUM.findall(text)
    day = dates[-1] if dates else None
    if day is None:
        shown = pages.find_date(pages.node_text(doc.css_first("h2") or doc.css_first("h1")))
        day = shown.isoformat() if shown else None
    details = {"day": day, "times": sorted(times)}
    if not times:
        if pages.node_text(table) or doc.css_first('a[href*="zeit="]') is not None:
            raise PageError("time table with cells or time links but no HH:MM in its cells")
        return PageView("none-free", marker=EMPTY_DAY, reader="tempus.day", details=details)
    if day is None:
        raise PageError("day page without its date (no datum= and no DD.MM.YYYY heading)")
    slots = [f"{day} {t}" for t in times]
    return PageView("times", days=[day], slots=slots, reader="tempus.day", details=details)


def read_page(text: str, url: str | None = None) -> PageView:
    """Which step of the TEMPUS flow ``text`` is, and what it shows."""
    doc = HTMLParser(text)
    serial = _BR.sub("<br/>", doc.html or "")
    shown = pages.visible_text(doc)
    view = _notice(doc, serial)
    if view is not None:
        return view
    if NO_LOCATION_TEXT in serial or NO_LOCATION_TEXT in shown:
        return PageView("none-free", marker=NO_LOCATION_TEXT, reader="tempus.no-location")
    if EXPIRED_TEXT in shown:
        return PageView("error-page", error=EXPIRED_TEXT, reader="tempus.error")
    form = doc.css_first("form#formular")
    if form is not None:
        return _index(form)
    if any(marker in serial for marker in OVERVIEW_MARKERS):
        try:
            return _overview(doc)
        except PageError:
            if NO_APPOINTMENTS_TEXT not in shown:
                raise
    elif doc.css_first("table.cal") is not None:
        return _calendar(doc, url)
    elif doc.css_first("table.termine") is not None:
        return _day(doc, text, url)
    for marker, reader in (
        (BOOKED_OUT_TEXT, "booked-out"),
        (NO_APPOINTMENTS_TEXT, "no-appointments"),
    ):
        if marker in shown:
            return PageView("none-free", marker=marker, reader=f"tempus.{reader}")
    raise pages.unknown(NAME, text, url)


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
