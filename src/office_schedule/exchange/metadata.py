"""metadata.json: source and location names, merged and serialised like the published file.

Per source ``{"name", "scraper", "url", "locations": {id: {"name", "services"}}}``. Merging
adds new locations, fills a missing location name and unions services; source fields are
never changed once set. Sorted by source id, location id and service; JSON with indent 2,
ASCII escapes and no final newline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import OfficeScheduleError

STANDARD_FAMILIES = ("tevis", "netappoint", "etermin", "tempus")


class MetadataError(OfficeScheduleError):
    """A metadata.json that does not have the published structure."""


def scraper_name(family: str) -> str:
    """The reference called every custom family ``custom``."""
    return family if family in STANDARD_FAMILIES else "custom"


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MetadataError(f"{path}: cannot read metadata ({exc})") from None
    validate(data, str(path))
    return data


def validate(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise MetadataError(f"{where}: expected an object of sources")
    for source_id, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("locations", {}), dict):
            raise MetadataError(f"{where}: source {source_id!r} is not an object with locations")
        for loc_id, loc in entry.get("locations", {}).items():
            ok = isinstance(loc, dict) and isinstance(loc.get("services", []), list)
            if not ok or not (loc.get("name") is None or isinstance(loc.get("name"), str)):
                raise MetadataError(f"{where}: {source_id}/{loc_id}: bad location entry")


def merge_source(
    meta: dict[str, Any],
    source_id: str,
    fields: tuple[str | None, str | None, str | None],
    locations: dict[str, tuple[str | None, list[str]]],
) -> None:
    """Merge one source's locations into ``meta`` following the published rules."""
    if not locations:
        return
    entry = meta.get(source_id)
    if entry is None:
        name, scraper, url = fields
        entry = meta[source_id] = {"name": name, "scraper": scraper, "url": url, "locations": {}}
    locs = entry.setdefault("locations", {})
    for loc_id, (name, services) in locations.items():
        current = locs.get(loc_id)
        if current is None:
            locs[loc_id] = {"name": name or None, "services": sorted(set(services))}
            continue
        if current.get("name") is None and name:
            current["name"] = name
        current["services"] = sorted(set(current.get("services", [])) | set(services))


def dumps(meta: dict[str, Any]) -> str:
    ordered = {}
    for source_id in sorted(meta):
        entry = meta[source_id]
        ordered[source_id] = {
            "name": entry.get("name"),
            "scraper": entry.get("scraper"),
            "url": entry.get("url"),
            "locations": {
                loc_id: {"name": loc.get("name"), "services": sorted(loc.get("services", []))}
                for loc_id, loc in sorted(entry.get("locations", {}).items())
            },
        }
    return json.dumps(ordered, indent=2, ensure_ascii=True)
