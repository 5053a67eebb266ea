"""Impftermin Thüringen: the vaccination centres of Thuringia and their next offered dates.

``GET {base_url}/index.php`` lists the centres (``<div class="select-ort-area">`` options);
per centre ``POST {base_url}/func.php`` with ``typ=1, ort, pos=0, timestamp`` (epoch
milliseconds of ``now``) answers an HTML fragment whose ``<option value="YYYY-MM-DD HH:MM"
data-folge-termin="...">`` elements are the offered appointments (in 2021 the page put
them, grouped in ``<optgroup>``, into ``select[name="DatumUhrzeit"]``). The look-ahead is
ignored.

No recorded real answer survives; the readers follow the reference scraper and other
people's 2021 code. An answer without any option and without any text is the site's
explicit "nothing offered" (marker :data:`EMPTY_ANSWER`); any other answer without
options (a notice, a whole page) is not understood and raises.

Catalog parameters: ``base_url`` (optional, default
``https://www.impfen-thueringen.de/terminvergabe``).

Raw payload: ``[{"loc": str, "loc_name": str, "dates": [[value, folge], ...],
"none_free": str|null, "url": str}]`` where ``folge`` (the follow-up dose date) is kept
verbatim (null when the attribute is missing) and ``none_free`` is the marker of an empty
answer. Location id = ``to_id(loc)``, name = ``loc_name``, slot = ``value``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..clock import OFFICE_TZ
from ..errors import ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import parse_slot, sorted_slots, to_id
from .family import Family
from .pages import Office, PageView

NAME = "impfthueringen"
DEFAULT_BASE_URL = "https://www.impfen-thueringen.de/terminvergabe"
#: the container of the centre chooser on index.php
CENTRE_AREA = "select-ort-area"
#: the "nothing offered" marker: func.php answered no option and no text
EMPTY_ANSWER = "func.php answered no appointment (empty answer)"

_SLOT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
_WHOLE_PAGE = re.compile(r"<(html|body|title)\b", re.IGNORECASE)


def centres(html: str) -> list[tuple[str, str]] | None:
    """``(key, name)`` of each centre in page order; None when the centre list is missing."""
    area = pages.tree(html).css_first(f"div.{CENTRE_AREA}")
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
    for option in pages.tree(html).css("option"):
        value = (option.attributes.get("value") or "").strip()
        if value:
            found.append([value, option.attributes.get("data-folge-termin")])
    return found


def read_page(text: str, url: str | None = None) -> PageView:
    """Recognise ``index.php`` ("offices") or a ``func.php`` answer ("times"/"none-free").

    A whole page without the centre chooser (maintenance, errors) and a fragment that
    is neither options nor empty raise PageError.
    """
    if _WHOLE_PAGE.search(text):
        found = centres(text)
        if found is None:
            raise pages.unknown(NAME, text, url, f"no div.{CENTRE_AREA}")
        if not found:
            raise pages.unknown(NAME, text, url, "the centre chooser lists no centre")
        offices = [Office(key, name or None) for key, name in found]
        return PageView("offices", offices=offices, reader="impfthueringen.index")
    dates = offered_dates(text)
    if dates:
        for value, _ in dates:
            if not _SLOT.fullmatch(value or ""):
                raise pages.unknown(NAME, text, url, f"option value {value!r} is no date/time")
        slots = [str(value) for value, _ in dates]
        details = {"dates": dates}
        return PageView("times", slots=slots, reader="impfthueringen.func-options", details=details)
    if pages.visible_text(f"<body>{text}</body>"):
        raise pages.unknown(NAME, text, url, "func.php answered text but no option")
    return PageView("none-free", marker=EMPTY_ANSWER, reader="impfthueringen.func-empty")


def epoch_ms(now: datetime) -> int:
    """A naive office-local time as integer epoch milliseconds."""
    return int(now.replace(tzinfo=OFFICE_TZ).timestamp() * 1000)


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    index_url = f"{base_url}/index.php"
    response = await session.get(index_url)
    try:
        index = read_page(response.text, index_url)
    except pages.PageError as exc:
        raise ScrapeError(f"no centre list on the index page: {exc}", url=index_url) from None
    if index.page != "offices":
        raise ScrapeError(f"no centre list on the index page ({index.page})", url=index_url)
    func_url = f"{base_url}/func.php"
    raw = []
    for office in index.offices:
        answer = await session.post(
            func_url,
            data={"typ": "1", "ort": office.id, "pos": "0", "timestamp": str(epoch_ms(now))},
        )
        view = read_page(answer.text, func_url)
        if view.page not in ("times", "none-free"):
            raise ScrapeError(f"func.php answered a {view.page} page", url=func_url)
        raw.append(
            {
                "loc": office.id,
                "loc_name": office.name,
                "dates": view.details.get("dates", []),
                "none_free": view.marker,
                "url": f"{func_url}?ort={office.id}",
            }
        )
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
        marker, url = centre.get("none_free"), centre.get("url")
        if marker is not None and (not isinstance(marker, str) or dates):
            raise ParseError(f"{where}: none_free {marker!r} next to offered dates")
        loc_id = to_id(key)
        known = locations.get(loc_id)
        if known is not None:  # the same centre listed twice: merge
            slots.extend(known.slots)
            name = name or known.name
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
    summary="vaccination centres of Thuringia, one slot per day; every minute",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("base_url",),
    fingerprints=(r"impfen-thueringen\.de",),
    page_fingerprints=(
        r'class="select-ort-area"',
        r'name="ID_LIB_Ort"',
    ),
    propose=propose.impfthueringen,
    server="office_schedule.simulate.impfthueringen_server",
)
