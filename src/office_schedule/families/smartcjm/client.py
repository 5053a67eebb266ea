"""Requests of the SmartCJM wizard: every answer is read by ``read_page`` before it is used."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx2

from ...errors import BlockedError, ScrapeError
from ..pages import PageError, PageView
from . import protocol as P
from .pages import read_page


class SessionExpired(ScrapeError):
    """The site ended our ``wsid`` ("Ihre Sitzung ist abgelaufen.")."""


def same_port(asked: str, target: str) -> str:
    """A redirect that never leads to the load balancer's backend port.

    Leipzig's load balancer writes ``:8443`` (its backend, unreachable from outside) into
    302 ``Location``s; such a redirect goes to the host and port we asked instead.
    """
    there, here = urlsplit(target), urlsplit(asked)
    if there.port == P.BACKEND_PORT and here.port != P.BACKEND_PORT:
        if there.hostname == here.hostname:
            return urlunsplit(there._replace(netloc=here.netloc))
    return target


async def _request(session: Any, method: str, url: str, data: Any) -> httpx2.Response:
    try:
        return await session.request(
            method, url, data=data, allow_error_status=True, redirect=same_port
        )
    except BlockedError as exc:
        raise BlockedError(
            f"{P.NAME}: {exc} (Cloudflare in front of SmartCJM blocks bursts; this source "
            "stops, the host was paused for any Retry-After)",
            url=exc.url,
        ) from None


async def fetch_view(
    session: Any, url: str, *, data: Any = None, expect: tuple[str, ...] = ()
) -> tuple[PageView, str]:
    """Request ``url`` (POST when ``data``) and read the answer: the view and the final URL.

    The expired-session page raises :class:`SessionExpired`, Cloudflare's pages
    :class:`BlockedError`, HTTP errors and pages of another kind than ``expect``
    a ScrapeError naming the URL.
    """
    method = "POST" if data is not None else "GET"
    response = await _request(session, method, url, data)
    where = str(response.url)
    try:
        view = read_page(response.text, where)
    except PageError as exc:
        if response.status_code >= 400:
            status = f"HTTP {response.status_code} {response.reason_phrase}"
            raise ScrapeError(f"{P.NAME}: {status}", url=where) from None
        raise PageError(str(exc), url=where) from None
    if view.page == "blocked":
        raise BlockedError(f"{P.NAME}: {view.error} (Cloudflare)", url=where)
    if view.page == "error-page":
        raise SessionExpired(f"{P.NAME}: the site ended the session: {view.error}", url=where)
    if response.status_code >= 400:
        raise ScrapeError(f"{P.NAME}: HTTP {response.status_code} {response.reason_phrase}", where)
    if expect and view.page not in expect:
        raise PageError(
            f"{P.NAME}: expected a {' or '.join(expect)} page, got {view.page} ({view.reader})",
            url=where,
        )
    return view, where


def wsid_of(url: str, form: dict[str, Any] | None) -> str:
    """The session id: in the page's URL, else in its form's action."""
    for text in (urlsplit(url).query, urlsplit((form or {}).get("action", "")).query):
        values = parse_qs(text).get("wsid")
        if values and values[0]:
            return values[0]
    raise ScrapeError(f"{P.NAME}: no wsid in the page's URL or form", url=url)


def post_target(page_url: str, form: dict[str, Any]) -> str:
    """The form's action (a query relative to the page) without its ``#top``."""
    return urljoin(page_url, form["action"].split("#", 1)[0] or page_url)


def earliest_url(base: str, uid: str, wsid: str) -> str:
    query = [("search_mode", P.EARLIEST_MODE), ("uid", uid), ("wsid", wsid), *P.LANG]
    return f"{base}/{P.SEARCH_RESULT}?{urlencode(query)}"


def start_url(base: str, uid: str) -> str:
    return f"{base}/?{urlencode([('uid', uid)])}"
