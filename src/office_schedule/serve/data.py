"""The dashboard's views as plain JSON-ready dicts, computed from the store and cached.

Every view starts from ``status_summary`` (one cheap query): its newest snapshot time and
snapshot count per source are the versions the cache keys carry. A source's events of a
week are computed once per version of that source, so a new snapshot of one source
recomputes only that source; the views over all sources are recombined from those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from ..analysis import city_of, insights, store_events
from ..analysis.counts import LEAD_CAP_DAYS, hour_counts, hour_range, lead_counts, per_hour
from ..analysis.health import Thresholds
from ..monitor import source_health
from ..store import Store
from .cache import Memo

HEALTH_SECONDS = 30  # health depends on the clock too: recomputed at most this often
_EVENT_SCHEMA = {
    "source_id": pl.Utf8,
    "location_id": pl.Utf8,
    "detected": pl.Datetime("us"),
    "slot": pl.Datetime("us"),
    "lead_minutes": pl.Int64,
    "event": pl.Utf8,
}


class NotFound(LookupError):
    """An unknown source, location or week (HTTP 404)."""


class BadRequest(ValueError):
    """A malformed parameter (HTTP 400)."""


@dataclass(frozen=True)
class StoreState:
    """What ``status_summary`` says now: the rows and the versions derived from them."""

    rows: list[dict[str, Any]]
    version: tuple
    per_source: dict[str, tuple]

    @classmethod
    def read(cls, store: Store) -> StoreState:
        rows = store.status_summary()
        per_source = {r["source_id"]: (r["last_snapshot"], r["snapshots"]) for r in rows}
        latest = max((r["last_snapshot"] or "" for r in rows), default="")
        return cls(rows, (latest, sum(r["snapshots"] for r in rows)), per_source)


def parse_week(text: str) -> tuple[str, str]:
    """``2021-W28`` -> its first day and the day after its last (``taken_at`` bounds)."""
    try:
        year, week = text.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise BadRequest(f"week must look like 2021-W28, not {text!r}") from None
    return monday.isoformat(), (monday + timedelta(days=7)).isoformat()


def week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


class Dashboard:
    """The views; each method takes the reader thread's store."""

    def __init__(self, catalog: dict | None = None, thresholds: Thresholds | None = None):
        self.catalog = catalog or {}
        self.thresholds = thresholds or Thresholds()
        self.memo = Memo()

    # -- names and versions ------------------------------------------------------------------

    def state(self, store: Store) -> StoreState:
        return StoreState.read(store)

    def labels(self, store: Store, state: StoreState) -> dict[str, dict[str, str | None]]:
        """Per source: display name, city and family (catalog first, then metadata.json)."""

        def compute():
            meta = store.source_metadata()
            out = {}
            for sid in state.per_source:
                src = self.catalog.get(sid)
                name, scraper, _url = meta.get(sid, (None, None, None))
                out[sid] = {
                    "name": src.name if src else name or sid,
                    "city": city_of(sid, self.catalog) if src else name or sid,
                    "family": src.family if src else scraper,
                }
            return out

        return self.memo.get(("labels",), state.version, compute)

    def latest(self, store: Store, state: StoreState, source_id: str):
        """``(taken_at, status, ParsedSnapshot)`` of a source's newest good snapshot."""
        if source_id not in state.per_source:
            raise NotFound(f"no source {source_id!r} in the store")
        version = state.per_source[source_id]
        return self.memo.get(("latest", source_id), version, lambda: store.latest_state(source_id))

    # -- overview ------------------------------------------------------------------------------

    def overview(self, store: Store) -> dict[str, Any]:
        """Every source: health and since when, snapshots, errors, the newest snapshot."""
        state = self.state(store)
        labels = self.labels(store, state)
        bucket = int(time.time() // HEALTH_SECONDS)
        healths = self.memo.get(
            ("health",),
            (state.version, bucket),
            lambda: {
                sid: source_health(store, sid, self.thresholds)
                for sid in store.recorded_source_ids()
            },
        )
        sources = []
        for row in state.rows:
            sid = row["source_id"]
            h = healths.get(sid)
            latest = self.latest(store, state, sid)
            sources.append(
                {
                    **row,
                    **labels[sid],
                    "health": h.state if h else "imported",
                    "health_since": h.since if h else None,
                    "health_detail": h.detail if h else "",
                    "last_good": h.last_good if h else row["last_ok"],
                    "latest": _latest_summary(latest),
                }
            )
        counts: dict[str, int] = {}
        for s in sources:
            counts[s["health"]] = counts.get(s["health"], 0) + 1
        return {"as_of": state.version[0] or None, "health_counts": counts, "sources": sources}

    def warm(self, store: Store) -> None:
        """Compute what the pages need first: the overview and the newest week's views."""
        self.overview(store)
        state = self.state(store)
        weeks = self.weeks(store, state)
        if weeks:
            for by in ("source", "city"):
                self.insight_tables(store, state, weeks[-1], by)

    # -- free slots ----------------------------------------------------------------------------

    def slots(self, store: Store, source_id: str, location: str | None = None) -> dict[str, Any]:
        """The free slots of a source's newest snapshot by day, for one location or all."""
        state = self.state(store)
        latest = self.latest(store, state, source_id)
        label = self.labels(store, state)[source_id]
        if latest is None:
            return {
                "source_id": source_id,
                **label,
                "taken_at": None,
                "status": None,
                "location": location,
                "locations": [],
                "days": [],
            }
        taken_at, status, parsed = latest
        locs = parsed.locations
        if location and location not in locs:
            raise NotFound(f"no location {location!r} in the newest snapshot of {source_id}")
        chosen = [locs[location]] if location else list(locs.values())
        by_day: dict[str, list[str]] = {}
        for slot in sorted(s for loc in chosen for s in loc.slots):
            by_day.setdefault(slot.date().isoformat(), []).append(slot.strftime("%H:%M"))
        return {
            "source_id": source_id,
            **label,
            "taken_at": taken_at,
            "status": status,
            "location": location,
            "location_name": locs[location].name if location else None,
            "locations": [
                {
                    "id": loc.id,
                    "name": loc.name,
                    "free_slots": len(loc.slots),
                    "next_free": loc.slots[0].isoformat(sep=" ") if loc.slots else None,
                }
                for loc in locs.values()
            ],
            "free_slots": sum(len(v) for v in by_day.values()),
            "days": [{"date": d, "times": t} for d, t in by_day.items()],
        }

    # -- weeks and events ----------------------------------------------------------------------

    def weeks(self, store: Store, state: StoreState | None = None) -> list[dict[str, Any]]:
        """The ISO weeks with snapshots, newest last, with the days that have data."""
        state = state or self.state(store)

        def compute():
            days: dict[str, set[str]] = {}
            for sid in state.per_source:
                for day in store.snapshot_days(sid):
                    days.setdefault(week_of(day), set()).add(day)
            out = []
            for week in sorted(days):
                start, end = parse_week(week)
                out.append({"week": week, "start": start, "end": end, "days": sorted(days[week])})
            return out

        return self.memo.get(("weeks",), state.version, compute)

    def _week(self, store: Store, state: StoreState, week: str | None) -> dict[str, Any]:
        weeks = self.weeks(store, state)
        if not weeks:
            raise NotFound("the store has no snapshots yet")
        if not week:
            return weeks[-1]
        parse_week(week)
        for w in weeks:
            if w["week"] == week:
                return w
        raise NotFound(f"no snapshots in week {week}")

    def week_events(self, store: Store, state: StoreState, week: dict) -> dict[str, Any]:
        """Events of every source in a week, hourly counts per source and city."""

        def per_source(sid: str) -> pl.DataFrame:
            family, version = ("events", sid, week["week"]), state.per_source[sid]
            return self.memo.get(
                family, version, lambda: store_events(store, [sid], week["start"], week["end"])
            )

        def compute():
            labels = self.labels(store, state)
            frames = [f for f in (per_source(sid) for sid in state.per_source) if f.height]
            ev = pl.concat(frames) if frames else pl.DataFrame(schema=_EVENT_SCHEMA)
            city = {sid: lab["city"] for sid, lab in labels.items()}
            ev = ev.with_columns(
                pl.col("source_id")
                .replace_strict(city, default="", return_dtype=pl.Utf8)
                .alias("city")
            )
            days = pl.DataFrame({"date": [date.fromisoformat(d) for d in week["days"]]})
            lo, n = hour_range(days, week["start"], week["end"])
            return {
                "events": ev,
                "booked": ev.filter(pl.col("event") == "booked"),
                "cancelled": ev.filter(pl.col("event") == "cancelled"),
                "start": lo,
                "hours": n,
                "by_source": per_hour(ev, "source_id", lo, n),
                "by_city": per_hour(ev, "city", lo, n),
            }

        return self.memo.get(("week", week["week"]), state.version, compute)

    def insight_tables(self, store: Store, state: StoreState, week: dict, by: str) -> dict:
        def compute():
            bundle = self.week_events(store, state, week)
            ev = bundle["events"].drop("city")
            ids = list(state.per_source)
            return insights(store, self.catalog, ids, week["start"], week["end"], by, events=ev)

        return self.memo.get(("insights", by, week["week"]), state.version, compute)

    def _scope(self, store, state, source: str | None, city: str | None) -> dict[str, Any]:
        labels = self.labels(store, state)
        if source:
            if source not in labels:
                raise NotFound(f"no source {source!r} in the store")
            return {
                "source": source,
                "city": None,
                "label": _label(source, labels[source]["name"]),
                "sources": [source],
            }
        if city:
            sids = [sid for sid, lab in labels.items() if lab["city"] == city]
            if not sids:
                raise NotFound(f"no source in city {city!r}")
            return {"source": None, "city": city, "label": city, "sources": sids}
        return {"source": None, "city": None, "label": "all sources", "sources": list(labels)}

    def _head(self, week: dict, scope: dict) -> dict[str, Any]:
        return {
            "week": week["week"],
            "start": week["start"],
            "end": week["end"],
            **{k: scope[k] for k in ("source", "city", "label")},
        }

    def hourly(self, store: Store, week=None, source=None, city=None) -> dict[str, Any]:
        """Appointments and cancellations per hour of a week, for one source, city or all."""
        state = self.state(store)
        w = self._week(store, state, week)
        scope = self._scope(store, state, source, city)
        bundle = self.week_events(store, state, w)
        lo, n = bundle["start"], bundle["hours"]
        if city:
            table, keys = bundle["by_city"], [city]
        else:
            table, keys = bundle["by_source"], scope["sources"]
        zeros = np.zeros(n, dtype=np.int64)
        series = {}
        for name, kind in (("appointments", "booked"), ("cancellations", "cancelled")):
            total = sum((table.get((k, kind), zeros) for k in keys), zeros)
            series[name] = [int(v) for v in total]
        hours = [(lo + timedelta(hours=h)).isoformat(sep=" ") for h in range(n)] if lo else []
        return {
            **self._head(w, scope),
            "hours": hours,
            **series,
            "totals": {k: sum(v) for k, v in series.items()},
        }

    def _scoped(self, frame: pl.DataFrame, scope: dict) -> pl.DataFrame:
        if scope["source"] is None and scope["city"] is None:
            return frame
        return frame.filter(pl.col("source_id").is_in(scope["sources"]))

    def _lead_row(self, store, state, w, scope) -> dict[str, Any] | None:
        by = "source" if scope["source"] else "city" if scope["city"] else None
        if by is None:
            return None
        table = self.insight_tables(store, state, w, by)["lead_time"]
        rows = table.filter(pl.col(by) == (scope["source"] or scope["city"])).to_dicts()
        return rows[0] if rows else None

    def lead_time(self, store: Store, week=None, source=None, city=None) -> dict[str, Any]:
        """Lead times of the week's appointments in whole days (the last bar: cap or more)."""
        state = self.state(store)
        w = self._week(store, state, week)
        scope = self._scope(store, state, source, city)
        booked = self._scoped(self.week_events(store, state, w)["booked"], scope)
        counts = lead_counts(booked) if booked.height else np.zeros(LEAD_CAP_DAYS + 1, int)
        return {
            **self._head(w, scope),
            "cap_days": LEAD_CAP_DAYS,
            "days": list(range(LEAD_CAP_DAYS + 1)),
            "appointments": [int(c) for c in counts],
            "summary": self._lead_row(store, state, w, scope),
        }

    def time_of_day(self, store: Store, week=None, source=None, city=None) -> dict[str, Any]:
        """Per hour of day: booked slots' start times; when bookings and cancellations happened."""
        state = self.state(store)
        w = self._week(store, state, week)
        scope = self._scope(store, state, source, city)
        bundle = self.week_events(store, state, w)
        booked = self._scoped(bundle["booked"], scope)
        cancelled = self._scoped(bundle["cancelled"], scope)

        def hours(frame: pl.DataFrame, col: str) -> list[int]:
            counts = hour_counts(frame, col) if frame.height else np.zeros(24, int)
            return [int(c) for c in counts]

        return {
            **self._head(w, scope),
            "hours": list(range(24)),
            "slot_hour": {"appointments": hours(booked, "slot")},
            "booking_hour": {
                "appointments": hours(booked, "detected"),
                "cancellations": hours(cancelled, "detected"),
            },
        }

    def cities(self, store: Store, week=None) -> dict[str, Any]:
        """The city comparison of a week: appointments, cancellations, lead times per city."""
        state = self.state(store)
        w = self._week(store, state, week)
        summary = self.insight_tables(store, state, w, "city")["summary"]
        return {
            "week": w["week"],
            "start": w["start"],
            "end": w["end"],
            "cities": summary.sort("appointments", descending=True).to_dicts(),
        }


def _label(source_id: str, name: str | None) -> str:
    return f"{source_id} ({name})" if name and name != source_id else source_id


def _latest_summary(latest) -> dict[str, Any] | None:
    if latest is None:
        return None
    taken_at, status, parsed = latest
    slots = [loc.slots[0] for loc in parsed.locations.values() if loc.slots]
    return {
        "taken_at": taken_at,
        "status": status,
        "locations": len(parsed.locations),
        "free_slots": parsed.slot_count,
        "next_free": min(slots).isoformat(sep=" ") if slots else None,
    }


def as_json(value: Any) -> Any:
    """Plain JSON values: dates as ISO text, NaN and infinities as null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return as_json(value.item())
    return value
