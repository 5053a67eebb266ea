"""One connection interface over SQLite and PostgreSQL, so the store's SQL is written once.

Statements use ``?`` placeholders and the SQL both engines share (``ON CONFLICT``,
``RETURNING``, window functions, ``FILTER``); :class:`PostgresDB` turns the placeholders
into psycopg's. What differs (opening, schema, locking, clocks) stays in the backends.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

from ..errors import StoreError


class StoreWriteError(StoreError):
    """A write to the store failed (disk full, read-only file, locked, server gone)."""

    exit_code = 1


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """What the store needs of a connection; ``where`` names it in messages."""

    dialect: str
    where: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def insert_id(self, sql: str, params: Sequence[Any]) -> int: ...
    def transaction(self) -> Any: ...
    def now(self) -> float: ...
    def close(self) -> None: ...


_SQLITE_HINTS = {
    "disk is full": "free some disk space",
    "readonly": "the file or its folder is read-only",
    "locked": "another process holds the database",
}


def _hinted(where: str, text: str, hints: dict[str, str]) -> StoreWriteError:
    hint = next((h for key, h in hints.items() if key in text), "")
    return StoreWriteError(
        f"cannot write to store {where}: {text}" + (f" ({hint})" if hint else "")
    )


def _sqlite_failure(exc: BaseException) -> bool:
    # OperationalError: full, read-only, locked, I/O; a bare DatabaseError: a damaged file.
    # Integrity and programming errors are bugs and keep their traceback.
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


class SQLiteDB:
    """An autocommit ``sqlite3`` connection; :meth:`transaction` is ``BEGIN IMMEDIATE``."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, where: str):
        self.conn, self.where = conn, where
        self.depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.conn.execute(sql, params).lastrowid)

    def now(self) -> float:
        return time.time()  # one machine: its clock is the only one

    def write_error(self, exc: BaseException) -> StoreWriteError:
        return _hinted(self.where, str(exc), _SQLITE_HINTS)

    @contextmanager
    def transaction(self) -> Iterator[SQLiteDB]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

        A failing write (disk full, read-only, locked) becomes a :class:`StoreWriteError`
        naming the file; the transaction is rolled back, so nothing committed is touched.
        A transaction opened inside another one joins it.
        """
        if self.depth:
            self.depth += 1
            try:
                yield self
            finally:
                self.depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if _sqlite_failure(exc):
                raise self.write_error(exc) from exc
            raise
        self.depth = 1
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL)
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if _sqlite_failure(exc):
                raise self.write_error(exc) from exc
            raise
        finally:
            self.depth = 0

    def close(self) -> None:
        self.conn.close()


@lru_cache(maxsize=1)
def _pg_failures() -> tuple[type[BaseException], ...]:
    """Runtime failures of the server (gone, full, read-only, no rights), not our bugs."""
    import psycopg
    from psycopg import errors

    return (psycopg.OperationalError, errors.ReadOnlySqlTransaction, errors.DiskFull,
            errors.InsufficientPrivilege)  # fmt: skip


@lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """``?`` placeholders -> ``%s`` (the store's SQL has no ``?`` inside literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDB:
    """psycopg 3 over a connection pool: one connection per thread, autocommit outside
    :meth:`transaction` (which nests as savepoints)."""

    dialect = "postgresql"

    def __init__(self, pool: Any, where: str, readonly: bool = False):
        self.pool, self.where, self.readonly = pool, where, readonly
        self._local = threading.local()
        self._held: list[Any] = []
        self._lock = threading.Lock()

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = self.pool.getconn()
            except Exception as exc:  # PoolTimeout, OperationalError
                raise StoreError(f"cannot reach store {self.where}: {exc}") from None
            conn.autocommit = True
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            self._local.conn = conn
            with self._lock:
                self._held.append(conn)
        return conn

    def _run(self, call, *args):
        try:
            return call(*args)
        except _pg_failures() as exc:
            raise self.write_error(exc) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._run(self.conn.execute, to_psycopg(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            with self.conn.cursor() as cur:
                self._run(cur.executemany, to_psycopg(sql), rows)

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.execute(sql + " RETURNING id", params).fetchone()[0])

    def now(self) -> float:
        # every recorder compares lease times against the server's one clock
        return float(
            self.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0]
        )

    def write_error(self, exc: BaseException) -> StoreWriteError:
        return StoreWriteError(f"cannot write to store {self.where}: {str(exc).strip()}")

    @contextmanager
    def transaction(self) -> Iterator[PostgresDB]:
        try:
            with self.conn.transaction():
                yield self
        except _pg_failures() as exc:
            raise self.write_error(exc) from exc

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            if not conn.closed:
                self.pool.putconn(conn)
        self._local = threading.local()
        self.pool.close()
