"""A recorder's share of the hosts when several recorders work one shared store.

Each recorder (worker) holds leases on hosts in the store (``store/leases.py``) and only
scrapes sources of hosts it holds, so per-host politeness holds across machines. Every
``ttl / 3`` seconds it renews its leases, counts the live workers and takes free or expired
hosts up to its fair share (hosts / live workers), giving idle hosts above that share up
for newcomers. A worker that dies stops renewing; its leases expire after ``ttl`` and the
others take its hosts over. If the store cannot be reached, the worker stops starting
scrapes once its leases may have expired: it can no longer prove a host is its own.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Iterable

from .errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class HostLeases:
    """The hosts this worker may scrape now; ``share=False`` takes every free host (a sweep)."""

    def __init__(
        self,
        store,
        hosts: Iterable[str],
        ttl: float = DEFAULT_TTL,
        share: bool = True,
        notice: Callable[[str], None] | None = None,
        worker: str | None = None,
    ):
        self.store, self.ttl, self.share = store, ttl, share
        self.worker = worker or worker_name()
        self.notice = notice or (lambda _text: None)
        # each worker tries the hosts in its own order, so rivals rarely race for one host
        spin = zlib.crc32(self.worker.encode())
        self.hosts = sorted(set(hosts), key=lambda h: zlib.crc32(h.encode()) ^ spin)
        self.held: set[str] = set()
        self.valid_until = 0.0
        self.next_refresh = 0.0
        self.live = 1

    def due(self, now: float) -> bool:
        return now >= self.next_refresh

    def refresh(self, busy: Iterable[str] = ()) -> tuple[set[str], set[str]]:
        """Renew, rebalance and claim; returns (hosts gained, hosts lost)."""
        started = time.monotonic()
        self.next_refresh = started + self.ttl / 3
        try:
            self.live = self.store.heartbeat(self.worker, self.ttl, f"{len(self.held)} hosts")
            limit = math.ceil(len(self.hosts) / self.live) if self.share else len(self.hosts)
            held = self.store.claim_hosts(self.worker, self.hosts, limit, self.ttl)
            excess = len(held) - limit
            if excess > 0:  # a newcomer: give up idle hosts above the fair share
                spare = sorted(held - set(busy))[:excess]
                self.store.release_hosts(self.worker, spare)
                held -= set(spare)
        except StoreError as exc:
            self.notice(f"host leases not renewed: {exc}")
            return set(), set()
        self.valid_until = started + self.ttl
        gained, lost = held - self.held, self.held - held
        self.held = held
        if gained or lost:
            log.info("%s: +%d -%d hosts, %d held", self.worker, len(gained), len(lost), len(held))
        return gained, lost

    def holds(self, host: str, now: float | None = None) -> bool:
        """This worker's lease on ``host`` is certainly still valid for a third of the ttl."""
        now = time.monotonic() if now is None else now
        return host in self.held and now < self.valid_until - self.ttl / 3

    def close(self) -> None:
        """Give every host up at once (a clean stop; a killed worker's leases expire)."""
        try:
            self.store.retire(self.worker)
        except StoreError as exc:
            self.notice(f"host leases not released: {exc}")
        self.held = set()
