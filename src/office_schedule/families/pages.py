"""What a saved page shows, as every family's reader reports it (``office-schedule read-page``).

A family's ``read_page(text, url=None) -> PageView`` recognises which step of its flow a page
is and reads what a person sees on it. The scrapers act on the very same views, so what
``read-page`` prints is what a sweep would store. A page the reader does not recognise
raises :class:`PageError`; a page that shows no free slot is ``none-free`` only when the
site's own marker is on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..errors import ScrapeError

#: the step kinds the readers report (a family may use a subset)
KINDS = (
    "start",
    "departments",
    "services",
    "offices",
    "days",
    "times",
    "none-free",
    "closed",
    "error-page",
    "blocked",
)


class PageError(ScrapeError):
    """A page that no reader of the family recognises, or that contradicts itself."""


@dataclass(frozen=True)
class Office:
    """One entry of an office chooser; ``earliest`` is the next free time it shows."""

    id: str
    name: str | None
    earliest: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "earliest": self.earliest}


@dataclass
class PageView:
    """One page as a person sees it.

    ``days`` are bookable days (``YYYY-MM-DD``), ``slots`` free times (``YYYY-MM-DD HH:MM``,
    office local time as displayed), ``offices`` what an office chooser lists, ``choices``
    the departments or services a chooser offers (``(id, name)``), ``error`` the message a
    site's error page shows, ``marker`` the "nothing free" text of a ``none-free`` page.
    ``reader`` names the reader path that understood the page, ``details`` carries what the
    family's scraper needs beyond that (form fields, links, ids).
    """

    page: str
    days: list[str] = field(default_factory=list)
    slots: list[str] = field(default_factory=list)
    offices: list[Office] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    marker: str | None = None
    reader: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.page not in KINDS:
            raise ValueError(f"unknown page kind {self.page!r}")
        if self.page == "none-free" and not self.marker:
            raise ValueError("a none-free page needs the site's marker")
        self.days = sorted(set(self.days))
        self.slots = sorted(set(self.slots))

    def as_json(self, file: str | None = None) -> dict[str, Any]:
        """The ``read-page --format json`` object of this page."""
        return {
            "file": file,
            "page": self.page,
            "days": self.days,
            "slots": self.slots,
            "offices": [o.as_json() for o in self.offices],
            "error": self.error,
        }


# --------------------------------------------------------------------------- shared helpers

_WS = re.compile(r"\s+")
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_HM = re.compile(r"(\d{1,2}):(\d{2})")


def tree(text: str) -> HTMLParser:
    return HTMLParser(text)


def squash(text: str) -> str:
    """Whitespace collapsed to single spaces, trimmed."""
    return _WS.sub(" ", text).strip()


def node_text(node: Node | None) -> str:
    return squash(node.text(separator=" ")) if node is not None else ""


def visible_text(doc: HTMLParser | str) -> str:
    """The page's text without scripts and styles, whitespace collapsed."""
    if isinstance(doc, str):
        doc = HTMLParser(doc)
    body = doc.body or doc.root
    if body is None:
        return ""
    parts = []
    for node in body.traverse(include_text=True):
        if node.tag == "-text":
            parent = node.parent
            if parent is not None and parent.tag in ("script", "style", "noscript", "template"):
                continue
            parts.append(node.text_content or "")
    return squash(" ".join(parts))


def title_of(doc: HTMLParser) -> str:
    return node_text(doc.css_first("title"))


def hhmm(hour: int | str, minute: int | str) -> str | None:
    """``8, 5`` -> ``08:05``; None when it is not a time of day."""
    h, m = int(hour), int(minute)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return f"{h:02d}:{m:02d}"


def find_time(text: str) -> str | None:
    """The first ``H:MM``/``HH:MM`` in a text, normalised, or None."""
    match = _HM.search(text)
    return hhmm(*match.groups()) if match else None


def find_date(text: str) -> date | None:
    """The first ``D.M.YYYY`` in a text, or None (also for impossible dates)."""
    match = _DMY.search(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def slot_text(day: date, time: str) -> str:
    return f"{day.isoformat()} {time}"


def minutes_slot(day: date, minutes: int) -> str:
    """``date`` + minutes after local midnight -> ``YYYY-MM-DD HH:MM``."""
    if not 0 <= minutes < 24 * 60:
        raise PageError(f"{minutes} minutes after midnight is not a time of day")
    return f"{day.isoformat()} {minutes // 60:02d}:{minutes % 60:02d}"


def slot_datetime(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


def json_document(text: str) -> Any:
    """A JSON page's value, or ``None`` when the text is not JSON."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def describe(text: str) -> str:
    """A short description of an unrecognised page for error messages."""
    value = json_document(text)
    if value is not None:
        keys = sorted(value)[:6] if isinstance(value, dict) else None
        return f"JSON {type(value).__name__}" + (f" with keys {keys}" if keys else "")
    doc = HTMLParser(text)
    title = title_of(doc)
    heading = node_text(doc.css_first("h1"))
    if title or heading:
        return f"page titled {title!r}" + (f", heading {heading!r}" if heading else "")
    start = squash(text[:80])
    return f"text starting {start!r}" if start else "an empty page"


def unknown(family: str, text: str, url: str | None = None, hint: str = "") -> PageError:
    """The error for a page no reader of ``family`` recognises."""
    extra = f" ({hint})" if hint else ""
    return PageError(f"{family}: unrecognised page: {describe(text)}{extra}", url=url)
