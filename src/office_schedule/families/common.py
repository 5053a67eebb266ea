"""Helpers shared by the families' scrapers and parsers (and the fake servers' tests)."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any

import httpx2
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import ParseError, ScrapeError


def page_title(text: str) -> str | None:
    """The trimmed ``<title>`` of an HTML page, or None."""
    node = HTMLParser(text).css_first("title")
    if node is None:
        return None
    title = node.text(strip=True)
    return title or None


def json_from_text(text: str, url: str | None, what: str) -> Any:
    """Decode a JSON body or raise a ScrapeError naming the exception, the url and the page."""
    try:
        return json.loads(text)
    except ValueError as exc:
        title = page_title(text) if "<" in text else None
        hint = f"page title: {title!r}" if title else f"body starts {text[:80]!r}"
        raise ScrapeError(
            f"{what} is not JSON ({type(exc).__name__}: {exc}), {hint}", url=url
        ) from None


def response_json(response: httpx2.Response, what: str) -> Any:
    """Decode a JSON answer or raise a ScrapeError naming the URL and the page's title."""
    return json_from_text(response.text, str(response.url), what)


def to_id(name: str) -> str:
    """An id from a display name: ``Führerscheinwesen`` -> ``fuhrerscheinwesen``.

    Lower-case, ``ß`` -> ``ss``, accents dropped (NFKD, ASCII only), anything but letters,
    digits, spaces and tabs -> ``-``, spaces -> ``-``, runs of ``-`` collapsed, trimmed.
    """
    text = name.lower().replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9 \t]", "-", text).replace(" ", "-")
    return re.sub(r"-+", "-", text).strip("-")


def parse_slot(text: str, where: str) -> datetime:
    """``YYYY-MM-DD HH:MM[:SS]`` -> datetime, or a ParseError naming ``where``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise ParseError(f"{where}: {text!r} is not a date and time") from None
    return value.replace(second=0, microsecond=0)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def is_day(value: Any) -> bool:
    """``YYYY-MM-DD`` naming a real date."""
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_int(value: Any) -> bool:
    """An int that is not a bool (JSON ``true`` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def day_times_slots(day_text: Any, times: Any, where: str) -> list[datetime]:
    """Slots of a ``{"date": "YYYY-MM-DD", "times": ["HH:MM", ...]}`` day of a raw payload."""
    if not isinstance(day_text, str) or not _DATE.fullmatch(day_text):
        raise ParseError(f"{where}: bad date {day_text!r}")
    if not isinstance(times, list):
        raise ParseError(f"{where}: times is not a list")
    slots = []
    for t in times:
        if not isinstance(t, str) or not _TIME.fullmatch(t):
            raise ParseError(f"{where}: bad time {t!r}")
        slots.append(parse_slot(f"{day_text} {t}", where))
    return slots


class CheckedSession:
    """A session wrapper that looks at every answer (``check``) before the scraper does.

    Subclasses raise for throttle, captcha or bot-protection answers. Pacing is not done
    here but by the fetcher's per-host lanes; a source's ``request_delay`` parameter raises
    its host's gap there (``families.resolve_politeness``).
    """

    def __init__(self, session: Any):
        self.session = session

    async def get(self, url: str, params: dict[str, str] | None = None) -> httpx2.Response:
        response = await self.session.get(url, params=params)
        self.check(response)
        return response

    def check(self, response: httpx2.Response) -> None:
        """Raise for answers that mean: stop asking."""


def look_ahead_days(today: date, weeks: int) -> list[date]:
    """Every date from today through today + 7 x weeks, inclusive."""
    return [today + timedelta(days=i) for i in range(7 * weeks + 1)]


def sorted_slots(slots: set[datetime] | list[datetime]) -> tuple[datetime, ...]:
    return tuple(sorted(set(slots)))
