"""tempus: protocol facts and the readers of every answer (``read_page``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from .. import pages
from ..pages import Office, PageError, PageView

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
EVENT_CLASS = "monatevent"
DAY_CLASS = "monat"
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
