"""Booking-system families: one module each, with ``scrape`` (requests) and pure ``parse``.

A family module defines:

- ``NAME``: the family string used in the catalog;
- ``async def scrape(source, session, weeks, now) -> raw``: JSON-able raw payload;
- ``def parse(raw) -> ParsedSnapshot``: pure, raises ``ParseError`` on a bad payload.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError
from ..fetch.settings import Politeness

if TYPE_CHECKING:
    from ..catalog import Source


@dataclass(frozen=True)
class FamilySpec:
    """Where a family lives and which catalog parameters it reads."""

    module: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    #: politeness fields this family's hosts need beyond the defaults (stricter only)
    politeness: Mapping[str, Any] = field(default_factory=dict)


#: family name -> spec; a family module is imported only when used
FAMILIES: dict[str, FamilySpec] = {
    "tevis": FamilySpec("office_schedule.families.tevis", ("base_url",), ("mp_group",)),
    "netappoint": FamilySpec(
        "office_schedule.families.netappoint", ("base_url", "company"), ("extra",)
    ),
    "etermin": FamilySpec(
        "office_schedule.families.etermin", ("et_url",), ("base_url", "mp_group")
    ),
    "tempus": FamilySpec(
        "office_schedule.families.tempus",
        ("base_url", "anlagennr"),
        ("extra", "mp_group", "mp_max"),
    ),
    "leipzig": FamilySpec("office_schedule.families.leipzig", (), ("base_url",)),
    "impfthueringen": FamilySpec("office_schedule.families.impfthueringen", (), ("base_url",)),
    "termed": FamilySpec(
        "office_schedule.families.termed", (), ("doc_ids", "max_doc_id", "api_url", "base_url")
    ),
    # Berlin throttles hard ("Zu viele Zugriffe", captchas): one request at a time, long gaps,
    # and no retry of a refusal (a 429 means: come back in an hour).
    "berlin": FamilySpec(
        "office_schedule.families.berlin",
        (),
        ("base_url", "request_delay"),
        {"per_host_concurrency": 1, "min_gap": 3.0, "attempts": 1},
    ),
    "impftermin": FamilySpec(
        "office_schedule.families.impftermin",
        (),
        ("base_url", "request_delay", "leistungsmerkmale"),
        {"per_host_concurrency": 1, "min_gap": 0.7, "attempts": 1},
    ),
}


def family_spec(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise CatalogError(f"unknown family {name!r} (known: {known})") from None


def get_family(name: str) -> ModuleType:
    return importlib.import_module(family_spec(name).module)


def validate_source(source: Source) -> None:
    """Check that the family exists and every required parameter is present."""
    spec = family_spec(source.family)
    missing = [p for p in spec.required if not source.params.get(p)]
    if missing:
        raise CatalogError(
            f"source {source.id!r} (family {source.family}) lacks parameter(s) {', '.join(missing)}"
        )


def host_politeness(sources: Iterable[Source], base: Politeness) -> dict[str, Politeness]:
    """Per-host politeness for the hosts whose families ask for more than ``base``.

    Where families with different needs share a host, the strictest value of each
    field wins: fewest lanes, longest gap, fewest attempts.
    """
    out: dict[str, Politeness] = {}
    for source in sources:
        wanted = family_spec(source.family).politeness
        if not wanted:
            continue
        current = out.get(source.host, base)
        out[source.host] = dataclasses.replace(
            current,
            per_host_concurrency=min(
                current.per_host_concurrency,
                wanted.get("per_host_concurrency", current.per_host_concurrency),
            ),
            min_gap=max(current.min_gap, wanted.get("min_gap", current.min_gap)),
            attempts=min(current.attempts, wanted.get("attempts", current.attempts)),
        )
    return out
