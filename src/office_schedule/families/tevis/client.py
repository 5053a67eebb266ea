"""Requests of both TEVIS flows: every answer is read by ``read_page`` before it is used."""

from __future__ import annotations

from typing import Any

from ...errors import ScrapeError
from ...fetch.daily import reuse_kw
from ..pages import PageError, PageView
from . import protocol as P
from .pages import read_page


class SessionLost(ScrapeError):
    """TEVIS forgot our selection ("Kein gültiger Mandant gefunden"): start over once."""


async def fetch_view(
    session: Any,
    url: str,
    *,
    method: str = "GET",
    data: dict[str, str] | None = None,
    expect: tuple[str, ...] = (),
    reuse: bool = False,
) -> tuple[PageView, str]:
    """Request ``url`` and read the answer; returns the view and the final URL.

    HTTP errors, the site's error pages and pages of another step than ``expect`` raise
    a ScrapeError naming the URL; the session messages raise :class:`SessionLost`.
    """
    response = await session.request(
        method, url, data=data, allow_error_status=True, **reuse_kw(session, reuse)
    )
    where = session.last_url or url
    text = response.text
    try:
        view = read_page(text, where)
    except PageError as exc:
        if response.status_code >= 400:
            status = f"HTTP {response.status_code} {response.reason_phrase}"
            raise ScrapeError(status, where) from None
        raise PageError(str(exc), url=where) from None
    if view.page == "error-page":
        message = view.error or ""
        if any(m in message for m in P.SESSION_MESSAGES):
            raise SessionLost(
                f"tevis: the site lost the session ({message}); it keeps the selection in "
                f"the {P.SESSION_COOKIE} cookie",
                url=where,
            )
        if not any(m in message for m in P.NO_CALENDAR_MESSAGES) or "error-page" not in expect:
            raise ScrapeError(f"tevis error page: {message}", url=where)
    elif response.status_code >= 400:
        raise ScrapeError(f"HTTP {response.status_code} {response.reason_phrase}", where)
    if expect and view.page not in expect:
        raise PageError(
            f"tevis: expected a {' or '.join(expect)} page, got {view.page} ({view.reader})",
            url=where,
        )
    return view, str(response.url)


async def departments(session: Any, base: str, reuse: bool = False) -> dict[str, str]:
    view, _ = await fetch_view(session, P.url(base, ""), expect=("departments",), reuse=reuse)
    return view.details["departments"]


async def services(session: Any, base: str, md: str, reuse: bool = False) -> PageView:
    """A department's service list; ``reuse``: from the kept copy (it issues no session)."""
    url = P.select2_url(base, md)
    view, _ = await fetch_view(session, url, expect=("services",), reuse=reuse)
    return view
