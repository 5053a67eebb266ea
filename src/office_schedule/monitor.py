"""Watch the health of the recorded sources: record each change, log it, notify once.

After each stored snapshot ``observe`` recomputes the source's health from its recent
snapshots (``analysis.health``); a changed state is stored with a log entry. ``deliver``
sends the log entries not yet delivered, one message per change, so a notification that
failed is tried again after the next snapshot instead of being lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .analysis.health import Health, Thresholds, assess
from .clock import local_from_ts
from .report.notify import Notifier
from .store import Store
from .store.sql import TIME_FORMAT

log = logging.getLogger(__name__)


def source_health(store: Store, source_id: str, th: Thresholds, now: float | None = None):
    now = time.time() if now is None else now
    return assess(source_id, store.recent_snapshots(source_id, now - th.window), th)


class HealthMonitor:
    def __init__(
        self,
        store: Store,
        thresholds: Thresholds | None = None,
        notifier: Notifier | None = None,
        on_change: Callable[[Health, str | None], None] | None = None,
    ):
        self.store = store
        self.thresholds = thresholds or Thresholds()
        self.notifier = notifier
        self.on_change = on_change
        self._delivered: dict[int, set[int]] = {}
        self._lock = asyncio.Lock()
        #: a change some target has not taken yet (retried after the next snapshot)
        self.pending = False

    def observe(self, source_id: str) -> Health | None:
        """Recompute one source's health; returns it when its state changed."""
        health = source_health(self.store, source_id, self.thresholds)
        known = self.store.health_state(source_id)
        old = known[0] if known else None
        if old == health.state:
            return None
        at = local_from_ts(time.time()).strftime(TIME_FORMAT)
        entry = self.store.record_health(
            source_id, health.state, health.since or at, health.detail, at
        )
        if old is None and health.ok:
            self.store.mark_notified([entry])  # a new source that works is no news
        else:
            self.pending = True
            if self.on_change:
                self.on_change(health, old)
        return health

    async def deliver(self) -> int:
        """Send every undelivered change; returns how many went out to all targets."""
        if not self.notifier:
            return 0
        async with self._lock:
            done = []
            for change in self.store.health_changes(unnotified_only=True):
                title, body = message(change)
                skip = self._delivered.setdefault(change["id"], set())
                skip |= await self.notifier.send(title, body, skip)
                if len(skip) == len(self.notifier.urls):
                    done.append(change["id"])
                    self._delivered.pop(change["id"], None)
            if done:
                self.store.mark_notified(done)
            # asked again: observe() may have logged changes while we were sending
            self.pending = bool(self.store.health_changes(unnotified_only=True))
            return len(done)


def message(change: dict) -> tuple[str, str]:
    """Title and body of the notification for one health change."""
    sid, new, old = change["source_id"], change["new_state"], change["old_state"]
    title = f"office-schedule: {sid} is {new}" + (f" (was {old})" if old else "")
    body = f"{sid}: {old or 'new'} -> {new} at {change['at']}"
    if change["detail"]:
        body += f"\n{change['detail']}"
    return title, body
