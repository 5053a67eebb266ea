"""netappoint raw payload -> locations (pure; see ``scraper.py`` for the payload shape).

Location id: the WEB_APPOINT entry's 32-hex ``id``; for classic entries the category
name made an id (protocol notes 2.6: ``Führerscheinwesen`` -> ``fuhrerscheinwesen``).
Entries of payloads written before ``none_free``/``url`` existed still parse; their
empty locations then carry no marker (and ``check_empty`` refuses them).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ...errors import ParseError
from ...model import Location, ParsedSnapshot
from ..common import parse_slot, sorted_slots, to_id
from . import protocol as p

_RAW_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}")


def _optional_text(entry: dict, key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ParseError(f"{where}: {key} must be a string or null, got {type(value).__name__}")
    return value or None


def _entry_id(entry: dict, name: str, where: str) -> str:
    if "id" not in entry:
        loc_id = to_id(name)
        if not loc_id:
            raise ParseError(f"{where}: location name {name!r} gives an empty id")
        return loc_id
    loc_id = entry["id"]
    if not isinstance(loc_id, str) or not p.WEB_ID.fullmatch(loc_id):
        raise ParseError(f"{where}: id {loc_id!r} is not a 32-hex WEB_APPOINT id")
    return loc_id


def _services(entry: dict, where: str) -> list[str]:
    services = entry.get("services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise ParseError(f"{where}: services must be a list of strings")
    return services


def parse(raw: Any) -> ParsedSnapshot:
    """Raw payload -> locations, slots sorted and de-duplicated, markers and URLs carried."""
    if not isinstance(raw, list):
        raise ParseError(f"netappoint payload must be a list, got {type(raw).__name__}")
    names: dict[str, str] = {}
    slots: dict[str, set[datetime]] = {}
    markers: dict[str, str | None] = {}
    urls: dict[str, str | None] = {}
    services: dict[str, set[str]] = {}
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
        loc_id = _entry_id(entry, name, where)
        marker = _optional_text(entry, "none_free", where)
        url = _optional_text(entry, "url", where)
        # Two classic categories whose names give the same id (e.g. "Kfz Zulassung" and
        # "Kfz-Zulassung") are one location: slots merged, the first name kept.
        names.setdefault(loc_id, name)
        markers[loc_id] = markers.get(loc_id) or marker
        urls[loc_id] = urls.get(loc_id) or url
        services.setdefault(loc_id, set()).update(_services(entry, where))
        bucket = slots.setdefault(loc_id, set())
        for pos, text in enumerate(dates):
            if not isinstance(text, str) or not _RAW_DATE.fullmatch(text):
                raise ParseError(f"{where}, date {pos}: {text!r} is not 'YYYY-MM-DD HH:MM'")
            bucket.add(parse_slot(text, f"{where}, date {pos}"))
    return ParsedSnapshot(
        {
            loc_id: Location(
                loc_id,
                names[loc_id],
                tuple(sorted(services[loc_id])),
                sorted_slots(slots[loc_id]),
                empty=None if slots[loc_id] else markers[loc_id],
                url=urls[loc_id],
            )
            for loc_id in names
        }
    )
