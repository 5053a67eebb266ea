"""Evaluate the watches after a snapshot and deliver what they announce.

A slot is *newly free* for a watch when it matches the watch, is free in the source's
latest snapshot, and was not free in the snapshot the watch evaluated before (for a new
watch: the last one taken before it was added; a source's first snapshot only sets the
baseline). A watch remembers each slot it announced until the slot has been gone for two
evaluated snapshots (or lies in the past): a slot that flickers back after one snapshot is
not announced again, one that comes back later is. All new slots of one snapshot make one
message, stored with the memory in one transaction, then sent; a message some target did
not take is retried later (backoff 30 s doubling to 1 h) and every failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

import numpy as np

from ..catalog import Source
from ..clock import local_from_ts
from ..errors import StoreError
from ..report.notify import Notifier, NotifyError, redact
from ..store import Store
from ..store.sql import TIME_FORMAT
from .rules import Rule, minute_of, slot_time

log = logging.getLogger(__name__)

#: evaluated snapshots an announced slot may be missing before it can be announced again
FORGET_AFTER = 2
#: slots listed in one message; the rest are counted
MAX_LISTED = 60
#: seconds a process holds a message it sends; retry delays after a failed delivery
CLAIM_TTL, RETRY_BASE, RETRY_CAP = 600.0, 30.0, 3600.0

Key = tuple[str, int]
_NONE = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Watch:
    id: int
    name: str
    rule: Rule
    notify: tuple[str, ...]
    created_at: str
    created_ts: float

    @property
    def label(self) -> str:
        return f"watch {self.id}" + (f" ({self.name})" if self.name else "")


def load_watches(store: Store) -> list[Watch]:
    return [
        Watch(w["id"], w["name"], Rule.from_json(w["rule"]), tuple(w["notify"]),
              w["created_at"], w["created_ts"])
        for w in store.watches()
    ]  # fmt: skip


@dataclass
class Announcement:
    """The newly free slots one watch found in one snapshot."""

    watch: Watch
    source_id: str
    taken_at: str
    slots: list[tuple[str, datetime]]
    message_id: int | None = None
    names: dict[str, str | None] = field(default_factory=dict, repr=False)


class Watcher:
    """The watches of one store; ``observe`` after each stored snapshot, ``deliver`` at the end.

    ``sources`` (catalog entries) give names and booking URLs; ``on_announce`` hears of each
    announcement, ``notice`` of each problem (delivery failures, store errors).
    """

    def __init__(
        self,
        store: Store,
        sources: Iterable[Source] | Mapping[str, Source] = (),
        on_announce: Callable[[Announcement], None] | None = None,
        notice: Callable[[str], None] | None = None,
        attempts: int = 3,
        backoff: float = 1.0,
    ):
        self.store = store
        self.sources = dict(sources) if isinstance(sources, Mapping) else {s.id: s for s in sources}
        self.on_announce = on_announce
        self.notice = notice or (lambda text: log.warning("%s", text))
        self.attempts, self.backoff = attempts, backoff
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        #: a message is waiting for delivery (retried after the next snapshot)
        self.pending = bool(store.watch_messages(undelivered=True))
        #: a store error or an undelivered message since this watcher started
        self.failed = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._meta: dict[str, tuple[str | None, str | None, str | None]] | None = None
        self._notifiers: dict[tuple[str, ...], Notifier] = {}
        # Apprise loads its plugins when the first URL is added (~130 ms): not while a
        # message waits
        for watch in load_watches(store):
            try:
                if watch.notify:
                    self._notifier(watch.notify)
            except NotifyError:
                pass  # told when a message is due

    def _notifier(self, urls: tuple[str, ...]) -> Notifier:
        if urls not in self._notifiers:
            self._notifiers[urls] = Notifier(urls, attempts=self.attempts, backoff=self.backoff)
        return self._notifiers[urls]

    # -- evaluating ------------------------------------------------------------------------
    def observe(self, source_id: str) -> list[Announcement]:
        """Evaluate the watches of a source after a snapshot; in a running event loop, what
        they announce starts going out at once. A store error is told, not raised."""
        try:
            found = self.evaluate(source_id)
        except StoreError as exc:
            self.failed = True
            self.notice(f"watches of {source_id} not evaluated: {exc}")
            return []
        if self.pending:
            self.start_delivery()
        return found

    def evaluate(self, source_id: str) -> list[Announcement]:
        """Evaluate every watch of the source against its latest snapshot."""
        name = self._name(source_id)
        watches = [w for w in load_watches(self.store) if w.rule.source_matches(source_id, name)]
        if not watches:
            return []
        latest = self.store.latest_snapshot(source_id)
        if latest is None:
            return []
        states: dict[int, dict] = {}
        with self.store.transaction():  # one commit (one fsync) for all the watches
            found = [a for w in watches if (a := self._evaluate(w, source_id, latest, states))]
        for announcement in found:
            if announcement.message_id is not None and announcement.watch.notify:
                self.pending = True
            if self.on_announce:
                self.on_announce(announcement)
        return found

    def _evaluate(self, watch: Watch, source_id: str, latest, states: dict) -> Announcement | None:
        cursor = self.store.watch_cursor(watch.id, source_id)
        if cursor is not None and cursor[0] == latest.id:
            return None
        if cursor is None:
            base = self.store.snapshot_at_or_before(source_id, watch.created_ts)
        else:
            base = self.store.snapshot_at_or_before(source_id, cursor[1], cursor[0])
        after = minute_of(datetime.strptime(latest.taken_at, TIME_FORMAT))
        now = self._matching(watch.rule, source_id, latest.id, after, states)
        announced = self.store.watch_announced(watch.id, source_id)
        new: list[Key] = []
        if base is not None and base[0] != latest.id:
            before = self._matching(watch.rule, source_id, base[0], after, states)
            for loc in sorted(now):
                fresh = np.setdiff1d(now[loc], before.get(loc, _NONE), assume_unique=True)
                new.extend((loc, m) for m in fresh.tolist() if (loc, m) not in announced)
        free = {loc: set(now[loc].tolist()) for loc in {k[0] for k in announced} if loc in now}
        missed, forget = {}, []
        for key, n in announced.items():
            gone = key[1] not in free.get(key[0], ())
            if key[1] <= after or (gone and n + 1 >= FORGET_AFTER):
                forget.append(key)
            elif gone:
                missed[key] = n + 1
            elif n:
                missed[key] = 0
        at = local_from_ts(time.time()).strftime(TIME_FORMAT)
        names = {loc: meta[0] for loc, meta in states[latest.id].items()}
        found = Announcement(watch, source_id, latest.taken_at,
                             [(loc, slot_time(m)) for loc, m in new], names=names)  # fmt: skip
        message = self.message(found) if new else None
        won, message_id = self.store.record_watch(
            watch.id, source_id, cursor[0] if cursor else None, (latest.id, latest.taken_ts),
            at, new, missed, forget, message, done=not watch.notify,
        )  # fmt: skip
        if not won or not new:
            return None  # another process evaluated this snapshot first, or nothing new
        found.message_id = message_id
        return found

    def _matching(
        self, rule: Rule, source_id: str, snapshot_id: int, after: float, states: dict
    ) -> dict[str, np.ndarray]:
        """Per matching location, its matching free minutes (sorted, unique)."""
        if snapshot_id not in states:
            states[snapshot_id] = self.store.free_minutes(source_id, snapshot_id)
        out = {}
        for loc, (name, services, minutes) in states[snapshot_id].items():
            if rule.location_matches(loc, name, services):
                chosen = np.asarray(minutes, dtype=np.int64)[rule.slot_mask(minutes, after)]
                if len(chosen):
                    out[loc] = chosen
        return out

    def _source_meta(self, source_id: str) -> tuple[str | None, str | None]:
        source = self.sources.get(source_id)
        if source is not None:
            return source.name, source.index_url or None
        if self._meta is None:
            self._meta = self.store.source_metadata()
        name, _scraper, url = self._meta.get(source_id, (None, None, None))
        return name, url

    def _name(self, source_id: str) -> str | None:
        return self._source_meta(source_id)[0]

    def message(self, found: Announcement) -> tuple[str, str]:
        """Title and body: every new slot by location and day, and where to book."""
        name, url = self._source_meta(found.source_id)
        office = f"{name} ({found.source_id})" if name else found.source_id
        n = len(found.slots)
        plural = "s" if n != 1 else ""
        title = f"office-schedule: {n} free slot{plural} at {name or found.source_id}"
        lines = [f"{n} newly free slot{plural} at {office}, seen {found.taken_at}"]
        lines.append(f"Book: {url}" if url else "Book: (no booking URL known)")
        lines.append(f"{found.watch.label}: {found.watch.rule.describe()}")
        listed = 0
        for loc, group in groupby(found.slots, key=lambda s: s[0]):
            if listed >= MAX_LISTED:
                break
            loc_name = found.names.get(loc)
            lines.append("")
            lines.append(f"{loc_name} ({loc}):" if loc_name else f"{loc}:")
            for day, slots in groupby((s for _, s in group), key=lambda s: s.date()):
                times = [s.strftime("%H:%M") for s in slots][: MAX_LISTED - listed]
                listed += len(times)
                lines.append(f"  {day:%a %Y-%m-%d}  {' '.join(times)}")
                if listed >= MAX_LISTED:
                    break
        if n > listed:
            lines.append(f"... and {n - listed} more (office-schedule show {found.source_id})")
        return title, "\n".join(lines)

    # -- delivering ------------------------------------------------------------------------
    def start_delivery(self) -> None:
        """Send the waiting messages in the background (needs a running event loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._send_guarded(force=False))

    async def deliver(self, force: bool = False) -> int:
        """Send every message due (``force``: every undelivered one); returns how many went
        out to all their targets. Waits for a delivery already under way first."""
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
        return await self._send_guarded(force)

    async def _send_guarded(self, force: bool) -> int:
        try:
            return await self._send_due(force)
        except StoreError as exc:
            self.failed = True
            self.notice(f"watch notifications not recorded: {exc}")
            return 0

    async def _send_due(self, force: bool) -> int:
        async with self._lock:
            sent, tried = 0, set()
            while True:  # messages stored while sending go out in the same round
                batch = [m for m in self.store.watch_messages(undelivered=True, due=not force)
                         if m["id"] not in tried]  # fmt: skip
                if not batch:
                    break
                watches = {w.id: w for w in load_watches(self.store)}
                for msg in batch:
                    tried.add(msg["id"])
                    if msg["watch_id"] in watches:
                        sent += await self._send_one(watches[msg["watch_id"]], msg)
            # no await after this: an observe() in between sees a finished task and starts anew
            self.pending = bool(self.store.watch_messages(undelivered=True))
            return sent

    async def _send_one(self, watch: Watch, msg: dict) -> bool:
        if not self.store.claim_watch_message(msg["id"], self.worker, CLAIM_TTL):
            return False  # another process is sending it
        took = set(msg["delivered"])
        try:
            notifier = self._notifier(watch.notify)
        except NotifyError as exc:
            error = str(exc)
        else:
            took |= await notifier.send(msg["title"], msg["body"], took)
            missing = [redact(url) for i, url in enumerate(watch.notify) if i not in took]
            error = f"not taken by {', '.join(missing)}" if missing else None
        retry_in = 0.0 if error is None else min(RETRY_CAP, RETRY_BASE * 2 ** msg["attempts"])
        self.store.finish_watch_message(msg["id"], took, error is None, error, retry_in)
        if error is not None:
            self.failed = True
            self.notice(
                f"{watch.label}: message {msg['id']} ({msg['n_slots']} slots at "
                f"{msg['source_id']}) {error}; attempt {msg['attempts'] + 1}, tried again "
                f"at the first snapshot after {retry_in:.0f} s (or by 'watch check')"
            )
        return error is None
