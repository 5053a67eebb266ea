"""One shared async HTTP client with per-host limits, retries and per-source sessions.

Families receive a :class:`Session` (its own cookie jar and request counter) and never
create clients. All sessions share the connection pools and the per-host lanes of one
:class:`Fetcher`, so politeness holds across every source hosted on the same server.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from ..errors import BlockedError, ScrapeError
from .daily import DEFAULT_MAX_AGE, DailyPages, page_key
from .robots import RobotsCache
from .settings import Politeness

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class _NoCookies(CookieJar):
    """The shared client keeps no cookies: each Session holds its own jar."""

    def extract_cookies(self, response, request) -> None:  # noqa: D102
        return None

    def set_cookie(self, cookie) -> None:  # noqa: D102
        return None


class HostLane:
    """Limits concurrency to one host, keeps a gap after each request and pauses the whole
    host while it asked us to (Retry-After)."""

    def __init__(self, concurrency: int, gap: float):
        self._sem = asyncio.Semaphore(concurrency)
        self._gap = gap
        self.paused_until = 0.0
        self.requests = 0

    async def acquire(self) -> None:
        await self._sem.acquire()
        try:
            # a pause may be extended while we sleep (another request's Retry-After)
            while (wait := self.paused_until - time.monotonic()) > 0:
                await asyncio.sleep(wait)
        except BaseException:
            self._sem.release()  # cancelled while paused: the lane must not lose a slot
            raise
        self.requests += 1

    def release(self) -> None:
        if self._gap > 0:
            asyncio.get_running_loop().call_later(self._gap, self._sem.release)
        else:
            self._sem.release()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class Fetcher:
    """Owns the HTTP clients (one verifying TLS, one not) and the per-host lanes."""

    def __init__(
        self,
        politeness: Politeness | None = None,
        host_overrides: Mapping[str, Politeness] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        robots: RobotsCache | None = None,
        reuse_seconds: float = DEFAULT_MAX_AGE,
    ):
        self.politeness = politeness or Politeness()
        #: rarely changing pages, kept per source across the snapshots of this fetcher
        self.daily = DailyPages(reuse_seconds)
        #: when set, every request of a session that obeys robots.txt is checked first
        self.robots = robots
        self.host_overrides = dict(host_overrides or {})
        self._transport = transport
        self._clients: dict[bool, httpx2.AsyncClient] = {}
        self._lanes: dict[str, HostLane] = {}

    def _client(self, verify: bool) -> httpx2.AsyncClient:
        client = self._clients.get(verify)
        if client is None:
            p = self.politeness
            kwargs: dict[str, Any] = {}
            if self._transport is not None:
                kwargs["transport"] = self._transport
            client = httpx2.AsyncClient(
                verify=verify,
                timeout=httpx2.Timeout(p.timeout),
                headers={"User-Agent": p.user_agent},
                follow_redirects=False,
                cookies=_NoCookies(),
                limits=httpx2.Limits(max_connections=200, max_keepalive_connections=100),
                **kwargs,
            )
            self._clients[verify] = client
        return client

    def politeness_for(self, host: str) -> Politeness:
        return self.host_overrides.get(host, self.politeness)

    def lane(self, host: str) -> HostLane:
        lane = self._lanes.get(host)
        if lane is None:
            p = self.politeness_for(host)
            lane = self._lanes[host] = HostLane(p.per_host_concurrency, p.min_gap)
        return lane

    def requests_per_host(self) -> dict[str, int]:
        return {host: lane.requests for host, lane in self._lanes.items()}

    def session(
        self, verify: bool = True, obey_robots: bool = True, source: str | None = None
    ) -> Session:
        """A session; with ``source`` its ``reuse=True`` requests may answer from kept pages."""
        return Session(self, verify, obey_robots, source)

    async def read_robots(self, url: str) -> tuple[int | None, str]:
        """GET a robots.txt through the host's lane: (status, body), None when unreachable."""
        client = self._client(True)
        for _ in range(5):  # RFC 9309 §2.3.1.2: follow at least five redirects
            try:
                response = await self.send_once(client.build_request("GET", url), True)
            except ScrapeError as exc:
                return None, str(exc)  # why it could not be read, for the message
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 400:
                return response.status_code, ""
            return response.status_code, response.content[:500_000].decode("utf-8", "replace")
        return 404, ""  # too many redirects: treated as unavailable (§2.3.1.2)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send_once(self, request: httpx2.Request, verify: bool) -> httpx2.Response:
        """Send one request through its host's lane; retry transient failures politely."""
        host = request.url.host
        p = self.politeness_for(host)
        lane = self.lane(host)
        client = self._client(verify)
        last_exc: Exception | None = None
        for attempt in range(1, p.attempts + 1):
            await lane.acquire()
            try:
                response = await client.send(request)
                await response.aread()
            except httpx2.TransportError as exc:
                last_exc = exc
                response = None
            finally:
                lane.release()
            if response is not None:
                if response.status_code not in p.retry_statuses:
                    return response
                asked = _retry_after(response)
                if asked is not None and asked > p.max_retry_after:
                    return response  # Session.request names the wait; we never sit it out
                if response.status_code == 429 or asked is not None:
                    # the whole host rests, also after the last attempt: other sources on
                    # it wait too, while other hosts' lanes keep their pace
                    delay = asked if asked is not None else _backoff(p, attempt)
                    lane.pause(delay)
                else:
                    delay = _backoff(p, attempt)
                if attempt == p.attempts:
                    return response
            else:
                if attempt == p.attempts:
                    break
                delay = _backoff(p, attempt)
            await asyncio.sleep(delay)
        assert last_exc is not None
        raise ScrapeError(
            f"{type(last_exc).__name__}: {last_exc or 'connection failed'} "
            f"(after {p.attempts} attempts)",
            url=str(request.url),
        ) from last_exc


def _backoff(p: Politeness, attempt: int) -> float:
    delay = min(p.backoff_max, p.backoff_base * 2 ** (attempt - 1))
    return delay * (0.75 + random.random() / 2)


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds the answer asks us to wait (RFC 9110 §10.2.3: delay-seconds or HTTP-date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are always GMT
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _refusal(response: httpx2.Response, p: Politeness) -> str:
    """What a refusing answer asked of us, for the error message."""
    asked = _retry_after(response)
    if asked is None:
        return "the site refuses us, backing off" if response.status_code in (403, 429) else ""
    wait = f"the site asks us to wait {asked:.0f} s (Retry-After)"
    if asked > p.max_retry_after:
        return f"{wait}, longer than the {p.max_retry_after:.0f} s we wait: not retried"
    if response.status_code not in p.retry_statuses:
        return f"{wait}; backing off"
    return f"{wait}; the host is paused that long, this source stops"


class Session:
    """One source's view of the fetcher: its own cookies, request count and last URL."""

    def __init__(
        self,
        fetcher: Fetcher,
        verify: bool = True,
        obey_robots: bool = True,
        source: str | None = None,
    ):
        self.fetcher = fetcher
        self.verify = verify
        self.obey_robots = obey_robots
        #: the source whose kept pages ``reuse=True`` requests may answer from (None: never)
        self.source = source
        self.cookies = httpx2.Cookies()
        self.requests = 0
        #: requests answered from kept pages (not sent)
        self.reused = 0
        self.last_url: str | None = None

    def clear_cookies(self) -> None:
        self.cookies.clear()

    def recall(self, name: str) -> Any:
        """A fact noted for this source by an earlier snapshot (see ``DailyPages.note``)."""
        if self.source is None:
            return None
        return self.fetcher.daily.recall(self.source, name)

    def note(self, name: str, value: Any) -> None:
        if self.source is not None:
            self.fetcher.daily.note(self.source, name, value)

    async def get(self, url: str, params: Mapping[str, Any] | None = None, **kw: Any):
        return await self.request("GET", url, params=params, **kw)

    async def post(self, url: str, data: Mapping[str, Any] | None = None, **kw: Any):
        return await self.request("POST", url, data=data, **kw)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_error_status: bool = False,
        redirect: Callable[[str, str], str] | None = None,
        reuse: bool = False,
    ) -> httpx2.Response:
        """Send a request, following redirects with this session's cookies.

        ``reuse`` marks a page that changes rarely: it is answered from the source's kept
        copy while that is fresh (``fetch/daily.py``), else sent and kept.
        ``headers`` add to (never replace) the client's, so the User-Agent stays ours;
        ``redirect(asked, target)`` may correct a site's broken ``Location`` before it is
        followed.
        Raises :class:`ScrapeError` on a final HTTP error status (unless
        ``allow_error_status``), :class:`BlockedError` on 403/429 and
        :class:`DisallowedError` before a request that robots.txt disallows.
        """
        key = None
        if reuse and self.source is not None:
            key = page_key(self.source, method, url, params, data)
            kept = self.fetcher.daily.get(key)
            if kept is not None:
                self.reused += 1
                self.last_url = str(kept.url)
                return kept
        response = await self._send(
            method, url, params, data, headers, allow_error_status, redirect
        )
        if key is not None:
            self.fetcher.daily.put(key, response)
        return response

    async def _send(self, method, url, params, data, headers, allow_error_status, redirect):
        """``request`` without reuse."""
        client = self.fetcher._client(self.verify)
        for _ in range(self.fetcher.politeness.max_redirects + 1):
            request = client.build_request(method, url, params=params, data=data, headers=headers)
            self.cookies.set_cookie_header(request)
            self.last_url = str(request.url)
            if self.obey_robots and self.fetcher.robots is not None:
                await self.fetcher.robots.check(self.last_url, self.fetcher.read_robots)
            self.requests += 1
            response = await self.fetcher.send_once(request, self.verify)
            self.cookies.extract_cookies(response)
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                url = urljoin(str(request.url), response.headers["location"])
                if redirect is not None:
                    url = redirect(str(request.url), url)
                params = None
                if response.status_code in (301, 302, 303):
                    method, data = "GET", None
                continue
            break
        else:
            raise ScrapeError("too many redirects", url=self.last_url)
        status = response.status_code
        if status in (403, 429):
            why = _refusal(response, self.fetcher.politeness_for(response.url.host))
            raise BlockedError(f"HTTP {status} {response.reason_phrase}: {why}", url=self.last_url)
        if status >= 400 and not allow_error_status:
            why = _refusal(response, self.fetcher.politeness_for(response.url.host))
            message = f"HTTP {status} {response.reason_phrase}" + (f": {why}" if why else "")
            raise ScrapeError(message, url=self.last_url)
        return response


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
