"""Booking-system families: one module each, with ``scrape`` (requests) and pure ``parse``.

A family module defines:

- ``NAME``: the family string used in the catalog;
- ``async def scrape(source, session, weeks, now) -> raw``: JSON-able raw payload;
- ``def parse(raw) -> ParsedSnapshot``: pure, raises ``ParseError`` on a bad payload;
- ``def read_page(text, url=None) -> PageView``: what a saved page of the system shows
  (``office-schedule read-page``); the scraper acts on the same views.

Every location ``parse`` reports without a free slot carries the site's "nothing free"
marker in ``Location.empty``; :func:`parse_checked` refuses a silent zero.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError, ParseError
from ..fetch.settings import Politeness
from .pages import PageView

if TYPE_CHECKING:
    from ..catalog import Source
    from ..model import ParsedSnapshot


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
    # classic tenants need ``company``; WEB_APPOINT (AJAX) tenants are told by base_url/extra
    "netappoint": FamilySpec(
        "office_schedule.families.netappoint", ("base_url",), ("company", "extra")
    ),
    # etermin.net (44 offices) and tempus-termine.com (68) carry dozens of offices and
    # 3,000-4,500 requests per sweep each: three lanes with a short gap (the reference ran
    # tempus three at a time) keep a sweep inside the 15-minute cycle at 300 ms latency
    "etermin": FamilySpec(
        "office_schedule.families.etermin",
        ("et_url",),
        ("base_url", "mp_group"),
        {"per_host_concurrency": 3, "min_gap": 0.1},
    ),
    "tempus": FamilySpec(
        "office_schedule.families.tempus",
        ("base_url", "anlagennr"),
        ("extra", "mp_group", "mp_max", "anlagentoken"),
        {"per_host_concurrency": 3, "min_gap": 0.1},
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


def host_politeness(
    sources: Iterable[Source], base: Politeness, fixed: Iterable[str] = ()
) -> dict[str, Politeness]:
    """Per-host politeness for the hosts of families that declare their own.

    A family's values replace ``base`` on its hosts, except the fields named in ``fixed``
    (those the user set explicitly). Where families with different values share a host,
    the strictest wins: fewest lanes, longest gap, fewest attempts.
    """
    fixed = set(fixed)
    wanted_by_host: dict[str, list[Mapping[str, Any]]] = {}
    for source in sources:
        wanted = family_spec(source.family).politeness
        if wanted:
            wanted_by_host.setdefault(source.host, []).append(wanted)
    out: dict[str, Politeness] = {}
    for host, wishes in wanted_by_host.items():
        changes: dict[str, Any] = {}
        for key, pick in (("per_host_concurrency", min), ("min_gap", max), ("attempts", min)):
            values = [w[key] for w in wishes if key in w]
            if values and key not in fixed:
                changes[key] = pick(values)
        out[host] = dataclasses.replace(base, **changes)
    return out


class SilentZeroError(ParseError):
    """A location (or the whole source) reports no free slot without the site's marker."""

    def __init__(self, message: str, url: str | None = None):
        super().__init__(message)
        self.url = url


def check_empty(parsed: ParsedSnapshot, family: str = "") -> ParsedSnapshot:
    """Refuse zero slots that the site did not positively state; returns ``parsed``."""
    who = f"{family}: " if family else ""
    if not parsed.locations and not parsed.empty:
        raise SilentZeroError(
            f"{who}no location and no 'nothing free' marker: zero slots is never a result"
        )
    for loc in parsed.locations.values():
        if not loc.slots and not loc.empty:
            where = f" ({loc.url})" if loc.url else ""
            raise SilentZeroError(
                f"{who}location {loc.id!r} shows no free slot and the page had no "
                f"'nothing free' marker{where}",
                url=loc.url,
            )
    return parsed


def parse_checked(family: str, raw: Any) -> ParsedSnapshot:
    """``parse`` of the family, then :func:`check_empty`."""
    return check_empty(get_family(family).parse(raw), family)


def read_page(family: str, text: str, url: str | None = None) -> PageView:
    """What a saved page of ``family`` shows; ``PageError`` when it is not recognised."""
    module = get_family(family)
    reader = getattr(module, "read_page", None)
    if reader is None:
        raise CatalogError(f"family {family!r} has no page reader")
    return reader(text, url)
