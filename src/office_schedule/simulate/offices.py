"""Static structure of simulated offices: departments, services, locations, opening hours.

Generated once per source from the world's seeded random generator; nothing here changes
with simulated time. Slot grids are cached per (location, day) because they are asked for
on every request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

#: department title -> service titles offered there
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Bürgerbüro": (
        "Personalausweis beantragen",
        "Reisepass beantragen",
        "Wohnsitz anmelden",
        "Führungszeugnis beantragen",
        "Meldebescheinigung",
    ),
    "Kfz-Zulassung": (
        "Neuzulassung",
        "Umschreibung",
        "Außerbetriebsetzung",
        "Wunschkennzeichen",
    ),
    "Führerscheinstelle": (
        "Ersterteilung Fahrerlaubnis",
        "Umtausch Führerschein",
        "Internationaler Führerschein",
    ),
    "Ausländerbehörde": (
        "Aufenthaltstitel verlängern",
        "Niederlassungserlaubnis",
        "Verpflichtungserklärung",
    ),
    "Standesamt": ("Eheschließung anmelden", "Geburtsurkunde", "Kirchenaustritt"),
    "Gewerbeamt": ("Gewerbe anmelden", "Gewerbe abmelden"),
}
PLACES = (
    "Mitte",
    "Nord",
    "Süd",
    "Ost",
    "West",
    "Rathaus",
    "Stadthaus",
    "Bürgerzentrum Altstadt",
    "Verwaltungsstelle Hafen",
)
#: slot length in minutes -> weight (5 min most common, as measured)
SLOT_LENGTHS = {5: 50, 10: 12, 15: 22, 20: 5, 30: 11}


@dataclass
class Location:
    """One calendar: slot grid from opening hours, plus the mutable booked set."""

    id: str
    name: str
    slot_minutes: int
    #: weekday (0 = Monday) -> list of (start minute, end minute) opening intervals
    hours: dict[int, list[tuple[int, int]]]
    #: demand as a fraction of weekly capacity
    demand: float
    #: share of near slots already taken when the world starts
    fill: float
    booked: set[datetime] = field(default_factory=set)
    #: minutes before its start at which a free slot stops being offered (booking cutoff)
    cutoff_lead: int | None = None
    #: (days before, minute of day) at which a day's remaining slots stop being offered
    cutoff_day: tuple[int, int] | None = None
    #: minute of day at which the next day at the end of the window is published (a
    #: block); None: the world's weekly window
    release_clock: int | None = None
    _grids: dict[date, tuple[datetime, ...]] = field(default_factory=dict, repr=False)

    def offered(self, slot: datetime, now: datetime) -> bool:
        """Whether a free ``slot`` is still offered at ``now`` (not past a booking cutoff)."""
        if self.cutoff_lead is not None and slot - now < timedelta(minutes=self.cutoff_lead):
            return False
        if self.cutoff_day is not None:
            offset, clock = self.cutoff_day
            day = datetime(slot.year, slot.month, slot.day) - timedelta(days=offset)
            if now >= day + timedelta(minutes=clock):
                return False
        return True

    def last_day(self, now: datetime, horizon_days: int) -> date | None:
        """The last day a block-releasing location has published at ``now``, else None."""
        if self.release_clock is None:
            return None
        released = now.hour * 60 + now.minute >= self.release_clock
        return now.date() + timedelta(days=horizon_days - (0 if released else 1))

    def grid(self, day: date) -> tuple[datetime, ...]:
        """All slot starts of ``day`` (free or not), sorted."""
        cached = self._grids.get(day)
        if cached is None:
            base = datetime(day.year, day.month, day.day)
            starts = []
            for begin, end in self.hours.get(day.weekday(), ()):
                m = begin
                while m + self.slot_minutes <= end:
                    starts.append(base + timedelta(minutes=m))
                    m += self.slot_minutes
            cached = tuple(starts)
            if len(self._grids) > 400:
                self._grids.clear()
            self._grids[day] = cached
        return cached

    def open_weekend(self) -> bool:
        return bool(self.hours.get(5) or self.hours.get(6))

    def weekly_capacity(self) -> int:
        total = 0
        for intervals in self.hours.values():
            total += sum((e - b) // self.slot_minutes for b, e in intervals)
        return total


@dataclass
class Service:
    """One concern (cnc) with the calendars that serve it."""

    cnc: str
    title: str
    calendars: list[str]
    location_codes: list[str]
    #: when set, the select2 page shows an empty calendar attribute and only the calendar
    #: page script reveals this calendar
    hidden_calendar: str | None = None

    @property
    def target(self) -> str:
        return self.hidden_calendar or self.calendars[0]


@dataclass
class Department:
    """One md: a group of services sharing one form id (mdt)."""

    md: str
    title: str
    mdt: str
    services: list[Service]


@dataclass
class SimSource:
    """One simulated office website; ``family`` says which protocol publishes it."""

    index: int
    id: str
    name: str
    layout: str  # "form" or "flat"
    calendar_attr: str  # "data-tevis-calendars" or the older "data-tevis-calendar"
    departments: list[Department]
    locations: dict[str, Location]
    family: str = "tevis"
    #: which front-end version the fake server speaks (see ``VARIANTS``)
    variant: str = ""

    def service(self, cnc: str) -> Service | None:
        for dep in self.departments:
            for svc in dep.services:
                if svc.cnc == cnc:
                    return svc
        return None

    def department(self, md: str) -> Department | None:
        return next((d for d in self.departments if d.md == md), None)


def _minutes(h: float) -> int:
    return int(round(h * 60))


def make_hours(rng: random.Random, slot: int) -> dict[int, list[tuple[int, int]]]:
    """Opening hours per weekday: breaks, a short Friday, some closed days."""
    start = rng.choice((7.0, 7.5, 8.0, 8.0, 8.5))
    end = rng.choice((15.0, 15.5, 16.0, 16.0, 17.0))
    lunch = rng.choice((None, 12.0, 12.0, 12.5))
    hours: dict[int, list[tuple[int, int]]] = {}
    for wd in range(5):
        day_end = end
        if wd == 3 and rng.random() < 0.5:
            day_end = 18.0  # long Thursday
        if wd == 4:
            day_end = rng.choice((12.0, 12.5, 13.0))
        if lunch is not None and day_end > lunch + 1:
            hours[wd] = [
                (_minutes(start), _minutes(lunch)),
                (_minutes(lunch + 1), _minutes(day_end)),
            ]
        else:
            hours[wd] = [(_minutes(start), _minutes(day_end))]
    if rng.random() < 0.15:
        hours.pop(2)  # closed on Wednesday
    if rng.random() < 0.2:
        hours[5] = [(_minutes(9.0), _minutes(12.0))]
    # keep the intervals on the slot grid
    return {
        wd: [(b, b + (e - b) // slot * slot) for b, e in iv if e - b >= slot]
        for wd, iv in hours.items()
    }


#: front-end versions a family's real tenants run; simulated sources take them in turn
VARIANTS: dict[str, tuple[str, ...]] = {
    "tevis": ("classic", "today"),
    "netappoint": ("classic", "ajax"),
    "leipzig": ("classic", "span", "underscore"),  # the eKOL/TNV day-cell spellings
    "etermin": ("classic", "today"),  # "today": the 2026 shapes (idandtimeslot, qtermin)
}


def variant_for(family: str, index: int) -> str:
    """The front-end version of the ``index``-th (1-based) simulated source of a family."""
    versions = VARIANTS.get(family, ("",))
    return versions[(index - 1) % len(versions)]


def make_source(rng: random.Random, index: int, family: str = "tevis") -> SimSource:
    """Build one source's structure from ``rng`` (consumed in a fixed order)."""
    n_loc = rng.choices((1, 2, 3, 4), weights=(3, 4, 3, 2))[0]
    loc_ids = [str(i) for i in rng.sample(range(10, 400), n_loc)]
    places = rng.sample(PLACES, n_loc)
    locations: dict[str, Location] = {}
    for lid, place in zip(loc_ids, places, strict=True):
        slot = rng.choices(list(SLOT_LENGTHS), weights=list(SLOT_LENGTHS.values()))[0]
        locations[lid] = Location(
            id=lid,
            name=f"Standort {place}",
            slot_minutes=slot,
            hours=make_hours(rng, slot),
            demand=rng.uniform(0.3, 0.8),
            fill=rng.uniform(0.3, 0.7),
        )
    n_dep = rng.choices((1, 2, 3), weights=(3, 4, 3))[0]
    titles = rng.sample(list(DEPARTMENTS), n_dep)
    md_ids = [str(i) for i in rng.sample(range(1, 60), n_dep)]
    layout = rng.choice(("form", "flat"))
    calendar_attr = "data-tevis-calendar" if rng.random() < 0.25 else "data-tevis-calendars"
    hide_one = rng.random() < 0.5
    # every location must be served by some department, some by two
    assignment: list[list[str]] = [[] for _ in range(n_dep)]
    for i, lid in enumerate(loc_ids):
        assignment[i % n_dep].append(lid)
    for i in range(n_dep):
        if not assignment[i]:
            assignment[i].append(rng.choice(loc_ids))
        elif rng.random() < 0.2 and len(loc_ids) > len(assignment[i]):
            extra = rng.choice([x for x in loc_ids if x not in assignment[i]])
            assignment[i].append(extra)
    codes = {lid: str(rng.randint(1, 40)) for lid in loc_ids}
    cnc_numbers = iter(rng.sample(range(100, 2000), 40))
    departments = []
    for title, md, cals in zip(titles, md_ids, assignment, strict=True):
        names = list(DEPARTMENTS[title])
        n_svc = rng.randint(min(2, len(names)), len(names))
        services = []
        for j, svc_title in enumerate(names[:n_svc]):
            # the first service lists all calendars so none is missed; others a subset
            chosen = list(cals) if j == 0 else rng.sample(cals, rng.randint(1, len(cals)))
            services.append(
                Service(
                    cnc=f"cnc-{next(cnc_numbers)}",
                    title=svc_title,
                    calendars=chosen,
                    location_codes=[codes[c] for c in chosen],
                )
            )
        departments.append(
            Department(md=md, title=title, mdt=str(rng.randint(10, 999)), services=services)
        )
    if hide_one:
        # one department's single-calendar service is reachable only via the calendar page
        dep = rng.choice(departments)
        only = dep.services[0].calendars[0]
        svc = Service(
            cnc=f"cnc-{next(cnc_numbers)}",
            title="Terminanfrage allgemein",
            calendars=[],
            location_codes=[],
            hidden_calendar=only,
        )
        dep.services.append(svc)
        if len(dep.services[0].calendars) == 1 and len(departments) == 1:
            # make the script the only way in for this calendar in a one-md source
            dep.services = [s for s in dep.services if only not in s.calendars]
            if not dep.services:
                dep.services = [svc]
    return SimSource(
        index=index,
        id=f"sim-{family}-{index:02d}",
        name=f"Simulierte Stadt {index:02d}",
        layout=layout,
        calendar_attr=calendar_attr,
        departments=departments,
        locations=locations,
        family=family,
        variant=variant_for(family, index),
    )
