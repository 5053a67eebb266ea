"""Plain data types passed between families, the store and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SLOT_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Location:
    """One calendar of a source with its free slots (naive local times, minute precision)."""

    id: str
    name: str | None
    services: tuple[str, ...] = ()
    slots: tuple[datetime, ...] = ()


@dataclass
class ParsedSnapshot:
    """What a family's ``parse`` makes of a raw payload: locations keyed by id."""

    locations: dict[str, Location] = field(default_factory=dict)

    @property
    def slot_count(self) -> int:
        return sum(len(loc.slots) for loc in self.locations.values())

    def to_truth(self) -> dict[str, list[str]]:
        """The ``{location_id: ["YYYY-MM-DD HH:MM:SS", ...]}`` shape used by ``/__truth__``."""
        return {
            loc_id: [s.strftime(SLOT_FORMAT) for s in loc.slots]
            for loc_id, loc in sorted(self.locations.items())
        }
