"""Fake servers per booking-system family, all publishing the same simulated offices.

A family server module defines ``FAMILY``, ``PAGE_FAULTS`` (fault modes it renders itself),
``handle(world, src, request, fault) -> Reply``, ``location_id(src, loc) -> str`` (the id
the family's scraper reports), ``truth_days(now, weeks) -> list[date]`` (the days a scrape
of ``weeks`` covers) and ``catalog_entry(src, base_url) -> (index_url, params)``.
A family that publishes only part of the free slots (one per day, say) may also define
``truth_slots(world, src, loc, now, weeks) -> ["YYYY-MM-DD HH:MM:SS", ...]``, which
``SimWorld.truth`` then uses instead of the day-based default, and ``TRUTH_SKIPS_EMPTY =
True`` when its scraper only reports locations that have a free slot.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..families import FAMILIES

#: family -> its fake server module, as each family declares it (``Family.server``)
FAMILY_SERVERS: dict[str, str] = {name: f.server for name, f in FAMILIES.items() if f.server}
#: faults the HTTP layer produces for every family: ``empty`` lets the world publish no free
#: slot (each family renders its own "nothing free" answer), ``changed`` answers every request
#: with a redesigned portal's page that no reader knows, ``429`` throttles (Retry-After as
#: ``SimServer.retry_after``/``set_retry_after`` say) and ``403`` forbids (no Retry-After),
#: both for ``storm_requests`` answers or until changed
GENERIC_FAULTS = ("down", "500", "slow", "empty", "changed", "429", "403")


def family_server(family: str) -> ModuleType:
    try:
        return importlib.import_module(FAMILY_SERVERS[family])
    except KeyError:
        known = ", ".join(sorted(FAMILY_SERVERS))
        raise ValueError(f"no simulated server for family {family!r} (have: {known})") from None


def fault_modes(family: str) -> tuple[str, ...]:
    own = family_server(family).PAGE_FAULTS
    return GENERIC_FAULTS + tuple(m for m in own if m not in GENERIC_FAULTS)


def all_fault_modes() -> tuple[str, ...]:
    modes = list(GENERIC_FAULTS)
    for family in FAMILY_SERVERS:
        modes.extend(m for m in fault_modes(family) if m not in modes)
    return tuple(modes)
