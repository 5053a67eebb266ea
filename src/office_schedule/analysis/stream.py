"""Events and cutoffs of a store's range, read a week of snapshots at a time.

A long range (a year of a busy office) is never held as whole Tracks: each location's rule
takes one ISO week after the other, its state carried between them, and learns its
cutoffs as the weeks come (``cutoffs.CutoffLearner``). The results equal those of the
whole range at once.
"""

from __future__ import annotations

import ctypes
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from .cutoffs import Cutoff, CutoffLearner, Evidence, cutoff_at
from .events import _EMPTY, SCHEMA, _columns, _Detector, _options, _ReferenceRule, _sorted
from .series import Track, iter_week_tracks


def release_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere): a busy source's many small arrays leave the heap fragmented, and a year of
    sources one after another would otherwise keep the largest one's peak for good."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc():
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()
#: events per Parquet file of ``spilled_events``
SPILL_ROWS = 1_000_000


class _Location:
    """One location's events over a range fed a week at a time (``iter_week_tracks``), with
    the cutoff in force each week as the weeks so far tell, or as ``forced``."""

    def __init__(self, rule: str, opts: dict, forced: list | None = None):
        self.rule = _ReferenceRule() if rule == "reference" else _Detector(None, opts)
        self.learner = CutoffLearner() if rule != "reference" and forced is None else None
        self.forced, self.used = forced, []
        self.parts: list[tuple[np.ndarray, ...]] = []

    def take(self, track: Track, carried: bool) -> None:
        rule = self.rule
        if isinstance(rule, _ReferenceRule):
            pairs = track.pairs()
            rule.feed(pairs[1:] if carried else pairs)
            rule.detach()
        else:
            if self.forced is not None:
                cut = self.forced[len(self.used)]
            else:
                cut = self.learner.add(Evidence.of_track(track, skip_first=carried))
            self.used.append(cut)
            rule.cutoffs = [cut] if cut is not None else None
            rule.run(track, carried)
            rule.detach()
        part = rule.arrays()
        if len(part[0]):
            self.parts.append(part)

    def in_force(self) -> list | None:
        """The cutoff in force each week by all weeks (``learn_cutoffs``), when that is not
        what was applied (the first weeks showed none), else None."""
        if self.learner is None:
            return None
        final = self.learner.cutoffs()
        weeks = [cutoff_at(final, since) if final else None for since, _ in self.learner.learned]
        if all(_kind(a) == _kind(b) for a, b in zip(weeks, self.used, strict=True)):
            return None
        return weeks

    def events(self):
        """The events, sorted; the parts are let go."""
        parts, self.parts = self.parts, []
        if not parts:
            return _EMPTY, _EMPTY, np.zeros(0, dtype=np.int8)
        return _sorted(*(np.concatenate(col) for col in zip(*parts, strict=True)))


def _kind(cut: Cutoff | None):
    """What the detector reads of a cutoff."""
    return None if cut is None else (cut.lead, cut.day)


def _source_events(store, sid: str, start: str, end: str, rule: str, opts: dict):
    """``(location, (detected, slot, kind))`` of a source's locations with events, read a
    week at a time; a location whose cutoffs turn out other than applied (only while its
    first weeks showed none) is read once more with the final ones."""
    locs: dict[str, _Location] = {}
    for week in iter_week_tracks(store, sid, start, end):
        for loc, track, carried in week:
            me = locs.get(loc)
            if me is None:
                me = locs[loc] = _Location(rule, opts)
            me.take(track, carried)
            del track
    redo = {loc: w for loc, me in locs.items() if (w := me.in_force()) is not None}
    if redo:
        again = {loc: _Location(rule, opts, forced=w) for loc, w in redo.items()}
        for week in iter_week_tracks(store, sid, start, end, only=set(redo)):
            for loc, track, carried in week:
                again[loc].take(track, carried)
        locs.update(again)
    for loc in list(locs):
        arrays = locs.pop(loc).events()
        if len(arrays[0]):
            yield loc, arrays


def store_events(
    store,
    source_ids: Iterable[str],
    start: str = "",
    end: str = "9999",
    *,
    rule: str = "ours",
    **options,
) -> pl.DataFrame:
    """Events of every location of ``source_ids`` between ``start`` and ``end`` (taken_at).

    ``rule="reference"`` uses the published dataset's rule; ``options`` go to
    ``detect_events`` (e.g. ``interval_minutes``, ``max_gap_minutes``). Our rule learns
    each location's booking cutoff from the same snapshots first.
    """
    frames = list(_location_frames(store, source_ids, start, end, rule, options))
    if not frames:
        return pl.DataFrame(schema={"source_id": pl.Utf8, **SCHEMA})
    return pl.concat(frames, rechunk=False)


def _location_frames(store, source_ids, start, end, rule, options) -> Iterator[pl.DataFrame]:
    """The events of each location with events, source after source: one source's events
    at a time, a week of its snapshots at a time, so that a long range holds the events,
    not its Tracks nor a copy of a whole source's events while a frame is made."""
    opts = _options(**options) if rule != "reference" else {}
    for sid in source_ids:
        for loc, (d, s, k) in _source_events(store, sid, start, end, rule, opts):
            df = _columns([loc], [len(d)], d, s, k)
            yield df.select(pl.lit(sid, dtype=pl.Utf8).alias("source_id"), *SCHEMA)
        release_memory()


@contextmanager
def spilled_events(
    store,
    source_ids: Iterable[str],
    start: str = "",
    end: str = "9999",
    *,
    rule: str = "ours",
    **options,
) -> Iterator[pl.LazyFrame]:
    """``store_events`` written a source at a time to Parquet in a temporary directory and
    scanned lazily: queries over a long range (a year is millions of events) stream through
    them instead of holding them all (files of about ``SPILL_ROWS`` events, a location's
    events never split). The directory goes when the block ends."""
    with tempfile.TemporaryDirectory(prefix="office-schedule-events-") as tmp:
        paths: list[Path] = []
        frames: list[pl.DataFrame] = []

        def spill() -> None:
            paths.append(Path(tmp) / f"{len(paths):05d}.parquet")
            pl.concat(frames).write_parquet(paths[-1], compression="lz4", statistics=False)
            frames.clear()

        rows = 0
        for df in _location_frames(store, source_ids, start, end, rule, options):
            frames.append(df)
            rows += df.height
            if rows >= SPILL_ROWS:
                spill()
                rows = 0
        if frames:
            spill()
        if not paths:
            yield pl.DataFrame(schema={"source_id": pl.Utf8, **SCHEMA}).lazy()
        else:
            yield pl.scan_parquet(paths)


def store_cutoffs(store, source_ids: Iterable[str], start: str = "", end: str = "9999"):
    """The learned cutoffs of every location: one row per location and period."""
    rows = []
    for sid in source_ids:
        learners: dict[str, CutoffLearner] = {}
        for week in iter_week_tracks(store, sid, start, end):
            for loc, track, carried in week:
                learner = learners.get(loc) or learners.setdefault(loc, CutoffLearner())
                learner.add(Evidence.of_track(track, skip_first=carried))
        for loc, learner in learners.items():
            for c in learner.cutoffs():
                rows.append(
                    (sid, loc, c.describe(), c.lead, c.day[0] if c.day else None,
                     c.day[1] if c.day else None, c.since * 60_000_000, c.floor_share,
                     c.expiries, c.days, c.sure)
                )  # fmt: skip
    schema = {
        "source_id": pl.Utf8, "location_id": pl.Utf8, "cutoff": pl.Utf8,
        "lead_minutes": pl.Int64, "day_offset": pl.Int64, "day_minute": pl.Int64,
        "since": pl.Int64, "floor_share": pl.Float64, "expiries": pl.Int64,
        "days": pl.Int64, "sure": pl.Utf8,
    }  # fmt: skip
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return df.with_columns(pl.col("since").cast(pl.Datetime("us")))


__all__ = ["release_memory", "spilled_events", "store_cutoffs", "store_events"]
