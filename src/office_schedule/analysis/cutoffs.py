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


_NONE_AFTER = np.iinfo(np.int64).max


class Evidence:
    """What learning a cutoff reads of a stretch of snapshots, without the snapshots: the
    lead of the nearest future free slot of each snapshot (``leads``, at ``lead_times``), and
    per change of state the future slots that vanished (``slots``, by change ``of``), the
    times before and after (``t1``, ``t2``), the day of the nearest free slot after it
    (``nearest``) and per slot whether its day still has a free slot (``day_free``).
    ``since`` is the stretch's first snapshot; stretches in time order :meth:`join`."""

    def __init__(self, since, lead_times, leads, t1, t2, nearest, slots, of, day_free):
        self.since, self.lead_times, self.leads = since, lead_times, leads
        self.t1, self.t2, self.nearest = t1, t2, nearest
        self.slots, self.of, self.day_free = slots, of, day_free
        counts = np.bincount(of, minlength=len(t2))
        self.first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)

    @classmethod
    def of_track(cls, track: Track, skip_first: bool = False) -> Evidence:
        """Of a Track; ``skip_first``: its first snapshot was a stretch before (its lead
        is not counted again; the change after it is)."""
        states, times = track.states, track.times
        of_snap = track.run_of_snapshots()
        pos = states.search(of_snap, times, "right")
        has = pos < states.lengths()[of_snap]
        if skip_first:
            has[0] = False
        leads = states.flat[states.off[of_snap[has]] + pos[has]] - times[has]
        runs = np.arange(1, track.n_runs)
        t2 = times[track.starts[1:]]
        every = np.repeat(np.arange(len(runs)), track.gone.lengths()[1:])
        gone = track.gone.flat[track.gone.off[1] :]
        future = gone > t2[every]
        kept = np.bincount(every[future], minlength=len(runs))
        keep = kept > 0
        run, t1, t2 = runs[keep], times[track.starts[1:] - 1][keep], t2[keep]
        slots = gone[future]
        of = np.repeat(np.arange(len(run)), kept[keep])
        p = states.search(run, t2, "right")
        found = p < states.lengths()[run]
        nearest = np.full(len(run), _NONE_AFTER, dtype=np.int64)
        nearest[found] = states.flat[states.off[run[found]] + p[found]] // _DAY
        days, at = slots // _DAY, run[of]
        day_free = states.search(at, (days + 1) * _DAY) > states.search(at, days * _DAY)
        since = int(times[min(int(skip_first), len(times) - 1)])
        return cls(since, times[has], leads, t1, t2, nearest, slots, of, day_free)

    def select(self, leads: np.ndarray, changes: np.ndarray, since: int) -> Evidence:
        """The snapshots' leads and the changes where the masks are true."""
        idx = np.flatnonzero(changes)
        counts = np.bincount(self.of, minlength=len(self.t2))[idx]
        slot_at = np.repeat(self.first[idx], counts) + _ranks(counts)
        of = np.repeat(np.arange(len(idx)), counts)
        return Evidence(since, self.lead_times[leads], self.leads[leads], self.t1[idx],
                        self.t2[idx], self.nearest[idx], self.slots[slot_at], of,
                        self.day_free[slot_at])  # fmt: skip

    def within(self) -> Evidence:
        """Without the change from the stretch before (``t1`` before ``since``)."""
        inside = self.t1 >= self.since
        if inside.all():
            return self
        return self.select(np.ones(len(self.leads), dtype=bool), inside, self.since)

    @classmethod
    def join(cls, parts: list[Evidence]) -> Evidence:
        if len(parts) == 1:
            return parts[0]
        shift = np.cumsum([0] + [len(p.t2) for p in parts[:-1]])
        cat = [np.concatenate([getattr(p, name) for p in parts]) for name in
               ("lead_times", "leads", "t1", "t2", "nearest", "slots")]  # fmt: skip
        of = np.concatenate([p.of + k for p, k in zip(parts, shift.tolist(), strict=True)])
        day_free = np.concatenate([p.day_free for p in parts])
        return cls(parts[0].since, *cat[:-1], cat[-1], of, day_free)

    def expired(self, cut: Cutoff) -> np.ndarray:
        day_free = self.day_free if cut.day is not None else None
        return _expired(cut, self.slots, self.t1[self.of], self.t2[self.of], day_free)


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each c of ``counts``, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def learn_lead(ev: Evidence) -> tuple[int, float, int] | None:
    """(cutoff minutes, floor share, expiries) when the data show a lead cutoff, else None."""
    leads = ev.leads
    if len(leads) < 20:
        return None
    ordered = np.sort(leads)
    cut = int(ordered[min(len(ordered) - 1, max(2, int(0.005 * len(ordered))))])
    if cut < MIN_LEAD:
        return None
    floor = float(np.mean((leads >= cut - 5) & (leads < cut + 16)))
    slots = ev.slots
    expiring = int(np.sum((slots - ev.t2[ev.of] < cut) & (slots - ev.t1[ev.of] >= cut - 5)))
    if floor < MIN_FLOOR_SHARE or expiring < MIN_EXPIRIES:
        return None
    return cut, floor, expiring


def learn_day(ev: Evidence) -> tuple[tuple[int, int], int] | None:
    """((days before, clock minute), days seen) when the nearest bookable day vanishes as a
    whole, on several days, at the same clock time (at most ``MAX_DAY_OFFSET`` days before)."""
    if not len(ev.t2):
        return None
    day = ev.slots[ev.first] // _DAY  # the nearest day that lost slots ...
    offset = day - ev.t2 // _DAY
    # ... must have been the nearest bookable day, and gone as a whole
    ok = (ev.nearest > day) & (offset >= 0) & (offset <= MAX_DAY_OFFSET)
    offset, clocks, days = offset[ok], ev.t2[ok] % _DAY, day[ok]
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
    """The cutoff of one stretch of snapshots (time-ordered ``(minutes, sorted free slots)``,
    a :class:`~.series.Track` or its :class:`Evidence`)."""
    if isinstance(snaps, Evidence):
        ev = snaps
    else:
        track = _track(snaps)
        if not len(track):
            return None
        ev = Evidence.of_track(track)
    lead = learn_lead(ev)
    day = learn_day(ev)
    if lead is None and day is None:
        return None
    if lead is not None and day is not None:  # one may only be the other seen another way
        by_lead = _explained(ev, Cutoff(lead=lead[0]))
        by_day = _explained(ev, Cutoff(day=day[0]))
        both = len(by_lead & by_day)
        if both >= 0.8 * len(by_lead):
            lead = None
        elif both >= 0.8 * len(by_day):
            day = None
    return Cutoff(
        lead=lead[0] if lead else None,
        day=day[0] if day else None,
        since=ev.since,
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


def _explained(ev: Evidence, cut: Cutoff) -> set[tuple[int, int]]:
    """The (time, slot) disappearances a cutoff explains."""
    mask = ev.expired(cut)
    return set(zip(ev.t2[ev.of[mask]].tolist(), ev.slots[mask].tolist(), strict=True))


def _same(a: Cutoff, b: Cutoff) -> bool:
    """Equal up to the jitter of 15-minute snapshots."""
    if (a.lead is None) != (b.lead is None) or (a.day is None) != (b.day is None):
        return False
    if a.lead is not None and abs(a.lead - b.lead) > 15:
        return False
    return a.day is None or (a.day[0] == b.day[0] and abs(a.day[1] - b.day[1]) <= 30)


class CutoffLearner:
    """``learn_cutoffs`` one ISO week at a time, so that a long range is never held whole:
    :meth:`add` each week's :class:`Evidence` in time order (with the change from the week
    before); :meth:`cutoffs` is then what ``learn_cutoffs`` gives for all of them."""

    def __init__(self) -> None:
        self.learned: list[tuple[int, Cutoff | None]] = []  # (week's first snapshot, value)
        self.parts: list[Evidence] | None = []  # for the all-weeks fallback, while it may apply
        self.current: Cutoff | None = None

    def add(self, ev: Evidence) -> Cutoff | None:
        """Learn a week; returns the value in force in it as far as the weeks so far tell
        (the final :meth:`cutoffs` may differ only while no week has shown a value)."""
        value = learn_cutoff(ev.within())
        self.learned.append((ev.since, value))
        if self.parts is not None:
            if self.learned[0][1] is not None:
                self.parts = None  # the first week has a value: no fallback to all weeks
            else:
                self.parts.append(ev)
        value = value or self.current
        if value is not None and not (self.current is not None and _same(value, self.current)):
            self.current = _since(value, ev.since)
        return self.current

    def cutoffs(self) -> list[Cutoff]:
        """Per week a value or the one before it; a first week without evidence takes the
        value of all weeks together; a value that continues keeps its ``since``."""
        out: list[Cutoff] = []
        current = None
        for i, (since, learned) in enumerate(self.learned):
            value = learned or current
            if value is None and i == 0 and len(self.learned) > 1 and self.parts:
                value = learn_cutoff(Evidence.join(self.parts))  # a first week too short
            if value is None or (current is not None and _same(value, current)):
                continue
            current = _since(value, since)
            out.append(current)
        return out


def _since(value: Cutoff, since: int) -> Cutoff:
    return Cutoff(value.lead, value.day, since, value.floor_share, value.expiries, value.days)


def learn_cutoffs(snaps) -> list[Cutoff]:
    """Cutoffs per ISO week of the snapshots, time-ordered; a week without evidence keeps the
    value before it, and a value that continues keeps its ``since``."""
    track = _track(snaps)
    if not len(track):
        return []
    ev = Evidence.of_track(track)
    lead_week, change_week = (_week(ev.lead_times), _week(ev.t2))
    learner = CutoffLearner()
    week = _week(track.times)
    firsts = np.flatnonzero(np.diff(week, prepend=week[0] - 1) != 0)
    for first in firsts.tolist():
        w = week[first]
        learner.add(ev.select(lead_week == w, change_week == w, int(track.times[first])))
    return learner.cutoffs()


def _week(minutes: np.ndarray) -> np.ndarray:
    """Monday-aligned week number of each time."""
    return (minutes + _MONDAY) // _WEEK


def cutoff_at(cutoffs: Sequence[Cutoff], t: int) -> Cutoff | None:
    """The cutoff in force at minute ``t``: the latest one whose ``since`` is not after it."""
    found = None
    for cutoff in cutoffs:
        if cutoff.since <= t:
            found = cutoff
        else:
            break
    return found if found is not None else (cutoffs[0] if cutoffs else None)


__all__ = [
    "Cutoff",
    "CutoffLearner",
    "Evidence",
    "cutoff_at",
    "expired_mask",
    "learn_cutoff",
    "learn_cutoffs",
]
