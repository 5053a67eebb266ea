"""netappoint scraping: one GET tells the skin, then the classic or the WEB_APPOINT flow.

Every answer goes through :func:`read_page` and the flow branches on ``view.reader``, so
``office-schedule read-page netappoint`` shows exactly what a sweep stores.

First request: ``GET {base}/index.php`` with ``company`` (when the catalog has one) and the
``extra`` parameters. A ``frm_casetype`` form means the **classic** skin (company
required), a ``WEB_APPOINT_CASETYPELIST`` form the **WEB_APPOINT** skin.

Classic (protocol notes 2.2), per category: POST the first case (retried once with the
second if the answer is not understood); the answer is a month calendar, a "no slots"
message or a branch chooser whose first ``step=3`` link leads to the calendar. After
clearing the session cookies the days from the first bookable day through today + 7 x
weeks are fetched from the first link (``step=4`` -> ``3``): in the month shown only the
days it links as bookable, after it every day. The classic index is kept for a day
(``fetch/daily.py``). Requests per snapshot: ``sum over categories of (1 POST [+1 retry]
[+1 chooser GET] + D)`` (+1 for the index once a day) with ``D`` the bookable days of the
month shown plus every later day through today + 7W (0 when none is bookable by then).

WEB_APPOINT, per service on the form: ``POST CASETYPES[<service>]=1`` (the others 0) with
the form's hidden fields and ``step=WEB_APPOINT_SEARCH_BY_CASETYPES``; each answer lists
locations (32-hex id, caption) with their free times in ``jsonAppoints``. Locations are
the union over services; times are kept from today through today + 7W. Requests per
snapshot: ``1 + number of services``.

Raw payload: a list, one entry per location in page order::

    {"location": name, "dates": ["YYYY-MM-DD HH:MM", ...], "none_free": marker or null,
     "url": page, ["id": 32-hex, "services": [...]]}   # id/services: WEB_APPOINT only
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx2

from ...errors import BlockedError, ScrapeError
from ...fetch.daily import reuse_kw, reused
from ..pages import PageError, PageView
from . import classic, webappoint
from . import protocol as p
from .reader import read_page

if TYPE_CHECKING:
    from ...fetch import Session
    from ...model import Source


class SessionExpired(ScrapeError):
    """The site forgot our selection; retrying the POST with another case cannot help."""


def origin_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise ScrapeError(f"netappoint base_url {base_url!r} is not an absolute URL", base_url)
    return f"{parts.scheme}://{parts.netloc}"


def extra_params(extra: str) -> dict[str, str]:
    """``cur_cause=0&x=1`` -> {"cur_cause": "0", "x": "1"} (values sent percent-encoded)."""
    params = {}
    for part in (extra or "").split("&"):
        if part.strip():
            key, _, value = part.strip().partition("=")
            params[key] = value
    return params


def read_answer(response: httpx2.Response) -> PageView:
    """``read_page`` of an answer; an expired session raises :class:`SessionExpired`."""
    view = read_page(response.text, str(response.url))
    if view.page == "error-page":
        raise SessionExpired(f"netappoint session expired: {view.error}", str(response.url))
    return view


async def scrape(source: Source, session: Session, weeks: int, now: datetime) -> list:
    """Scrape one netappoint tenant of either skin; the raw payload of the module docstring."""
    base = source.base_url.rstrip("/")
    origin = origin_of(base)
    company = source.params.get("company")
    params = ({"company": company} if company else {}) | extra_params(source.params.get("extra"))
    # the index (categories, cases, form target) changes rarely: kept for a day; the
    # selection POST starts its own session (protocol notes 2.5)
    kept = reused(session)
    first = await session.get(f"{base}/index.php", params=params, **reuse_kw(session))
    url = str(first.url)
    try:
        view = read_answer(first)
        if reused(session) > kept and view.reader == webappoint.FORM:
            # a WEB_APPOINT form carries its session's token: never the kept copy
            first = await session.get(f"{base}/index.php", params=params)
            view = read_answer(first)
    except PageError as exc:
        if company:
            raise
        raise ScrapeError(
            f"netappoint source {source.id!r} has no company parameter and its first answer is "
            f"no WEB_APPOINT form ({exc})",
            url,
        ) from exc
    last = now.date() + timedelta(days=7 * weeks)
    if view.reader == webappoint.FORM:
        return await _web_appoint(session, view.details["form"], url, now.date(), last)
    if view.reader != classic.INDEX:
        raise ScrapeError(
            f"netappoint first answer is a {view.page} page ({view.reader}), not a form", url
        )
    if not company:
        raise ScrapeError(
            f"netappoint source {source.id!r} runs the classic skin, which needs a company "
            "parameter (catalog params: company=…)",
            url,
        )
    return await _classic(session, view.details["index"], origin, last)


# --------------------------------------------------------------------------- classic


async def _select(
    session: Session, action_url: str, cat: classic.Category, pick: int, origin: str
) -> tuple[PageView, str]:
    """POST the selection of case ``pick``; the calendar (or none-free view) it leads to."""
    data = {case: "0" for case in cat.cases}
    data[cat.cases[pick]] = "1"
    data[p.SUBMIT_NAME] = p.SUBMIT_VALUE
    response = await session.post(action_url, data=data)
    try:
        view = read_answer(response)
    except SessionExpired:
        raise
    except PageError as exc:
        raise ScrapeError(
            f"netappoint category {cat.name!r}: step=3 url not found ({exc})", str(response.url)
        ) from exc
    if view.reader in (classic.CALENDAR, classic.MESSAGE):
        return view, str(response.url)
    if view.reader != classic.BRANCHES:
        raise ScrapeError(
            f"netappoint category {cat.name!r}: the selection answered a {view.page} page "
            f"({view.reader}), not a month calendar, branch chooser or 'no slots' message",
            str(response.url),
        )
    chooser = await session.get(classic.absolute(origin, view.details["link"]))
    view = read_answer(chooser)
    if view.reader != classic.CALENDAR:
        raise ScrapeError(
            f"netappoint category {cat.name!r}: the branch link led to a {view.page} page "
            f"({view.reader}), not a month calendar",
            str(chooser.url),
        )
    return view, str(chooser.url)


async def _calendar(
    session: Session, action_url: str, cat: classic.Category, origin: str
) -> tuple[PageView, str]:
    """Select the first case; if the answer is not understood, retry once with the second."""
    try:
        return await _select(session, action_url, cat, 0, origin)
    except (BlockedError, SessionExpired):
        raise
    except ScrapeError as first:
        if len(cat.cases) < 2:
            raise
        try:
            return await _select(session, action_url, cat, 1, origin)
        except (BlockedError, SessionExpired):
            raise
        except ScrapeError as second:
            raise ScrapeError(
                f"{second} (retried with the second case; the first case failed with: {first})",
                second.url,
            ) from second


async def _day_slots(
    session: Session, links: list[str], origin: str, last: date
) -> tuple[list[str], str | None]:
    """Every free slot from the first bookable day through ``last``, and the marker if none.

    Inside a month the calendar shows, only its bookable days are asked: the month table
    links every bookable day (``a.nat_calendar_weekday_bookable``) and marks the others
    ``nat_calendar_weekday_notbookable`` without a link (protocol notes 2.2 c, 2.3), and
    it is read in this snapshot, just before the day pages. Days after the months shown
    are asked one by one, as the reference asks every day.
    """
    template = classic.absolute(origin, links[0])
    day = classic.link_date(template)
    if day is None:  # the calendar reader checked every link already
        raise ScrapeError("netappoint bookable link lacks a valid year/month/day", template)
    if day > last:
        return [], f"netappoint: the first bookable day {day} is after {last}"
    bookable = {classic.link_date(classic.absolute(origin, link)) for link in links}
    shown = {(d.year, d.month) for d in bookable if d is not None}
    dates: list[str] = []
    while day <= last:
        if (day.year, day.month) in shown and day not in bookable:
            day += timedelta(days=1)
            continue
        url = classic.day_url(template, day)
        view = read_answer(await session.get(url))
        if view.reader != classic.DAY:
            raise ScrapeError(
                f"netappoint day page of {day} is a {view.page} page ({view.reader})", url
            )
        dates += view.slots
        day += timedelta(days=1)
    return dates, None if dates else p.DAY_NONE_FREE


async def _classic(
    session: Session, index: classic.IndexPage, origin: str, last: date
) -> list[dict[str, Any]]:
    action_url = classic.absolute(origin, index.action)
    payload = []
    for cat in index.categories:
        view, where = await _calendar(session, action_url, cat, origin)
        # without this the server answers day pages with the day chooser again
        session.clear_cookies()
        entry: dict[str, Any] = {"location": cat.name, "dates": [], "none_free": view.marker}
        if view.page == "days":
            entry["dates"], entry["none_free"] = await _day_slots(
                session, view.details["links"], origin, last
            )
        entry["url"] = where
        payload.append(entry)
    return payload


# --------------------------------------------------------------------------- WEB_APPOINT


def _none_free(bookable: set[str], today: date, last: date) -> str:
    later = sorted(day for day in bookable if day > last.isoformat())
    if not later:
        return p.NONE_FREE_CELL
    return f"{p.NONE_FREE_CELL} … every day from {today} to {last} (next free day {later[0]})"


async def _web_appoint(
    session: Session, form: webappoint.WebForm, page_url: str, today: date, last: date
) -> list[dict[str, Any]]:
    action = urljoin(page_url, form.action) if form.action else page_url
    merged: dict[str, dict[str, Any]] = {}
    for casetype in form.casetypes:
        data = dict(form.hidden) | {f"CASETYPES[{name}]": "0" for name in form.casetypes}
        data[f"CASETYPES[{casetype}]"] = "1"
        data["step"] = p.SEARCH_STEP
        response = await session.post(action, data=data)
        view = read_answer(response)
        if view.reader != webappoint.ANSWER:
            raise ScrapeError(
                f"netappoint service {casetype!r} answered a {view.page} page ({view.reader}), "
                f"not the {p.JSON_VAR} answer",
                str(response.url),
            )
        for loc in view.details["locations"].values():
            entry = merged.setdefault(
                loc.id,
                {"id": loc.id, "location": loc.caption, "services": [], "slots": set(),
                 "bookable": set(), "url": str(response.url)},
            )  # fmt: skip
            entry["services"].append(casetype)
            entry["slots"] |= {s for s in loc.slots if str(today) <= s[:10] <= str(last)}
            entry["bookable"] |= loc.days
    payload = []
    for entry in merged.values():
        dates = sorted(entry.pop("slots"))
        bookable = entry.pop("bookable")
        entry["dates"] = dates
        entry["none_free"] = None if dates else _none_free(bookable, today, last)
        payload.append(entry)
    return payload
