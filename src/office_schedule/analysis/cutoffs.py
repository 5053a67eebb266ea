"""Booking cutoffs learned per location: when an office stops offering a slot before its time.

Many offices withdraw a free slot some time before it starts: 30 minutes, 2 hours, 24 hours
before (a *lead* cutoff), or all remaining slots of a day at once at a clock time on the day
before or the same day (a *day* cutoff, e.g. "until 19:00 the evening before"). Such a slot
vanishes without anybody booking it; counted as an appointment it makes the lead times of
whole offices collapse into a few minutes. The data shows the cutoff itself:

- **lead**: no free slot is ever offered closer than ``C`` minutes to its start, the nearest
  free slot of many snapshots sits right at ``C`` (a floor every free slot reaches before it
  expires), and slots vanish as they cross ``C``;
- **day**: the remaining free slots of a day vanish all together, on several days, at the
  same clock time and the same number of days before the slot's day.

A cutoff is learned per ISO week of snapshots (a policy may change) and carried to weeks
without enough evidence; ``since`` is where its current value begins. Disappearances it
explains are *expiries*, not appointments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_DAY = 1440
_WEEK = 7 * _DAY
#: 1970-01-01 was a Thursday: shifting by 3 days puts week boundaries on Mondays
_MONDAY = 3 * _DAY
#: a lead cutoff at or below this is covered by the events' grace period anyway
MIN_LEAD = 16
#: share of snapshots whose nearest free slot must sit at the floor
MIN_FLOOR_SHARE = 0.01
#: distinct slots that must be seen expiring at the floor / days vanishing at the clock
MIN_EXPIRIES = 3
MIN_DAYS = 3
#: minutes a day cutoff's vanishings may scatter around its clock time
CLOCK_SPREAD = 20
#: a day cutoff lies on the slot's day or at most this many days before it
MAX_DAY_OFFSET = 2


@dataclass(frozen=True)
class Cutoff:
    """How long before a slot a location stops offering it (one or both kinds)."""

    #: minutes before the slot's start (lead cutoff), or None
    lead: int | None = None
    #: day cutoff: days before the slot's day (0 = same day) and minute of the day, or None
    day: tuple[int, int] | None = None
    #: minutes since 1970 (naive local) from which this value holds
    since: int = 0
    #: evidence: snapshots with the nearest free slot at the floor / all with a free slot
    floor_share: float = 0.0
    #: evidence: slots seen expiring at the lead floor, days vanishing at the day clock
    expiries: int = 0
    days: int = 0

    def expiry(self, slots: np.ndarray) -> np.ndarray:
        """The minute at which each slot stops being offered (inf when never)."""
        out = np.full(len(slots), np.inf)
        if self.lead is not None:
            out = np.minimum(out, slots - self.lead)
        if self.day is not None:
            offset, clock = self.day
            out = np.minimum(out, (slots // _DAY - offset) * _DAY + clock)
        return out

    def describe(self) -> str:
        parts = []
        if self.lead is not None:
            hours, minutes = divmod(self.lead, 60)
            text = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
            parts.append(f"{text} before")
        if self.day is not None:
            offset, clock = self.day
            when = {0: "the same day", 1: "the day before"}.get(offset, f"{offset} days before")
            parts.append(f"{clock // 60:02d}:{clock % 60:02d} {when}")
        return "; ".join(parts) or "none"

    @property
    def sure(self) -> str:
        """``sure`` with plenty of evidence, else ``likely``."""
        enough = self.expiries >= 20 or self.days >= 5
        return "sure" if enough and (self.lead is None or self.floor_share >= 0.03) else "likely"


def _nearest_leads(snaps: Sequence[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(snapshot minutes, lead of the nearest future free slot) for snapshots that have one."""
    times, leads = [], []
    for t, arr in snaps:
        pos = np.searchsorted(arr, t, side="right")
        if pos < len(arr):
            times.append(t)
            leads.append(int(arr[pos]) - t)
    return np.asarray(times, dtype=np.int64), np.asarray(leads, dtype=np.int64)


def _vanishings(snaps) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Per pair of successive snapshots: (t1, t2, vanished future slots, free at t2)."""
    out = []
    for (t1, a1), (t2, a2) in zip(snaps, snaps[1:], strict=False):
        if a1 is a2 or (len(a1) == len(a2) and np.array_equal(a1, a2)):
            continue
        gone = a1[np.searchsorted(a1, t2, side="right") :]
        if len(a2):
            pos = np.minimum(np.searchsorted(a2, gone), len(a2) - 1)
            gone = gone[a2[pos] != gone]
        if len(gone):
            out.append((t1, t2, gone, a2))
    return out


def learn_lead(snaps, vanishings) -> tuple[int, float, int] | None:
    """(cutoff minutes, floor share, expiries) when the data show a lead cutoff, else None."""
    _, leads = _nearest_leads(snaps)
    if len(leads) < 20:
        return None
    ordered = np.sort(leads)
    cut = int(ordered[min(len(ordered) - 1, max(2, int(0.005 * len(ordered))))])
    if cut < MIN_LEAD:
        return None
    floor = float(np.mean((leads >= cut - 5) & (leads < cut + 16)))
    expiring = 0
    for t1, t2, gone, _ in vanishings:
        expiring += int(np.sum((gone - t2 < cut) & (gone - t1 >= cut - 5)))
    if floor < MIN_FLOOR_SHARE or expiring < MIN_EXPIRIES:
        return None
    return cut, floor, expiring


def learn_day(vanishings) -> tuple[tuple[int, int], int] | None:
    """((days before, clock minute), days seen) when the nearest bookable day vanishes as a
    whole, on several days, at the same clock time (at most ``MAX_DAY_OFFSET`` days before)."""
    seen: dict[int, list[tuple[int, int]]] = {}
    for _t1, t2, gone, after in vanishings:
        day = int(gone[0] // _DAY)  # the nearest day that lost slots ...
        nearest = after[np.searchsorted(after, t2, side="right") :]
        if len(nearest) and nearest[0] // _DAY <= day:
            continue  # ... must have been the nearest bookable day, and gone as a whole
        offset = day - int(t2 // _DAY)
        if 0 <= offset <= MAX_DAY_OFFSET:
            seen.setdefault(offset, []).append((int(t2 % _DAY), day))
    best = None
    for offset, events in seen.items():
        clocks = np.array([c for c, _ in events])
        for clock in np.unique(clocks):
            near = [d for c, d in events if abs(c - clock) <= CLOCK_SPREAD]
            days = len(set(near))
            if days >= MIN_DAYS and days >= 0.5 * len({d for _, d in events}):
                mid = int(np.median([c for c, _ in events if abs(c - clock) <= CLOCK_SPREAD]))
                if best is None or days > best[1]:
                    best = ((offset, mid), days)
    return best


def learn_cutoff(snaps: Sequence[tuple[int, np.ndarray]]) -> Cutoff | None:
    """The cutoff of one stretch of snapshots (time-ordered ``(minutes, sorted free slots)``)."""
    vanishings = _vanishings(snaps)
    lead = learn_lead(snaps, vanishings)
    day = learn_day(vanishings)
    if lead is None and day is None:
        return None
    if lead is not None and day is not None:  # one may only be the other seen another way
        by_lead = _explained(vanishings, Cutoff(lead=lead[0]))
        by_day = _explained(vanishings, Cutoff(day=day[0]))
        both = len(by_lead & by_day)
        if both >= 0.8 * len(by_lead):
            lead = None
        elif both >= 0.8 * len(by_day):
            day = None
    return Cutoff(
        lead=lead[0] if lead else None,
        day=day[0] if day else None,
        since=int(snaps[0][0]),
        floor_share=round(lead[1], 3) if lead else 0.0,
        expiries=lead[2] if lead else 0,
        days=day[1] if day else 0,
    )


def expired_mask(cut: Cutoff, slots: np.ndarray, t1: int, t2: int, after: np.ndarray):
    """Which slots, gone between snapshots ``t1`` and ``t2``, crossed the cutoff: past the
    lead cutoff, or a whole day gone at the day cutoff's clock time (``after``: the free
    slots at ``t2``)."""
    mask = np.zeros(len(slots), dtype=bool)
    if cut.lead is not None:
        mask |= slots - t2 < cut.lead
    if cut.day is not None:
        offset, clock = cut.day
        days = slots // _DAY
        when = (days - offset) * _DAY + clock
        at_clock = (t2 >= when - CLOCK_SPREAD) & (t1 < when + CLOCK_SPREAD)
        mask |= at_clock & ~np.isin(days, after // _DAY)
    return mask


def _explained(vanishings, cut: Cutoff) -> set[tuple[int, int]]:
    """The (time, slot) disappearances a cutoff explains."""
    out: set[tuple[int, int]] = set()
    for t1, t2, gone, after in vanishings:
        out.update((t2, int(s)) for s in gone[expired_mask(cut, gone, t1, t2, after)])
    return out


def _same(a: Cutoff, b: Cutoff) -> bool:
    """Equal up to the jitter of 15-minute snapshots."""
    if (a.lead is None) != (b.lead is None) or (a.day is None) != (b.day is None):
        return False
    if a.lead is not None and abs(a.lead - b.lead) > 15:
        return False
    return a.day is None or (a.day[0] == b.day[0] and abs(a.day[1] - b.day[1]) <= 30)


def _week(t: int) -> int:
    return (t + _MONDAY) // _WEEK


def learn_cutoffs(snaps: Sequence[tuple[int, np.ndarray]]) -> list[Cutoff]:
    """Cutoffs per ISO week of the snapshots, time-ordered; a week without evidence keeps the
    value before it, and a value that continues keeps its ``since``."""
    if not snaps:
        return []
    weeks: dict[int, list] = {}
    for t, arr in snaps:
        weeks.setdefault(_week(t), []).append((t, arr))
    learned = {w: learn_cutoff(part) for w, part in weeks.items()}
    out: list[Cutoff] = []
    current = None
    for w in sorted(weeks):
        value = learned[w] or current
        if value is None and len(weeks) > 1 and w == min(weeks):
            value = learn_cutoff(snaps)  # a first week too short to tell: all weeks together
        if value is None:
            continue
        if current is not None and _same(value, current):
            continue
        value = Cutoff(value.lead, value.day, int(weeks[w][0][0]), value.floor_share,
                       value.expiries, value.days)  # fmt: skip
        out.append(value)
        current = value
    return out


def cutoff_at(cutoffs: Sequence[Cutoff], t: int) -> Cutoff | None:
    """The cutoff in force at minute ``t``: the latest one whose ``since`` is not after it."""
    found = None
    for cutoff in cutoffs:
        if cutoff.since <= t:
            found = cutoff
        else:
            break
    return found if found is not None else (cutoffs[0] if cutoffs else None)


__all__ = ["Cutoff", "cutoff_at", "expired_mask", "learn_cutoff", "learn_cutoffs"]
