"""A static report: charts of appointments, cancellations and lead times, and insight tables.

``write_report`` writes ``OUT/index.html`` and ``OUT/charts/*.png|svg``. Events are computed
once (``analysis.store_events``) and shared by the charts and the insight tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ..analysis import city_of, insights, store_events
from ..analysis.counts import hour_counts, hour_range, lead_counts, per_hour
from . import charts, html


def _slug(text: str, used: set[str]) -> str:
    """A file-name-safe, unique version of ``text``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.").lower() or "x"
    name, i = base, 2
    while name in used:
        name, i = f"{base}-{i}", i + 1
    used.add(name)
    return name


def _has_data(store, source_id: str, start: str, end: str) -> bool:
    return any(start[:10] <= day < end for day in store.snapshot_days(source_id))


def write_report(
    store,
    catalog: dict | None,
    source_ids: Iterable[str],
    out_dir: str | Path,
    start: str = "",
    end: str = "9999",
) -> Path:
    """Write charts and ``index.html`` for ``source_ids`` into ``out_dir``; the page's path."""
    out = Path(out_dir)
    chart_dir = out / "charts"
    chart_dir.mkdir(parents=True, exist_ok=True)
    # only sources with a snapshot in the range get charts and rows (metadata.json alone
    # names 221 sources, of which a published week holds 36)
    source_ids = sorted(sid for sid in set(source_ids) if _has_data(store, sid, start, end))
    city = {sid: city_of(sid, catalog) for sid in source_ids}
    ev = store_events(store, source_ids, start, end)
    by_source = insights(store, catalog, source_ids, start, end, "source", events=ev)
    by_city = insights(store, catalog, source_ids, start, end, "city", events=ev)
    ev = ev.with_columns(
        pl.col("source_id").replace_strict(city, default="", return_dtype=pl.Utf8).alias("city")
    )
    booked = ev.filter(pl.col("event") == "booked")
    lo, n = hour_range(by_source["daily"], start, end)
    zeros = np.zeros(n, dtype=np.int64)
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
                lead_counts(booked),
            ),
            "Lead time of appointments (days), all sources",
        ),
        html.figure(
            chart(
                charts.hour_of_day_chart,
                chart_dir,
                _slug("slot-hour", used),
                "Appointment time of day (slot hour)",
                [("appointments", hour_counts(booked, "slot"), charts.BLUE)],
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
                    ("appointments", hour_counts(booked, "detected"), charts.BLUE),
                    (
                        "cancellations",
                        hour_counts(ev.filter(pl.col("event") == "cancelled"), "detected"),
                        charts.RED,
                    ),
                ],
            ),
            "Time of day when appointments were booked and cancelled (detection hour)",
        ),
    ]

    city_blocks = []
    hourly = per_hour(ev, "city", lo, n)
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
            lead_counts(booked.filter(pl.col("city") == name)),
        )
        city_blocks += [
            html.subheading(name),
            html.figure(files, f"{name}: appointments (blue) and cancellations (red) per hour"),
            html.figure(lead, f"{name}: lead time of appointments (days)"),
        ]

    source_blocks = []
    hourly = per_hour(ev, "source_id", lo, n)
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
        f"{booked.height:,} appointments and {ev.height - booked.height:,} cancellations "
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
    charts.draw_all(jobs)
    index = out / "index.html"
    index.write_text(html.page("Office schedule report", intro, sections), encoding="utf-8")
    return index


__all__ = ["write_report"]
