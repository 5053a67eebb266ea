"""Office behaviours the real weeks show, for simulated locations: booking cutoffs, blocks.

Measured on the real weeks 2021-28/29 with ``analysis.cutoffs`` (261 locations with at least
50 snapshots): 37 % show no cutoff, 48 % a lead cutoff, 14 % a day cutoff (mostly "until
14:00 the day before", some same-day closing times), 1 % both. Lead cutoffs, share of the
locations with one: 25-45 min 23 %, 60-70 min 25 %, 2 h 12 %, 3 h 5 %, 10-13 h 9 %,
20-24 h 21 %, 28 h - 14 days 5 %. How the end of the window advances (the same locations):
72 % not at all on three or more days in two weeks (a fixed horizon), 6 % in weekly or larger
blocks (the world's default window), 4 % by one day at a fixed clock time (00:00 for 7 of 10,
03:00 for 2, 14:00 for 1), 18 % irregularly. See the README's event rules.

``assign`` draws a behaviour per location from its own random generator (seeded by world,
source and location), so the world's structure does not depend on it.
"""

from __future__ import annotations

import random

from .offices import Location

#: (lead cutoff minutes, weight), from the measured shares above
LEAD_CUTOFFS = (
    (30, 12), (40, 11), (60, 16), (70, 9), (120, 12), (190, 5), (720, 9),
    (1440, 21), (1680, 3), (3360, 2),
)  # fmt: skip
#: (days before, minute of day), weight
DAY_CUTOFFS = (((1, 14 * 60), 70), ((1, 12 * 60), 10), ((0, 11 * 60), 10), ((1, 19 * 60), 10))
#: minute of day at which a daily-releasing location publishes its next day, weight
RELEASE_CLOCKS = ((0, 7), (3 * 60, 2), (14 * 60, 1))
#: scenario -> (share with a lead cutoff, share with a day cutoff, share releasing in blocks)
MIXES = {
    "plain": (0.0, 0.0, 0.0),
    "realistic": (0.49, 0.15, 0.04),
    "cutoff-lead": (1.0, 0.0, 0.0),
    "cutoff-day-before": (0.0, 1.0, 0.0),
    "cutoff-evening": (0.0, 1.0, 0.0),
}
BEHAVIOURS = tuple(MIXES)


def _pick(rng: random.Random, table):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights=weights)[0]


def assign(loc: Location, behaviour: str, rng: random.Random) -> None:
    """Set the cutoffs and release clock of ``loc`` for a named behaviour."""
    if behaviour not in MIXES:
        known = ", ".join(BEHAVIOURS)
        raise ValueError(f"unknown behaviour {behaviour!r} (known: {known})")
    lead_share, day_share, block_share = MIXES[behaviour]
    draw = rng.random()
    if draw < lead_share:
        loc.cutoff_lead = _pick(rng, LEAD_CUTOFFS)
    elif draw < lead_share + day_share:
        if behaviour == "cutoff-day-before":
            loc.cutoff_day = (1, 12 * 60)  # "until noon the day before"
        elif behaviour == "cutoff-evening":
            loc.cutoff_day = (1, 19 * 60)  # "until 19:00 the evening before"
        else:
            loc.cutoff_day = _pick(rng, DAY_CUTOFFS)
    if rng.random() < block_share:
        loc.release_clock = _pick(rng, RELEASE_CLOCKS)
