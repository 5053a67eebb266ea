"""Pages that change rarely, kept per source for a day and reused by later snapshots.

A family marks a request ``reuse=True`` (service and department lists, office lists,
catalogues); the :class:`Session` of a snapshot then answers it from :class:`DailyPages`
while the kept copy is younger than ``max_age``. The key is the source, the method, the URL
and the sorted query/body, so two sources never share a page, even on one host.

The change check lives with the sweep (``sweep.snapshot_source``): a snapshot that used a
kept page and then fails (an id the later pages do not know, an HTTP 404/410, the site's
"session expired" page, a parse error) drops the source's kept pages and is taken again
once with fresh ones. Families raise :class:`StaleReuse` where a later page contradicts a
kept one without failing on its own. When a page is fetched again after its age ran out,
a changed body is logged.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from ..errors import ScrapeError

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 24 * 3600.0

Pairs = tuple[tuple[str, str], ...]
Key = tuple[str, str, str, Pairs, Pairs]


class StaleReuse(ScrapeError):
    """A later page contradicts a reused one: drop the kept pages and take the snapshot again."""


def _pairs(values: Any) -> Pairs:
    if not values:
        return ()
    items = values.items() if isinstance(values, Mapping) else values
    return tuple(sorted((str(k), str(v)) for k, v in items))


def page_key(
    source: str,
    method: str,
    url: str,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Key:
    """What identifies one kept page: source, method, URL, query and body (not the headers,
    which may carry a snapshot's session token)."""
    return (source, method.upper(), url, _pairs(params), _pairs(data))


@dataclass(frozen=True)
class Kept:
    """One kept answer: enough to rebuild the response a family reads."""

    status: int
    url: str
    method: str
    headers: Pairs
    content: bytes
    stored: float

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def response(self) -> httpx2.Response:
        request = httpx2.Request(self.method, self.url)
        return httpx2.Response(
            self.status, headers=list(self.headers), content=self.content, request=request
        )


class DailyPages:
    """Kept pages of every source, for ``max_age`` seconds (24 h by default)."""

    def __init__(self, max_age: float = DEFAULT_MAX_AGE, clock: Callable[[], float] = time.time):
        self.max_age = max_age
        self.clock = clock
        self._pages: dict[Key, Kept] = {}
        #: (source, name) -> (value, when): what a family learnt from such pages
        self._facts: dict[tuple[str, str], tuple[Any, float]] = {}
        #: digests of expired pages, to tell whether the daily refetch changed them
        self._expired: dict[Key, str] = {}
        self.hits = 0
        self.changes = 0

    def get(self, key: Key) -> httpx2.Response | None:
        kept = self._pages.get(key)
        if kept is None:
            return None
        if self.clock() - kept.stored >= self.max_age:
            self._expired[key] = kept.digest
            del self._pages[key]
            return None
        self.hits += 1
        return kept.response()

    def put(self, key: Key, response: httpx2.Response) -> None:
        """Keep a successful answer (an error page is never reused)."""
        if response.status_code >= 400 or self.max_age <= 0:
            return
        headers = tuple(
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("set-cookie", "content-encoding", "content-length")
        )
        kept = Kept(
            response.status_code,
            str(response.url),
            response.request.method,
            headers,
            response.content,
            self.clock(),
        )
        before = self._expired.pop(key, None)
        if before is not None and before != kept.digest:
            self.changes += 1
            log.info("%s: %s %s changed since it was kept", key[0], key[1], key[2])
        self._pages[key] = kept

    def note(self, source: str, name: str, value: Any) -> None:
        """Keep a fact a family learnt from the site (e.g. which API generation answers)."""
        if self.max_age > 0:
            self._facts[(source, name)] = (value, self.clock())

    def recall(self, source: str, name: str) -> Any:
        """A fact noted for ``source`` within ``max_age``, else None."""
        found = self._facts.get((source, name))
        if found is None or self.clock() - found[1] >= self.max_age:
            self._facts.pop((source, name), None)
            return None
        return found[0]

    def drop(self, source: str) -> int:
        """Forget every kept page and fact of ``source`` (the change check failed); returns
        how many pages."""
        keys = [k for k in self._pages if k[0] == source]
        for key in keys:
            self._expired[key] = self._pages.pop(key).digest
        for fact in [f for f in self._facts if f[0] == source]:
            del self._facts[fact]
        return len(keys)

    def kept(self, source: str) -> int:
        return sum(1 for k in self._pages if k[0] == source)


def reuse_kw(session: Any, wanted: bool = True) -> dict[str, bool]:
    """``{"reuse": True}`` for a session of a source (test doubles take no such argument)."""
    return {"reuse": True} if wanted and getattr(session, "source", None) is not None else {}


def reused(session: Any) -> int:
    """How many answers of ``session`` came from kept pages so far."""
    return getattr(session, "reused", 0)
