"""Impftermin Thüringen: the vaccination centres of Thuringia and their next offered dates.

``GET {base_url}/index.php`` lists the centres (``<div class="select-ort-area">`` options);
per centre ``POST {base_url}/func.php`` with ``typ=1, ort, pos=0, timestamp`` (epoch
milliseconds of ``now``) answers an HTML fragment whose ``<option value="YYYY-MM-DD HH:MM"
data-folge-termin="...">`` elements are the offered appointments. The look-ahead is ignored.

Catalog parameters: ``base_url`` (optional, default
``https://www.impfen-thueringen.de/terminvergabe``).

Raw payload: ``[{"loc": str, "loc_name": str, "dates": [[value, folge], ...]}]`` where
``folge`` (the follow-up dose date) is kept verbatim (null when the attribute is missing).
Location id = ``to_id(loc)``, name = ``loc_name``, slot = ``value``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..clock import OFFICE_TZ
from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import page_title, parse_slot, sorted_slots, to_id

NAME = "impfthueringen"
DEFAULT_BASE_URL = "https://www.impfen-thueringen.de/terminvergabe"

_SLOT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def centres(html: str) -> list[tuple[str, str]] | None:
    """``(key, name)`` of each centre in page order; None when the centre list is missing."""
    area = HTMLParser(html).css_first("div.select-ort-area")
    if area is None:
        return None
    found = []
    for option in area.css("option"):
        value = (option.attributes.get("value") or "").strip()
        if value and value != "0":
            found.append((value, option.text(strip=True)))
    return found


def offered_dates(html: str) -> list[list[str | None]]:
    """``[value, follow-up date]`` per option of a func.php fragment (empty values skipped)."""
    found: list[list[str | None]] = []
    for option in HTMLParser(html).css("option"):
        value = (option.attributes.get("value") or "").strip()
        if value:
            found.append([value, option.attributes.get("data-folge-termin")])
    return found


def epoch_ms(now: datetime) -> int:
    """A naive office-local time as integer epoch milliseconds."""
    return int(now.replace(tzinfo=OFFICE_TZ).timestamp() * 1000)


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    response = await session.get(f"{base_url}/index.php")
    found = centres(response.text)
    if found is None:
        raise ScrapeError("no centre list (div.select-ort-area) on the index page", url=base_url)
    raw = []
    for key, name in found:
        answer = await session.post(
            f"{base_url}/func.php",
            data={"typ": "1", "ort": key, "pos": "0", "timestamp": str(epoch_ms(now))},
        )
        if "<title" in answer.text.lower() or "<body" in answer.text.lower():
            # func.php answers a bare fragment; a whole page is an error or maintenance page
            title = page_title(answer.text) or "no title"
            raise ScrapeError(
                f"func.php answered a whole page ({title!r}) instead of a fragment",
                url=session.last_url,
            )
        raw.append({"loc": key, "loc_name": name, "dates": offered_dates(answer.text)})
    return raw


def parse(raw: Any) -> ParsedSnapshot:
    if not isinstance(raw, list):
        raise ParseError("impfthueringen: raw payload is not a list of centres")
    locations: dict[str, Location] = {}
    for i, centre in enumerate(raw):
        where = f"impfthueringen centre #{i}"
        if not isinstance(centre, dict):
            raise ParseError(f"{where}: not an object")
        key, name, dates = centre.get("loc"), centre.get("loc_name"), centre.get("dates")
        if not isinstance(key, str) or not to_id(key):
            raise ParseError(f"{where}: bad loc {key!r}")
        if name is not None and not isinstance(name, str):
            raise ParseError(f"{where}: bad loc_name {name!r}")
        if not isinstance(dates, list):
            raise ParseError(f"{where}: dates is not a list")
        slots = []
        for pair in dates:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ParseError(f"{where}: date entry {pair!r} is not a [value, folge] pair")
            value, folge = pair
            if not isinstance(value, str) or not _SLOT.fullmatch(value):
                raise ParseError(f"{where}: bad appointment {value!r}")
            if folge is not None and not isinstance(folge, str):
                raise ParseError(f"{where}: bad follow-up date {folge!r}")
            slots.append(parse_slot(value, where))
        loc_id = to_id(key)
        if loc_id in locations:  # the same centre listed twice: merge
            slots.extend(locations[loc_id].slots)
            name = name or locations[loc_id].name
        locations[loc_id] = Location(id=loc_id, name=name or None, slots=sorted_slots(slots))
    return ParsedSnapshot(locations)
