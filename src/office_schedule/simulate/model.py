"""The simulated world: offices whose free slots change as citizens book and cancel.

No HTTP here. The clock is ``start + real elapsed × speed`` (plus any jump made by
``advance_to``). State advances lazily: every read first processes the events up to now.

Determinism: the structure comes from ``random.Random(seed)``; the bookings of one clock
hour at one location come from a generator seeded by (seed, source, location, hour), and the
random numbers of a booking are drawn when it is generated, not when it is applied. So the
state at a simulated time is the same however the advancing was split up.
"""

from __future__ import annotations

import bisect
import heapq
import random
import threading
import time
from datetime import date, datetime, timedelta

from ..clock import local_now
from .behaviour import assign
from .offices import Location, SimSource, make_source

#: booking intensity per hour of day (peak 7-15 h, second wave 18-23 h)
HOUR_WEIGHTS = (
    0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.6, 1.6, 2.2, 2.4, 2.4, 2.3,
    2.0, 2.1, 2.0, 1.5, 1.0, 0.9, 1.1, 1.3, 1.4, 1.3, 1.0, 0.6,
)  # fmt: skip
#: booking intensity per weekday (Tue and Thu busiest, weekends about half)
DAY_WEIGHTS = (1.0, 1.15, 1.0, 1.15, 0.9, 0.5, 0.5)
_WEEK_WEIGHT = sum(HOUR_WEIGHTS) * sum(DAY_WEIGHTS)
#: lead time in days -> weight (most bookings 1-2 weeks ahead, some same/next day)
LEAD_WEIGHTS = (3, 6, 7, 8, 9, 8, 8) + (9,) * 7 + (5,) * 7 + (1,) * 7 + (0.3,) * 14
_LEAD_CUM = [sum(LEAD_WEIGHTS[: i + 1]) for i in range(len(LEAD_WEIGHTS))]
CANCEL_SHARE = 0.12
FLICKER_TICK_MINUTES = 15
_EPOCH = datetime(2000, 1, 3)  # a Monday
_HOUR = timedelta(hours=1)
_MASK = (1 << 64) - 1
#: minutes after midnight -> "HH:MM:00"
HHMMSS = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60)]


def fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def iso_week_end(d: date) -> date:
    """The Sunday of ``d``'s ISO week."""
    return d + timedelta(days=6 - d.weekday())


class SimWorld:
    """Simulated tevis offices with a lazily advanced clock and a ground-truth log."""

    def __init__(
        self,
        seed: int = 0,
        n_sources: int = 3,
        start: datetime | None = None,
        speed: float = 1.0,
        frozen: bool = False,
        horizon_weeks: int = 4,
        flicker: float = 0.0,
        families: dict[str, int] | None = None,
        behaviour: str = "plain",
    ) -> None:
        self.seed = seed
        self.speed = speed
        self.frozen = frozen
        self.horizon_weeks = horizon_weeks
        self.flicker = flicker
        self.start = (start or local_now()).replace(second=0, microsecond=0)
        rng = random.Random(seed)
        self.sources: dict[str, SimSource] = {}
        # ``families`` maps family -> number of sources; default: n_sources tevis sources
        for family, count in (families or {"tevis": n_sources}).items():
            for i in range(1, count + 1):
                src = make_source(rng, i, family)
                self.sources[src.id] = src
        self.behaviour = behaviour
        for sid, src in self.sources.items():  # own generators: the structure stays the same
            for lid, loc in src.locations.items():
                assign(loc, behaviour, random.Random(f"{seed}/{sid}/{lid}/behaviour"))
        self.log: list[dict[str, str]] = []
        #: sources that publish no free slot at all (fault ``empty``): every page is "nothing free"
        self.booked_out: set[str] = set()
        self._lock = threading.RLock()
        self._real0 = time.monotonic()
        self._jump = timedelta(0)
        self._t = self.start  # events are processed up to here
        self._next_hour = self.start.replace(minute=0)  # next clock hour to generate
        self._queue: list[tuple] = []
        self._prefill()

    # -- clock ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """Current simulated time (naive local)."""
        if self.frozen:
            return self.start
        elapsed = (time.monotonic() - self._real0) * self.speed
        return self.start + timedelta(seconds=elapsed) + self._jump

    def horizon(self, now: datetime) -> date:
        """Last bookable day: end of the ISO week ``horizon_weeks`` weeks after ``now``."""
        return iso_week_end(now.date() + timedelta(days=7 * self.horizon_weeks))

    def last_day(self, loc: Location, now: datetime) -> date:
        """The last day ``loc`` has published at ``now`` (a block-releasing one: rolling)."""
        block = loc.last_day(now, 7 * self.horizon_weeks)
        return min(block, self.horizon(now)) if block else self.horizon(now)

    # -- dynamics ------------------------------------------------------------------------
    def _prefill(self) -> None:
        """Mark slots booked at start: many near ones, fewer far ahead (not logged)."""
        first, last = self.start.date(), self.horizon(self.start)
        span = max(1, (last - first).days)
        for src in self.sources.values():
            for loc in src.locations.values():
                rng = random.Random(f"{self.seed}/{src.id}/{loc.id}/prefill")
                day = first
                while day <= last:
                    p = loc.fill * (1.0 - 0.85 * (day - first).days / span)
                    for slot in loc.grid(day):
                        if rng.random() < p and slot > self.start:
                            loc.booked.add(slot)
                    day += timedelta(days=1)

    def _generate_hour(self, hour: datetime) -> None:
        """Queue the booking attempts of every location during one clock hour."""
        factor = HOUR_WEIGHTS[hour.hour] * DAY_WEIGHTS[hour.weekday()] / _WEEK_WEIGHT
        key = hour.strftime("%Y%m%d%H")
        for src in self.sources.values():
            for li, loc in enumerate(src.locations.values()):
                rate = loc.demand * loc.weekly_capacity() * factor  # per hour
                if rate <= 0:
                    continue
                rng = random.Random(f"{self.seed}/{src.id}/{loc.id}/{key}")
                offset = rng.expovariate(rate)
                n = 0
                while offset < 1.0:
                    at = hour + timedelta(hours=offset)
                    draws = (rng.random(), rng.random(), rng.random(), rng.random())
                    if at > self.start:
                        order = (src.index, li, 0, key, n)
                        heapq.heappush(self._queue, (at, order, src.id, loc.id, draws, None))
                    n += 1
                    offset += rng.expovariate(rate)

    def advance_to(self, t: datetime) -> None:
        """Process every booking and cancellation up to ``t``; jumps the clock if ``t`` > now."""
        with self._lock:
            if self.frozen:
                return
            now = self.now()
            if t > now:
                self._jump += t - now
            if t <= self._t:
                return
            while self._next_hour <= t:
                self._generate_hour(self._next_hour)
                self._next_hour += _HOUR
            while self._queue and self._queue[0][0] <= t:
                at, order, sid, lid, draws, slot = heapq.heappop(self._queue)
                loc = self.sources[sid].locations[lid]
                if slot is None:
                    self._book(at, order, sid, loc, draws)
                elif slot in loc.booked and slot > at:
                    loc.booked.discard(slot)
                    self._record(at, sid, lid, slot, "cancelled")
            if t.date() != self._t.date():  # forget past bookings: never shown or chosen again
                for src in self.sources.values():
                    for loc in src.locations.values():
                        loc.booked = {s for s in loc.booked if s > t}
            self._t = t

    def _book(self, at: datetime, order: tuple, sid: str, loc: Location, draws) -> None:
        u_lead, u_slot, u_cancel, u_when = draws
        lead = bisect.bisect_left(_LEAD_CUM, u_lead * _LEAD_CUM[-1])
        today, last = at.date(), self.last_day(loc, at)
        target = min(today + timedelta(days=lead), last)
        span = (last - today).days
        # search the wished day first, then alternately later and earlier days
        for step in range(2 * span + 2):
            delta = (step + 1) // 2 if step % 2 else -(step // 2)
            day = target + timedelta(days=delta)
            if day < today or day > last:
                continue
            free = [
                s for s in loc.grid(day) if s > at and s not in loc.booked and loc.offered(s, at)
            ]
            if free:
                break
        else:
            return  # fully booked: the citizen gives up
        slot = free[min(len(free) - 1, int(u_slot * len(free)))]
        loc.booked.add(slot)
        self._record(at, sid, loc.id, slot, "booked")
        if u_cancel < CANCEL_SHARE:
            when = at + (slot - at) * (0.05 + 0.9 * u_when)
            heapq.heappush(self._queue, (when, order[:2] + (1,) + order[3:], sid, loc.id, (), slot))

    def _record(self, at: datetime, sid: str, lid: str, slot: datetime, event: str) -> None:
        self.log.append(
            {
                "time": fmt(at),
                "source_id": sid,
                "location_id": lid,
                "slot": fmt(slot),
                "event": event,
            }
        )

    def refresh(self) -> datetime:
        """Advance to now and return it; every read of published state starts here."""
        with self._lock:
            now = self.now()
            self.advance_to(now)
            return now

    # -- published state -----------------------------------------------------------------
    def _hidden(self, src: SimSource, li: int, minute: int, tick: int) -> bool:
        """Flicker: a free slot (minutes since the epoch) hidden for exactly one tick."""
        key = (
            ((self.seed * 1_000_003 + src.index) * 1009 + li) * 0x100000001B3 + minute
        ) * 1_000_033
        limit = self.flicker * 18446744073709551616.0  # 2**64
        return _mix(key + tick) < limit and not _mix(key + tick - 1) < limit

    def set_booked_out(self, source_id: str, on: bool = True) -> None:
        """Let a source publish no free slot (``on``) or its real ones again."""
        if source_id not in self.sources:
            raise ValueError(f"unknown source {source_id!r}")
        with self._lock:
            (self.booked_out.add if on else self.booked_out.discard)(source_id)

    def rename_location(self, source_id: str, loc_id: str, name: str) -> None:
        """Change an office's name, as a site's catalogue may between two snapshots."""
        with self._lock:
            self.sources[source_id].locations[loc_id].name = name

    def remove_location(self, source_id: str, loc_id: str) -> None:
        """Close an office: gone from the catalogue and from every service naming it.

        A service left without an office is removed too (the source keeps at least one).
        """
        src = self.sources[source_id]
        if loc_id not in src.locations or len(src.locations) < 2:
            raise ValueError(f"{source_id}: cannot remove office {loc_id!r}")
        with self._lock:
            del src.locations[loc_id]
            for dep in src.departments:
                for svc in dep.services:
                    if loc_id in svc.calendars and len(svc.location_codes) == len(svc.calendars):
                        i = svc.calendars.index(loc_id)
                        svc.location_codes = svc.location_codes[:i] + svc.location_codes[i + 1 :]
                    svc.calendars = [c for c in svc.calendars if c != loc_id]
                    if svc.hidden_calendar == loc_id:
                        svc.hidden_calendar = None
                dep.services = [s for s in dep.services if s.calendars or s.hidden_calendar]
            src.departments = [d for d in src.departments if d.services]

    @property
    def lock(self) -> threading.RLock:
        """Hold it for several reads that must see one state (server threads advance the world)."""
        return self._lock

    def published_day(self, src: SimSource, loc_id: str, day: date, now: datetime) -> list[int]:
        """Free slot starts of one day as minutes after midnight, as published at ``now``."""
        loc = src.locations[loc_id]
        if day < now.date() or day > self.last_day(loc, now) or src.id in self.booked_out:
            return []
        with self._lock:  # the booked set changes while other threads advance the world
            booked = loc.booked
            out = [s.hour * 60 + s.minute for s in loc.grid(day) if s > now and s not in booked]
        if loc.cutoff_lead is not None or loc.cutoff_day is not None:
            base = datetime(day.year, day.month, day.day)
            out = [m for m in out if loc.offered(base + timedelta(minutes=m), now)]
        if self.flicker > 0 and out:
            li = list(src.locations).index(loc_id)
            tick = int((now - _EPOCH).total_seconds()) // (60 * FLICKER_TICK_MINUTES)
            base = (day - _EPOCH.date()).days * 1440
            out = [m for m in out if not self._hidden(src, li, base + m, tick)]
        return out

    def published_week(
        self, source_id: str, loc_id: str, monday: date, now: datetime | None = None
    ) -> list[tuple[date, list[int]]]:
        """(day, free minutes) for Mon..Fri, or Mon..Sun when the location opens at weekends."""
        with self._lock:
            now = now or self.refresh()
            src = self.sources[source_id]
            n_days = 7 if src.locations[loc_id].open_weekend() else 5
            days = [monday + timedelta(days=i) for i in range(n_days)]
            return [(d, self.published_day(src, loc_id, d, now)) for d in days]

    def horizon_days(self, now: datetime) -> list[date]:
        """Every day from today through the last bookable day."""
        last = self.horizon(now)
        return [now.date() + timedelta(days=i) for i in range((last - now.date()).days + 1)]

    def published_slots(
        self, src: SimSource, loc_id: str, days: list[date], now: datetime
    ) -> list[str]:
        """``YYYY-MM-DD HH:MM:SS`` of the free slots published on ``days`` at ``now``."""
        return [
            f"{day.isoformat()} {HHMMSS[m]}"
            for day in days
            for m in self.published_day(src, loc_id, day, now)
        ]

    def truth(self, weeks: int | None = None) -> dict[str, dict[str, list[str]]]:
        """Published free slots per source and location at now, sorted strings.

        With ``weeks=N`` only the days a scrape of N weeks covers in the source's family
        (tevis: the ISO weeks of now + 7·i days, i < N), keyed by the location ids that
        family's scraper reports.
        """
        from .families import family_server

        with self._lock:
            now = self.refresh()
            all_days = self.horizon_days(now)
            out: dict[str, dict[str, list[str]]] = {}
            for sid, src in self.sources.items():
                server = family_server(src.family)
                days = all_days if weeks is None else server.truth_days(now, weeks)
                per_loc = {}
                custom = getattr(server, "truth_slots", None)
                for lid, loc in src.locations.items():
                    if custom is not None:  # families that publish only part of the free slots
                        per_loc[server.location_id(src, loc)] = custom(self, src, loc, now, weeks)
                        continue
                    slots = self.published_slots(src, lid, days, now)
                    per_loc[server.location_id(src, loc)] = slots
                if getattr(server, "TRUTH_SKIPS_EMPTY", False):
                    # families whose scrapers only see calendars that have a free slot
                    per_loc = {k: v for k, v in per_loc.items() if v}
                out[sid] = per_loc
            return out

    def summary(self) -> dict[str, object]:
        """A short description for humans (sources, locations, counts)."""
        with self._lock:
            now = self.refresh()
            return {
                "now": fmt(now),
                "sources": len(self.sources),
                "locations": sum(len(s.locations) for s in self.sources.values()),
                "booked": sum(1 for e in self.log if e["event"] == "booked"),
                "cancelled": sum(1 for e in self.log if e["event"] == "cancelled"),
            }


__all__ = ["SimWorld", "fmt", "iso_week_end"]
