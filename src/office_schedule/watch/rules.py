"""What a watch matches: sources, locations and services by wildcard, and a slot window.

Wildcards (``fnmatch``, comma-separated lists allowed) ignore case; a source matches by id
or name, a location by id or name, a service filter by any service of the location. The
filters of one kind are alternatives, the kinds all apply. Slots are naive local minutes
since 1970 (``store.codec``); ``between`` windows are half open: 08:00-12:00 takes a slot
starting at 11:55, not one at 12:00.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from ..catalog import split_patterns
from ..store.codec import EPOCH

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = 1440
_EPOCH_WEEKDAY = EPOCH.weekday()  # 1970-01-01 was a Thursday
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


class RuleError(ValueError):
    """A filter value that cannot be understood (the message says which and why)."""


def _weekday(text: str) -> int:
    word = text.strip().lower()
    if word.isdigit() and 1 <= int(word) <= 7:
        return int(word) - 1
    for i, full in enumerate(_FULL):
        if len(word) >= 2 and full.startswith(word):
            return i
    raise RuleError(f"weekday {text!r} is not Mon..Sun or 1-7 (1 = Monday)")


def parse_weekdays(values: Iterable[str]) -> tuple[int, ...]:
    """``("Mon-Wed", "fri", "7")`` -> ``(0, 1, 2, 4, 6)`` (0 = Monday)."""
    days: set[int] = set()
    for part in split_patterns(list(values)):
        first, dash, last = part.partition("-")
        if not dash:
            days.add(_weekday(part))
            continue
        a, b = _weekday(first), _weekday(last)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return tuple(sorted(days))


def _minute(text: str) -> int | None:
    match = _TIME.fullmatch(text.strip())
    if not match or int(match[2]) > 59 or int(match[1]) * 60 + int(match[2]) > _DAY:
        return None
    return int(match[1]) * 60 + int(match[2])


def parse_between(text: str) -> tuple[int, int]:
    """``"08:00-12:00"`` -> ``(480, 720)``: minutes of the day, the end excluded."""
    start, _, end = text.partition("-")
    a, b = _minute(start), _minute(end)
    if a is None or b is None:
        raise RuleError(f"--between {text!r} is not HH:MM-HH:MM (like 08:00-12:00)")
    if b <= a:
        raise RuleError(
            f"--between {text!r} ends before it starts (give two windows to span midnight)"
        )
    return a, b


def _fmt_minute(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def minute_of(moment: datetime) -> float:
    """A naive local time as (fractional) minutes since 1970, the slots' scale."""
    return (moment - EPOCH).total_seconds() / 60


def slot_time(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=int(minute))


def _matches(patterns: Sequence[str], names: Iterable[str | None]) -> bool:
    folded = [n.casefold() for n in names if n]
    return any(fnmatch.fnmatchcase(n, p.casefold()) for p in patterns for n in folded)


@dataclass(frozen=True)
class Rule:
    """The filters of one watch; an empty filter takes everything."""

    sources: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    from_date: date | None = None
    until_date: date | None = None
    weekdays: tuple[int, ...] = ()
    between: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.from_date and self.until_date and self.until_date < self.from_date:
            raise RuleError(
                f"--until-date {self.until_date} is before --from-date {self.from_date}"
            )

    @classmethod
    def from_options(
        cls,
        sources: Sequence[str] = (),
        locations: Sequence[str] = (),
        services: Sequence[str] = (),
        from_date: date | None = None,
        until_date: date | None = None,
        weekdays: Sequence[str] = (),
        between: Sequence[str] = (),
    ) -> Rule:
        """The rule of ``watch add``'s options (RuleError names a bad value)."""
        return cls(
            sources=tuple(split_patterns(sources)),
            locations=tuple(split_patterns(locations)),
            services=tuple(split_patterns(services)),
            from_date=from_date,
            until_date=until_date,
            weekdays=parse_weekdays(weekdays),
            between=tuple(sorted({parse_between(b) for b in between})),
        )

    def to_json(self) -> dict:
        return {
            "sources": list(self.sources),
            "locations": list(self.locations),
            "services": list(self.services),
            "from_date": self.from_date.isoformat() if self.from_date else None,
            "until_date": self.until_date.isoformat() if self.until_date else None,
            "weekdays": list(self.weekdays),
            "between": [list(b) for b in self.between],
        }

    @classmethod
    def from_json(cls, data: dict) -> Rule:
        day = date.fromisoformat
        return cls(
            sources=tuple(data.get("sources") or ()),
            locations=tuple(data.get("locations") or ()),
            services=tuple(data.get("services") or ()),
            from_date=day(data["from_date"]) if data.get("from_date") else None,
            until_date=day(data["until_date"]) if data.get("until_date") else None,
            weekdays=tuple(data.get("weekdays") or ()),
            between=tuple((int(a), int(b)) for a, b in data.get("between") or ()),
        )

    # -- matching --------------------------------------------------------------------------
    def source_matches(self, source_id: str, name: str | None = None) -> bool:
        return not self.sources or _matches(self.sources, (source_id, name))

    def location_matches(self, location_id: str, name: str | None, services: Sequence[str]) -> bool:
        if self.locations and not _matches(self.locations, (location_id, name)):
            return False
        return not self.services or _matches(self.services, services)

    def slot_mask(self, minutes: np.ndarray, after: float) -> np.ndarray:
        """Which of the slots (minutes since 1970) start after ``after`` and lie in the window."""
        m = np.asarray(minutes, dtype=np.int64)
        mask = m > after
        days = m // _DAY
        if self.from_date:
            mask &= days >= (self.from_date - EPOCH.date()).days
        if self.until_date:
            mask &= days <= (self.until_date - EPOCH.date()).days
        if self.weekdays:
            mask &= np.isin((days + _EPOCH_WEEKDAY) % 7, self.weekdays)
        if self.between:
            tod = m % _DAY
            inside = np.zeros(len(m), dtype=bool)
            for start, end in self.between:
                inside |= (tod >= start) & (tod < end)
            mask &= inside
        return mask

    def describe(self) -> str:
        """One line for ``watch list`` and the messages."""
        parts = []
        for label, values in (("source", self.sources), ("location", self.locations),
                              ("service", self.services)):  # fmt: skip
            if values:
                parts.append(f"{label} {','.join(values)}")
        if self.from_date or self.until_date:
            parts.append(f"{self.from_date or '…'} to {self.until_date or '…'}")
        if self.weekdays:
            parts.append(",".join(WEEKDAYS[d] for d in self.weekdays))
        if self.between:
            parts.append(",".join(f"{_fmt_minute(a)}-{_fmt_minute(b)}" for a, b in self.between))
        return "; ".join(parts) or "every free slot"
