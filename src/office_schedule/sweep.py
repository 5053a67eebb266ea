"""Sweeps: scrape sources concurrently within the per-host limits and store each snapshot.

``run_sweep`` takes every selected source once; ``run_forever`` keeps each source on its
own interval, spreading the sources of an interval evenly instead of bursting at its start.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import Source
from .clock import local_from_ts, local_now
from .errors import DisallowedError, ParseError, ScrapeError
from .families import SilentZeroError, check_empty, get_family
from .fetch import Fetcher
from .store import SQLiteStore

log = logging.getLogger(__name__)

DEFAULT_WEEKS = 4
#: a source taking longer than this is abandoned and stored as an error
SOURCE_TIMEOUT = 600.0


@dataclass
class SweepResult:
    source_id: str
    status: str
    locations: int = 0
    slots: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    error_url: str | None = None


async def snapshot_source(
    source: Source,
    fetcher: Fetcher,
    store: SQLiteStore,
    weeks: int = DEFAULT_WEEKS,
    timeout: float = SOURCE_TIMEOUT,
) -> SweepResult:
    """Scrape, parse and store one source; every failure becomes a stored error."""
    family = get_family(source.family)
    session = fetcher.session(
        verify=source.verify_tls, obey_robots=source.robots != "allowed-by-operator"
    )
    started = time.monotonic()
    raw: Any = None
    parsed = None
    error: tuple[str, str, str | None] | None = None
    try:
        if family.scrape is None:
            raise ScrapeError(f"{source.family} is not read: {family.refusal}")
        raw = await asyncio.wait_for(
            family.scrape(source, session, weeks, local_now()), timeout=timeout
        )
        parsed = check_empty(family.parse(raw), source.family)
    except DisallowedError as exc:
        raw, error = None, ("Disallowed", f"{exc} ({exc.url})", exc.url)
    except ScrapeError as exc:
        error = (type(exc).__name__, str(exc), exc.url or session.last_url)
    except SilentZeroError as exc:
        parsed = None
        error = ("SilentZero", str(exc), exc.url)
    except ParseError as exc:
        error = ("ParseError", str(exc), None)
    except TimeoutError:
        error = ("Timeout", f"source took longer than {timeout:g} s", session.last_url)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a family bug must not stop the sweep
        log.debug("unexpected error in %s:\n%s", source.id, traceback.format_exc())
        error = (type(exc).__name__, str(exc) or repr(exc), session.last_url)
    duration = time.monotonic() - started
    taken_ts = time.time()
    record = store.save_snapshot(
        source.id,
        local_from_ts(taken_ts),
        taken_ts,
        duration=round(duration, 3),
        requests=session.requests,
        weeks=weeks,
        raw=raw,
        parsed=parsed,
        error=error,
    )
    return SweepResult(
        source_id=source.id,
        status=record.status,
        locations=record.n_locations or 0,
        slots=record.n_slots or 0,
        requests=session.requests,
        seconds=duration,
        error=f"{error[0]}: {error[1]}" if error else None,
        error_url=error[2] if error else None,
    )


def _host_gates(sources: Sequence[Source], fetcher: Fetcher) -> dict[str, asyncio.Semaphore]:
    # One source more per host than request lanes keeps every lane busy while a source
    # parses between two requests, without starting dozens of half-done scrapes per host.
    return {
        s.host: asyncio.Semaphore(fetcher.politeness_for(s.host).per_host_concurrency + 1)
        for s in sources
    }


async def run_sweep(
    sources: Sequence[Source],
    store: SQLiteStore,
    fetcher: Fetcher,
    weeks: int = DEFAULT_WEEKS,
    on_result: Callable[[SweepResult], None] | None = None,
    timeout: float = SOURCE_TIMEOUT,
) -> list[SweepResult]:
    """Snapshot every source once, concurrently; results in completion order."""
    gates = _host_gates(sources, fetcher)
    results: list[SweepResult] = []

    async def one(source: Source) -> None:
        async with gates[source.host]:
            result = await snapshot_source(source, fetcher, store, weeks, timeout)
        results.append(result)
        if on_result:
            on_result(result)

    await asyncio.gather(*(one(s) for s in _interleave_by_host(sources)))
    return results


def _interleave_by_host(sources: Sequence[Source]) -> list[Source]:
    """Order sources round-robin over hosts so every host starts working at once."""
    by_host: dict[str, list[Source]] = {}
    for s in sources:
        by_host.setdefault(s.host, []).append(s)
    queues = list(by_host.values())
    out: list[Source] = []
    while queues:
        for q in list(queues):
            out.append(q.pop(0))
            if not q:
                queues.remove(q)
    return out


def spread_offset(source_id: str, interval: float) -> float:
    """A stable offset inside the interval, so sources of one interval do not burst together."""
    return (zlib.crc32(source_id.encode()) % 10_000) / 10_000 * interval


async def run_forever(
    sources: Sequence[Source],
    store: SQLiteStore,
    fetcher: Fetcher,
    stop: asyncio.Event,
    weeks: int = DEFAULT_WEEKS,
    on_result: Callable[[SweepResult], None] | None = None,
    timeout: float = SOURCE_TIMEOUT,
) -> int:
    """Snapshot each source every ``interval_minutes`` until ``stop`` is set.

    Returns the number of snapshots stored. Snapshots in flight when ``stop`` is set are
    finished and stored before returning (a scrape is bounded by ``timeout``).
    """
    gates = _host_gates(sources, fetcher)
    start = time.monotonic()
    due = {s.id: start + spread_offset(s.id, s.interval_minutes * 60) for s in sources}
    by_id = {s.id: s for s in sources}
    running: dict[str, asyncio.Task] = {}
    stored = 0

    async def one(source: Source) -> None:
        nonlocal stored
        async with gates[source.host]:
            result = await snapshot_source(source, fetcher, store, weeks, timeout)
        stored += 1
        if on_result:
            on_result(result)

    while not stop.is_set():
        now = time.monotonic()
        for source_id, when in sorted(due.items(), key=lambda kv: kv[1]):
            if when > now:
                break
            source = by_id[source_id]
            interval = source.interval_minutes * 60
            # skip missed turns instead of catching up in a burst
            due[source_id] = when + interval * max(1, int((now - when) // interval) + 1)
            if source_id in running and not running[source_id].done():
                log.warning("%s: previous snapshot still running, skipping this turn", source_id)
                continue
            running[source_id] = asyncio.create_task(one(source))
        for source_id in [k for k, t in running.items() if t.done()]:
            running.pop(source_id).result()
        next_due = min(due.values()) if due else now + 60
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.05, next_due - time.monotonic()))
        except TimeoutError:
            pass
    if running:
        await asyncio.gather(*running.values(), return_exceptions=True)
    return stored
