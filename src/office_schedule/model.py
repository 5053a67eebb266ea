"""Plain data types passed between families, the store and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SLOT_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Location:
    """One calendar of a source with its free slots (naive local times, minute precision).

    A location without slots must say why in ``empty``: the "nothing free" marker the site
    showed (``Kein freier Termin verfügbar``, an explicit empty day list, ...). Zero slots
    without it are never a result (see ``families.check_empty``); ``url`` names the page.
    """

    id: str
    name: str | None
    services: tuple[str, ...] = ()
    slots: tuple[datetime, ...] = ()
    empty: str | None = field(default=None, compare=False)
    url: str | None = field(default=None, compare=False)


@dataclass
class ParsedSnapshot:
    """What a family's ``parse`` makes of a raw payload: locations keyed by id.

    ``empty`` is the site's own statement when it lists no location at all.
    """

    locations: dict[str, Location] = field(default_factory=dict)
    empty: str | None = None

    @property
    def slot_count(self) -> int:
        return sum(len(loc.slots) for loc in self.locations.values())

    def to_truth(self) -> dict[str, list[str]]:
        """The ``{location_id: ["YYYY-MM-DD HH:MM:SS", ...]}`` shape used by ``/__truth__``."""
        return {
            loc_id: [s.strftime(SLOT_FORMAT) for s in loc.slots]
            for loc_id, loc in sorted(self.locations.items())
        }
