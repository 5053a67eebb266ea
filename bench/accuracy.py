"""Benchmark: accuracy of our event rule and the reference's against the simulator's truth.

Drives ``SimWorld`` directly (no HTTP): a snapshot of every location every 15 minutes for
a week, with scenario noise added on top (flicker, erratic mass updates, missed
snapshots, offices that update every few days, withdrawn slots). A detected event
matches a true one of the same location, slot and kind whose time lies in
(previous informative snapshot, detected]. Recall counts the true events that were
observable: both informative snapshots around them delivered and live, at most 35
minutes apart, the slot still in the future and published, and not booked and
cancelled within one interval. A snapshot corrupted by a mass change (most free slots
hidden for that one snapshot) is not informative: like a missed snapshot it cannot
tell when a hidden slot changed, so the interval spans it.

    python bench/accuracy.py            # last line: worst_precision=X worst_recall=Y ...
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from office_schedule.analysis.cutoffs import learn_cutoffs
from office_schedule.analysis.events import detect_events, reference_events, to_minutes
from office_schedule.simulate.model import SimWorld

STEP = 15
_EPOCH = datetime(1970, 1, 1)
SCENARIOS: dict[str, dict] = {
    "clean": {},
    "flicker": {"flicker": 0.0002},  # about 38 % of disappearances
    "flicker_heavy": {"flicker": 0.0022},  # about 86 % (nordhausen)
    "mass": {"mass": 0.016},  # 1.6 % of pairs: most free slots gone for one snapshot
    "missed": {"drop": 0.04, "outages": 2},
    "stale": {"stale": True},  # half of the locations update every 2-3 days
    "window": {"horizon_weeks": 1, "start": datetime(2021, 7, 15)},  # crosses a week end
    "withdrawn": {"withdraw": 3},
    "combined": {"flicker": 0.0002, "mass": 0.016, "drop": 0.02, "withdraw": 1},
    # offices that stop offering slots before their time, at the values of the real weeks
    "cutoff-lead": {"behaviour": "cutoff-lead"},
    "cutoff-day-before": {"behaviour": "cutoff-day-before"},
    "cutoff-evening": {"behaviour": "cutoff-evening"},
    # every behaviour at once, at the rates measured on the real weeks
    "realistic": {
        "behaviour": "realistic",
        "flicker": 0.0002,
        "mass": 0.016,
        "drop": 0.01,
        "withdraw": 1,
    },
}


def minute(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds() // 60)


@dataclass
class LocRun:
    """What one location published: snapshots, live flags, withdrawn slot ranges."""

    snaps: list = field(default_factory=list)
    live: list = field(default_factory=list)
    corrupt: list = field(default_factory=list)  # a mass change hid most free slots
    withdrawn: list = field(default_factory=list)  # (from minute, lo slot, hi slot)
    hidden: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    held: np.ndarray | None = None
    next_update: int = 0
    #: the office's booking cutoffs (``Location.cutoff_lead`` / ``cutoff_day``)
    cutoff_lead: int | None = None
    cutoff_day: tuple[int, int] | None = None

    def offered(self, slot: int, t: int) -> bool:
        """Whether the office still shows ``slot`` (free) at minute ``t``."""
        return bool(offered_mask(self, np.array([slot]), t)[0])


def offered_mask(office, slots: np.ndarray, t: int) -> np.ndarray:
    """Which slot minutes ``office`` (its ``cutoff_lead``/``cutoff_day``, as the simulator's
    ``Location.offered``) still offers at minute ``t``."""
    keep = np.ones(len(slots), dtype=bool)
    if office.cutoff_lead is not None:
        keep &= slots - t >= office.cutoff_lead
    if office.cutoff_day is not None:
        offset, clock = office.cutoff_day
        keep &= (slots // 1440 - offset) * 1440 + clock > t
    return keep


def free_now(world: SimWorld, loc, now: datetime, cache: dict) -> np.ndarray:
    """Live free slot minutes of one location (what ``published_day`` shows, unflickered):
    inside its published window, not booked, not past its booking cutoff."""
    last = world.last_day(loc, now)
    key = (loc.id, now.date(), last)
    grid = cache.get(key)
    if grid is None:
        days = [now.date() + timedelta(days=i) for i in range((last - now.date()).days + 1)]
        grid = np.array([minute(s) for d in days for s in loc.grid(d)], dtype=np.int64)
        cache[key] = grid
    booked = np.array([minute(s) for s in loc.booked], dtype=np.int64)
    t = minute(now)
    grid = grid[grid > t]
    grid = grid[offered_mask(loc, grid, t)]
    return grid[~np.isin(grid, booked)]


def simulate(name: str, opts: dict, days: int = 7, seed: int = 7, n_sources: int = 5):
    """Run one scenario; returns per-location runs and the ground-truth log."""
    start = opts.get("start", datetime(2021, 7, 12))
    world = SimWorld(
        seed=seed, n_sources=n_sources, start=start, speed=0,
        horizon_weeks=opts.get("horizon_weeks", 4), behaviour=opts.get("behaviour", "plain"),
    )  # fmt: skip
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    locs = [(sid, lid, loc) for sid, s in world.sources.items() for lid, loc in s.locations.items()]
    runs = {
        f"{sid}/{lid}": LocRun(cutoff_lead=loc.cutoff_lead, cutoff_day=loc.cutoff_day)
        for sid, lid, loc in locs
    }
    n_ticks = days * 24 * 60 // STEP
    outages = {
        k: [
            (a, a + int(rng.integers(8, 25)))
            for a in rng.integers(0, n_ticks, opts.get("outages", 0))
        ]
        for k in runs
    }
    stale = {k for i, k in enumerate(runs) if opts.get("stale") and i % 2 == 0}
    withdraw_at = {k: sorted(rng.integers(1, n_ticks, opts.get("withdraw", 0))) for k in runs}
    cache: dict = {}
    for tick in range(n_ticks + 1):
        now = start + timedelta(minutes=STEP * tick)
        world.advance_to(now)
        t = minute(now)
        for sid, lid, loc in locs:
            key = f"{sid}/{lid}"
            run = runs[key]
            arr = free_now(world, loc, now, cache)
            live = True
            for w in withdraw_at[key]:
                if w == tick and len(arr):  # a whole day, or everything after a day
                    day = int(rng.choice(arr)) // 1440 * 1440
                    tail = rng.random() < 0.4
                    run.withdrawn.append((t, day, 1 << 40 if tail else day + 1439))
            for _, lo, hi in run.withdrawn:
                arr = arr[(arr < lo) | (arr > hi)]
            if opts.get("flicker"):
                hide = rng.random(len(arr)) < opts["flicker"]
                hide &= ~np.isin(arr, run.hidden)
                run.hidden = arr[hide]
                arr = arr[~hide]
            if key in stale:
                if run.held is None or t >= run.next_update:
                    run.held = arr
                    run.next_update = t + int(rng.integers(36, 73)) * 60
                else:
                    arr, live = run.held, False
            corrupt = bool(opts.get("mass")) and len(arr) >= 10 and rng.random() < opts["mass"]
            if corrupt:
                arr = arr[rng.random(len(arr)) < 0.3]
            dropped = rng.random() < opts.get("drop", 0) or any(
                a <= tick < b for a, b in outages[key]
            )
            if not dropped:
                run.snaps.append((t, arr))
                run.live.append(live)
                run.corrupt.append(corrupt)
    return runs, world.log


def flicker_share(runs: dict[str, LocRun]) -> float:
    """Share of future slots that vanish and are free again in the very next snapshot."""
    gone = back = 0
    for run in runs.values():
        for (_, a), (t, b), (_, c) in zip(run.snaps, run.snaps[1:], run.snaps[2:], strict=False):
            lost = np.setdiff1d(a[a > t], b, assume_unique=True)
            gone += len(lost)
            back += int(np.isin(lost, c).sum())
    return back / gone if gone else 0.0


def truth_frame(log: list[dict]) -> pl.DataFrame:
    """Every true event: location key, time (fractional minutes), slot, kind."""
    rows = [
        (
            f"{e['source_id']}/{e['location_id']}",
            to_minutes(e["time"]) + int(e["time"][17:19]) / 60,
            to_minutes(e["slot"]),
            e["event"],
        )
        for e in log
    ]
    return pl.DataFrame(rows, schema=["key", "at", "slot", "event"], orient="row")


def informative(run: LocRun) -> tuple[np.ndarray, np.ndarray]:
    """Times and live flags of the snapshots that show the office's state.

    A snapshot corrupted by a mass change hid most free slots for that one snapshot: it
    says nothing about when a hidden slot was booked or freed, like a missed snapshot.
    """
    ok = ~np.array(run.corrupt, dtype=bool)
    times = np.array([s[0] for s in run.snaps], dtype=np.int64)
    return times[ok], np.array(run.live, dtype=bool)[ok]


def observable_truth(runs: dict[str, LocRun], log: list[dict]) -> pl.DataFrame:
    """True events that the snapshots could show, with their location key."""
    truth = truth_frame(log)
    keep = []
    cache = {key: informative(run) for key, run in runs.items()}
    for key, at, slot, _event in truth.iter_rows():
        run = runs[key]
        times, live = cache[key]
        i = int(np.searchsorted(times, at, side="left"))
        ok = 0 < i < len(times) and live[i] and live[i - 1]
        ok = ok and times[i] - times[i - 1] <= 35 and slot > times[i]
        ok = ok and run.offered(slot, times[i])  # freed past the cutoff: never shown
        ok = ok and not any(lo <= slot <= hi and at >= w - STEP for w, lo, hi in run.withdrawn)
        keep.append(i if ok else -1)
    truth = truth.with_columns(pl.Series("interval", keep)).filter(pl.col("interval") >= 0)
    # booked and cancelled within one interval: invisible
    n = truth.group_by("key", "slot", "interval").len()
    return truth.join(n.filter(pl.col("len") == 1), on=["key", "slot", "interval"]).drop("len")


def detections(runs: dict[str, LocRun], rule: str) -> pl.DataFrame:
    frames = []
    for key, run in runs.items():
        if rule == "ours":
            df = detect_events(run.snaps, 15, location_id=key, cutoffs=learn_cutoffs(run.snaps))
        else:
            df = reference_events(run.snaps, location_id=key)
        times = informative(run)[0]
        det = df["detected"].dt.epoch("s").to_numpy() // 60 if df.height else np.zeros(0, int)
        prev = times[np.maximum(np.searchsorted(times, det, side="left") - 1, 0)]
        frames.append(df.with_columns(pl.Series("prev", prev, dtype=pl.Int64)))
    df = pl.concat(frames)
    return df.select(
        pl.col("location_id").alias("key"),
        (pl.col("detected").dt.epoch("s") // 60).alias("det"),
        (pl.col("slot").dt.epoch("s") // 60).alias("slot"),
        "prev",
        "event",
    ).with_row_index("id")


def score(found: pl.DataFrame, truth: pl.DataFrame, all_truth: pl.DataFrame) -> dict:
    """Precision (against every true event) and recall (against observable ones) per kind."""
    out = {}
    for kind in ("booked", "cancelled"):
        f = found.filter(pl.col("event") == kind)
        t_all = all_truth.filter(pl.col("event") == kind).with_row_index("tid")
        m = f.join(t_all, on=["key", "slot"]).filter(
            (pl.col("at") > pl.col("prev")) & (pl.col("at") <= pl.col("det"))
        )
        t = truth.filter(pl.col("event") == kind)
        hit = t.join(m.select("key", "slot", "at").unique(), on=["key", "slot", "at"])
        precision = m["id"].n_unique() / f.height if f.height else 1.0
        recall = hit.height / t.height if t.height else 1.0
        out[kind] = (precision, recall, f.height, t.height)
    return out


def run_scenario(name: str, opts: dict) -> dict:
    runs, log = simulate(name, opts)
    all_truth = truth_frame(log)
    truth = observable_truth(runs, log)
    print(f"{name:14s} flicker share {flicker_share(runs):.0%}, true events {len(log)}")
    return {rule: score(detections(runs, rule), truth, all_truth) for rule in ("ours", "reference")}


def published_counts(shared: Path) -> str:
    """Sums of the published ``appointments.csv`` and ``cancellations.csv`` of 2021-28.

    (``calibration.md`` quotes 150,825 appointments; the published file sums to 200,892.)
    """
    path = shared / "data/office-schedule-data/metrics/2021/2021-28.tar.gz"
    if not path.exists():
        return "metrics file not present"
    out = []
    with tarfile.open(path) as tar:
        for name in ("appointments", "cancellations"):
            df = pl.read_csv(tar.extractfile(f"{name}.csv").read(), infer_schema_length=0)
            total = df.drop("date").select(pl.all().cast(pl.Int64).sum()).sum_horizontal()
            out.append(f"{name}={int(total[0])}")
    return " ".join(out)


def real_week() -> None:
    """Our counts for the real week 2021-28 beside the reference's published ones."""
    shared = Path(__file__).resolve().parents[2] / "shared"
    path = shared / "data/office-schedule-data/raw/2021/2021-28.tar.gz"
    if not path.exists():
        print("real week 2021-28: ../shared not present, skipped")
        return
    from office_schedule.analysis import store_events
    from office_schedule.exchange import import_paths
    from office_schedule.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "w.db") as store:
        t0 = time.perf_counter()
        import_paths(store, [path])
        t1 = time.perf_counter()
        ev = store_events(store, store.source_ids())
        t2 = time.perf_counter()
        ref = store_events(store, store.source_ids(), rule="reference")
    for label, df in (("ours", ev), ("reference rule", ref)):
        n = df["event"].value_counts().to_dict(as_series=False)
        counts = dict(zip(n["event"], n["count"], strict=True))
        print(
            f"real week 2021-28 {label}: appointments={counts.get('booked', 0)} "
            f"cancellations={counts.get('cancelled', 0)}"
        )
    print(f"real week 2021-28 published: {published_counts(shared)}")
    print(f"real week timing: import {t1 - t0:.1f}s, our events {t2 - t1:.1f}s")


def main() -> int:
    worst_p = worst_r = 1.0
    beats = True
    for name, opts in SCENARIOS.items():
        t0 = time.perf_counter()
        res = run_scenario(name, opts)
        worst = {}
        for rule, per_kind in res.items():
            parts = []
            for kind, (p, r, n_found, n_true) in per_kind.items():
                parts.append(f"{kind} P={p:.3f} R={r:.3f} ({n_found}/{n_true})")
            worst[rule] = min(min(p, r) for p, r, _, _ in per_kind.values())
            print(f"{name:14s} {rule:9s} " + "  ".join(parts))
        ours = res["ours"].values()
        worst_p = min(worst_p, *(p for p, _, _, _ in ours))
        worst_r = min(worst_r, *(r for _, r, _, _ in ours))
        if worst["ours"] < worst["reference"] or (
            name != "clean" and worst["ours"] <= worst["reference"]
        ):
            beats = False
        print(f"{name:14s} ({time.perf_counter() - t0:.1f}s)")
    real_week()
    print(
        f"worst_precision={worst_p:.3f} worst_recall={worst_r:.3f} "
        f"beats_reference={'yes' if beats else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
