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
    """Read and validate a metadata.json; invalid UTF-8, JSON or types are a MetadataError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read metadata ({exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"{path}: not UTF-8 (byte {raw[exc.start : exc.start + 1]!r} at byte offset "
            f"{exc.start})"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc})") from None
    validate(data, str(path))
    return data


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def validate(data: Any, where: str) -> None:
    """Every key with the published type, else one MetadataError naming the key."""
    if not isinstance(data, dict):
        raise MetadataError(f"{where}: expected an object of sources, got {_kind(data)}")
    for source_id, entry in data.items():
        if not isinstance(entry, dict):
            raise MetadataError(f"{where}: {source_id!r} must be an object, got {_kind(entry)}")
        for key in ("name", "scraper", "url"):
            if not (entry.get(key) is None or isinstance(entry[key], str)):
                raise MetadataError(
                    f"{where}: {source_id}.{key} must be a string or null, got {_kind(entry[key])}"
                )
        locations = entry.get("locations", {})
        if not isinstance(locations, dict):
            raise MetadataError(
                f"{where}: {source_id}.locations must be an object, got {_kind(locations)}"
            )
        for loc_id, loc in locations.items():
            key = f"{source_id}.locations.{loc_id}"
            if not isinstance(loc, dict):
                raise MetadataError(f"{where}: {key} must be an object, got {_kind(loc)}")
            if not (loc.get("name") is None or isinstance(loc["name"], str)):
                raise MetadataError(
                    f"{where}: {key}.name must be a string or null, got {_kind(loc['name'])}"
                )
            services = loc.get("services", [])
            if not isinstance(services, list) or not all(isinstance(x, str) for x in services):
                raise MetadataError(f"{where}: {key}.services must be a list of strings")


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
