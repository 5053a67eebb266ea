"""The SQLite store: one file, the embedded default.

Every snapshot is written in one ``BEGIN IMMEDIATE`` transaction in WAL mode with
``synchronous=FULL``: a crash, kill or Ctrl-C leaves the file consistent and keeps every
committed snapshot. One writer at a time holds the file (``acquire_lock``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import StoreError
from .db import SQLiteDB, StoreWriteError
from .schema import check_version, migrate, sqlite_version
from .sql import TIME_FORMAT, SQLStore


def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return f"pid {text.strip() or '?'}"  # an older office-schedule wrote the pid only


class _Probed(Exception):
    """Rolls the write probe back."""


class StoreLockedError(StoreError):
    """Another office-schedule process holds the store's lock."""


def _connect_readonly(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.resolve()))
    try:
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=30)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL store on a read-only filesystem: even mode=ro must create the -shm file
        # beside it, which fails. immutable=1 reads the main file as it lies, without locks
        # or WAL; nothing can write such a file anyway (a WAL left on it is not seen).
        conn = sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn


class SQLiteStore(SQLStore):
    """The embedded default store."""

    def __init__(self, path: str | os.PathLike, create: bool = True, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._lock_file: Any = None
        self._init_reading()
        if self.path.is_dir():
            raise StoreError(f"store path {self.path} is a directory, expected a database file")
        if not self.path.exists():
            if not create or readonly:
                raise StoreError(
                    f"no store at {self.path} (run 'office-schedule snapshot' first, "
                    "or pass --db / set OFFICE_SCHEDULE_DB)"
                )
            if not self.path.parent.exists():
                raise StoreError(
                    f"cannot create store {self.path}: directory {self.path.parent} does not exist"
                )
        try:
            if readonly:
                self.conn = _connect_readonly(self.path)
                self.db = SQLiteDB(self.conn, str(self.path))
                self.conn.execute("PRAGMA query_only=ON")
                check_version(sqlite_version(self.conn), self.path, readonly=True)
                return
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db = SQLiteDB(self.conn, str(self.path))
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            migrate(self.db)
            # SQLite opens a read-only file without a word: find out before a sweep
            # scrapes in vain (the rolled-back write changes nothing)
            with self.db.transaction():
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                self.conn.execute(f"PRAGMA user_version = {int(version)}")
                raise _Probed
        except _Probed:
            pass
        except StoreWriteError as exc:
            raise StoreError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None

    # -- lifecycle -------------------------------------------------------------------------

    def acquire_lock(self, shared: bool = False) -> None:
        """Exclusive advisory lock so two sweeps or runs never write the same file.

        The lock file sits beside the real file (symlinks resolved), so two paths to one
        store share it; it names its holder (pid, host, since) for the refused process.
        A file has one recorder (``shared`` changes nothing): host leases left by a killed
        one are cleared.
        """
        real = self.path.resolve()
        lock_path = real.with_name(real.name + ".lock")
        try:
            handle = open(lock_path, "a+")
        except OSError as exc:
            raise StoreError(f"cannot lock store {real}: {exc.strerror} ({lock_path})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe_holder(handle.read())
            handle.close()
            raise StoreLockedError(
                f"store {real} is locked by another office-schedule process ({holder})"
            ) from None
        handle.seek(0)
        handle.truncate()
        since = datetime.now().strftime(TIME_FORMAT)
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))
        handle.flush()
        self._lock_file = handle
        if not self.readonly:
            self.clear_leases()

    def release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
