"""Sweeps: scrape sources concurrently within the per-host limits and store each snapshot.

``run_sweep`` takes every selected source once; ``run_forever`` keeps each source on its
own interval, spreading the sources of an interval evenly instead of bursting at its start.
A snapshot whose store write fails is "unstored": a sweep stops starting new scrapes, a
run keeps it in memory (the newest per source) and retries the write with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import Source
from .clock import local_from_ts, local_now
from .errors import BlockedError, DisallowedError, ParseError, ScrapeError, StoreError
from .families import SilentZeroError, check_empty, get_family
from .fetch import Fetcher
from .leasing import HostLeases
from .store import Store, plausible
from .store.db import StoreWriteError
from .store.prune import STATUSES

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
    #: why the snapshot could not be written (status "unstored")
    store_error: str | None = None
    #: the arguments of ``save_snapshot`` while unstored, to retry the write
    pending: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def taken_ts(self) -> float | None:
        return self.pending["taken_ts"] if self.pending else None


#: a result that could not be stored (kept to retry), one the store refused for good, one a
#: stopped sweep never started, and one left to the recorder that holds its host's lease
UNSTORED, REJECTED, SKIPPED, LEASED = "unstored", "rejected", "skipped", "leased"


async def _take(family, source: Source, session, weeks: int, timeout: float):
    """Scrape and parse one snapshot: (raw, parsed), raising what went wrong."""
    if family.scrape is None:
        raise ScrapeError(f"{source.family} is not read: {family.refusal}")
    raw = await asyncio.wait_for(
        family.scrape(source, session, weeks, local_now()), timeout=timeout
    )
    try:
        parsed = check_empty(family.parse(raw), source.family)
        plausible.check_parsed(parsed, local_now(), session.last_url or source.index_url)
    except Exception as exc:
        exc.raw = raw  # type: ignore[attr-defined]  # stored beside the error
        raise
    return raw, parsed


async def _take_checked(family, source: Source, fetcher: Fetcher, weeks: int, timeout: float):
    """``_take`` with the change check of reused pages: a snapshot that answered a page from
    the kept copies and then failed drops them and is taken once more with fresh pages.

    Returns (session, raw, parsed); on failure the exception carries the session used.
    """
    session = _session(source, fetcher)
    started = time.monotonic()
    try:
        return (session, *await _take(family, source, session, weeks, timeout))
    except BaseException as exc:
        exc.session = session  # type: ignore[attr-defined]
        if not session.reused or not _may_be_stale(exc):
            raise
        dropped = fetcher.daily.drop(source.id)
        why = f"{type(exc).__name__}: {exc}"
        log.info("%s: failed with %d kept pages (%s); taken again afresh", source.id, dropped, why)
    spent = session.requests
    session = _session(source, fetcher)
    session.requests = spent  # both attempts count
    left = max(1.0, timeout - (time.monotonic() - started))  # both share the source's time
    try:
        return (session, *await _take(family, source, session, weeks, left))
    except BaseException as exc:
        exc.session = session  # type: ignore[attr-defined]
        raise


#: failures a fresh attempt would not mend (or must not repeat at once)
_FINAL = (BlockedError, DisallowedError, TimeoutError)
#: a server or network failure, not a contradiction of a kept page
_DOWN = re.compile(r"^HTTP 5\d\d\b|\(after \d+ attempts\)")


def _may_be_stale(exc: BaseException) -> bool:
    """Whether a failure may come from a kept page the site has changed since."""
    if not isinstance(exc, Exception) or isinstance(exc, _FINAL):
        return False
    return not (isinstance(exc, ScrapeError) and _DOWN.search(str(exc)))


def _session(source: Source, fetcher: Fetcher):
    return fetcher.session(
        verify=source.verify_tls,
        obey_robots=source.robots != "allowed-by-operator",
        source=source.id,
    )


async def snapshot_source(
    source: Source,
    fetcher: Fetcher,
    store: Store,
    weeks: int = DEFAULT_WEEKS,
    timeout: float = SOURCE_TIMEOUT,
) -> SweepResult:
    """Scrape, parse and store one source; every failure becomes a stored error."""
    family = get_family(source.family)
    session = _session(source, fetcher)
    started = time.monotonic()
    raw: Any = None
    parsed = None
    error: tuple[str, str, str | None] | None = None
    try:
        session, raw, parsed = await _take_checked(family, source, fetcher, weeks, timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        session = getattr(exc, "session", session)
        raw, parsed, error = _failure(exc, session, timeout)
    duration = time.monotonic() - started
    taken_ts = time.time()
    pending = {
        "taken_at": local_from_ts(taken_ts),
        "taken_ts": taken_ts,
        "duration": round(duration, 3),
        "requests": session.requests,
        "weeks": weeks,
        "raw": raw,
        "parsed": parsed,
        "error": error,
    }
    result = SweepResult(
        source_id=source.id,
        status=UNSTORED,
        requests=session.requests,
        seconds=duration,
        error=f"{error[0]}: {error[1]}" if error else None,
        error_url=error[2] if error else None,
    )
    return store_result(store, result, pending)


def _failure(exc: Exception, session, timeout: float) -> tuple[Any, Any, tuple]:
    """(raw, parsed, error) of a failed snapshot; the raw payload is kept where it is sound."""
    raw = getattr(exc, "raw", None)
    if isinstance(exc, DisallowedError):
        return None, None, ("Disallowed", f"{exc} ({exc.url})", exc.url)
    if isinstance(exc, ScrapeError):
        return raw, None, (type(exc).__name__, str(exc), exc.url or session.last_url)
    if isinstance(exc, SilentZeroError):
        return raw, None, ("SilentZero", str(exc), exc.url)
    if isinstance(exc, ParseError):
        return raw, None, ("ParseError", str(exc), None)
    if isinstance(exc, plausible.ImplausibleTime):
        return raw, None, ("ImplausibleTime", str(exc), session.last_url)
    if isinstance(exc, TimeoutError):
        return None, None, ("Timeout", f"source took longer than {timeout:g} s", session.last_url)
    # a family bug must not stop the sweep
    log.debug("unexpected error in %s:\n%s", session.source, traceback.format_exc())
    return raw, None, (type(exc).__name__, str(exc) or repr(exc), session.last_url)


def store_result(store: Store, result: SweepResult, pending: dict[str, Any]) -> SweepResult:
    """Write a scraped snapshot; a failing write leaves it ``unstored`` with its arguments."""
    try:
        record = store.save_snapshot(result.source_id, **pending)
    except StoreWriteError as exc:
        parsed = pending["parsed"]
        result.status, result.store_error, result.pending = UNSTORED, str(exc), pending
        if parsed is not None:
            result.locations, result.slots = len(parsed.locations), parsed.slot_count
        return result
    except StoreError as exc:  # the store refuses this snapshot (e.g. an implausible time)
        result.status, result.store_error, result.pending = REJECTED, str(exc), None
        return result
    result.status, result.store_error, result.pending = record.status, None, None
    result.locations, result.slots = record.n_locations or 0, record.n_slots or 0
    return result


_UNREACHABLE = re.compile(r"\b(ConnectError|ConnectTimeout)\b")


def unreachable(result: SweepResult) -> bool:
    """The source's host could not be resolved or connected to."""
    return result.status == "error" and bool(_UNREACHABLE.search(result.error or ""))


class NetworkWatch:
    """Says early when most hosts are unreachable: judged on each host's first answer."""

    def __init__(self, hosts: Sequence[str], notice: Callable[[str], None] | None):
        self.hosts = list(dict.fromkeys(hosts))
        self.notice = notice
        self.first: dict[str, bool] = {}  # host -> its first answer was unreachable
        self.said = False

    def observe(self, host: str, result: SweepResult) -> None:
        if self.said or host in self.first or result.status in (SKIPPED, UNSTORED, REJECTED):
            return
        self.first[host] = unreachable(result)
        down = sorted(h for h, bad in self.first.items() if bad)
        total = len(self.hosts)
        if 2 * len(down) > total:
            self.said = True
            names = ", ".join(down[:8]) + (f" and {len(down) - 8} more" if len(down) > 8 else "")
            if self.notice:
                self.notice(f"no network? {len(down)} of {total} hosts unreachable: {names}")


def _host_gates(sources: Sequence[Source], fetcher: Fetcher) -> dict[str, asyncio.Semaphore]:
    # One source more per host than request lanes keeps every lane busy while a source
    # parses between two requests, without starting dozens of half-done scrapes per host.
    return {
        s.host: asyncio.Semaphore(fetcher.politeness_for(s.host).per_host_concurrency + 1)
        for s in sources
    }


async def run_sweep(
    sources: Sequence[Source],
    store: Store,
    fetcher: Fetcher,
    weeks: int = DEFAULT_WEEKS,
    on_result: Callable[[SweepResult], None] | None = None,
    timeout: float = SOURCE_TIMEOUT,
    notice: Callable[[str], None] | None = None,
    leases: HostLeases | None = None,
) -> list[SweepResult]:
    """Snapshot every source once, concurrently; results in completion order.

    After a failed store write no new scrape starts (those sources are ``skipped``); the
    scrapes in flight finish and are stored if the store takes them. ``notice`` hears of an
    apparently missing network early. With ``leases`` (a shared store) only sources of
    hosts this sweep holds are scraped; the others are ``leased`` to other recorders.
    """
    gates = _host_gates(sources, fetcher)
    watch = NetworkWatch([s.host for s in sources], notice)
    results: list[SweepResult] = []
    store_failed = False
    renewing = None
    if leases is not None:
        leases.refresh()
        renewing = asyncio.get_running_loop().create_task(_keep_renewing(leases))

    async def one(source: Source) -> None:
        nonlocal store_failed
        async with gates[source.host]:
            if store_failed:
                result = SweepResult(source.id, SKIPPED)
            elif leases is not None and not leases.holds(source.host):
                result = SweepResult(source.id, LEASED, error="its host is leased by another "
                                     "recorder")  # fmt: skip
            else:
                result = await snapshot_source(source, fetcher, store, weeks, timeout)
        if result.status == UNSTORED:
            store_failed = True
        watch.observe(source.host, result)
        results.append(result)
        if on_result:
            on_result(result)

    try:
        await asyncio.gather(*(one(s) for s in _interleave_by_host(sources)))
    finally:
        if renewing is not None:
            renewing.cancel()
    return results


async def _keep_renewing(leases: HostLeases) -> None:
    while True:
        await asyncio.sleep(leases.ttl / 3)
        leases.refresh()


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


def run_plan(sources: Sequence[Source], now: float, max_hosts: int = 20) -> list[str]:
    """What ``run_forever`` will do: sources, hosts, intervals, each host's first snapshot."""
    intervals: dict[float, int] = {}
    first: dict[str, tuple[float, int]] = {}
    for s in sources:
        intervals[s.interval_minutes] = intervals.get(s.interval_minutes, 0) + 1
        offset = spread_offset(s.id, s.interval_minutes * 60)
        when, count = first.get(s.host, (offset, 0))
        first[s.host] = (min(when, offset), count + 1)
    every = ", ".join(f"{n} every {m:g} min" for m, n in sorted(intervals.items()))
    lines = [f"plan: {len(sources)} sources on {len(first)} hosts ({every})"]
    ordered = sorted(first.items(), key=lambda kv: (kv[1][0], kv[0]))
    for host, (offset, count) in ordered[:max_hosts]:
        at = local_from_ts(now + offset).strftime("%H:%M:%S")
        lines.append(f"  {host}: {count} sources, first snapshot at {at} (in {offset:.0f} s)")
    if len(ordered) > max_hosts:
        last = ordered[-1][1][0]
        lines.append(f"  ... {len(ordered) - max_hosts} more hosts, the last in {last:.0f} s")
    return lines


class PendingWrites:
    """Snapshots a run could not store: the newest per source, retried with backoff."""

    def __init__(
        self,
        store: Store,
        notice: Callable[[str], None] | None,
        base: float = 5.0,
        cap: float = 300.0,
    ):
        self.store, self.notice = store, notice or (lambda _text: None)
        self.base, self.cap = base, cap
        self.delay = base
        self.retry_at: float | None = None
        self.items: dict[str, SweepResult] = {}

    def add(self, result: SweepResult) -> None:
        if self.items.pop(result.source_id, None) is not None:
            self.notice(f"{result.source_id}: an older unstored snapshot is replaced by this one")
        self.items[result.source_id] = result
        if self.retry_at is None:
            self.retry_at = time.monotonic() + self.delay
        self.notice(
            f"STORE WRITE FAILED for {result.source_id}: {result.store_error}; "
            f"{len(self.items)} snapshots kept in memory, retrying in "
            f"{max(0.0, self.retry_at - time.monotonic()):.0f} s"
        )

    def stored(self, result: SweepResult) -> None:
        """A newer snapshot of the source was stored: its older one would come out of order."""
        if self.items.pop(result.source_id, None) is not None:
            self.notice(f"{result.source_id}: an older unstored snapshot is dropped (newer stored)")

    def due(self, now: float) -> bool:
        return self.retry_at is not None and now >= self.retry_at

    def flush(self) -> list[SweepResult]:
        """Try to store every kept snapshot, oldest first; returns the stored ones."""
        done: list[SweepResult] = []
        for result in sorted(self.items.values(), key=lambda r: r.taken_ts or 0.0):
            store_result(self.store, result, result.pending or {})
            if result.status == UNSTORED:
                self.delay = min(self.cap, self.delay * 2)
                self.retry_at = time.monotonic() + self.delay
                self.notice(
                    f"STORE WRITE FAILED again: {result.store_error}; {len(self.items)} "
                    f"snapshots kept in memory, next try in {self.delay:.0f} s"
                )
                return done
            del self.items[result.source_id]
            if result.status == REJECTED:
                self.notice(f"{result.source_id}: {result.store_error}")
                continue
            done.append(result)
        if done:
            self.notice(f"store takes writes again: {len(done)} kept snapshots stored")
        self.delay, self.retry_at = self.base, None
        return done


async def run_forever(
    sources: Sequence[Source],
    store: Store,
    fetcher: Fetcher,
    stop: asyncio.Event,
    weeks: int = DEFAULT_WEEKS,
    on_result: Callable[[SweepResult], None] | None = None,
    timeout: float = SOURCE_TIMEOUT,
    notice: Callable[[str], None] | None = None,
    retry_base: float = 5.0,
    leases: HostLeases | None = None,
) -> int:
    """Snapshot each source every ``interval_minutes`` until ``stop`` is set.

    Returns the number of snapshots stored. Snapshots in flight when ``stop`` is set are
    finished and stored before returning (a scrape is bounded by ``timeout``). A failed
    store write never stops the schedule: the snapshot is kept (``PendingWrites``) and
    stored once the store takes writes again; ``notice`` hears of every failure.

    With ``leases`` (a shared store) only the sources of hosts this worker holds are
    scheduled; a host gained from another worker resumes one interval after its last
    stored snapshot, and a host lost is dropped once its running scrape ends.
    """
    gates = _host_gates(sources, fetcher)
    watch = NetworkWatch([s.host for s in sources], notice)
    pending = PendingWrites(store, notice, base=retry_base)
    start = time.monotonic()
    due: dict[str, float] = {}
    if leases is None:
        due = {s.id: start + spread_offset(s.id, s.interval_minutes * 60) for s in sources}
    by_id = {s.id: s for s in sources}
    running: dict[str, asyncio.Task] = {}
    stored = 0

    def settle(result: SweepResult) -> None:
        nonlocal stored
        if result.status == UNSTORED:
            pending.add(result)
        if on_result:
            on_result(result)
        if result.status not in (UNSTORED, REJECTED):
            stored += 1
            pending.stored(result)
            if pending.items:
                retry()  # the store takes writes again

    async def one(source: Source) -> None:
        async with gates[source.host]:
            result = await snapshot_source(source, fetcher, store, weeks, timeout)
        watch.observe(source.host, result)
        settle(result)

    def retry() -> None:
        nonlocal stored
        for result in pending.flush():
            stored += 1
            if on_result:
                on_result(result)

    while not stop.is_set():
        now = time.monotonic()
        if pending.due(now):
            retry()
        if leases is not None and leases.due(now):
            busy = {by_id[k].host for k, t in running.items() if not t.done()}
            gained, lost = leases.refresh(busy)
            for s in sources:
                if s.host in lost:
                    due.pop(s.id, None)
                elif s.host in gained:
                    due[s.id] = _resume_at(store, s, now)
        for source_id, when in sorted(due.items(), key=lambda kv: kv[1]):
            if when > now:
                break
            source = by_id[source_id]
            interval = source.interval_minutes * 60
            # skip missed turns instead of catching up in a burst
            due[source_id] = when + interval * max(1, int((now - when) // interval) + 1)
            if leases is not None and not leases.holds(source.host, now):
                log.warning("%s: lease of %s not certain, skipping this turn", source_id,
                            source.host)  # fmt: skip
                continue
            if source_id in running and not running[source_id].done():
                log.warning("%s: previous snapshot still running, skipping this turn", source_id)
                continue
            running[source_id] = asyncio.create_task(one(source))
        for source_id in [k for k, t in running.items() if t.done()]:
            running.pop(source_id).result()
        next_due = min(due.values()) if due else now + 60
        if pending.retry_at is not None:
            next_due = min(next_due, pending.retry_at)
        if leases is not None:
            next_due = min(next_due, leases.next_refresh)
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.05, next_due - time.monotonic()))
        except TimeoutError:
            pass
    if running:
        await asyncio.gather(*running.values(), return_exceptions=True)
    if pending.items:
        retry()
    if pending.items and notice:
        lost = ", ".join(sorted(pending.items))
        notice(f"STORE WRITE FAILED: {len(pending.items)} snapshots could not be stored: {lost}")
    return stored


def _resume_at(store: Store, source: Source, now: float) -> float:
    """When a newly held source is due (monotonic): one interval after its last snapshot
    (another worker may have taken it just now), else at its spread offset."""
    interval = source.interval_minutes * 60
    try:
        last = store.latest_snapshot(source.id, statuses=STATUSES)
    except StoreError:
        last = None
    if last is None:
        return now + spread_offset(source.id, interval)
    return now + max(0.0, last.taken_ts + interval - time.time())
