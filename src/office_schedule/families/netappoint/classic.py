"""Readers of the classic netappoint skin (protocol notes, sections 2.2 and 2.3).

Pages: the index with the ``frm_casetype`` form (categories and their cases), the month
calendar (``a.nat_calendar_weekday_bookable`` links to ``…&step=4&year=&month=&day=``),
the branch chooser (``li.nat_casetypelist_casetype_li`` links with ``step=3&``), the day
page (``table.nat_timeslist`` with one ``<abbr>HH:MM</abbr>`` per free time) and the
German "no slots" messages. Each reader returns a :class:`PageView` or None when the page
is not of its kind, and raises :class:`PageError` when it is but does not make sense.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..pages import Office, PageError, PageView, node_text, squash
from . import protocol as p

INDEX = "netappoint.classic-index"
CALENDAR = "netappoint.classic-calendar"
BRANCHES = "netappoint.classic-branches"
MESSAGE = "netappoint.classic-message"
DAY = "netappoint.classic-day"

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?:\s*Uhr)?")
_HEADING_DATE = re.compile(r"(\d{1,2})\.\s*(" + "|".join(p.MONTHS) + r")\s+(\d{4})")
_NUMERIC_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


@dataclass(frozen=True)
class Category:
    """One category of the index page: its ``ul`` id, display name and case field names."""

    ul_id: str
    name: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class IndexPage:
    action: str
    categories: tuple[Category, ...]


def classes(node: Node) -> list[str]:
    return (node.attributes.get("class") or "").split()


def read_index(doc: HTMLParser, url: str | None = None) -> IndexPage | None:
    """The selection form's action and categories (page order); None without the form."""
    form = doc.css_first(f'form[name="{p.CLASSIC_FORM}"]')
    if form is None:
        return None
    action = (form.attributes.get("action") or "").strip()
    if not action:
        raise PageError(f"netappoint form {p.CLASSIC_FORM} has no action", url)
    toggles: dict[str, str] = {}
    for link in doc.css("a[href]"):
        match = p.CLASSIC_TOGGLE.fullmatch((link.attributes.get("href") or "").strip())
        if match and match.group(1) not in toggles:
            toggles[match.group(1)] = squash(link.text()).removeprefix("Kategorie ")
    categories = []
    for ul in doc.css(f"ul.{p.CATEGORY_LIST_CLASS}"):
        ul_id = ul.attributes.get("id") or ""
        if not ul_id or ul_id not in toggles:
            raise PageError(
                f"netappoint category list id={ul_id!r} has no javascript:toggle('{ul_id}'); link",
                url,
            )
        fields = list(ul.css(f"select.{p.CASE_SELECT_CLASS}"))
        fields += [
            n
            for n in ul.css("input")
            if squash(n.attributes.get("class") or "") == p.CHECKBOX_CLASS
        ]
        names = (node.attributes.get("name") or "" for node in fields)
        cases = tuple(dict.fromkeys(name for name in names if name))
        if not cases:
            raise PageError(f"netappoint category {toggles[ul_id]!r} has no cases", url)
        categories.append(Category(ul_id, toggles[ul_id], cases))
    if not categories:
        raise PageError(f"netappoint form {p.CLASSIC_FORM} lists no category", url)
    return IndexPage(action, tuple(categories))


def index_view(doc: HTMLParser, url: str | None) -> PageView | None:
    page = read_index(doc, url)
    if page is None:
        return None
    return PageView(
        "services",
        choices=[(c.ul_id, c.name) for c in page.categories],
        reader=INDEX,
        details={"index": page},
    )


# --------------------------------------------------------------------------- links and dates


def link_date(url: str) -> date | None:
    """The date named by a bookable link's ``year``, ``month`` and ``day`` values, or None."""
    values = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    try:
        return date(int(values["year"]), int(values["month"]), int(values["day"]))
    except (KeyError, ValueError):
        return None


def day_url(template: str, day: date) -> str:
    """The day page URL: the template link with its date replaced and ``step=4`` -> ``3``.

    Query pairs are rewritten one by one (unpadded numbers, other pairs kept verbatim),
    so ``weekday=`` or similar never collides with ``day=``.
    """
    parts = urlsplit(template)
    wanted = {"year": str(day.year), "month": str(day.month), "day": str(day.day)}
    pairs = []
    for pair in parts.query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and key in wanted:
            pair = f"{key}={wanted[key]}"
        elif sep and key == "step" and value == "4":
            pair = "step=3"
        pairs.append(pair)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(pairs), ""))


def absolute(origin: str, href: str) -> str:
    """A form action or link made absolute against ``scheme://host`` of the base URL."""
    return urljoin(origin + "/", href)


def normal_time(text: str) -> str | None:
    """``8:05`` / ``08:05 Uhr`` -> ``08:05``; None if it is not a time of day."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


# --------------------------------------------------------------------------- month calendar


def _bookable_cell(td: Node, url: str | None) -> tuple[date, str] | None:
    """(date, href) of a cell with a link; PageError for a link of another kind."""
    links = td.css("a")
    if not links:
        return None
    if len(links) != 1 or p.BOOKABLE_CLASS not in classes(links[0]):
        raise PageError(f"netappoint calendar cell {node_text(td)!r} has an unknown link", url)
    href = (links[0].attributes.get("href") or "").strip()
    day = link_date(href)
    step = dict(parse_qsl(urlsplit(href).query)).get("step")
    if day is None or step != "4":
        raise PageError(f"netappoint bookable link {href!r} lacks step=4 or year/month/day", url)
    if node_text(links[0]) != str(day.day):
        raise PageError(f"netappoint bookable link {href!r} shows {node_text(td)!r}", url)
    return day, href


def calendar_view(doc: HTMLParser, url: str | None) -> PageView | None:
    """A classic month calendar: bookable links -> days, every day not bookable -> none-free."""
    tables = doc.css(f"table.{p.CALENDAR_CLASS}")
    if not tables and doc.css_first(f"a.{p.BOOKABLE_CLASS}") is None:
        return None
    if not tables:
        raise PageError("netappoint bookable day links without a month table", url)
    bookable: list[tuple[date, str]] = []
    closed = 0
    for td in (cell for table in tables for cell in table.css("td")):
        cell = _bookable_cell(td, url)
        if cell is not None:
            bookable.append(cell)
            continue
        text = node_text(td)
        if not text:
            continue  # padding before the 1st / after the last day
        closed_class = any(c.endswith(p.NOT_BOOKABLE_SUFFIX) for c in classes(td))
        if not closed_class or not re.fullmatch(r"[1-9][0-9]?", text):
            raise PageError(f"netappoint calendar cell {text!r} is neither bookable nor not", url)
        closed += 1
    if len(doc.css(f"a.{p.BOOKABLE_CLASS}")) != len(bookable):
        raise PageError("netappoint bookable day links outside the month table", url)
    if not bookable and not closed:
        raise PageError("netappoint month table without any day", url)
    month = node_text(doc.css_first(".nat_calendar_nav strong")) or "the month shown"
    if not bookable:
        return PageView(
            "none-free",
            marker=f"netappoint: month calendar ({month}) shows no bookable day",
            reader=CALENDAR,
            details={"links": [], "month": month},
        )
    return PageView(
        "days",
        days=[d.isoformat() for d, _ in bookable],
        reader=CALENDAR,
        details={"links": [href for _, href in sorted(bookable)], "month": month},
    )


# --------------------------------------------------------------------------- chooser, messages


def branches_view(doc: HTMLParser) -> PageView | None:
    """The branch (Standort) chooser: every ``step=3&`` link, the first one to follow."""
    offices, links = [], []
    for li in doc.css(f"li.{p.BRANCH_ITEM_CLASS}"):
        link = li.css_first("a")
        href = (link.attributes.get("href") or "").strip() if link is not None else ""
        if "step=3&" not in href:
            continue
        branch = dict(parse_qsl(urlsplit(href).query)).get("branch") or href
        offices.append(Office(branch, node_text(link) or None))
        links.append(href)
    if not links:
        return None
    return PageView("offices", offices=offices, reader=BRANCHES, details={"link": links[0]})


def message_view(text: str, messages: tuple[str, ...]) -> PageView | None:
    """One of the German "no slots" answers, as none-free with that message."""
    for message in messages:
        if squash(message) in text:
            return PageView("none-free", marker=message, reader=MESSAGE)
    return None


def is_session_expired(text: str) -> bool:
    """True for the "Ihre Sitzung ist abgelaufen" pages (``text``: visible text)."""
    return p.SESSION_EXPIRED_TEXT.search(text) is not None


# --------------------------------------------------------------------------- day page


def _page_date(doc: HTMLParser, table: Node | None) -> date | None:
    texts = [table.attributes.get("summary") or ""] if table is not None else []
    texts += [node_text(h) for h in doc.css("h1, h2, h3")]
    for text in texts:
        if match := _HEADING_DATE.search(text):
            day, month, year = match.groups()
            return date(int(year), p.MONTHS.index(month) + 1, int(day))
        if match := _NUMERIC_DATE.search(text):
            day, month, year = (int(g) for g in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                continue
    return None


def day_view(doc: HTMLParser, text: str, url: str | None) -> PageView | None:
    """A day page: ``table.nat_timeslist`` times -> times; the day's "none free" text."""
    table = doc.css_first(f"table.{p.TIMES_CLASS}")
    if table is None:
        if p.DAY_NONE_FREE in text:
            return PageView("none-free", marker=p.DAY_NONE_FREE, reader=DAY)
        return None
    times = []
    for abbr in table.css("abbr"):
        hhmm = normal_time(abbr.text())
        if hhmm is None:
            raise PageError(f"netappoint day page shows {abbr.text()!r} where HH:MM belongs", url)
        times.append(hhmm)
    if not times:
        raise PageError("netappoint table.nat_timeslist without any <abbr> time", url)
    shown = _page_date(doc, table)
    asked = link_date(url) if url else None
    if shown and asked and shown != asked:
        raise PageError(f"netappoint day page for {asked} shows {shown}", url)
    day = asked or shown
    if day is None:
        raise PageError("netappoint day page names no date (give the page's URL)", url)
    return PageView(
        "times",
        days=[day.isoformat()],
        slots=[f"{day.isoformat()} {t}" for t in times],
        reader=DAY,
        details={"date": day},
    )
