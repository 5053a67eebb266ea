"""Copying one store into another (e.g. a SQLite file into PostgreSQL), idempotently.

Per source, in id order: the scraped snapshots in time order, a chunk at a time (one
destination transaction each), raw payloads as stored and slot sets rebuilt in the
destination's change-only encoding; then imported week segments (copied, or merged with
the destination's week), location rows, metadata and health. Snapshots the destination
already has are skipped, so a second run changes nothing and a later run appends what was
recorded since. A source whose new snapshots would fall before the destination's latest
one (two recordings interleaved) is refused; the others still go.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from . import segments
from .base import open_store, resolve_db
from .codec import decode_minutes, minutes_digest
from .sql import STATE_SQL, SQLStore

log = logging.getLogger(__name__)

#: snapshots per destination transaction (their raw payloads are held in memory)
CHUNK = 500
TABLES = ("snapshots", "slot_sets", "locations", "segments", "sources", "location_meta",
          "robots", "health", "health_log")  # fmt: skip
#: the copied columns of a snapshot row, in the order of the INSERT
SNAPSHOT_COLUMNS = (
    "source_id", "taken_at", "taken_ts", "status", "duration", "requests", "weeks",
    "n_locations", "n_slots", "error_class", "error_message", "error_url", "raw", "raw_hash",
)  # fmt: skip
INSERT_SNAPSHOT = (
    f"INSERT INTO snapshots ({', '.join(SNAPSHOT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SNAPSHOT_COLUMNS))})"
)
#: tables whose rows belong to a source, and the column naming it
SOURCE_TABLES = {"snapshots": "source_id", "segments": "source_id", "sources": "id",
                 "location_meta": "source_id", "locations": "source_id",
                 "health": "source_id", "health_log": "source_id"}  # fmt: skip


class CopyRefused(StoreError):
    """A source's snapshots cannot be appended to the destination's (interleaved)."""


@dataclass
class CopySummary:
    """Per table: rows ``copied``, ``merged`` into existing ones, ``skipped`` (present)."""

    source: str
    dest: str
    sources: list[str] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=lambda: {t: Counter() for t in TABLES})
    refused: dict[str, str] = field(default_factory=dict)
    #: watches of the source store: not copied (their memory of what they told names the
    #: source store's snapshots), to be added again on the destination
    watches_left: int = 0

    def add(self, table: str, kind: str, n: int = 1) -> None:
        if n:
            self.counts[table][kind] += n


def _pg_identity(url: str) -> tuple:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    user = info.get("user") or os.environ.get("PGUSER", "")
    host = info.get("host") or os.environ.get("PGHOST", "")
    port = str(info.get("port") or os.environ.get("PGPORT", "5432"))
    return host, port, info.get("dbname") or user


def same_store(a: str, b: str) -> bool:
    """Whether two ``--db`` values name one store (same file, or same server and database)."""
    from .postgres import is_postgres_url

    if is_postgres_url(a) or is_postgres_url(b):
        return is_postgres_url(a) and is_postgres_url(b) and _pg_identity(a) == _pg_identity(b)
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def copy_store(
    src_db: str,
    dest_db: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    chunk: int = CHUNK,
) -> CopySummary:
    """Copy ``src_db`` (opened read-only) into ``dest_db`` (created when missing).

    ``include``/``exclude`` are source id wildcards. The destination is locked for the
    copy: no recorder may write it meanwhile.
    """
    src_db, dest_db = resolve_db(src_db), resolve_db(dest_db)
    if same_store(src_db, dest_db):
        raise StoreError(f"cannot copy a store onto itself ({dest_db})")
    with open_store(src_db, readonly=True) as src, open_store(dest_db, create=True) as dest:
        dest.acquire_lock()
        return copy_between(src, dest, include, exclude, chunk)


def copy_between(
    src: SQLStore,
    dest: SQLStore,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    chunk: int = CHUNK,
) -> CopySummary:
    """Copy open stores; see :func:`copy_store`."""
    summary = CopySummary(str(src.path), str(dest.path))
    summary.sources = [
        sid
        for sid in _source_ids(src)
        if (not include or any(fnmatch.fnmatchcase(sid, p) for p in include))
        and not any(fnmatch.fnmatchcase(sid, p) for p in exclude)
    ]
    src_meta, dest_meta = src.source_metadata(), dest.source_metadata()
    for sid in summary.sources:
        log.info("copying %s", sid)
        known = _location_ids(dest, sid)
        try:
            _copy_scraped(src, dest, sid, summary, chunk)
        except CopyRefused as exc:
            summary.refused[sid] = str(exc)
            continue
        _copy_segments(src, dest, sid, summary)
        with dest.transaction():
            _copy_locations(src, dest, sid, known, summary)
            _copy_metadata(src, dest, sid, src_meta.get(sid), sid in dest_meta, summary)
            _copy_health(src, dest, sid, summary)
    _copy_robots(src, dest, summary)
    summary.watches_left = len(src.watches())
    return summary


def _source_ids(store: SQLStore) -> list[str]:
    union = " UNION ".join(f"SELECT {col} FROM {t}" for t, col in SOURCE_TABLES.items())
    return sorted(r[0] for r in store.db.execute(union))


# -- scraped snapshots -----------------------------------------------------------------------


class _Scraped:
    """The copy of one source's scraped snapshots, and the two states it follows."""

    def __init__(self, src: SQLStore, dest: SQLStore, sid: str, summary: CopySummary):
        self.src, self.dest, self.sid, self.summary = src, dest, sid, summary
        self.state: dict[str, np.ndarray] = {}  # the source's, before the next snapshot
        self.digests: dict[str, str] = {}  # of self.state
        self.current: dict[str, str] = {}  # the destination's latest state, as digests
        #: location -> (overwrite, time): the last_seen updates of the chunk being written
        self.last_seen: dict[str, tuple[bool, str]] = {}
        self.meta = {
            loc: (name, tuple(services))
            for loc, name, services in src.location_metadata(sid, "locations")
        }

    def start(self, first_id: int, first_ts: float) -> None:
        """Begin appending at the source's snapshot ``first_id``."""
        # STATE_SQL with id - 1: the state strictly before that snapshot
        self.state = {
            loc: decode_minutes(blob)
            for loc, present, blob, _n, _s in self.src.db.execute(
                STATE_SQL, (self.sid, first_ts, first_ts, first_id - 1)
            )
            if present
        }
        self.digests = {loc: minutes_digest(m) for loc, m in self.state.items()}
        self.current = {
            loc: digest
            for loc, digest in self.dest.db.execute(
                "SELECT location_id, slots_hash FROM locations WHERE source_id = ? AND present = 1",
                (self.sid,),
            )
        }

    def write(self, ids: list[int]) -> None:
        """Append these source snapshots (in time order) in one destination transaction."""
        marks = ",".join("?" * len(ids))
        rows = self.src.db.execute(
            f"SELECT id, {', '.join(SNAPSHOT_COLUMNS)} FROM snapshots WHERE id IN ({marks}) "
            "ORDER BY taken_ts, id",
            ids,
        ).fetchall()
        changes: dict[int, list[tuple[str, int, Any]]] = {}
        for snap_id, loc, present, blob in self.src.db.execute(
            "SELECT snapshot_id, location_id, present, slots FROM slot_sets "
            f"WHERE source_id = ? AND snapshot_id IN ({marks})",
            (self.sid, *ids),
        ):
            changes.setdefault(snap_id, []).append((loc, present, blob))
        with self.dest.transaction():
            for snap_id, *values in rows:
                new_id = self.dest.db.insert_id(INSERT_SNAPSHOT, values)
                self._follow(changes.get(snap_id, ()))
                self._record(new_id, values[1], values[3])
            self._flush_seen()
        self.summary.add("snapshots", "copied", len(rows))

    def _follow(self, changes: Iterable[tuple[str, int, Any]]) -> None:
        if not changes:
            return
        self.state, self.digests = dict(self.state), dict(self.digests)
        for loc, present, blob in changes:
            if present:
                self.state[loc] = decode_minutes(blob)
                self.digests[loc] = minutes_digest(self.state[loc])
            else:
                self.state.pop(loc, None)
                self.digests.pop(loc, None)

    def _record(self, new_id: int, taken: str, status: str) -> None:
        if status not in ("ok", "unchanged"):
            return
        if status == "unchanged" and self.digests == self.current:
            self._seen(taken, overwrite=True)  # as save_snapshot sets it
            return
        # an ok snapshot (or an unchanged one after a different state in the destination):
        # apply_state on the difference writes the same slot sets as on the whole state
        changed = {
            loc: minutes
            for loc, minutes in self.state.items()
            if self.current.get(loc) != self.digests[loc]
        }
        gone = {loc: d for loc, d in self.current.items() if loc not in self.digests}
        if changed or gone:
            self.dest.apply_state(self.sid, new_id, taken, changed, self.meta, previous=gone)
        self._seen(taken, overwrite=False)  # apply_state's later-of on the others
        self.current = dict(self.digests)
        self.summary.add("slot_sets", "copied", len(changed) + len(gone))

    def _seen(self, taken: str, overwrite: bool) -> None:
        # PostgreSQL walks every version a transaction left of a row: updating each
        # location's last_seen once per chunk, not once per snapshot, keeps that short
        for loc in self.digests:
            old = self.last_seen.get(loc)
            if overwrite or old is None:
                self.last_seen[loc] = (overwrite, taken)
            else:
                self.last_seen[loc] = (old[0], max(old[1], taken))

    def _flush_seen(self) -> None:
        sets, later = [], []
        for loc, (overwrite, taken) in self.last_seen.items():
            (sets if overwrite else later).append((taken, self.sid, loc, taken))
        self.dest.db.executemany(
            "UPDATE locations SET last_seen = ? WHERE source_id = ? AND location_id = ? "
            "AND last_seen <> ?",
            sets,
        )
        self.dest.db.executemany(
            "UPDATE locations SET last_seen = ? WHERE source_id = ? AND location_id = ? "
            "AND last_seen < ?",
            later,
        )
        self.last_seen = {}


def _copy_scraped(
    src: SQLStore, dest: SQLStore, sid: str, summary: CopySummary, chunk: int
) -> None:
    """Skip the snapshots the destination has, append the rest (all later than its latest)."""
    latest = dest.db.execute(
        "SELECT taken_at, taken_ts, status FROM snapshots WHERE source_id = ? "
        "ORDER BY taken_ts DESC, id DESC LIMIT 1",
        (sid,),
    ).fetchone()
    latest = tuple(latest) if latest else None
    latest_matched = False
    have: Counter = Counter()  # destination keys not yet matched, in the range read so far
    copier: _Scraped | None = None
    after: tuple[float, int] = (float("-inf"), 0)
    seen_ts: float | None = None  # keys of the destination are fetched up to this time
    while True:
        keys = src.db.execute(
            "SELECT id, taken_at, taken_ts, status FROM snapshots WHERE source_id = ? "
            "AND (taken_ts > ? OR (taken_ts = ? AND id > ?)) ORDER BY taken_ts, id LIMIT ?",
            (sid, after[0], after[0], after[1], chunk),
        ).fetchall()
        if not keys:
            return
        after = (keys[-1][2], keys[-1][0])
        todo = []
        if copier is None:
            low = "taken_ts > ?" if seen_ts is not None else "taken_ts >= ?"
            have.update(
                tuple(r)
                for r in dest.db.execute(
                    f"SELECT taken_at, taken_ts, status FROM snapshots WHERE source_id = ? "
                    f"AND {low} AND taken_ts <= ?",
                    (sid, keys[0][2] if seen_ts is None else seen_ts, keys[-1][2]),
                )
            )
            seen_ts = keys[-1][2]
        for snap_id, taken_at, taken_ts, status in keys:
            key = (taken_at, taken_ts, status)
            if copier is None and have[key] > 0:
                have[key] -= 1
                latest_matched = latest_matched or key == latest
                summary.add("snapshots", "skipped")
                continue
            if copier is None:
                if latest and (
                    taken_ts < latest[1] or (taken_ts == latest[1] and not latest_matched)
                ):
                    raise CopyRefused(
                        f"source {sid} refused: its snapshot at {taken_at} ({status}) is not "
                        f"in {dest.path} and not after the latest one there ({latest[0]}): "
                        "two recordings interleave (prune one of them first)"
                    )
                copier = _Scraped(src, dest, sid, summary)
                copier.start(snap_id, taken_ts)
                have.clear()
            todo.append(snap_id)
        if todo:
            copier.write(todo)
        # keys before the last one read can match nothing later
        have = Counter({k: n for k, n in have.items() if n and k[1] >= after[0]})


# -- imported weeks, locations, metadata, health, robots -------------------------------------


def _copy_segments(src: SQLStore, dest: SQLStore, sid: str, summary: CopySummary) -> None:
    weeks = [w for (w,) in src.db.execute(
        "SELECT week FROM segments WHERE source_id = ? ORDER BY week", (sid,)
    ).fetchall()]  # fmt: skip
    for week in weeks:
        first_at, last_at, n_ok, n_unchanged, data = src.db.execute(
            "SELECT first_at, last_at, n_ok, n_unchanged, data FROM segments "
            "WHERE source_id = ? AND week = ?",
            (sid, week),
        ).fetchone()
        data = bytes(data)
        theirs = dest.segment_blob(sid, week)
        if theirs == data or (
            theirs is not None and set(segments.times_of(data)) <= set(segments.times_of(theirs))
        ):
            summary.add("segments", "skipped")  # the destination wins on equal times
            continue
        if theirs is None:
            dest.db.execute(
                "INSERT INTO segments (source_id, week, first_at, last_at, n_ok, n_unchanged, "
                "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, week, first_at, last_at, n_ok, n_unchanged, data),
            )
            summary.add("segments", "copied")
            continue
        states = {t: state for t, _, state in segments.decode(data)}
        states.update((t, state) for t, _, state in segments.decode(theirs))
        dest.save_segment(sid, week, segments.with_statuses(sorted(states.items())))
        summary.add("segments", "merged")


def _location_ids(store: SQLStore, sid: str) -> set[str]:
    rows = store.db.execute("SELECT location_id FROM locations WHERE source_id = ?", (sid,))
    return {loc for (loc,) in rows.fetchall()}


def _copy_locations(
    src: SQLStore, dest: SQLStore, sid: str, known: set[str], summary: CopySummary
) -> None:
    """Rows of imported locations; ``known``: the destination's before this source's copy."""
    spans = {
        loc: (first, last)
        for loc, first, last in src.db.execute(
            "SELECT location_id, first_seen, last_seen FROM locations WHERE source_id = ?",
            (sid,),
        )
    }
    summary.add("locations", "copied", len(spans.keys() - known))
    summary.add("locations", "skipped", len(spans.keys() & known))
    dest.add_location_spans(sid, spans)  # the later-of and earlier-of the scraped rows too


def _copy_metadata(
    src: SQLStore, dest: SQLStore, sid: str, fields: tuple | None, known: bool,
    summary: CopySummary,
) -> None:  # fmt: skip
    locations = src.location_metadata(sid)
    if fields is None and not locations:
        return
    name, scraper, url = fields or (None, None, None)
    if fields is not None:
        summary.add("sources", "skipped" if known else "copied")
    before = {loc: (n, s) for loc, n, s in dest.location_metadata(sid)}
    entry = {
        "name": name, "scraper": scraper, "url": url,
        "locations": {loc: {"name": n, "services": s} for loc, n, s in locations},
    }  # fmt: skip
    dest.merge_metadata({sid: entry})
    after = {loc: (n, s) for loc, n, s in dest.location_metadata(sid)}
    for loc, _n, _s in locations:
        kind = "copied" if loc not in before else "merged" if before[loc] != after[loc] else None
        summary.add("location_meta", kind or "skipped")


def _copy_health(src: SQLStore, dest: SQLStore, sid: str, summary: CopySummary) -> None:
    state = src.health_state(sid)
    if state is not None:
        if dest.health_state(sid) is None:
            dest.db.execute(
                "INSERT INTO health (source_id, state, since, detail) VALUES (?, ?, ?, ?)",
                (sid, *state),
            )
            summary.add("health", "copied")
        else:
            summary.add("health", "skipped")
    have = {tuple(r) for r in dest.db.execute(
        "SELECT at, new_state, detail FROM health_log WHERE source_id = ?", (sid,)
    ).fetchall()}  # fmt: skip
    for at, old, new, detail, notified in src.db.execute(
        "SELECT at, old_state, new_state, detail, notified FROM health_log "
        "WHERE source_id = ? ORDER BY id",
        (sid,),
    ).fetchall():
        if (at, new, detail) in have:
            summary.add("health_log", "skipped")
            continue
        have.add((at, new, detail))
        dest.db.execute(
            "INSERT INTO health_log (source_id, at, old_state, new_state, detail, notified) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (sid, at, old, new, detail, notified),
        )
        summary.add("health_log", "copied")


def _copy_robots(src: SQLStore, dest: SQLStore, summary: CopySummary) -> None:
    """robots.txt reads: the newer one wins."""
    from ..fetch.robots import RobotsRecord

    for row in src.db.execute("SELECT origin, fetched_ts, status, body FROM robots").fetchall():
        record = RobotsRecord(*row)
        theirs = dest.robots_get(record.origin)
        if theirs is not None and theirs.fetched_ts >= record.fetched_ts:
            summary.add("robots", "skipped")
            continue
        dest.robots_put(record)
        summary.add("robots", "copied")
