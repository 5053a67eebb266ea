"""netappoint (NetAppoint / netcallup): one location per category of the index page.

Flow per snapshot (protocol notes, section 2.2): GET the index (company + extra
parameters); per category POST the selection of its first case (retried once with the
second case if that fails); the answer is a month calendar, a calendar without a
bookable day, a German "no slots" message or a branch chooser whose first link leads to
the calendar. The first bookable link of the calendar is a URL template: after clearing
the session cookies (otherwise the server shows the day chooser again) every day from
the first bookable day through today + 7 x weeks is fetched from it and the ``<abbr>``
times of its ``table.nat_timeslist`` are read.

Raw payload: ``[{"location": name, "dates": ["YYYY-MM-DD HH:MM", ...]}, ...]``, one
entry per category in page order.

The HTML readers below are small pure functions so tests (and the fake servers) can use
them on recorded pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import httpx
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import BlockedError, ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import parse_slot, sorted_slots, to_id

if TYPE_CHECKING:
    from ..catalog import Source
    from ..fetch import Session

NAME = "netappoint"

#: class attribute an ``<input>`` case must have, exactly (selects match the first class)
CHECKBOX_CLASS = "nat_casetypelist_casetype casetype_checkbox"

#: answers to the selection POST that mean "no slots" (checked before the branch chooser)
NO_SLOTS_AFTER_SELECTION = (
    "Die von Ihnen gewählte Dienstleistungs-Kombination kann nicht an einem Standort bearbeitet"
    " werden",
    "Bitte geben Sie mindestens 1 Dienstleistung an.",
)
#: answers that mean "no slots" when the page has no branch chooser link either
NO_SLOTS_WITHOUT_BRANCH = (
    "Die vorraussichtliche Dauer der von Ihnen gewählten Dienstleistungen ist zu lang.",
    "Bitte geben Sie mindestens ein Anliegen an.",
    "Die von Ihnen gewählte Anliegens-Kombination kann nicht an einem Standort bearbeitet werden",
)

_SESSION_EXPIRED = re.compile(
    r"\b(?:Sitzung|Session)\s+(?:ist\s+)?(?:leider\s+)?abgelaufen", re.IGNORECASE
)
_TOGGLE = re.compile(r"javascript:toggle\('([^']*)'\);")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?:\s*Uhr)?")
_RAW_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}")

Doc = str | HTMLParser


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


class _SessionExpired(ScrapeError):
    """The site forgot our selection; retrying the POST with another case cannot help."""


# ---------------------------------------------------------------------------
# pure HTML readers


def _tree(doc: Doc) -> HTMLParser:
    return doc if isinstance(doc, HTMLParser) else HTMLParser(doc)


def _squash(text: str) -> str:
    return " ".join(text.split())


def page_text(html: str) -> str:
    """Visible text of a page (scripts and styles dropped), whitespace collapsed."""
    tree = HTMLParser(html)
    tree.strip_tags(["script", "style", "noscript"])
    return _squash(tree.root.text(separator=" ")) if tree.root is not None else ""


def is_session_expired(text: str) -> bool:
    """True for netappoint's "Ihre Sitzung ist abgelaufen" pages (``text`` from page_text)."""
    return _SESSION_EXPIRED.search(text) is not None


def read_index(doc: Doc, url: str | None = None) -> IndexPage:
    """The selection form's action and the categories (page order) of an index page."""
    tree = _tree(doc)
    form = tree.css_first('form[name="frm_casetype"]')
    if form is None:
        raise ScrapeError("netappoint index has no form[name=frm_casetype]", url)
    action = (form.attributes.get("action") or "").strip()
    if not action:
        raise ScrapeError("netappoint form frm_casetype has no action", url)
    toggles: dict[str, str] = {}
    for link in tree.css("a[href]"):
        match = _TOGGLE.fullmatch((link.attributes.get("href") or "").strip())
        if match and match.group(1) not in toggles:
            toggles[match.group(1)] = _squash(link.text()).removeprefix("Kategorie ")
    categories = []
    for ul in tree.css("ul.nat_casetypelist"):
        ul_id = ul.attributes.get("id") or ""
        if not ul_id or ul_id not in toggles:
            raise ScrapeError(
                f"netappoint category list id={ul_id!r} has no javascript:toggle('{ul_id}'); link",
                url,
            )
        fields = list(ul.css("select.nat_casetypelist_casetype"))
        fields += [
            node
            for node in ul.css("input")
            if _squash(node.attributes.get("class") or "") == CHECKBOX_CLASS
        ]
        names = (node.attributes.get("name") or "" for node in fields)
        cases = tuple(dict.fromkeys(name for name in names if name))
        if not cases:
            raise ScrapeError(f"netappoint category {toggles[ul_id]!r} has no cases", url)
        categories.append(Category(ul_id, toggles[ul_id], cases))
    return IndexPage(action, tuple(categories))


def bookable_links(doc: Doc) -> list[str]:
    """The hrefs of the month calendar's bookable days, in document order."""
    return [
        (a.attributes.get("href") or "").strip()
        for a in _tree(doc).css("a.nat_calendar_weekday_bookable")
    ]


def has_month_table(doc: Doc) -> bool:
    return _tree(doc).css_first("table.nat_calendar") is not None


def branch_link(doc: Doc) -> str | None:
    """The first branch chooser link whose href contains ``step=3&``, or None."""
    for li in _tree(doc).css("li.nat_casetypelist_casetype_li"):
        link = li.css_first("a")
        if link is None:
            continue
        href = (link.attributes.get("href") or "").strip()
        if "step=3&" in href:
            return href
    return None


def day_times(doc: Doc) -> list[str]:
    """The trimmed ``<abbr>`` texts inside the day page's ``table.nat_timeslist``."""
    return [abbr.text().strip() for abbr in _tree(doc).css("table.nat_timeslist abbr")]


def normal_time(text: str) -> str | None:
    """``8:05`` / ``08:05 Uhr`` -> ``08:05``; None if it is not a time of day."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


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


# ---------------------------------------------------------------------------
# scraping


def _origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise ScrapeError(f"netappoint base_url {base_url!r} is not an absolute URL", base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _extra_params(extra: str) -> dict[str, str]:
    """``cur_cause=0&x=1`` -> {"cur_cause": "0", "x": "1"} (values sent percent-encoded)."""
    params = {}
    for part in (extra or "").split("&"):
        if part.strip():
            key, _, value = part.strip().partition("=")
            params[key] = value
    return params


def _page(response: httpx.Response) -> HTMLParser:
    """Parse an answer, failing on netappoint's "session expired" page."""
    if is_session_expired(page_text(response.text)):
        raise _SessionExpired("netappoint session expired", str(response.url))
    return HTMLParser(response.text)


def _mentions(response: httpx.Response, messages: tuple[str, ...]) -> bool:
    text = page_text(response.text)
    return any(_squash(message) in text for message in messages)


async def _select(
    session: Session, action_url: str, cat: Category, pick: int, origin: str
) -> list[str]:
    """POST the selection of case ``pick``; the bookable links (absolute) it leads to."""
    data = {case: "0" for case in cat.cases}
    data[cat.cases[pick]] = "1"
    data["sentcasetypes"] = "Weiter"
    response = await session.post(action_url, data=data)
    tree = _page(response)
    links = bookable_links(tree)
    if links:
        return [absolute(origin, href) for href in links]
    if has_month_table(tree) or _mentions(response, NO_SLOTS_AFTER_SELECTION):
        return []
    href = branch_link(tree)
    if href is None:
        if _mentions(response, NO_SLOTS_WITHOUT_BRANCH):
            return []
        raise ScrapeError(
            f"netappoint category {cat.name!r}: step=3 url not found (the answer is neither a "
            "month calendar, a branch chooser nor a known 'no slots' message)",
            str(response.url),
        )
    chooser = await session.get(absolute(origin, href))
    return [absolute(origin, link) for link in bookable_links(_page(chooser))]


async def _calendar_links(
    session: Session, action_url: str, cat: Category, origin: str
) -> list[str]:
    """Select the first case; if that fails, retry once with the second case."""
    try:
        return await _select(session, action_url, cat, 0, origin)
    except (BlockedError, _SessionExpired):
        raise
    except ScrapeError as first:
        if len(cat.cases) < 2:
            raise
        try:
            return await _select(session, action_url, cat, 1, origin)
        except (BlockedError, _SessionExpired):
            raise
        except ScrapeError as second:
            raise ScrapeError(
                f"{second} (retried with the second case; the first case failed with: {first})",
                second.url,
            ) from second


async def _day_slots(session: Session, links: list[str], last: date) -> list[str]:
    """Every free slot from the first bookable day through ``last``, as raw strings."""
    days = [link_date(link) for link in links]
    if None in days:
        bad = links[days.index(None)]
        raise ScrapeError("netappoint bookable link lacks a valid year/month/day", bad)
    template, day = links[0], days[0]
    dates = []
    while day <= last:
        response = await session.get(day_url(template, day))
        tree = _page(response)
        for text in day_times(tree):
            hhmm = normal_time(text)
            if hhmm is None:
                raise ScrapeError(
                    f"netappoint day page shows {text!r} where a time HH:MM belongs",
                    str(response.url),
                )
            dates.append(f"{day.isoformat()} {hhmm}")
        day += timedelta(days=1)
    return dates


async def scrape(source: Source, session: Session, weeks: int, now: datetime) -> list:
    """Scrape one netappoint tenant; the raw payload described in the module docstring."""
    base = source.base_url.rstrip("/")
    origin = _origin(base)
    company = source.params.get("company")
    if not company:
        raise ScrapeError(f"netappoint source {source.id!r} has no company parameter", base)
    params = {"company": company, **_extra_params(source.params.get("extra", ""))}
    index = await session.get(f"{base}/index.php", params=params)
    page = read_index(_page(index), str(index.url))
    action_url = absolute(origin, page.action)
    last = now.date() + timedelta(days=7 * weeks)
    payload = []
    for cat in page.categories:
        links = await _calendar_links(session, action_url, cat, origin)
        # without this the server answers day pages with the day chooser again
        session.clear_cookies()
        dates = await _day_slots(session, links, last) if links else []
        payload.append({"location": cat.name, "dates": dates})
    return payload


# ---------------------------------------------------------------------------
# parsing


def parse(raw: Any) -> ParsedSnapshot:
    """Raw payload -> locations (id from the category name), slots sorted and de-duplicated."""
    if not isinstance(raw, list):
        raise ParseError(f"netappoint payload must be a list, got {type(raw).__name__}")
    names: dict[str, str] = {}
    slots: dict[str, set[datetime]] = {}
    for index, entry in enumerate(raw):
        where = f"netappoint entry {index}"
        if not isinstance(entry, dict):
            raise ParseError(f"{where}: expected an object, got {type(entry).__name__}")
        missing = [key for key in ("location", "dates") if key not in entry]
        if missing:
            raise ParseError(f"{where}: missing key(s) {', '.join(missing)}")
        name, dates = entry["location"], entry["dates"]
        if not isinstance(name, str):
            raise ParseError(f"{where}: location must be a string, got {type(name).__name__}")
        if not isinstance(dates, list):
            raise ParseError(f"{where}: dates must be a list, got {type(dates).__name__}")
        loc_id = to_id(name)
        if not loc_id:
            raise ParseError(f"{where}: location name {name!r} gives an empty id")
        # Two categories whose names give the same id (e.g. "Kfz Zulassung" and
        # "Kfz-Zulassung") are one location for us: their slots are merged and the first
        # category's name is kept.
        names.setdefault(loc_id, name)
        bucket = slots.setdefault(loc_id, set())
        for pos, text in enumerate(dates):
            if not isinstance(text, str) or not _RAW_DATE.fullmatch(text):
                raise ParseError(f"{where}, date {pos}: {text!r} is not 'YYYY-MM-DD HH:MM'")
            bucket.add(parse_slot(text, f"{where}, date {pos}"))
    return ParsedSnapshot(
        {
            loc_id: Location(loc_id, names[loc_id], (), sorted_slots(slots[loc_id]))
            for loc_id in names
        }
    )
