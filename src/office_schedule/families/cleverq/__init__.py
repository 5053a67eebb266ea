"""cleverQ (Business Intelligent Cloud GmbH): a Rails booking page over a JSON API (v4).

Request sequence of one snapshot (docs/protocols/systems-2026.md section 4):

1. the booking page ``{host}/public/appointments/{slug}/index.html?lang=de`` (the catalog's
   ``index_url``) sets the session cookie and carries ``<meta name="csrf-token">`` and the
   ``booking_session_key``;
2. ``/api/external/v4/sites/info?site_url_name={slug}&locale=de`` lists the site's services
   and their subtasks (duration = ``initial_duration`` x 5 minutes);
3. per service (all, or the catalog's ``services``), with its shortest subtask (ties: the
   first listed), ``available_days`` from today to today + 7 x weeks;
4. ``available_time_slots`` per open day; only ``available > 0`` and not ``outdated`` is free.

An expired session (HTTP 403 or ``error: 1012``) is replaced by a fresh one once per
snapshot; a second expiry is an error. An open day whose every slot answers ``available:
0`` contradicts the day list: when no open day of a service has a free slot this is the
wrong-subtask symptom and an error naming the subtask, never "fully booked"; next to days
with free slots such a day was booked meanwhile and is stored as such. Local times.

Guesses (no real answer recorded): the HTTP status of ``error: 1012`` (read from the body
whatever the status), and that every v4 request takes ``mode_active=false`` as the 2025-26
bots send it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from ...errors import BlockedError, ScrapeError
from ...fetch.daily import reuse_kw
from ...model import Location, ParsedSnapshot
from .. import propose
from ..family import Family
from ..pages import PageError, PageView
from ..payload import Payload
from .pages import (
    ALL_OUTDATED,
    CSRF_HEADER,
    DAYS_PATH,
    EXPIRED_CODE,
    NAME,
    NO_OPEN_DAY,
    SESSION_COOKIE,
    SESSION_KEY,
    SITE_INFO_PATH,
    SUBTASK_PARAM,
    TIMES_PATH,
    AllZeroDay,
    read_page,
    subtask_item,
)

_INDEX_MARK = "/public/appointments/"
PAYLOAD = Payload(NAME)


def locate(index_url: str) -> tuple[str, str]:
    """``(API root, slug)`` of a booking page URL ``…/public/appointments/{slug}/index.html``."""
    split = urlsplit(index_url or "")
    head, mark, tail = split.path.partition(_INDEX_MARK)
    slug = tail.split("/", 1)[0]
    if not mark or not slug or not split.scheme:
        raise ScrapeError(
            f"cleverq: index_url {index_url!r} is not a booking page "
            f"(…{_INDEX_MARK}{{slug}}/index.html)"
        )
    return f"{split.scheme}://{split.netloc}{head}", unquote(slug)


class _Client:
    """One snapshot's session: tokens from the booking page, one refresh when they expire."""

    def __init__(self, source: Any, session: Any):
        self.session = session
        self.api, self.slug = locate(source.index_url)
        self.index_url = source.index_url
        self.csrf = self.key = ""
        self.refreshed = False

    async def open(self) -> None:
        self.session.clear_cookies()
        response = await self.session.get(self.index_url)
        view = read_page(response.text, str(response.url))
        if view.page != "start":
            raise PageError(
                f"cleverq: expected the booking page, got {view.page}", url=self.index_url
            )
        self.csrf, self.key = view.details["csrf"], view.details["session_key"]

    async def refresh(self, why: str, url: str) -> None:
        if self.refreshed:
            raise ScrapeError(
                f"cleverq: the session expired again after a fresh one ({why})", url=url
            )
        self.refreshed = True
        await self.open()

    async def get(
        self, path: str, params: list[tuple[str, str]], kinds: tuple[str, ...], reuse=False
    ) -> PageView:
        """An API answer read by ``read_page``; the session key is added to ``params``."""
        url = self.api + path
        headers = {CSRF_HEADER: self.csrf, "Referer": self.index_url, "Accept": "application/json"}
        while True:
            query = [*params, (SESSION_KEY, self.key)] if path != SITE_INFO_PATH else params
            headers[CSRF_HEADER] = self.csrf
            try:
                response = await self.session.get(
                    url,
                    params=query,
                    headers=headers,
                    allow_error_status=True,
                    **reuse_kw(self.session, reuse),
                )
            except BlockedError as exc:
                if not str(exc).startswith("HTTP 403"):
                    raise
                if self.refreshed:
                    raise BlockedError(f"{exc} (also with a fresh session)", url=exc.url) from None
                await self.refresh("HTTP 403", exc.url or url)
                continue
            where = str(response.url)
            view = read_page(response.text, where)
            if view.page == "error-page" and view.details.get("expired"):
                await self.refresh(f"error {EXPIRED_CODE}", where)
                continue
            if view.page == "error-page":
                raise PageError(f"cleverq: the API says {view.error!r}", url=where)
            if response.status_code >= 400:
                raise ScrapeError(
                    f"HTTP {response.status_code} {response.reason_phrase}", url=where
                )
            if view.page not in kinds:
                raise PageError(
                    f"cleverq: expected {' or '.join(kinds)}, got {view.page} ({view.reader})",
                    url=where,
                )
            view.details["url"] = where
            return view


def _shortest(service: dict[str, Any]) -> dict[str, Any]:
    subtasks = service["subtasks"]
    if not subtasks:
        raise ScrapeError(
            f"cleverq: service {service['id']} ({service['name']!r}) lists no subtask; "
            "a request without subtask_items is not documented"
        )
    return min(subtasks, key=lambda s: s["minutes"])  # min keeps the first of equals


async def _read_service(
    client: _Client, site_id: int, service: dict[str, Any], first: str, last: str
) -> dict[str, Any]:
    subtask = _shortest(service)
    common = [("service_id", str(service["id"]))]
    item = (SUBTASK_PARAM, subtask_item(subtask["id"]))
    days_view = await client.get(
        DAYS_PATH.format(site=site_id),
        [*common, ("from_day", first), ("to_day", last), ("mode_active", "false"), item],
        ("days", "none-free"),
    )
    entry: dict[str, Any] = {
        "id": str(service["id"]),
        "name": service["name"],
        "subtask": subtask,
        "days": days_view.days,
        "slots": [],
        "url": days_view.details["url"],
    }
    if days_view.page == "none-free":
        entry["none_free"] = days_view.marker
        return entry
    outside = [d for d in days_view.days if not first <= d <= last]
    if outside:
        raise PageError(
            f"cleverq: the API lists open days outside {first} to {last}: {', '.join(outside)}",
            url=days_view.details["url"],
        )
    zero_days, outdated_days = [], []
    for day in entry["days"]:
        params = [*common, ("day", day), ("show_all", "true"), item]
        try:
            view = await client.get(TIMES_PATH.format(site=site_id), params, ("times", "none-free"))
        except AllZeroDay as exc:
            zero_days.append((day, exc))
            continue
        entry["url"] = view.details["url"]
        if view.page == "none-free":
            outdated_days.append(day)
        entry["slots"].extend(view.slots)
    if zero_days and not entry["slots"]:
        day, exc = zero_days[0]
        raise PageError(
            f"cleverq: no open day of service {service['id']} ({service['name']!r}) has a free "
            f"slot and {len(zero_days)} of them answer available 0 for every slot: subtask "
            f"{subtask['id']} ({subtask['name']!r}) is probably wrong ({exc})",
            url=exc.url,
        )
    if not entry["slots"]:
        entry["none_free"] = f"{ALL_OUTDATED} (open days {', '.join(outdated_days)})"
    if zero_days:
        entry["booked_meanwhile"] = [day for day, _ in zero_days]
    return entry


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of a cleverQ site; returns ``{"site": …, "services": […]}``."""
    client = _Client(source, session)
    await client.open()
    info = await client.get(  # the service catalogue: daily
        SITE_INFO_PATH,
        [("site_url_name", client.slug), ("locale", "de")],
        ("services", "closed"),
        reuse=True,
    )
    site = {"id": info.details["site_id"], "name": info.details["site_name"], "slug": client.slug}
    if info.page == "closed":
        return {"site": site, "services": [], "none_free": info.error}
    services = info.details["services"]
    wanted = [s.strip() for s in str(source.params.get("services", "")).split(",") if s.strip()]
    if wanted:
        known = {str(s["id"]): s for s in services}
        missing = [w for w in wanted if w not in known]
        if missing:
            raise ScrapeError(
                f"cleverq: the site lists no service {', '.join(missing)} "
                f"(it lists {', '.join(known) or 'none'})",
                url=info.details["url"],
            )
        services = [known[w] for w in wanted]
    first = now.date().isoformat()
    last = (now.date() + timedelta(days=7 * weeks)).isoformat()
    out = [await _read_service(client, site["id"], s, first, last) for s in services]
    return {"site": site, "services": out}


# --------------------------------------------------------------------------- parsing


def _location(where: str, entry: dict[str, Any]) -> Location:
    subtask = PAYLOAD.obj(entry.get("subtask"), f"{where}.subtask")
    return PAYLOAD.location(
        entry,
        where,
        PAYLOAD.slot_texts(entry, where),
        name=PAYLOAD.text(entry, "name", where),
        services=(PAYLOAD.text(subtask, "name", f"{where}.subtask"),),
    )


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = the site's services read (ids as the API names them)."""
    return PAYLOAD.snapshot(raw, "services", _location, what="service id")


FAMILY = Family(
    name=NAME,
    summary="JSON API: booking page tokens -> site info -> open days -> time slots per service",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("services",),
    # sequential; 1 request/s per host (the SIRI watcher polls a site every 180 s)
    politeness={"per_host_concurrency": 1, "min_gap": 1.0},
    fingerprints=(r"cleverq\.de",),
    page_fingerprints=(
        r"\bbooking_session_key\b",
        r'data-react-class="PublicAppointments"',
    ),
    propose=propose.cleverq,
    server="office_schedule.simulate.cleverq_server",
)

__all__ = [
    "ALL_OUTDATED",
    "FAMILY",
    "NAME",
    "NO_OPEN_DAY",
    "SESSION_COOKIE",
    "locate",
    "parse",
    "read_page",
    "scrape",
]
