"""Store reader threads and the in-process cache of computed views.

Each reader thread holds its own read-only store (a SQLite connection belongs to the thread
that opened it; a store's decoded-segment cache is not shared between threads either).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from ..errors import StoreError
from ..store import Store, open_store

log = logging.getLogger(__name__)


class Memo:
    """Computed results, one per family (a view and its parameters) in its newest version.

    The version says what a result was computed from (a source's newest snapshot time and
    snapshot count, say): a new snapshot makes a new version, and storing it drops the old
    one, so a live store does not pile up stale weeks. One computation per key at a time.
    """

    def __init__(self, size: int = 512):
        self.size = size
        self._data: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[tuple, threading.Lock] = {}
        self.hits = self.misses = 0

    def _hit(self, family: Hashable, version: Hashable) -> tuple[bool, Any]:
        entry = self._data.get(family)
        if entry is not None and entry[0] == version:
            self._data.move_to_end(family)
            self.hits += 1
            return True, entry[1]
        return False, None

    def get(self, family: Hashable, version: Hashable, compute: Callable[[], Any]) -> Any:
        key = (family, version)
        with self._lock:
            found, value = self._hit(family, version)
            if found:
                return value
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # a second request for the same key waits for the first one's result
            with self._lock:
                found, value = self._hit(family, version)
                if found:
                    return value
            try:
                value = compute()
            finally:
                with self._lock:
                    self._busy.pop(key, None)
            with self._lock:
                self.misses += 1
                self._data[family] = (version, value)
                self._data.move_to_end(family)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class StoreWorkers:
    """A fixed set of threads, each with its own read-only store, running jobs ``fn(store)``."""

    def __init__(self, db: str, threads: int = 4):
        self.db = db
        self.threads = max(1, threads)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._started: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            while len(self._started) < self.threads:
                thread = threading.Thread(
                    target=self._work, name=f"serve-store-{len(self._started)}", daemon=True
                )
                thread.start()
                self._started.append(thread)

    def _work(self) -> None:
        store: Store | None = None
        try:
            while (job := self._jobs.get()) is not None:
                fn, fut = job
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    if store is None:
                        store = open_store(self.db, create=False, readonly=True)
                    fut.set_result(fn(store))
                except StoreError as exc:
                    # the server went away, the file was replaced: open afresh next time
                    if store is not None:
                        _close_quietly(store)
                        store = None
                    fut.set_exception(exc)
                except BaseException as exc:
                    fut.set_exception(exc)
        finally:
            if store is not None:
                _close_quietly(store)

    def submit(self, fn: Callable[[Store], Any]) -> Future:
        if len(self._started) < self.threads:
            self._start()
        fut: Future = Future()
        self._jobs.put((fn, fut))
        return fut

    def call(self, fn: Callable[[Store], Any]) -> Any:
        """Run ``fn(store)`` on a reader thread and wait for it (from a plain thread)."""
        return self.submit(fn).result()

    async def run(self, fn: Callable[[Store], Any]) -> Any:
        """Run ``fn(store)`` on a reader thread without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn))

    def close(self) -> None:
        with self._start_lock:
            threads, self._started = self._started, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout=10)


def _close_quietly(store: Store) -> None:
    try:
        store.close()
    except Exception as exc:  # closing a broken connection: nothing more to do
        log.debug("closing %s: %s", store.path, exc)
