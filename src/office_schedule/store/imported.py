"""What the store keeps of imported weeks: segments and the published metadata."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

from . import segments

#: ``first_seen``/``last_seen`` of an upserted location (scalar min/max differ by engine)
EARLIER_FIRST_SEEN = (
    "first_seen = CASE WHEN excluded.first_seen < locations.first_seen "
    "THEN excluded.first_seen ELSE locations.first_seen END"
)
LATER_LAST_SEEN = (
    "last_seen = CASE WHEN excluded.last_seen > locations.last_seen "
    "THEN excluded.last_seen ELSE locations.last_seen END"
)
#: decoded segments a store keeps while it lives (analysis reads a week several times), at
#: most this many and this many bytes of arrays: a year of a busy office must not stay
DECODED_MAX = 64
DECODED_BYTES = 96 * 1024 * 1024


def _array_bytes(snaps: list[segments.Snapshot]) -> int:
    """Bytes of the distinct arrays of decoded snapshots (repeated states share one)."""
    seen: dict[int, int] = {}
    last = None
    for _, _, locs in snaps:
        if locs is last:
            continue
        last = locs
        for arr in locs.values():
            seen[id(arr)] = arr.nbytes
    return sum(seen.values())


class ImportedRecords:
    """Mixed into the store: ``self.db`` is its :class:`~.db.Database`."""

    db: Any
    _decoded: Any

    # -- segments --------------------------------------------------------------------------
    def segment_blob(self, source_id: str, week: str) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM segments WHERE source_id = ? AND week = ?", (source_id, week)
        ).fetchone()
        return bytes(row[0]) if row else None

    def save_segment_blob(
        self, source_id: str, week: str, blob: bytes, times: list[str], n_ok: int
    ) -> None:
        self.db.execute(
            "INSERT INTO segments (source_id, week, first_at, last_at, n_ok, n_unchanged, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, week) DO UPDATE SET "
            "first_at = excluded.first_at, last_at = excluded.last_at, n_ok = excluded.n_ok, "
            "n_unchanged = excluded.n_unchanged, data = excluded.data",
            (source_id, week, times[0], times[-1], n_ok, len(times) - n_ok, blob),
        )

    def save_segment(self, source_id: str, week: str, snapshots: list[segments.Snapshot]) -> None:
        n_ok = sum(s == "ok" for _, s, _ in snapshots)
        times = [t for t, _, _ in snapshots]
        self.save_segment_blob(source_id, week, segments.encode(snapshots), times, n_ok)

    def week_has_segments(self, week: str) -> bool:
        """Whether any source has a segment of the ISO week ``YYYY-WW``."""
        row = self.db.execute("SELECT 1 FROM segments WHERE week = ? LIMIT 1", (week,))
        return row.fetchone() is not None

    def delete_segment(self, source_id: str, week: str) -> None:
        self.db.execute("DELETE FROM segments WHERE source_id = ? AND week = ?", (source_id, week))

    def segment_blobs(self, source_id: str, start: str, end: str) -> list[tuple[str, bytes]]:
        """``(week, data)`` of the segments overlapping ``start <= taken_at < end``."""
        return [
            (week, bytes(blob))
            for week, blob in self.db.execute(
                "SELECT week, data FROM segments WHERE source_id = ? AND last_at >= ? "
                "AND first_at < ? ORDER BY first_at",
                (source_id, start, end),
            ).fetchall()
        ]

    def segment_range(self, source_id: str, start: str, end: str) -> Iterator[segments.Snapshot]:
        """Imported snapshots with ``start <= taken_at < end``, in time order."""
        for week, blob in self.segment_blobs(source_id, start, end):
            for snap in self._decode(source_id, week, blob):
                if start <= snap[0] < end:
                    yield snap

    def _decode(self, source_id: str, week: str, blob: bytes) -> list[segments.Snapshot]:
        key = (source_id, week)
        hit = self._decoded.get(key)
        if hit is not None and hit[0] == blob:
            self._decoded.move_to_end(key)
            return hit[1]
        snaps = segments.decode(blob)
        if hit is not None:
            del self._decoded[key]
        self._decoded[key] = (blob, snaps, _array_bytes(snaps))
        total = sum(entry[2] for entry in self._decoded.values())
        while len(self._decoded) > 1 and (
            len(self._decoded) > DECODED_MAX or total > DECODED_BYTES
        ):
            total -= self._decoded.popitem(last=False)[1][2]
        return snaps

    def last_imported(self, source_id: str) -> str | None:
        row = self.db.execute(
            "SELECT max(last_at) FROM segments WHERE source_id = ?", (source_id,)
        ).fetchone()
        return row[0] if row else None

    def imported_summary(self) -> list[tuple[str, int, int, str]]:
        """Per source with segments: (id, ok snapshots, unchanged snapshots, last time)."""
        return [
            (sid, int(n_ok), int(n_unchanged), last_at)
            for sid, n_ok, n_unchanged, last_at in self.db.execute(
                "SELECT source_id, sum(n_ok), sum(n_unchanged), max(last_at) FROM segments "
                "GROUP BY source_id"
            )
        ]

    def snapshot_days(self, source_id: str) -> list[str]:
        """The days (``YYYY-MM-DD``) with an ok/unchanged snapshot, scraped or imported."""
        return sorted(
            day
            for (day,) in self.db.execute(
                "SELECT DISTINCT substr(taken_at, 1, 10) FROM snapshots WHERE source_id = ? "
                "AND status IN ('ok', 'unchanged') "
                "UNION SELECT DISTINCT substr(first_at, 1, 10) FROM segments "
                "WHERE source_id = ? UNION SELECT DISTINCT substr(last_at, 1, 10) FROM segments "
                "WHERE source_id = ?",
                (source_id, source_id, source_id),
            )
        )

    def add_location_spans(self, source_id: str, spans: dict[str, tuple[str, str]]) -> None:
        """Locations seen in imported rows: first and last time, no metadata."""
        self.db.executemany(
            "INSERT INTO locations (source_id, location_id, name, services, first_seen, "
            "last_seen, present, slots_hash) VALUES (?, ?, NULL, '[]', ?, ?, 0, NULL) "
            f"ON CONFLICT (source_id, location_id) DO UPDATE SET {EARLIER_FIRST_SEEN}, "
            f"{LATER_LAST_SEEN}",
            [(source_id, loc, first, last) for loc, (first, last) in spans.items()],
        )

    # -- metadata.json ---------------------------------------------------------------------
    def source_metadata(self) -> dict[str, tuple[str | None, str | None, str | None]]:
        """{source id: (name, scraper, url)} as published in metadata.json."""
        return {
            sid: (name, scraper, url)
            for sid, name, scraper, url in self.db.execute(
                "SELECT id, name, scraper, url FROM sources"
            )
        }

    def location_metadata(
        self, source_id: str, table: str = "location_meta"
    ) -> list[tuple[str, str | None, list[str]]]:
        """``(location, name, services)`` from metadata.json (``location_meta``) or from
        the snapshots (``locations``), in location order."""
        if table == "location_meta":
            row = self.db.execute(
                "SELECT data FROM location_meta WHERE source_id = ?", (source_id,)
            ).fetchone()
            known = unpack_locations(row[0]) if row else {}
            return [(loc, *known[loc]) for loc in sorted(known)]
        if table != "locations":
            raise ValueError(table)
        return [
            (loc, name, json.loads(services))
            for loc, name, services in self.db.execute(
                "SELECT location_id, name, services FROM locations WHERE source_id = ? "
                "ORDER BY location_id",
                (source_id,),
            )
        ]

    def merge_metadata(self, meta: dict[str, dict]) -> None:
        """Merge a metadata.json: known sources keep their fields, names and services add up."""
        with self.db.transaction():
            for source_id, entry in meta.items():
                self.db.execute(
                    "INSERT INTO sources (id, name, scraper, url) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    (source_id, entry.get("name"), entry.get("scraper"), entry.get("url")),
                )
                known = {loc: (n, s) for loc, n, s in self.location_metadata(source_id)}
                merged = dict(known)
                for loc_id, loc in entry.get("locations", {}).items():
                    name, services = loc.get("name"), set(loc.get("services", []))
                    if loc_id in known:
                        old_name, old_services = known[loc_id]
                        name = old_name if old_name is not None else name
                        services |= set(old_services)
                    merged[loc_id] = (name, sorted(services))
                if merged != known:
                    self.db.execute(
                        "INSERT INTO location_meta (source_id, data) VALUES (?, ?) "
                        "ON CONFLICT (source_id) DO UPDATE SET data = excluded.data",
                        (source_id, pack_locations(merged)),
                    )


def pack_locations(locations: dict[str, tuple[str | None, list[str]]]) -> bytes:
    """A source's metadata.json locations as one compressed blob: service names repeat
    across locations, so 2.3 MB of published JSON become about 0.2 MB."""
    plain = {loc: [name, list(services)] for loc, (name, services) in locations.items()}
    text = json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode(), 9)


def unpack_locations(blob: bytes) -> dict[str, tuple[str | None, list[str]]]:
    return {loc: (name, services) for loc, (name, services) in
            json.loads(zlib.decompress(bytes(blob))).items()}  # fmt: skip


def pack_location_meta(db: Any, text: str = "TEXT", blob: str = "BLOB") -> None:
    """Migration step: one ``location_meta`` row per location -> one packed row per source."""
    db.execute(
        f"CREATE TABLE location_meta_packed (source_id {text} PRIMARY KEY, data {blob} NOT NULL)"
    )
    rows = db.execute(
        "SELECT source_id, location_id, name, services FROM location_meta "
        "ORDER BY source_id, location_id"
    ).fetchall()
    by_source: dict[str, dict] = {}
    for sid, loc, name, services in rows:
        by_source.setdefault(sid, {})[loc] = (name, json.loads(services))
    db.executemany(
        "INSERT INTO location_meta_packed (source_id, data) VALUES (?, ?)",
        [(sid, pack_locations(locs)) for sid, locs in by_source.items()],
    )
    db.execute("DROP TABLE location_meta")
    db.execute("ALTER TABLE location_meta_packed RENAME TO location_meta")
