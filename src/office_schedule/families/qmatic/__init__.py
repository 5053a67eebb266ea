"""Qmatic Web Booking (``{host}/qmaticwebbooking/``): anonymous JSON GETs.

Requests of one snapshot (docs/protocols/systems-2026.md, section 5; shapes in ``pages.py``):

1. ``services``: the catalogue (a catalog ``services`` parameter keeps only those ids);
2. ``branches/available;servicePublicId=S`` once per service: the branches offering it
   (a ``branches`` parameter keeps only those ids);
3. per branch, for the service with the shortest positive ``duration`` it offers (ties: the
   first in catalogue order), ``branches/B/dates;servicePublicId=S;customSlotLength=N``
   with N = that duration: the days with free times;
4. ``.../dates/D/times;...`` for each listed day within today + 7 x weeks.

Cost: 1 + S + B + (listed days within the horizon). Times are the branch's local time as
shown. Every answer is read by :func:`read_page`; a branch without a free time is stored
with the API's explicit empty answer (``none_free``) and the answer's ``url``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...errors import ScrapeError
from ...fetch.daily import reuse_kw
from ...model import Location, ParsedSnapshot
from .. import propose
from ..common import look_ahead_days
from ..family import Family
from ..pages import PageError, PageView
from ..payload import Payload
from .pages import (
    BRANCHES_PATH,
    DATES_PATH,
    NAME,
    NO_DATE,
    NO_SERVICE,
    NO_TIME,
    PUBLIC_ID,
    REST,
    SERVICES_PATH,
    TIMES_PATH,
    read_page,
    rest_url,
)

# --------------------------------------------------------------------------- scraping


def _ids(source: Any, key: str) -> list[str] | None:
    """A comma-separated catalog parameter of public ids, checked; None when not given."""
    text = str(source.params.get(key) or "").strip()
    if not text:
        return None
    ids = [part.strip().lower() for part in text.split(",") if part.strip()]
    bad = [i for i in ids if not PUBLIC_ID.fullmatch(i)]
    if bad:
        raise ScrapeError(f"qmatic: source {source.id!r}: {key} {bad} are not 64-hex public ids")
    return ids


class _Walk:
    """One snapshot: the session, the tenant's base URL and the horizon."""

    def __init__(self, source: Any, session: Any, weeks: int, now: datetime):
        self.session = session
        self.base = str(source.params.get("base_url") or "").strip().rstrip("/")
        if not self.base:
            raise ScrapeError(f"qmatic: source {source.id!r} has no base_url")
        if self.base.endswith(REST):
            self.base = self.base[: -len(REST)]
        self.days = {d.isoformat() for d in look_ahead_days(now.date(), weeks)}
        self.horizon = 7 * weeks

    async def view(
        self, url: str, kinds: tuple[str, ...], reuse: bool = False
    ) -> tuple[PageView, str]:
        headers = {"Accept": "application/json"}
        response = await self.session.get(url, headers=headers, **reuse_kw(self.session, reuse))
        where = str(response.url)
        view = read_page(response.text, where)
        if view.page not in kinds:
            raise PageError(
                f"qmatic: expected {' or '.join(kinds)}, got {view.page} ({view.reader})",
                url=where,
            )
        return view, where

    async def branch(self, entry: dict[str, Any], service: dict[str, Any]) -> None:
        """Steps 3 and 4 for one branch; fills ``entry`` in place."""
        length = str(service["duration"])
        common = {"branch": entry["id"], "service": service["id"], "length": length}
        view, entry["url"] = await self.view(
            rest_url(self.base, DATES_PATH, **common), ("days", "none-free")
        )
        entry.update(service=service["id"], slot_length=service["duration"], dates=view.days)
        if view.page == "none-free":
            entry["none_free"] = view.marker
            return
        wanted = [d for d in view.days if d in self.days]
        if not wanted:
            entry["none_free"] = (
                f"{NO_DATE} within {self.horizon} days (first listed {view.days[0]})"
            )
            return
        empty_days, empty_url = [], None
        for day in wanted:
            times, where = await self.view(
                rest_url(self.base, TIMES_PATH, day=day, **common), ("times", "none-free")
            )
            if times.page == "none-free":
                empty_days.append(day)
                empty_url = empty_url or where
            entry["slots"].extend(times.slots)
        if not entry["slots"]:
            entry["none_free"] = f"{NO_TIME} for every listed day ({', '.join(empty_days)})"
            entry["url"] = empty_url


def _chosen(services: list[dict[str, Any]], offered: list[str]) -> dict[str, Any] | None:
    """The shortest positive duration among the offered services; ties: catalogue order."""
    best = None
    for service in services:
        if service["id"] in offered and service["duration"]:
            if best is None or service["duration"] < best["duration"]:
                best = service
    return best


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of a Qmatic Web Booking tenant (raw payload, see :func:`parse`)."""
    walk = _Walk(source, session, weeks, now)
    # the catalogue (services, the branches offering each) is read daily
    services_url = rest_url(walk.base, SERVICES_PATH)
    view, where = await walk.view(services_url, ("services", "closed"), reuse=True)
    if view.page == "closed":
        raise ScrapeError(f"qmatic: {view.error} (tenant closed or moved?)", url=where)
    services = view.details["services"]
    only = _ids(source, "services")
    if only is not None:
        missing = sorted(set(only) - {s["id"] for s in services})
        if missing:
            raise ScrapeError(f"qmatic: the catalogue lists no service {missing}", url=where)
        services = [s for s in services if s["id"] in only]
    branches: dict[str, dict[str, Any]] = {}
    for service in services:
        url = rest_url(walk.base, BRANCHES_PATH, service=service["id"])
        listed, _ = await walk.view(url, ("offices", "none-free"), reuse=True)
        for office in listed.offices:
            entry = branches.setdefault(
                office.id, {"id": office.id, "name": office.name, "services": [], "slots": []}
            )
            entry["services"].append(service["id"])
    keep = _ids(source, "branches")
    if keep is not None:
        missing = sorted(set(keep) - set(branches))
        if missing:
            raise ScrapeError(f"qmatic: no service of the catalogue is offered at {missing}")
        branches = {bid: b for bid, b in branches.items() if bid in keep}
    for entry in branches.values():
        service = _chosen(services, entry["services"])
        if service is None:
            raise ScrapeError(
                f"qmatic: branch {entry['id']} ({entry['name']}) offers no service with a "
                "positive duration: no customSlotLength to ask with"
            )
        await walk.branch(entry, service)
    raw: dict[str, Any] = {"services": services, "branches": list(branches.values())}
    if not branches:
        raw["none_free"] = f"qmatic: API listed no branch for any of {len(services)} services"
    return raw


# --------------------------------------------------------------------------- parsing

PAYLOAD = Payload(NAME)


def _branch(where: str, entry: dict[str, Any], names: dict[str, str]) -> Location:
    offered = entry.get("services")
    if not isinstance(offered, list) or not all(s in names for s in offered):
        raise PAYLOAD.fail(where, f"'services' must list catalogue ids, got {offered!r}")
    return PAYLOAD.location(
        entry,
        where,
        PAYLOAD.slot_texts(entry, where),
        name=PAYLOAD.text(entry, "name", where, optional=True),
        services=tuple(sorted(names[s] for s in offered)),
    )


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = branches; services = names of the catalogue services offered there."""
    names = {}
    for i, service in enumerate(PAYLOAD.items(raw, "services")):
        where = f"services[{i}]"
        service = PAYLOAD.obj(service, where)
        names[PAYLOAD.text(service, "id", where)] = PAYLOAD.text(service, "name", where)
    return PAYLOAD.snapshot(
        raw, "branches", lambda where, entry: _branch(where, entry, names), what="branch"
    )


FAMILY = Family(
    name=NAME,
    summary="JSON API: services -> branches per service -> dates -> times (Qmatic Web Booking)",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url",),
    optional=("services", "branches"),
    # no stated limit; 1 request/s per host and one at a time is the safe ceiling of the notes
    politeness={"per_host_concurrency": 1, "min_gap": 1.0},
    fingerprints=(r"/qmaticwebbooking\b",),
    page_fingerprints=(r"<title>\s*Qmatic Web Booking",),
    propose=propose.qmatic,
    server="office_schedule.simulate.qmatic_server",
)

__all__ = [
    "BRANCHES_PATH",
    "DATES_PATH",
    "FAMILY",
    "NAME",
    "NO_DATE",
    "NO_SERVICE",
    "NO_TIME",
    "PUBLIC_ID",
    "REST",
    "SERVICES_PATH",
    "TIMES_PATH",
    "parse",
    "read_page",
    "scrape",
]
