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

from .series import Track

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


def _track(snaps) -> Track:
    return snaps if isinstance(snaps, Track) else Track.from_pairs(snaps)


class _Vanishings:
    """Per change of state: the future slots that vanished (``slots``, by change ``of``),
    the times before and after (``t1``, ``t2``) and the run after it (``run``)."""

    def __init__(self, track: Track):
        runs = np.arange(1, track.n_runs)
        t2 = track.times[track.starts[1:]]
        counts = track.gone.lengths()[1:]
        every = np.repeat(np.arange(len(runs)), counts)
        gone = track.gone.flat[track.gone.off[1] :]
        future = gone > t2[every]
        kept = np.bincount(every[future], minlength=len(runs))
        has = kept > 0
        self.track = track
        self.run = runs[has]
        self.t1 = track.times[track.starts[1:] - 1][has]
        self.t2 = t2[has]
        self.slots = gone[future]
        self.of = np.repeat(np.arange(len(self.run)), kept[has])
        self.first = np.concatenate(([0], np.cumsum(kept[has])[:-1])).astype(np.int64)

    def __len__(self) -> int:
        return len(self.run)

    def day_free(self) -> np.ndarray:
        """Per slot: whether its day still has a free slot after the change."""
        days = self.slots // _DAY
        runs = self.run[self.of]
        states = self.track.states
        return states.search(runs, (days + 1) * _DAY) > states.search(runs, days * _DAY)

    def expired(self, cut: Cutoff) -> np.ndarray:
        day_free = self.day_free() if cut.day is not None else None
        return _expired(cut, self.slots, self.t1[self.of], self.t2[self.of], day_free)


def learn_lead(snaps, vanishings: _Vanishings) -> tuple[int, float, int] | None:
    """(cutoff minutes, floor share, expiries) when the data show a lead cutoff, else None."""
    track = _track(snaps)
    runs = track.run_of_snapshots()
    pos = track.states.search(runs, track.times, "right")
    has = pos < track.states.lengths()[runs]
    leads = track.states.flat[track.states.off[runs[has]] + pos[has]] - track.times[has]
    if len(leads) < 20:
        return None
    ordered = np.sort(leads)
    cut = int(ordered[min(len(ordered) - 1, max(2, int(0.005 * len(ordered))))])
    if cut < MIN_LEAD:
        return None
    floor = float(np.mean((leads >= cut - 5) & (leads < cut + 16)))
    v = vanishings
    slots = v.slots
    expiring = int(np.sum((slots - v.t2[v.of] < cut) & (slots - v.t1[v.of] >= cut - 5)))
    if floor < MIN_FLOOR_SHARE or expiring < MIN_EXPIRIES:
        return None
    return cut, floor, expiring


def learn_day(vanishings: _Vanishings) -> tuple[tuple[int, int], int] | None:
    """((days before, clock minute), days seen) when the nearest bookable day vanishes as a
    whole, on several days, at the same clock time (at most ``MAX_DAY_OFFSET`` days before)."""
    v = vanishings
    if not len(v):
        return None
    day = v.slots[v.first] // _DAY  # the nearest day that lost slots ...
    states = v.track.states
    pos = states.search(v.run, v.t2, "right")
    has = pos < states.lengths()[v.run]
    nearest = np.full(len(v), np.iinfo(np.int64).max)
    nearest[has] = states.flat[states.off[v.run[has]] + pos[has]] // _DAY
    offset = day - v.t2 // _DAY
    # ... must have been the nearest bookable day, and gone as a whole
    ok = (nearest > day) & (offset >= 0) & (offset <= MAX_DAY_OFFSET)
    offset, clocks, days = offset[ok], v.t2[ok] % _DAY, day[ok]
    best = None
    for off in dict.fromkeys(offset.tolist()):
        mine = offset == off
        found = _clock(clocks[mine], days[mine])
        if found is not None and (best is None or found[1] > best[1]):
            best = ((off, found[0]), found[1])
    return best


def _clock(clocks: np.ndarray, days: np.ndarray) -> tuple[int, int] | None:
    """(median clock, days) of the first clock time around which the most days vanished."""
    ids = np.unique(days, return_inverse=True)[1].reshape(-1)
    unique = np.unique(clocks)
    near = np.abs(clocks[None, :] - unique[:, None]) <= CLOCK_SPREAD
    hit = np.zeros((len(unique), ids.max() + 1), dtype=bool)
    rows, cols = np.nonzero(near)
    hit[rows, ids[cols]] = True
    seen = hit.sum(axis=1)
    good = (seen >= MIN_DAYS) & (seen >= 0.5 * hit.shape[1])
    if not good.any():
        return None
    pick = int(np.argmax(np.where(good, seen, -1)))
    return int(np.median(clocks[near[pick]])), int(seen[pick])


def learn_cutoff(snaps) -> Cutoff | None:
    """The cutoff of one stretch of snapshots (time-ordered ``(minutes, sorted free slots)``
    or a :class:`~.series.Track`)."""
    track = _track(snaps)
    if not len(track):
        return None
    vanishings = _Vanishings(track)
    lead = learn_lead(track, vanishings)
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
        since=int(track.times[0]),
        floor_share=round(lead[1], 3) if lead else 0.0,
        expiries=lead[2] if lead else 0,
        days=day[1] if day else 0,
    )


def _expired(cut: Cutoff, slots, t1, t2, day_free) -> np.ndarray:
    mask = np.zeros(len(slots), dtype=bool)
    if cut.lead is not None:
        mask |= slots - t2 < cut.lead
    if cut.day is not None:
        offset, clock = cut.day
        when = (slots // _DAY - offset) * _DAY + clock
        at_clock = (t2 >= when - CLOCK_SPREAD) & (t1 < when + CLOCK_SPREAD)
        mask |= at_clock & ~day_free
    return mask


def expired_mask(cut: Cutoff, slots: np.ndarray, t1: int, t2: int, after: np.ndarray):
    """Which slots, gone between snapshots ``t1`` and ``t2``, crossed the cutoff: past the
    lead cutoff, or a whole day gone at the day cutoff's clock time (``after``: the sorted
    free slots at ``t2``)."""
    day_free = None
    if cut.day is not None:
        free_days = after // _DAY
        days = slots // _DAY
        pos = np.minimum(free_days.searchsorted(days), max(len(free_days) - 1, 0))
        day_free = free_days[pos] == days if len(free_days) else np.zeros(len(slots), bool)
    return _expired(cut, slots, t1, t2, day_free)


def _explained(vanishings: _Vanishings, cut: Cutoff) -> set[tuple[int, int]]:
    """The (time, slot) disappearances a cutoff explains."""
    v = vanishings
    mask = v.expired(cut)
    return set(zip(v.t2[v.of[mask]].tolist(), v.slots[mask].tolist(), strict=True))


def _same(a: Cutoff, b: Cutoff) -> bool:
    """Equal up to the jitter of 15-minute snapshots."""
    if (a.lead is None) != (b.lead is None) or (a.day is None) != (b.day is None):
        return False
    if a.lead is not None and abs(a.lead - b.lead) > 15:
        return False
    return a.day is None or (a.day[0] == b.day[0] and abs(a.day[1] - b.day[1]) <= 30)


def learn_cutoffs(snaps) -> list[Cutoff]:
    """Cutoffs per ISO week of the snapshots, time-ordered; a week without evidence keeps the
    value before it, and a value that continues keeps its ``since``."""
    track = _track(snaps)
    if not len(track):
        return []
    week_of = (track.times + _MONDAY) // _WEEK
    weeks = {w: np.flatnonzero(week_of == w) for w in dict.fromkeys(week_of.tolist())}
    learned = {w: learn_cutoff(track.part(index)) for w, index in weeks.items()}
    out: list[Cutoff] = []
    current = None
    for w in sorted(weeks):
        value = learned[w] or current
        if value is None and len(weeks) > 1 and w == min(weeks):
            value = learn_cutoff(track)  # a first week too short to tell: all weeks together
        if value is None:
            continue
        if current is not None and _same(value, current):
            continue
        value = Cutoff(value.lead, value.day, int(track.times[weeks[w][0]]), value.floor_share,
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
