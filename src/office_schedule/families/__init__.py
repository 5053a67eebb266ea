"""Booking-system families: the registry of every declared :class:`Family`.

Each family module (or package) defines ``scrape(source, session, weeks, now) -> raw``
(requests only), a pure ``parse(raw) -> ParsedSnapshot`` and ``read_page(text, url=None) ->
PageView`` (``office-schedule read-page``; its scraper acts on the same views), and declares
them with its parameters, politeness, URL fingerprints and fake server as ``FAMILY``
(``family.py``). ``FAMILIES`` below is the one registry the catalog, the sweep,
``read-page``, ``discover`` and the simulator read.

Every location ``parse`` reports without a free slot carries the site's "nothing free"
marker in ``Location.empty``; :func:`check_empty` refuses a silent zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError, ParseError
from ..fetch.settings import Politeness
from . import (
    berlin,
    cleverq,
    etermin,
    flexappoint,
    impftermin,
    impfthueringen,
    konsentas,
    leipzig,
    netappoint,
    qmatic,
    refused,
    smartcjm,
    tempus,
    termed,
    tevis,
    zms,
)
from .family import Family
from .pages import PageView

if TYPE_CHECKING:
    from ..model import ParsedSnapshot, Source

#: every family by name, in the order of the catalog's documentation
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        tevis.FAMILY,
        smartcjm.FAMILY,
        zms.FAMILY,
        etermin.FAMILY,
        tempus.FAMILY,
        cleverq.FAMILY,
        qmatic.FAMILY,
        konsentas.FAMILY,
        flexappoint.FAMILY,
        netappoint.FAMILY,
        leipzig.FAMILY,
        impfthueringen.FAMILY,
        termed.FAMILY,
        berlin.FAMILY,
        impftermin.FAMILY,
        *refused.FAMILIES,
    )
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise CatalogError(f"unknown family {name!r} (known: {known})") from None


def readable_families() -> list[str]:
    """Names of the families that have a scraper (not refusals)."""
    return [name for name, f in FAMILIES.items() if f.refusal is None]


def validate_source(source: Source) -> None:
    """The family exists, takes exactly these parameters, and is not a refusal if enabled."""
    family = get_family(source.family)
    who = f"source {source.id!r} (family {source.family})"
    missing = [p for p in family.required if not source.params.get(p)]
    if missing:
        raise CatalogError(f"{who} lacks parameter(s) {', '.join(missing)}")
    unknown = sorted(set(source.params) - set(family.parameters))
    if unknown:
        known = ", ".join(family.parameters) or "none"
        raise CatalogError(f"{who}: unknown parameter(s) {', '.join(unknown)} (known: {known})")
    if family.refusal is not None and source.enabled:
        raise CatalogError(f"{who} cannot be enabled: {family.refusal}")


#: how families that share a host are reconciled: the strictest value wins
_STRICTEST = {"per_host_concurrency": min, "min_gap": max, "attempts": min, "timeout": max}


def resolve_politeness(
    sources: Iterable[Source],
    overrides: Mapping[str, Any] | None = None,
    defaults: Politeness | None = None,
) -> tuple[Politeness, dict[str, Politeness]]:
    """A sweep's politeness, resolved in one place: defaults -> family -> command line.

    Returns the base values and the values per host where they differ. ``overrides`` are
    the values the user set explicitly; they apply to every host. A source's
    ``request_delay`` parameter (the pause a site asks for) raises its host's gap.
    """
    overrides = dict(overrides or {})
    base = dataclasses.replace(defaults or Politeness(), **overrides)
    wishes_by_host: dict[str, list[dict[str, Any]]] = {}
    for source in sources:
        wishes = dict(get_family(source.family).politeness)
        delay = source.params.get("request_delay")
        if delay:
            wishes["min_gap"] = max(float(wishes.get("min_gap", 0.0)), float(delay))
        if wishes:
            wishes_by_host.setdefault(source.host, []).append(wishes)
    per_host: dict[str, Politeness] = {}
    for host, wishes in wishes_by_host.items():
        changes = {
            key: pick(values)
            for key, pick in _STRICTEST.items()
            if key not in overrides and (values := [w[key] for w in wishes if key in w])
        }
        per_host[host] = dataclasses.replace(base, **changes)
    return base, per_host


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
    reader = get_family(family).read_page
    if reader is None:
        raise CatalogError(f"family {family!r} is not read: {get_family(family).refusal}")
    return reader(text, url)
