"""Removing snapshots (scraped and imported) without changing what the rest reconstruct.

Slot sets are stored only when a location's slots change, so later snapshots depend on an
ok snapshot's slot sets. Deleting one moves each of its slot-set rows forward to the next
remaining ok/unchanged snapshot of the source, unless that one has its own row for the
location (then the deleted row was superseded anyway); an ``unchanged`` snapshot that
receives rows becomes ``ok`` and takes the deleted snapshot's raw payload (which it had
repeated). With no later snapshot left the rows go. So every remaining snapshot keeps
exactly the state it had. Afterwards each source's ``locations`` rows follow its latest
remaining state. Imported segments are decoded, filtered and encoded again.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import segments
from .base import Store
from .codec import decode_minutes, minutes_digest
from .sql import STATE_SQL

STATUSES = ("ok", "unchanged", "error", "disallowed")


@dataclass
class Selection:
    """Which snapshots: source wildcards, ``start <= taken_at < end``, statuses."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    start: str = ""
    end: str = "~"
    statuses: tuple[str, ...] = ()
    imported: bool = False

    def sources(self, store: Store) -> list[str]:
        return sorted(
            sid
            for sid in store.source_ids()
            if (not self.include or any(fnmatch.fnmatchcase(sid, p) for p in self.include))
            and not any(fnmatch.fnmatchcase(sid, p) for p in self.exclude)
        )

    def status_ok(self, status: str) -> bool:
        return not self.statuses or status in self.statuses


@dataclass
class Pruned:
    """Per source: scraped snapshots by status, and imported snapshots."""

    scraped: dict[str, Counter] = field(default_factory=dict)
    imported: Counter = field(default_factory=Counter)

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.scraped.values()) + sum(self.imported.values())


def _selected_ids(store: Store, source_id: str, sel: Selection) -> list[tuple[int, str]]:
    sql = "SELECT id, status FROM snapshots WHERE source_id = ? AND taken_at >= ? AND taken_at < ?"
    args: list = [source_id, sel.start, sel.end]
    if sel.statuses:
        sql += f" AND status IN ({', '.join('?' * len(sel.statuses))})"
        args.extend(sel.statuses)
    return store.db.execute(sql, args).fetchall()


def _segment_hits(store: Store, source_id: str, sel: Selection) -> dict[str, int]:
    if not sel.imported:
        return {}
    hits = {}
    for week, blob in store.segment_blobs(source_id, sel.start, sel.end):
        n = sum(sel.start <= t < sel.end and sel.status_ok(s) for t, s, _ in segments.decode(blob))
        if n:
            hits[week] = n
    return hits


def plan(store: Store, sel: Selection) -> Pruned:
    """What ``prune`` would remove, changing nothing."""
    out = Pruned()
    for sid in sel.sources(store):
        counts = Counter(status for _, status in _selected_ids(store, sid, sel))
        if counts:
            out.scraped[sid] = counts
        imported = sum(_segment_hits(store, sid, sel).values())
        if imported:
            out.imported[sid] = imported
    return out


def prune(store: Store, sel: Selection) -> Pruned:
    """Remove the selected snapshots in one transaction; returns what was removed."""
    with store.transaction():
        out = plan(store, sel)
        for sid in sorted(set(out.scraped) | set(out.imported)):
            if sid in out.scraped:
                _delete_scraped(store, sid, {i for i, _ in _selected_ids(store, sid, sel)})
            for week in _segment_hits(store, sid, sel):
                _trim_segment(store, sid, week, sel)
            _refresh_locations(store, sid)
    return out


def _delete_scraped(store: Store, source_id: str, doomed: set[int]) -> None:
    db = store.db
    rows = db.execute(
        "SELECT id, status FROM snapshots WHERE source_id = ? ORDER BY taken_ts, id",
        (source_id,),
    ).fetchall()
    following: int | None = None
    target: dict[int, tuple[int, str] | None] = {}
    for snap_id, status in reversed(rows):
        if snap_id in doomed:
            target[snap_id] = following
        elif status in ("ok", "unchanged"):
            following = (snap_id, status)
    # latest first, so a later deleted row reaches the target before an earlier one
    for snap_id, status in reversed(rows):
        if snap_id not in doomed or status != "ok" or target[snap_id] is None:
            continue
        to_id, to_status = target[snap_id]  # type: ignore[misc]
        # a row the target has itself superseded the moved one: drop it first
        db.execute(
            "DELETE FROM slot_sets WHERE snapshot_id = ? AND EXISTS (SELECT 1 FROM slot_sets t "
            "WHERE t.snapshot_id = ? AND t.source_id = slot_sets.source_id "
            "AND t.location_id = slot_sets.location_id)",
            (snap_id, to_id),
        )
        moved = db.execute(
            "UPDATE slot_sets SET snapshot_id = ? WHERE snapshot_id = ?", (to_id, snap_id)
        ).rowcount
        if to_status == "unchanged" and moved:
            db.execute(
                "UPDATE snapshots SET status = 'ok', "
                "raw = (SELECT raw FROM snapshots WHERE id = ?), "
                "raw_hash = (SELECT raw_hash FROM snapshots WHERE id = ?) "
                "WHERE id = ? AND raw IS NULL",
                (snap_id, snap_id, to_id),
            )
    ids = sorted(doomed)
    for i in range(0, len(ids), 900):
        part = ids[i : i + 900]
        marks = ",".join("?" * len(part))
        db.execute(f"DELETE FROM slot_sets WHERE snapshot_id IN ({marks})", part)
        db.execute(f"DELETE FROM snapshots WHERE id IN ({marks})", part)


def _trim_segment(store: Store, source_id: str, week: str, sel: Selection) -> None:
    blob = store.segment_blob(source_id, week)
    kept = [
        (t, state)
        for t, s, state in segments.decode(blob)
        if not (sel.start <= t < sel.end and sel.status_ok(s))
    ]
    if kept:
        store.save_segment(source_id, week, segments.with_statuses(kept))
    else:
        store.delete_segment(source_id, week)


def _refresh_locations(store: Store, source_id: str) -> None:
    """``present``/``slots_hash`` from the latest remaining state; drop locations left
    with neither slot sets nor segments (metadata.json names stay in location_meta)."""
    db = store.db
    latest = db.execute(
        "SELECT id, taken_ts FROM snapshots WHERE source_id = ? AND status IN ('ok', 'unchanged') "
        "ORDER BY taken_ts DESC, id DESC LIMIT 1",
        (source_id,),
    ).fetchone()
    state = {}
    if latest is not None:
        state = {
            loc: minutes_digest(decode_minutes(blob))
            for loc, present, blob, _n, _s in db.execute(
                STATE_SQL, (source_id, latest[1], latest[1], latest[0])
            )
            if present
        }
    for (loc,) in db.execute(
        "SELECT location_id FROM locations WHERE source_id = ?", (source_id,)
    ).fetchall():
        digest = state.get(loc)
        db.execute(
            "UPDATE locations SET present = ?, slots_hash = ? WHERE source_id = ? "
            "AND location_id = ?",
            (int(digest is not None), digest, source_id, loc),
        )
    has_segments = db.execute(
        "SELECT 1 FROM segments WHERE source_id = ? LIMIT 1", (source_id,)
    ).fetchone()
    if not has_segments:
        db.execute(
            "DELETE FROM locations WHERE source_id = ? AND location_id NOT IN "
            "(SELECT location_id FROM slot_sets WHERE source_id = ?)",
            (source_id, source_id),
        )
