"""SmartCJM / Smart CX (smart-cjm.com): the server-rendered appointment wizard.

Tenants live at ``{host}/m/{mandant}/extern/calendar/?uid={calendar uuid}`` (own hosts such
as ``terminvereinbarung.leipzig.de``, ``termine.bonn.de``, or ``*.saas.smartcjm.com``).
``wizard.py`` walks the wizard once per service (flow and request count there),
``pages.py`` reads every page (``office-schedule read-page smartcjm``), ``protocol.py``
holds the facts the fake server shares, ``client.py`` the requests.

Locations are the location uuids of the slot buttons (named by the results page's
``h4.timeslot_cards_locations``, or the earliest page's ``unit``). A location's slot set is
the union over the services asked of the start times shown (office local time); a start
offered at two counters (the buttons' 4th argument, a *resource*) is one start. The raw
payload keeps every (start, duration, location, resource) button, so (start, resource)
pairs can be counted later. The results page lists only locations with a free time:
locations without one are not reported, and a snapshot without any free time carries
"Keine freien Termine gefunden." (or ``nothing_Found``) as ``ParsedSnapshot.empty``.

Assumptions (not in any real sample): how far ahead one results page lists free times
(the Köln client says it shows a limited window; nothing here walks further), the markup
of the services and locations steps (read from the fields other clients post: labels
``for=service_<uid>``, ``service_<uid>_amount``, checkboxes ``name=locations``), and the
postcode step (only ``zip_code`` is known). Mode ``earliest`` reads one time per office
and service: lighter answers (a small JSON instead of the full list) and not limited by
the results page's window, but not fewer requests, and only the first free time.

Catalog parameters: ``base_url`` (``…/m/{mandant}/extern/calendar``), ``uid`` (the
calendar), optional ``mode`` (``all``, default, or ``earliest``), ``services`` (uids to ask,
comma-separated; default every service the calendar lists), ``zip_code``, ``request_delay``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ...errors import ParseError
from ...model import Location, ParsedSnapshot
from .. import propose
from ..common import sorted_slots
from ..family import Family
from . import protocol
from .client import same_port
from .pages import read_page
from .wizard import MODES, scrape

NAME = protocol.NAME
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLOT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
LATER = "free times only after the look-ahead (first {first})"


def _fail(message: str) -> ParseError:
    return ParseError(f"{NAME} payload: {message}")


def _entries(search: dict, mode: str, where: str) -> list[tuple[str, str, str | None]]:
    """(slot, location, name) of one search."""
    key = "earliest" if mode == protocol.EARLIEST_MODE else "slots"
    items = search.get(key)
    if not isinstance(items, list):
        raise _fail(f"{where}: {key} is not a list")
    listed, shown = search.get("locations") or [], search.get("names") or {}
    if not isinstance(listed, list) or not isinstance(shown, dict):
        raise _fail(f"{where}: locations is not a list or names not an object")
    names = {x[0]: x[1] for x in listed if isinstance(x, list) and len(x) == 2
             and isinstance(x[0], str)}  # fmt: skip
    names.update({k: v for k, v in shown.items() if v})
    out = []
    for item in items:
        if not isinstance(item, list) or len(item) < 5 or not isinstance(item[0], str):
            raise _fail(f"{where}: bad entry {item!r}")
        try:
            if not _SLOT.fullmatch(item[0]):
                raise ValueError
            datetime.strptime(item[0], "%Y-%m-%d %H:%M")
        except ValueError:
            raise _fail(f"{where}: bad slot {item[0]!r}") from None
        location = item[3]
        if not isinstance(location, str) or not location:
            raise _fail(f"{where}: slot {item[0]} without a location")
        name = item[4] if key == "earliest" else names.get(location)
        out.append((item[0], location, name if isinstance(name, str) else None))
    return out


def parse(raw: Any) -> ParsedSnapshot:
    """Locations with the free start times of every service asked, up to ``until``."""
    if not isinstance(raw, dict) or raw.get("v") != 1:
        raise _fail("not a version 1 object")
    mode, until, searches = raw.get("mode"), raw.get("until"), raw.get("searches")
    if mode not in MODES or not isinstance(searches, list) or not _DAY.fullmatch(str(until)):
        raise _fail("needs 'mode', 'until' and a 'searches' list")
    if not searches:
        raise _fail("no service was asked")
    found: dict[str, dict[str, Any]] = {}
    markers: list[str] = []
    later: list[str] = []
    for i, search in enumerate(searches):
        where = f"search #{i}"
        if not isinstance(search, dict):
            raise _fail(f"{where} is not an object")
        entries = _entries(search, mode, where)
        marker = search.get("none_free")
        if marker is not None and not isinstance(marker, str):
            raise _fail(f"{where}: none_free is not a text")
        if marker and entries:
            raise _fail(f"{where} has slots and the marker {marker!r}")
        if not marker and not entries:
            raise _fail(f"{where} has neither slots nor a 'nothing free' marker")
        if marker:
            markers.append(str(marker))
        for slot, location, name in entries:
            if slot[:10] > until:
                later.append(slot)
                continue
            entry = found.setdefault(
                location,
                {"name": None, "slots": set(), "services": set(), "url": search.get("url")},
            )
            entry["name"] = entry["name"] or name
            entry["slots"].add(datetime.strptime(slot, "%Y-%m-%d %H:%M"))
            if isinstance(search.get("name"), str):
                entry["services"].add(search["name"].strip())
    empty = None
    if not found:
        stated = sorted(set(markers))
        if later:
            stated.append(LATER.format(first=min(later)))
        empty = "; ".join(stated) or None
    locations = {
        loc: Location(
            id=loc,
            name=entry["name"],
            services=tuple(sorted(entry["services"])),
            slots=sorted_slots(entry["slots"]),
            url=entry["url"],
        )
        for loc, entry in found.items()
    }
    return ParsedSnapshot(locations, empty=empty)


FAMILY = Family(
    name=NAME,
    summary=(
        "wizard per service: services -> locations -> results page (appointment_reserve "
        "buttons); or search_mode=earliest (one time per office)"
    ),
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url", "uid"),
    optional=("mode", "services", "zip_code", "request_delay"),
    # one request at a time, >= 5 s apart: Cloudflare blocks bursts on *.saas.smartcjm.com;
    # a 429's Retry-After is waited out once, then the source ends
    politeness={"per_host_concurrency": 1, "min_gap": 5.0, "attempts": 2, "timeout": 30.0},
    fingerprints=(r"smartcjm\.com", r"/m/[^/?#]+/extern/calendar\b"),
    page_fingerprints=(
        r'class="rc_appointment_wizard\b',
        r"\bappointment_reserve\(",
    ),
    propose=propose.smartcjm,
    redirect=same_port,
    server="office_schedule.simulate.smartcjm_server",
)

__all__ = ["FAMILY", "NAME", "parse", "read_page", "scrape"]
