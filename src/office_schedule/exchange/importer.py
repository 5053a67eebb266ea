"""Import published weeks (``YEAR-WW.tar.gz`` or a folder of CSVs) and ``metadata.json``.

Imported snapshots behave like scraped ones (status, show, export, analysis); they are kept
as one compact segment per source and week (``store.segments``), without raw payloads.
Importing is idempotent: a snapshot of a source at a time already imported is skipped.
Each file is one transaction, so a corrupt or truncated archive leaves the store as it was.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OfficeScheduleError
from ..store import SQLiteStore, segments
from ..store.schema import transaction
from . import metadata as metadata_json
from .weekfile import WeekTable, read_week_csv

MAX_MEMBER_BYTES = 1 << 30


class ImportError_(OfficeScheduleError):
    """A file that cannot be imported; nothing of it was stored."""


@dataclass
class ImportResult:
    path: str
    sources: int = 0
    snapshots: int = 0
    skipped: int = 0
    rows: int = 0


def import_paths(store: SQLiteStore, paths: list[str | Path]) -> list[ImportResult]:
    return [import_path(store, Path(p)) for p in paths]


def import_path(store: SQLiteStore, path: Path) -> ImportResult:
    """Import one week archive, folder of week CSVs, or metadata.json."""
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files and not (path / "metadata.json").exists():
            raise ImportError_(f"{path}: no week CSV files and no metadata.json")
        result = ImportResult(str(path))
        with transaction(store.conn):
            for file in files:
                _import_table(store, file.read_bytes(), str(file), result)
            if (path / "metadata.json").exists():
                import_metadata(store, path / "metadata.json", in_transaction=True)
        return result
    if path.name.endswith(".json"):
        import_metadata(store, path)
        return ImportResult(str(path))
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        result = ImportResult(str(path))
        with transaction(store.conn):
            for name, data in _members(path):
                _import_table(store, data, f"{path}:{name}", result)
        return result
    raise ImportError_(f"{path}: not a .tar.gz week file, a folder of CSVs or metadata.json")


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """CSV members of a week archive, checked for unsafe names, read one at a time."""
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                name = member.name
                if not member.isfile():
                    if member.isdir():
                        continue
                    raise ImportError_(f"{path}: member {name!r} is not a regular file")
                if "/" in name.strip("./") or ".." in name or name.startswith("/"):
                    raise ImportError_(f"{path}: unsafe member name {name!r}")
                if not name.endswith(".csv"):
                    raise ImportError_(f"{path}: unexpected member {name!r} (only SOURCE.csv)")
                if member.size > MAX_MEMBER_BYTES:
                    raise ImportError_(f"{path}: member {name!r} is too large")
                handle = archive.extractfile(member)
                assert handle is not None
                yield name, handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ImportError_(f"{path}: corrupt or truncated archive ({exc})") from None


def _column_minutes(table: WeekTable) -> np.ndarray:
    stamps = np.array([s.replace(" ", "T") for s in table.slots], dtype="datetime64[m]")
    return stamps.astype(np.int64).astype("<u4")


def _import_table(store: SQLiteStore, data: bytes, name: str, result: ImportResult) -> None:
    table = read_week_csv(data, name)
    if not table.rows:
        return
    source_id = table.source_id
    expected = Path(name.rsplit(":", 1)[-1]).name.removesuffix(".csv")
    if source_id != expected:
        raise ImportError_(f"{name}: rows name source {source_id!r}, file is {expected!r}")
    minutes = _column_minutes(table)
    by_date: dict[str, dict[str, np.ndarray]] = {}
    for row in table.rows:
        state = by_date.setdefault(row.date, {})
        if row.location_id in state:
            raise ImportError_(f"{name}: location {row.location_id} twice at {row.date}")
        state[row.location_id] = minutes[row.free]
    by_week: dict[str, list[str]] = {}
    for date in sorted(by_date):
        by_week.setdefault(segments.iso_week(date), []).append(date)
    for week, dates in by_week.items():
        existing = segments.load(store.conn, source_id, week)
        known = {taken_at for taken_at, _, _ in existing}
        new = [d for d in dates if d not in known]
        result.skipped += len(dates) - len(new)
        if not new:
            continue
        merged = sorted(
            [(t, state) for t, _, state in existing] + [(d, by_date[d]) for d in new],
            key=lambda item: item[0],
        )
        segments.save(store.conn, source_id, week, segments.with_statuses(merged))
        result.snapshots += len(new)
        result.rows += sum(len(by_date[d]) for d in new)
        seen: dict[str, list[str]] = {}
        for d in new:
            for loc in by_date[d]:
                span = seen.setdefault(loc, [d, d])
                span[1] = d
        store.conn.executemany(
            "INSERT INTO locations (source_id, location_id, name, services, first_seen, "
            "last_seen, present, slots_hash) VALUES (?, ?, NULL, '[]', ?, ?, 0, NULL) "
            "ON CONFLICT (source_id, location_id) DO UPDATE SET "
            "first_seen = min(first_seen, excluded.first_seen), "
            "last_seen = max(last_seen, excluded.last_seen)",
            [(source_id, loc, first, last) for loc, (first, last) in seen.items()],
        )
    if result.snapshots:
        result.sources += 1


def import_metadata(store: SQLiteStore, path: Path, in_transaction: bool = False) -> int:
    """Merge a metadata.json into the store's source and location metadata."""
    meta = metadata_json.load(path)

    def write() -> None:
        for source_id, entry in meta.items():
            store.conn.execute(
                "INSERT OR IGNORE INTO sources (id, name, scraper, url) VALUES (?, ?, ?, ?)",
                (source_id, entry.get("name"), entry.get("scraper"), entry.get("url")),
            )
            for loc_id, loc in entry.get("locations", {}).items():
                row = store.conn.execute(
                    "SELECT name, services FROM location_meta WHERE source_id = ? "
                    "AND location_id = ?",
                    (source_id, loc_id),
                ).fetchone()
                name, services = loc.get("name"), set(loc.get("services", []))
                if row is not None:
                    name = row[0] if row[0] is not None else name
                    services |= set(json.loads(row[1]))
                store.conn.execute(
                    "INSERT OR REPLACE INTO location_meta (source_id, location_id, name, services) "
                    "VALUES (?, ?, ?, ?)",
                    (source_id, loc_id, name, json.dumps(sorted(services))),
                )

    if in_transaction:
        write()
    else:
        with transaction(store.conn):
            write()
    return len(meta)
