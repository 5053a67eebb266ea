"""Insights from events and snapshots, per location, source or city, as polars DataFrames."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import polars as pl

from ..store.segments import distinct_minutes
from .series import minutes_of
from .stream import spilled_events

CITY_PREFIXES = re.compile(
    r"^(Magistrat der Stadt|Stadtverwaltung|Landratsamt|Landkreis|Gemeinde|Kreis|Stadt)\s+",
    re.IGNORECASE,
)
_DAY = 1440


def city_of(source_id: str, catalog: dict | None) -> str:
    """``params["city"]`` of the catalog source, else its name without "Stadt ", ... prefixes."""
    src = (catalog or {}).get(source_id)
    if src is None:
        return source_id
    city = src.params.get("city")
    if city:
        return city
    return CITY_PREFIXES.sub("", src.name).strip() or source_id


def _distinct(arrays: list[np.ndarray]) -> int:
    """How many distinct minutes the arrays hold together."""
    return len(distinct_minutes(np.concatenate(arrays) if len(arrays) > 1 else arrays[0]))


def _offered(store, source_ids: Iterable[str], start: str, end: str) -> pl.DataFrame:
    """Distinct free slots seen per location and snapshot day."""
    rows: list[tuple[str, str, int, int]] = []
    for sid in source_ids:
        # one day of one source at a time: a year of snapshots is never held
        runs: dict[str, list[np.ndarray]] = {}
        last: dict[str, np.ndarray] = {}
        last_locs = day = None
        for taken_at, _status, locs in store.states(sid, start, end):
            if taken_at[:10] != day:
                rows += _day_rows(sid, day, runs)
                runs, last, last_locs, day = {}, {}, None, taken_at[:10]
            if locs is last_locs:  # the store hands back the same dict ...
                continue
            last_locs = locs
            for loc, arr in locs.items():
                if last.get(loc) is arr:  # ... and the same array while a location is unchanged
                    continue
                last[loc] = arr
                runs.setdefault(loc, []).append(arr)
        rows += _day_rows(sid, day, runs)
    return pl.DataFrame(
        rows,
        schema={"source_id": pl.Utf8, "location_id": pl.Utf8, "t": pl.Int64, "offered": pl.Int64},
        orient="row",
    ).select(
        "source_id", "location_id", pl.col("t").cast(pl.Datetime("us")).dt.date().alias("date"),
        "offered",
    )  # fmt: skip


def _day_rows(sid: str, day: str | None, runs: dict[str, list[np.ndarray]]) -> list[tuple]:
    """``_offered`` rows of one source's day (``YYYY-MM-DD``)."""
    if day is None or not runs:
        return []
    t = int(minutes_of([day + " 00:00"])[0]) // _DAY * _DAY * 60_000_000
    return [(sid, loc, t, _distinct(v)) for loc, v in runs.items()]


def _group_col(df, by: str, catalog: dict | None):
    """``df`` (a DataFrame or LazyFrame) with the group column ``by``."""
    if by == "location":
        key = pl.col("source_id") + "/" + pl.col("location_id")
    elif by == "city":  # once per source, not per row (a year holds millions of events)
        ids = collect_batched(df.lazy().select(pl.col("source_id").unique()))["source_id"]
        return with_city(df, {s: city_of(s, catalog) for s in ids.to_list()})
    else:
        key = pl.col("source_id")
    return df.with_columns(key.alias(by))


def with_city(df, cities: dict[str, str]):
    """``df`` (a DataFrame or LazyFrame) with a ``city`` column from ``{source_id: city}``.
    A join, not ``replace_strict``: that one makes the streaming engine hold every row."""
    mapping = pl.DataFrame(
        {"source_id": list(cities), "city": list(cities.values())},
        schema={"source_id": pl.Utf8, "city": pl.Utf8},
    )
    if isinstance(df, pl.LazyFrame):
        mapping = mapping.lazy()
    return df.join(mapping, on="source_id", how="left")


#: polars' streaming engine (``engine="streaming"``) came after 1.0, which pyproject allows
_STREAMING = tuple(int(p) for p in pl.__version__.split(".")[:2] if p.isdigit()) >= (1, 25)


def collect_batched(query: pl.LazyFrame) -> pl.DataFrame:
    """Run a query over the events in batches: the eager engine's temporaries of a year of
    events (millions of rows) are several times the events themselves."""
    return query.collect(engine="streaming") if _STREAMING else query.collect()


def _counts(ev: pl.DataFrame, keys: list) -> list:
    return [
        (pl.col("event") == "booked").sum().alias("appointments"),
        (pl.col("event") == "cancelled").sum().alias("cancellations"),
    ]


def insights(
    store,
    catalog: dict | None,
    source_ids: Iterable[str],
    start: str = "",
    end: str = "9999",
    by: str = "source",
    events: pl.DataFrame | pl.LazyFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Tables: summary, daily, weekly, lead_time, slot_hour, slot_weekday, booking_hour,
    booking_weekday, busiest_hours; the first column is the group (``by``). ``events``
    (``store_events`` of the same range, or a LazyFrame of them) saves computing them."""
    if by not in ("source", "location", "city"):
        raise ValueError(f"by must be source, location or city, not {by!r}")
    source_ids = list(source_ids)
    if events is None:
        with spilled_events(store, source_ids, start, end) as ev:
            return insights(store, catalog, source_ids, start, end, by, ev)
    ev = _group_col(events.lazy(), by, catalog)
    booked = ev.filter(pl.col("event") == "booked")
    offered = _group_col(_offered(store, source_ids, start, end), by, catalog)
    out: dict[str, pl.DataFrame] = {}
    counts = _counts(ev, [by])
    daily_ev = collect_batched(
        ev.group_by(by, pl.col("detected").dt.date().alias("date")).agg(counts)
    )
    daily_off = offered.group_by(by, "date").agg(pl.col("offered").sum().alias("slots_offered"))
    out["daily"] = (
        daily_off.join(daily_ev, on=[by, "date"], how="full", coalesce=True)
        .fill_null(0)
        .sort(by, "date")
    )
    rate = (pl.col("cancellations") / pl.col("appointments")).alias("cancellation_rate")
    out["weekly"] = (
        out["daily"]
        .group_by(by, pl.col("date").dt.strftime("%G-W%V").alias("week"))
        .agg(pl.col("appointments", "cancellations", "slots_offered").sum())
        .with_columns(rate)
        .sort(by, "week")
    )
    lead_days = pl.col("lead_minutes") / _DAY
    out["lead_time"] = collect_batched(
        booked.group_by(by).agg(
            lead_days.median().alias("median_days"),
            lead_days.quantile(0.1, "linear").alias("p10_days"),
            lead_days.quantile(0.9, "linear").alias("p90_days"),
            (pl.col("lead_minutes") <= _DAY).mean().alias("within_1d"),
            (pl.col("lead_minutes") <= 7 * _DAY).mean().alias("within_1w"),
            (pl.col("lead_minutes") <= 28 * _DAY).mean().alias("within_4w"),
        )
    ).sort(by)
    for name, col, part in (
        ("slot_hour", "slot", "hour"),
        ("slot_weekday", "slot", "weekday"),
        ("booking_hour", "detected", "hour"),
        ("booking_weekday", "detected", "weekday"),
    ):
        expr = pl.col(col).dt.hour() if part == "hour" else pl.col(col).dt.weekday()
        src = booked if col == "slot" else ev
        aggs = counts[:1] if col == "slot" else counts
        out[name] = collect_batched(src.group_by(by, expr.alias(part)).agg(aggs)).sort(by, part)
    out["busiest_hours"] = (
        collect_batched(
            booked.group_by(
                by,
                pl.col("detected").dt.weekday().alias("weekday"),
                pl.col("detected").dt.hour().alias("hour"),
            ).agg(pl.len().alias("appointments"))
        )
        .sort([by, "appointments", "weekday", "hour"], descending=[False, True, False, False])
        .group_by(by, maintain_order=True)
        .head(5)
    )
    totals = (
        out["daily"]
        .group_by(by)
        .agg(pl.col("appointments", "cancellations").sum(), pl.len().alias("days"))
    )
    distinct = offered.group_by(by).agg(pl.col("offered").sum().alias("slots_offered"))
    out["summary"] = (
        totals.join(distinct, on=by, how="left")
        .join(out["lead_time"], on=by, how="left")
        .with_columns(rate)
        .sort(by)
    )
    return out


__all__ = ["city_of", "collect_batched", "insights", "with_city"]
