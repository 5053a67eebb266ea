"""Importing the members of one week archive in worker processes, over all cores.

Each worker reads the archive forward on its own (inflating is cheap, parsing is not) and
takes the next member no other worker has claimed; it parses it into segments exactly as
the serial import does and hands back what to store. The parent stores those results in
member order, inside its one transaction, so the store, the counts and the first error
reported are the serial import's. Used only where that is sure to hold: a fresh week (no
stored segment of that ISO week to merge with) and a parent with no other threads (a
forked child of a threaded process may inherit a held lock).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import traceback
from datetime import datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path

from ..errors import OfficeScheduleError

#: at most this many workers; one core each
MAX_WORKERS = 2


def workers_for(week: tuple[int, int] | None, has_segments: bool) -> int:
    """How many worker processes to use for an archive (0: import it in this process)."""
    if week is None or has_segments or threading.active_count() > 1:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(MAX_WORKERS, cores or 1)
    return n if n > 1 else 0


class _Recorder:
    """The store as a worker sees it: no stored segment; what is to be stored is recorded."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def segment_blob(self, source_id: str, week: str) -> None:
        return None

    def save_segment_blob(self, *args) -> None:
        self.ops.append(("save_segment_blob", args))

    def add_location_spans(self, *args) -> None:
        self.ops.append(("add_location_spans", args))


def _work(path: str, week, now: datetime, claim, lock, out: Connection) -> None:
    from .archive import csv_members
    from .importer import ImportResult, import_csv

    def take() -> int:
        with lock:
            claim.value += 1
            return claim.value - 1

    mine, index, inside = take(), -1, False
    try:
        for index, (name, stream) in enumerate(csv_members(Path(path))):
            if index < mine:
                continue
            recorder, result = _Recorder(), ImportResult(path)
            inside = True
            import_csv(recorder, stream, f"{path}:{name}", result, week, now)  # type: ignore[arg-type]
            inside = False
            out.send(("member", index, recorder.ops, result))
            mine = take()
        out.send(("end", index + 1))
    except OfficeScheduleError as exc:  # reading member index, or the archive after it
        out.send(("error", index if inside else index + 1, exc))
    except BaseException:  # a bug: the parent says so, naming the file
        out.send(("crash", index if inside else index + 1, traceback.format_exc()))
    finally:
        out.close()


def import_archive(store, path: Path, week, now: datetime, result, workers: int) -> None:
    """Import the members of ``path`` with ``workers`` processes into ``store`` (the caller
    holds the transaction), adding to ``result`` as the serial import would."""
    ctx = mp.get_context("fork")
    claim, lock = ctx.Value("i", 0, lock=False), ctx.Lock()
    conns, procs = [], []
    try:
        for _ in range(workers):
            here, there = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_work, args=(str(path), week, now, claim, lock, there))
            proc.daemon = True
            proc.start()
            there.close()
            conns.append(here)
            procs.append(proc)
        done: dict[int, tuple] = {}
        total = None
        applied = 0
        while total is None or applied < total:
            while applied in done:
                kind, *rest = done.pop(applied)
                if kind == "error":
                    raise rest[0]
                if kind == "crash":
                    raise RuntimeError(f"{path}: import worker failed:\n{rest[0]}")
                ops, part = rest
                for method, args in ops:
                    getattr(store, method)(*args)
                result.snapshots += part.snapshots
                result.skipped += part.skipped
                result.rows += part.rows
                result.sources += part.sources
                applied += 1
            if total is not None and applied >= total:
                break
            if not conns:
                raise RuntimeError(f"{path}: import workers stopped early")
            for conn in wait(conns):
                try:
                    msg = conn.recv()
                except EOFError:
                    conns.remove(conn)
                    continue
                if msg[0] == "end":
                    total = msg[1] if total is None else min(total, msg[1])
                else:
                    done.setdefault(msg[1], (msg[0], *msg[2:]))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()
        for conn in conns:
            conn.close()
