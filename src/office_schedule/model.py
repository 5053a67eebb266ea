"""Plain data types passed between families, the store and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

SLOT_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_INTERVAL_MINUTES = 15.0


def format_params(params: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in params.items())


@dataclass(frozen=True)
class Source:
    """One booking website instance."""

    id: str
    name: str
    family: str
    index_url: str
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    verify_tls: bool = True
    needs_include: bool = False
    enabled: bool = True
    note: str = ""
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES
    #: where the URL and parameters were seen (a public source, or ``discover: <page url>``)
    evidence: str = ""
    #: the date of that evidence: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``
    seen: str = ""
    #: why a disabled source is not recorded
    reason: str = ""
    #: ``""`` or ``allowed-by-operator`` (permission to read despite robots.txt, see ``note``)
    robots: str = ""

    @property
    def base_url(self) -> str:
        return self.params.get("base_url", self.index_url)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def as_row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "index_url": self.index_url,
            "params": format_params(self.params),
            "verify_certificate": "yes" if self.verify_tls else "no",
            "needs_include": "yes" if self.needs_include else "no",
            "enabled": "yes" if self.enabled else "no",
            "note": self.note,
            "evidence": self.evidence,
            "seen": self.seen,
            "reason": self.reason,
            "robots": self.robots,
            "interval_minutes": f"{self.interval_minutes:g}",
        }


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
