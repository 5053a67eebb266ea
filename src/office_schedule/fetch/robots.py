"""robots.txt: read once a day per host (RFC 9309, parsed by Protego), kept in the store.

A 4xx answer means "no rules" (RFC 9309 §2.3.1.3); a 5xx answer or no connection means the
host's wishes are unknown, so nothing is fetched from it until a later attempt succeeds
(§2.3.1.4). Failed reads are retried after an hour, good ones are kept for a day.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from protego import Protego

from ..errors import DisallowedError, ScrapeError

#: the product token our User-Agent begins with; robots.txt groups are matched on it
ROBOTS_AGENT = "office-schedule"
KEEP_SECONDS = 24 * 3600
RETRY_SECONDS = 3600


@dataclass(frozen=True)
class RobotsRecord:
    """One read of ``{origin}/robots.txt``: HTTP status and body, or None and the error."""

    origin: str
    fetched_ts: float
    status: int | None
    body: str

    def fresh(self, now: float) -> bool:
        keep = KEEP_SECONDS if self.status is not None and self.status < 500 else RETRY_SECONDS
        return now - self.fetched_ts < keep


class RobotsStore(Protocol):
    def robots_get(self, origin: str) -> RobotsRecord | None: ...
    def robots_put(self, record: RobotsRecord) -> None: ...


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def matching_rule(body: str, path: str, agent: str = ROBOTS_AGENT) -> str:
    """The ``Disallow`` line of ``body`` that covers ``path`` (the longest), for messages.

    Protego decides; this only finds the line to show, so it considers the lines of every
    group naming ``agent`` or ``*``.
    """
    best, groups, in_group, rules_seen = "", [], False, False
    for raw in body.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if rules_seen:
                groups, rules_seen = [], False
            groups.append(value.lower())
            in_group = any(g == "*" or agent.startswith(g) for g in groups)
        elif key in ("disallow", "allow"):
            rules_seen = True
            if key == "disallow" and in_group and value and _covers(value, path):
                if len(value) > len(best.partition(":")[2].strip()):
                    best = raw.strip()
    return best or "Disallow: /"


def _covers(pattern: str, path: str) -> bool:
    regex = "".join(".*" if c == "*" else "$" if c == "$" else re.escape(c) for c in pattern)
    return re.match(regex, path) is not None


class RobotsCache:
    """Answers "may we fetch this URL?", reading each origin's robots.txt when needed."""

    def __init__(
        self,
        store: RobotsStore | None = None,
        agent: str = ROBOTS_AGENT,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.agent = agent
        self.clock = clock
        self._records: dict[str, RobotsRecord] = {}
        self._parsed: dict[str, Protego] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str, read: Callable[[str], Awaitable[tuple[int | None, str]]]):
        """Raise DisallowedError (or ScrapeError when robots.txt is unreachable) for ``url``.

        ``read(robots_url)`` fetches robots.txt: (status or None, body).
        """
        origin = origin_of(url)
        record = await self._record(origin, read)
        if record.status is None or record.status >= 500:
            what = record.body or "no connection" if record.status is None else ""
            what = what or f"HTTP {record.status}"
            raise ScrapeError(
                f"robots.txt of {origin} could not be read ({what}); nothing is fetched from "
                "this host until it can (RFC 9309 §2.3.1.4)",
                url=f"{origin}/robots.txt",
            )
        if record.status >= 400:
            return
        parser = self._parsed.get(origin)
        if parser is None:
            parser = self._parsed[origin] = Protego.parse(record.body)
        if not parser.can_fetch(url, self.agent):
            parts = urlsplit(url)
            path = parts.path or "/"
            line = matching_rule(record.body, path + (f"?{parts.query}" if parts.query else ""))
            raise DisallowedError(
                f"robots.txt of {origin} disallows {path} ({line!r})", url=url, line=line
            )

    def crawl_delay(self, url: str) -> float | None:
        parser = self._parsed.get(origin_of(url))
        return parser.crawl_delay(self.agent) if parser is not None else None

    async def _record(self, origin: str, read) -> RobotsRecord:
        now = self.clock()
        record = self._records.get(origin)
        if record is not None and record.fresh(now):
            return record
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            record = self._records.get(origin)
            if record is None and self.store is not None:
                record = self.store.robots_get(origin)
            if record is None or not record.fresh(now):
                status, body = await read(f"{origin}/robots.txt")
                record = RobotsRecord(origin, now, status, body)
                if self.store is not None:
                    self.store.robots_put(record)
            if self._records.get(origin) != record:
                self._parsed.pop(origin, None)
            self._records[origin] = record
            return record
