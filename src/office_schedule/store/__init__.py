"""The snapshot store: SQLite by default (one file, WAL, one transaction per snapshot)."""

from .sqlite import DEFAULT_DB, SnapshotRecord, SQLiteStore, open_store, resolve_db_path

__all__ = ["DEFAULT_DB", "SQLiteStore", "SnapshotRecord", "open_store", "resolve_db_path"]
