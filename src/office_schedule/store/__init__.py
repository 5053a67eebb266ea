"""The snapshot store: one interface (``Store``), SQLite by default, PostgreSQL to share."""

from .base import DEFAULT_DB, Store, open_store, resolve_db
from .sql import SnapshotRecord
from .sqlite import SQLiteStore

__all__ = ["DEFAULT_DB", "SQLiteStore", "SnapshotRecord", "Store", "open_store", "resolve_db"]
