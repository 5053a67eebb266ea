"""A static report: charts of appointments, cancellations and lead times, and insight tables.

``write_report`` writes ``OUT/index.html`` and ``OUT/charts/*.png|svg``. Events are computed
once (``analysis.store_events``) and shared by the charts and the insight tables. An optional
``progress(phase, done, total, item)`` callback follows the work: phase ``"read"`` (events,
then the insights per source and per city) and ``"charts"`` (one call per chart drawn, its
name as ``item``); each phase starts with a call ``done=0, item=""`` announcing its total.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ..analysis import city_of, insights, spilled_events
from ..analysis.counts import LEAD_CAP_DAYS, hour_range
from ..analysis.insights import collect_batched, with_city
from . import charts, html

#: ``progress(phase, done, total, item)``
Progress = Callable[[str, int, int, str], None]
_HOUR_US = 3_600_000_000
READ_STEPS = ("events", "insights per source", "insights per city")


def _quiet(phase: str, done: int, total: int, item: str) -> None:
    pass


def _slug(text: str, used: set[str]) -> str:
    """A file-name-safe, unique version of ``text``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.").lower() or "x"
    name, i = base, 2
    while name in used:
        name, i = f"{base}-{i}", i + 1
    used.add(name)
    return name


def _counts(query: pl.LazyFrame, keys: list[str], value: pl.Expr, size: int) -> dict:
    """``{key tuple: rows per value 0..size-1}``, a zero array for any key (values outside
    are left out). Run in batches: a year of events is millions of rows, and these counts
    are all the charts need of them."""
    got = (
        query.select(*keys, value.alias("_v"))
        .filter((pl.col("_v") >= 0) & (pl.col("_v") < size))
        .group_by(*keys, "_v")
        .agg(pl.len().alias("_n"))
    )
    got = collect_batched(got)
    out: dict = defaultdict(lambda: np.zeros(size, dtype=np.int64))
    for *key, v, count in got.iter_rows():
        out[tuple(key)][v] = count
    return out


def _per_hour(ev: pl.LazyFrame, key: str, lo: datetime | None, n: int) -> dict:
    """``{(group, event): counts per hour}`` from ``lo`` (``analysis.counts.per_hour``)."""
    if lo is None or not n:
        return {}
    lo_us = int((lo - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    hours = (pl.col("detected").cast(pl.Int64) - lo_us) // _HOUR_US
    return dict(_counts(ev, [key, "event"], hours, n))


def _has_data(store, source_id: str, start: str, end: str) -> bool:
    return any(start[:10] <= day < end for day in store.snapshot_days(source_id))


def write_report(
    store,
    catalog: dict | None,
    source_ids: Iterable[str],
    out_dir: str | Path,
    start: str = "",
    end: str = "9999",
    progress: Progress | None = None,
) -> Path:
    """Write charts and ``index.html`` for ``source_ids`` into ``out_dir``; the page's path."""
    report = progress or _quiet
    out = Path(out_dir)
    chart_dir = out / "charts"
    chart_dir.mkdir(parents=True, exist_ok=True)
    # only sources with a snapshot in the range get charts and rows (metadata.json alone
    # names 221 sources, of which a published week holds 36)
    source_ids = sorted(sid for sid in set(source_ids) if _has_data(store, sid, start, end))
    report("read", 0, len(READ_STEPS), "")
    with spilled_events(store, source_ids, start, end) as ev:
        report("read", 1, len(READ_STEPS), READ_STEPS[0])
        return _write(store, catalog, source_ids, out, start, end, report, ev)


def _write(store, catalog, source_ids, out: Path, start, end, report, ev) -> Path:
    """``write_report`` with the range's events (a LazyFrame)."""
    chart_dir = out / "charts"
    city = {sid: city_of(sid, catalog) for sid in source_ids}
    steps = len(READ_STEPS)
    by_source = insights(store, catalog, source_ids, start, end, "source", events=ev)
    report("read", 2, steps, READ_STEPS[1])
    by_city = insights(store, catalog, source_ids, start, end, "city", events=ev)
    report("read", 3, steps, READ_STEPS[2])
    total = collect_batched(ev.select(pl.len())).item()
    ev = with_city(ev, city)
    booked = ev.filter(pl.col("event") == "booked")
    lo, n = hour_range(by_source["daily"], start, end)
    zeros = np.zeros(n, dtype=np.int64)
    lead_day = (pl.col("lead_minutes") // 1440).clip(0, LEAD_CAP_DAYS)
    leads = _counts(booked, ["city"], lead_day, LEAD_CAP_DAYS + 1)
    lead_all = sum(leads.values(), np.zeros(LEAD_CAP_DAYS + 1, dtype=np.int64))
    booking_hours = _counts(ev, ["event"], pl.col("detected").dt.hour(), 24)
    n_booked = int(lead_all.sum())
    used: set[str] = set()
    jobs: list[tuple] = []

    def chart(func, *args) -> list[str]:
        jobs.append((func, *args))
        return [f"{args[1]}.{ext}" for ext in charts.FORMATS]

    overview = [
        html.figure(
            chart(
                charts.lead_time_chart,
                chart_dir,
                _slug("lead-time", used),
                "Lead time, all",
                lead_all,
            ),
            "Lead time of appointments (days), all sources",
        ),
        html.figure(
            chart(
                charts.hour_of_day_chart,
                chart_dir,
                _slug("slot-hour", used),
                "Appointment time of day (slot hour)",
                [
                    (
                        "appointments",
                        _counts(booked, [], pl.col("slot").dt.hour(), 24)[()],
                        charts.BLUE,
                    )
                ],
            ),
            "Time of day of the booked appointments (slot hour)",
        ),
        html.figure(
            chart(
                charts.hour_of_day_chart,
                chart_dir,
                _slug("booking-hour", used),
                "Booking time of day (detection hour)",
                [
                    ("appointments", booking_hours[("booked",)], charts.BLUE),
                    ("cancellations", booking_hours[("cancelled",)], charts.RED),
                ],
            ),
            "Time of day when appointments were booked and cancelled (detection hour)",
        ),
    ]

    city_blocks = []
    hourly = _per_hour(ev, "city", lo, n)
    for name in sorted(set(city.values())):
        slug = _slug(f"city-{name}", used)
        files = chart(
            charts.hourly_chart,
            chart_dir,
            slug,
            f"{name}: appointments and cancellations per hour",
            lo,
            hourly.get((name, "booked"), zeros),
            hourly.get((name, "cancelled"), zeros),
        )
        lead = chart(
            charts.lead_time_chart,
            chart_dir,
            _slug(f"{slug}-lead-time", used),
            f"{name}: lead time",
            leads[(name,)],
        )
        city_blocks += [
            html.subheading(name),
            html.figure(files, f"{name}: appointments (blue) and cancellations (red) per hour"),
            html.figure(lead, f"{name}: lead time of appointments (days)"),
        ]

    source_blocks = []
    hourly = _per_hour(ev, "source_id", lo, n)
    for sid in source_ids:
        src = (catalog or {}).get(sid)
        label = f"{sid} ({src.name})" if src is not None and src.name != sid else sid
        files = chart(
            charts.hourly_chart,
            chart_dir,
            _slug(f"source-{sid}", used),
            f"{label}: appointments and cancellations per hour",
            lo,
            hourly.get((sid, "booked"), zeros),
            hourly.get((sid, "cancelled"), zeros),
        )
        source_blocks += [
            html.subheading(f"{label}, city {city[sid]}"),
            html.figure(files, f"{sid}: appointments (blue) and cancellations (red) per hour"),
        ]

    span = f"{lo:%Y-%m-%d %H:%M} to {lo + timedelta(hours=n):%Y-%m-%d %H:%M}" if lo else "no data"
    intro = (
        f"{len(source_ids)} sources in {len(set(city.values()))} cities, {span}: "
        f"{n_booked:,} appointments and {total - n_booked:,} cancellations "
        "detected. Times are the offices' local times."
    )
    sections = [
        ("Overview", overview),
        ("Summary per city", [html.table(by_city["summary"])]),
        ("Summary per source", [html.table(by_source["summary"])]),
        ("Per week and city", [html.table(by_city["weekly"])]),
        ("Lead time per city", [html.table(by_city["lead_time"])]),
        ("Busiest hours per city (booking time)", [html.table(by_city["busiest_hours"])]),
        ("Cities", city_blocks),
        ("Sources", source_blocks),
    ]
    drawn = 0
    report("charts", 0, len(jobs), "")

    def done(name: str) -> None:
        nonlocal drawn
        drawn += 1
        report("charts", drawn, len(jobs), name)

    charts.draw_all(jobs, done=done)
    index = out / "index.html"
    index.write_text(html.page("Office schedule report", intro, sections), encoding="utf-8")
    return index


__all__ = ["READ_STEPS", "Progress", "write_report"]
