"""The store's logic, written once for every SQL backend (see ``db.py`` for the dialect).

Every snapshot is written in one transaction. Raw payloads are kept (compressed) so
parsers can be re-applied; slot sets are stored per location only when they change.
Imported weeks live in self-contained segments (``segments.py``); a store decodes each
segment it reads once per run (the store object lives for one command).
"""

from __future__ import annotations

import heapq
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from ..clock import local_now
from ..errors import ParseError, StoreError
from ..model import Location, ParsedSnapshot
from . import plausible
from .codec import (
    compress_payload,
    decode_minutes,
    decode_slots,
    decompress_payload,
    encode_minutes,
    minutes_digest,
    minutes_to_slots,
    payload_hash,
    slot_minutes,
)
from .db import Database
from .imported import EARLIER_FIRST_SEEN, LATER_LAST_SEEN, ImportedRecords
from .leases import LeaseRecords
from .monitor import MonitorRecords
from .watches import WatchRecords

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: per location, the latest slot set at or before a moment (taken_ts, then id, break ties)
STATE_SQL = """
SELECT location_id, present, slots, name, services FROM (
    SELECT s.location_id, s.present, s.slots, l.name, l.services,
           row_number() OVER (
               PARTITION BY s.location_id ORDER BY n.taken_ts DESC, n.id DESC
           ) AS rnk
    FROM slot_sets s
    JOIN snapshots n ON n.id = s.snapshot_id
    LEFT JOIN locations l ON l.source_id = s.source_id AND l.location_id = s.location_id
    WHERE s.source_id = ? AND (n.taken_ts < ? OR (n.taken_ts = ? AND n.id <= ?))
) AS ranked WHERE rnk = 1
"""


@dataclass(frozen=True)
class SnapshotRecord:
    id: int
    source_id: str
    taken_at: str
    taken_ts: float
    status: str
    duration: float | None
    requests: int | None
    weeks: int | None
    n_locations: int | None
    n_slots: int | None
    error_class: str | None
    error_message: str | None
    error_url: str | None


RECORD_COLUMNS = (
    "id, source_id, taken_at, taken_ts, status, duration, requests, weeks, n_locations, "
    "n_slots, error_class, error_message, error_url"
)


class SQLStore(MonitorRecords, LeaseRecords, ImportedRecords, WatchRecords):
    """Snapshots, states and summaries over a :class:`~.db.Database`."""

    db: Database
    readonly: bool = False
    #: several recorders may write it at once (they share the hosts by leases)
    shared: bool = False

    def _init_reading(self) -> None:
        # (source, week) -> (segment bytes, its snapshots, bytes of their arrays)
        self._decoded: OrderedDict[tuple[str, str], tuple] = OrderedDict()

    @property
    def where(self) -> str:
        """The file or server, for messages."""
        return self.db.where

    def transaction(self):
        """One transaction around several writes (nested ones join it)."""
        return self.db.transaction()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release_lock()
        self.db.close()

    def acquire_lock(self, shared: bool = False) -> None:
        """Keep other writers out (``shared``: other recorders may work beside this one)."""

    def release_lock(self) -> None:
        pass

    # -- writing ---------------------------------------------------------------------------

    def save_snapshot(
        self,
        source_id: str,
        taken_at: datetime,
        taken_ts: float,
        *,
        duration: float | None = None,
        requests: int | None = None,
        weeks: int | None = None,
        raw: Any = None,
        parsed: ParsedSnapshot | None = None,
        error: tuple[str, str, str | None] | None = None,
    ) -> SnapshotRecord:
        """Store one snapshot in one transaction and return its record.

        ``error`` is ``(class, message, url)``; a raw payload may accompany an error (a
        parse failure), so a fixed parser can read it again later. The class
        ``Disallowed`` (robots.txt) stores a ``disallowed`` snapshot, its rule as message.
        An implausible snapshot or slot time (``plausible``) is a StoreError, nothing stored.
        """
        try:
            plausible.check_snapshot_time(taken_at, local_now(), source_id)
            if error is None and parsed is not None:
                plausible.check_parsed(parsed, taken_at, source_id)
        except plausible.ImplausibleTime as exc:
            raise StoreError(f"not stored: {exc}") from None
        taken = taken_at.strftime(TIME_FORMAT)
        with self.db.transaction():
            if error is not None and error[0] == "Disallowed":
                record = self._insert(
                    source_id, taken, taken_ts, "disallowed", duration, requests, weeks,
                    None, None, *error, None, None,
                )  # fmt: skip
            elif error is not None or parsed is None:
                err_class, err_message, err_url = error or ("Error", "no parsed payload", None)
                blob = compress_payload(raw) if raw is not None else None
                digest = payload_hash(raw) if raw is not None else None
                record = self._insert(
                    source_id, taken, taken_ts, "error", duration, requests, weeks,
                    None, None, err_class, err_message, err_url, blob, digest,
                )  # fmt: skip
            else:
                digest = payload_hash(raw)
                previous = self.db.execute(
                    "SELECT raw_hash FROM snapshots WHERE source_id = ? AND status = 'ok' "
                    "ORDER BY taken_ts DESC, id DESC LIMIT 1",
                    (source_id,),
                ).fetchone()
                n_loc, n_slots = len(parsed.locations), parsed.slot_count
                if previous is not None and previous[0] == digest:
                    record = self._insert(
                        source_id, taken, taken_ts, "unchanged", duration, requests, weeks,
                        n_loc, n_slots, None, None, None, None, None,
                    )  # fmt: skip
                    self.db.execute(
                        "UPDATE locations SET last_seen = ? WHERE source_id = ? AND present = 1",
                        (taken, source_id),
                    )
                else:
                    record = self._insert(
                        source_id, taken, taken_ts, "ok", duration, requests, weeks,
                        n_loc, n_slots, None, None, None, compress_payload(raw), digest,
                    )  # fmt: skip
                    self._store_locations(source_id, record.id, taken, parsed)
        return record  # no read-back: one round trip less on a server

    def _insert(self, *values: Any) -> SnapshotRecord:
        snap_id = self.db.insert_id(
            "INSERT INTO snapshots (source_id, taken_at, taken_ts, status, duration, requests, "
            "weeks, n_locations, n_slots, error_class, error_message, error_url, raw, raw_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return SnapshotRecord(snap_id, *values[:12])  # the columns up to raw, in order

    def _store_locations(
        self, source_id: str, snap_id: int, taken: str, parsed: ParsedSnapshot
    ) -> None:
        state = {loc_id: slot_minutes(loc.slots) for loc_id, loc in parsed.locations.items()}
        meta = {loc_id: (loc.name, loc.services) for loc_id, loc in parsed.locations.items()}
        self.apply_state(source_id, snap_id, taken, state, meta)

    def apply_state(
        self,
        source_id: str,
        snap_id: int,
        taken: str,
        state: dict[str, np.ndarray],
        meta: dict[str, tuple[str | None, tuple[str, ...]]] | None = None,
        previous: dict[str, str] | None = None,
    ) -> None:
        """Record the locations' slot sets at a snapshot, storing only what changed.

        ``previous`` maps location -> slots digest of the state just before this snapshot
        (absent location = not present); by default the latest stored state is used.
        ``meta`` gives names and services; without it known names are kept.
        """
        if previous is None:
            previous = {
                row[0]: row[1]
                for row in self.db.execute(
                    "SELECT location_id, slots_hash FROM locations "
                    "WHERE source_id = ? AND present = 1",
                    (source_id,),
                )
            }
        # one executemany per statement: psycopg pipelines it (one round trip, not one a row)
        changed, upserts = [], []
        for loc_id, minutes in state.items():
            digest = minutes_digest(minutes)
            if previous.get(loc_id) != digest:
                changed.append((source_id, loc_id, snap_id, encode_minutes(minutes)))
            name, services = (meta or {}).get(loc_id, (None, None))
            upserts.append((
                source_id, loc_id, name, json.dumps(list(services or ())), taken, taken,
                digest, services is not None,
            ))  # fmt: skip
        gone = [loc_id for loc_id in previous if loc_id not in state]
        self.db.executemany(
            "INSERT INTO slot_sets (source_id, location_id, snapshot_id, present, slots) "
            "VALUES (?, ?, ?, 1, ?)",
            changed,
        )
        self.db.executemany(
            "INSERT INTO locations (source_id, location_id, name, services, first_seen, "
            "last_seen, present, slots_hash) VALUES (?, ?, ?, ?, ?, ?, 1, ?) "
            "ON CONFLICT (source_id, location_id) DO UPDATE SET "
            "name = coalesce(excluded.name, locations.name), "
            "services = CASE WHEN ? THEN excluded.services ELSE locations.services END, "
            f"{EARLIER_FIRST_SEEN}, {LATER_LAST_SEEN}, present = 1, "
            "slots_hash = excluded.slots_hash",
            upserts,
        )
        self.db.executemany(
            "INSERT INTO slot_sets (source_id, location_id, snapshot_id, present, slots) "
            "VALUES (?, ?, ?, 0, NULL)",
            [(source_id, loc_id, snap_id) for loc_id in gone],
        )
        self.db.executemany(
            "UPDATE locations SET present = 0, slots_hash = NULL "
            "WHERE source_id = ? AND location_id = ?",
            [(source_id, loc_id) for loc_id in gone],
        )

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, snapshot_id: int) -> SnapshotRecord:
        row = self.db.execute(
            f"SELECT {RECORD_COLUMNS} FROM snapshots WHERE id = ?", (snapshot_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no snapshot {snapshot_id} in {self.where}")
        return SnapshotRecord(*row)

    def snapshots(
        self, source_id: str | None = None, statuses: tuple[str, ...] | None = None
    ) -> list[SnapshotRecord]:
        sql = f"SELECT {RECORD_COLUMNS} FROM snapshots WHERE 1 = 1"
        args: list[Any] = []
        if source_id is not None:
            sql += " AND source_id = ?"
            args.append(source_id)
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args.extend(statuses)
        sql += " ORDER BY taken_ts, id"
        return [SnapshotRecord(*row) for row in self.db.execute(sql, args)]

    def latest_snapshot(
        self, source_id: str, statuses: tuple[str, ...] = ("ok", "unchanged")
    ) -> SnapshotRecord | None:
        row = self.db.execute(
            f"SELECT {RECORD_COLUMNS} FROM snapshots WHERE source_id = ? "
            f"AND status IN ({', '.join('?' * len(statuses))}) "
            "ORDER BY taken_ts DESC, id DESC LIMIT 1",
            (source_id, *statuses),
        ).fetchone()
        return SnapshotRecord(*row) if row else None

    def source_ids(self) -> list[str]:
        """Every source with a stored snapshot (scraped or imported)."""
        return sorted(
            r[0]
            for r in self.db.execute(
                "SELECT source_id FROM snapshots UNION SELECT source_id FROM segments"
            )
        )

    def states(
        self, source_id: str, start: str = "", end: str = "9999"
    ) -> Iterator[tuple[str, str, dict[str, np.ndarray]]]:
        """``(taken_at, status, {location: free minutes})`` of every ok/unchanged snapshot
        with ``start <= taken_at < end``, scraped and imported merged in time order."""
        yield from heapq.merge(
            self._row_states(source_id, start, end),
            self.segment_range(source_id, start, end),
            key=lambda snap: snap[0],
        )

    def _row_states(self, source_id: str, start: str, end: str):
        snaps = self.db.execute(
            "SELECT id, taken_at, taken_ts, status FROM snapshots WHERE source_id = ? "
            "AND status IN ('ok', 'unchanged') AND taken_at >= ? AND taken_at < ? "
            "ORDER BY taken_ts, id",
            (source_id, start, end),
        ).fetchall()
        if not snaps:
            return
        first_id, _, first_ts, _ = snaps[0]
        state = {
            loc: decode_minutes(blob)
            for loc, present, blob, _n, _s in self.db.execute(
                STATE_SQL, (source_id, first_ts, first_ts, first_id)
            )
            if present
        }
        changes: dict[int, list[tuple[str, int, bytes | None]]] = {}
        ids = [s[0] for s in snaps[1:]]
        for chunk in range(0, len(ids), 900):
            part = ids[chunk : chunk + 900]
            for snap_id, loc, present, blob in self.db.execute(
                "SELECT snapshot_id, location_id, present, slots FROM slot_sets "
                f"WHERE source_id = ? AND snapshot_id IN ({','.join('?' * len(part))})",
                (source_id, *part),
            ):
                changes.setdefault(snap_id, []).append((loc, present, blob))
        for i, (snap_id, taken_at, _, status) in enumerate(snaps):
            if i and snap_id in changes:
                state = dict(state)
                for loc, present, blob in changes[snap_id]:
                    if present:
                        state[loc] = decode_minutes(blob)
                    else:
                        state.pop(loc, None)
            yield taken_at, status, state

    def latest_state(self, source_id: str) -> tuple[str, str, ParsedSnapshot] | None:
        """The newest ok/unchanged snapshot of a source, scraped or imported."""
        record = self.latest_snapshot(source_id)
        last_at = self.last_imported(source_id)
        if last_at and (record is None or last_at > record.taken_at):
            taken_at, status, state = list(self.segment_range(source_id, last_at, last_at + "~"))[
                -1
            ]
            names = {
                loc: (name, tuple(services))
                for loc, name, services in self.location_metadata(source_id, "location_meta")
            }
            return (
                taken_at,
                status,
                ParsedSnapshot(
                    {
                        loc: Location(loc, *names.get(loc, (None, ())), slots=minutes_to_slots(m))
                        for loc, m in sorted(state.items())
                    }
                ),
            )
        if record is None:
            return None
        return record.taken_at, record.status, self.state_at(source_id, record.id)

    def raw_payload(self, snapshot_id: int) -> Any:
        row = self.db.execute("SELECT raw FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return decompress_payload(row[0])

    def state_at(self, source_id: str, snapshot_id: int) -> ParsedSnapshot:
        """The locations and free slots of a source as of a snapshot (in time order)."""
        snap = self.snapshot(snapshot_id)
        locations = {}
        for loc_id, present, blob, name, services in self.db.execute(
            STATE_SQL, (source_id, snap.taken_ts, snap.taken_ts, snapshot_id)
        ):
            if present:
                locations[loc_id] = Location(
                    id=loc_id,
                    name=name,
                    services=tuple(json.loads(services or "[]")),
                    slots=decode_slots(blob),
                )
        return ParsedSnapshot(dict(sorted(locations.items())))

    def status_summary(self) -> list[dict[str, Any]]:
        """Per source: counts by status, last ok time, last error."""
        rows = self.db.execute(
            "SELECT source_id, count(*), count(*) FILTER (WHERE status = 'ok'), "
            "count(*) FILTER (WHERE status = 'unchanged'), "
            "count(*) FILTER (WHERE status = 'error'), "
            "max(CASE WHEN status IN ('ok', 'unchanged') THEN taken_at END), "
            "max(taken_at) FROM snapshots GROUP BY source_id ORDER BY source_id"
        ).fetchall()
        rows = [list(r) for r in rows]
        by_id = {r[0]: r for r in rows}
        for source_id, n_ok, n_unchanged, last_at in self.imported_summary():
            row = by_id.get(source_id)
            if row is None:
                row = by_id[source_id] = [source_id, 0, 0, 0, 0, None, None]
                rows.append(row)
            row[1] += n_ok + n_unchanged
            row[2] += n_ok
            row[3] += n_unchanged
            row[5] = max(filter(None, (row[5], last_at)))
            row[6] = max(filter(None, (row[6], last_at)))
        rows.sort(key=lambda r: r[0])
        summary = []
        for source_id, total, ok, unchanged, errors, last_ok, last_taken in rows:
            last_error = self.db.execute(
                "SELECT taken_at, error_class, error_message, error_url FROM snapshots "
                "WHERE source_id = ? AND status = 'error' ORDER BY taken_ts DESC, id DESC LIMIT 1",
                (source_id,),
            ).fetchone()
            summary.append(
                {
                    "source_id": source_id,
                    "snapshots": total,
                    "changed": ok,
                    "unchanged": unchanged,
                    "errors": errors,
                    "last_ok": last_ok,
                    "last_snapshot": last_taken,
                    "last_error_at": last_error[0] if last_error else None,
                    "last_error": (f"{last_error[1]}: {last_error[2]}" if last_error else None),
                    "last_error_url": last_error[3] if last_error else None,
                }
            )
        return summary

    # -- re-parsing ------------------------------------------------------------------------

    def reparse(self, source_id: str, parse: Callable[[Any], ParsedSnapshot]) -> dict[str, int]:
        """Re-run ``parse`` over every stored raw payload of a source, rebuilding slot sets.

        Runs in one transaction: either the whole source is re-derived or nothing changes.
        Snapshots whose payload no longer parses become errors (raw kept); errors whose raw
        payload now parses become ok.
        """
        counts = {"parsed": 0, "failed": 0}
        with self.db.transaction():
            self.db.execute("DELETE FROM slot_sets WHERE source_id = ?", (source_id,))
            self.db.execute("DELETE FROM locations WHERE source_id = ?", (source_id,))
            rows = self.db.execute(
                "SELECT id, taken_at, status, raw, error_class FROM snapshots "
                "WHERE source_id = ? AND raw IS NOT NULL ORDER BY taken_ts, id",
                (source_id,),
            ).fetchall()
            for snap_id, taken, status, blob, err_class in rows:
                if status == "error" and err_class != "ParseError":
                    continue
                try:
                    parsed = parse(decompress_payload(blob))
                except ParseError as exc:
                    counts["failed"] += 1
                    self.db.execute(
                        "UPDATE snapshots SET status = 'error', error_class = 'ParseError', "
                        "error_message = ?, n_locations = NULL, n_slots = NULL WHERE id = ?",
                        (str(exc), snap_id),
                    )
                    continue
                counts["parsed"] += 1
                self.db.execute(
                    "UPDATE snapshots SET status = 'ok', error_class = NULL, error_message = NULL, "
                    "error_url = NULL, n_locations = ?, n_slots = ? WHERE id = ?",
                    (len(parsed.locations), parsed.slot_count, snap_id),
                )
                self._store_locations(source_id, snap_id, taken, parsed)
        return counts
