"""Import published weeks (``YEAR-WW.tar.gz`` or a folder of CSVs) and ``metadata.json``.

Imported snapshots behave like scraped ones (status, show, export, analysis); they carry
``origin = 'import'`` and no raw payload. Importing is idempotent: a snapshot of a source
at a time already imported is skipped. Each file is one transaction, so a corrupt or
truncated archive leaves the store as it was.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..clock import OFFICE_TZ
from ..errors import OfficeScheduleError
from ..store import SQLiteStore
from ..store.codec import decode_minutes, encode_minutes, minutes_digest
from ..store.schema import transaction
from ..store.sqlite import STATE_SQL
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


def _local_ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=OFFICE_TZ).timestamp()


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
    dates = sorted(by_date)
    known = {
        r[0]
        for r in store.conn.execute(
            "SELECT taken_at FROM snapshots WHERE source_id = ? AND origin = 'import' "
            "AND taken_at BETWEEN ? AND ?",
            (source_id, dates[0], dates[-1]),
        )
    }
    conn = store.conn
    first_new = next((d for d in dates if d not in known), None)
    if first_new is None:
        result.skipped += len(dates)
        return
    before = _digests_before(store, source_id, _local_ts(first_new))
    later = _next_snapshot(store, source_id, dates[-1])
    later_state = _state_rows(store, source_id, later) if later else None
    # previous state: location -> free minutes as bytes (within the file), or the stored
    # digest for the state just before the file's first new snapshot
    previous: dict[str, bytes | str] = dict(before)
    slot_rows: list[tuple] = []
    seen: dict[str, list[str]] = {}
    stored_any = False
    for date in dates:
        state = by_date[date]
        keys = {loc: m.tobytes() for loc, m in state.items()}
        if date in known:
            result.skipped += 1
            previous = dict(keys)
            continue
        changed = [loc for loc in state if not _same(previous.get(loc), state[loc], keys[loc])]
        gone = [loc for loc in previous if loc not in state]
        status = "unchanged" if stored_any and not changed and not gone else "ok"
        cur = conn.execute(
            "INSERT INTO snapshots (source_id, taken_at, taken_ts, status, n_locations, n_slots, "
            "origin) VALUES (?, ?, ?, ?, ?, ?, 'import')",
            (source_id, date, _local_ts(date), status, len(state), sum(map(len, state.values()))),
        )
        snap_id = int(cur.lastrowid)
        slot_rows.extend(
            (source_id, loc, snap_id, 1, encode_minutes(state[loc])) for loc in changed
        )
        slot_rows.extend((source_id, loc, snap_id, 0, None) for loc in gone)
        for loc in state:
            span = seen.setdefault(loc, [date, date])
            span[1] = date
        previous = dict(keys)
        stored_any = True
        result.snapshots += 1
        result.rows += len(state)
    conn.executemany(
        "INSERT INTO slot_sets (source_id, location_id, snapshot_id, present, slots) "
        "VALUES (?, ?, ?, ?, ?)",
        slot_rows,
    )
    conn.executemany(
        "INSERT INTO locations (source_id, location_id, name, services, first_seen, last_seen, "
        "present, slots_hash) VALUES (?, ?, NULL, '[]', ?, ?, 0, NULL) "
        "ON CONFLICT (source_id, location_id) DO UPDATE SET "
        "first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = max(last_seen, excluded.last_seen)",
        [(source_id, loc, first, last) for loc, (first, last) in seen.items()],
    )
    result.sources += 1
    if later is not None:
        _keep_later_state(store, source_id, later, later_state)
    _refresh_location_cache(store, source_id)


def _same(previous: bytes | str | None, minutes: np.ndarray, key: bytes) -> bool:
    if previous is None:
        return False
    if isinstance(previous, str):
        return previous == minutes_digest(minutes)
    return previous == key


def _digests_before(store: SQLiteStore, source_id: str, ts: float) -> dict[str, str]:
    """Slot digests of the present locations just before ``ts`` (time order)."""
    rows = store.conn.execute(STATE_SQL, (source_id, ts, -1.0, -1))
    # the STATE_SQL tie-break is (ts equal and id <= x): -1 keeps only strictly earlier rows
    out = {}
    for loc_id, present, blob, _name, _services in rows:
        if present:
            out[loc_id] = minutes_digest(decode_minutes(blob))
    return out


def _next_snapshot(store: SQLiteStore, source_id: str, after: str) -> tuple[int, float] | None:
    return store.conn.execute(
        "SELECT id, taken_ts FROM snapshots WHERE source_id = ? AND taken_at > ? "
        "AND status != 'error' ORDER BY taken_ts, id LIMIT 1",
        (source_id, after),
    ).fetchone()


def _state_rows(store: SQLiteStore, source_id: str, snap: tuple[int, float]) -> dict:
    rows = store.conn.execute(STATE_SQL, (source_id, snap[1], snap[1], snap[0]))
    return {loc: (present, blob) for loc, present, blob, _n, _s in rows}


def _keep_later_state(store: SQLiteStore, source_id: str, snap, before: dict) -> None:
    """Rows inserted before ``snap`` in time must not change the state seen at ``snap``."""
    after = _state_rows(store, source_id, snap)
    for loc_id in set(before) | set(after):
        if after.get(loc_id) != before.get(loc_id):
            present, blob = before.get(loc_id, (0, None))
            store.conn.execute(
                "INSERT OR IGNORE INTO slot_sets (source_id, location_id, snapshot_id, present, "
                "slots) VALUES (?, ?, ?, ?, ?)",
                (source_id, loc_id, snap[0], present, blob),
            )


def _refresh_location_cache(store: SQLiteStore, source_id: str) -> None:
    """Make ``locations.present/slots_hash`` describe the latest state in time again."""
    latest = store.conn.execute(
        "SELECT id, taken_ts FROM snapshots WHERE source_id = ? AND status != 'error' "
        "ORDER BY taken_ts DESC, id DESC LIMIT 1",
        (source_id,),
    ).fetchone()
    if latest is None:
        return
    current = _digests_before(store, source_id, latest[1] + 1e-6)
    store.conn.execute(
        "UPDATE locations SET present = 0, slots_hash = NULL WHERE source_id = ?", (source_id,)
    )
    for loc_id, digest in current.items():
        store.conn.execute(
            "UPDATE locations SET present = 1, slots_hash = ? WHERE source_id = ? "
            "AND location_id = ?",
            (digest, source_id, loc_id),
        )


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
