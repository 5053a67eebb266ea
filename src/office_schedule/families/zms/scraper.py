"""zms: one snapshot of one service, through the readers of ``pages.py``.

Requests (docs/protocols/systems-2026.md, section 1.1), ``T`` = today, ``E`` = T + 7 x weeks:

1. ``offices-and-services/``: the only catalogue call; the offices offering the service
   (``relations``, public ones, not disabled for it). Offices whose scope sets
   ``captchaActivatedRequired`` are not requested at all (the proof-of-work is not solved):
   they are stored in ``captcha`` with that status.
2. ``available-calendar/?startDate=T&endDate=E&officeIds=…&serviceIds=S&serviceCounts=1``:
   every bookable day of all those offices, with the appointments of the first one;
3. the same with ``slotsStartDate=slotsEndDate=D`` for every further listed day ``D``: the
   backend computes appointments for one day per answer.

When ``available-calendar/`` answers the catch-all ``notFound``, the older endpoints are
used, chosen by their answers: ``available-days-by-office/`` + one
``available-appointments-by-office/`` per listed day (all offices in each call), then the
2025 ``available-days`` + ``available-appointments`` per office and day.

Requests per snapshot, ``N`` = bookable days in T..E (any office), ``N_o`` = those of office
``o``: ``1 + max(1, N)`` (calendar), ``3 + N`` (by-office), ``3 + sum(1 + N_o)`` (backend).
The catalogue and the generation that answered are kept for a day (``fetch/daily.py``):
then ``max(1, N)``, ``1 + N`` and ``sum(1 + N_o)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ...errors import BlockedError, ScrapeError
from ...fetch.daily import reuse_kw
from ..pages import PageError, PageView
from . import protocol as p
from .pages import read_page


@dataclass
class _Office:
    id: str
    name: str
    epochs: set[int] = field(default_factory=set)
    #: days the API listed as bookable for this office
    listed: set[str] = field(default_factory=set)
    #: days whose appointments answers covered this office
    asked: set[str] = field(default_factory=set)
    marker: str | None = None
    #: the answer that brought its first appointment, else the last one about it
    url: str | None = None
    seen: str | None = None

    def payload(self, fallback_url: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "appointments": sorted(self.epochs),
            "url": self.url or self.seen or fallback_url,
        }
        if not self.epochs:
            out["none_free"] = self.marker or self.statement()
        return out

    def statement(self) -> str:
        if not self.listed:
            return p.NO_OFFICE_DAY
        return f"{p.NO_SLOT} {', '.join(sorted(self.asked or self.listed))}"


class _Walk:
    def __init__(self, source: Any, session: Any, weeks: int, now: datetime):
        self.session = session
        self.service = str(source.params.get("service_id", "")).strip()
        if p.office_id(self.service) is None:
            raise ScrapeError(f"zms: source {source.id!r} has no usable service_id")
        self.base = str(source.params.get("base_url") or p.DEFAULT_BASE_URL).rstrip("/")
        wanted = str(source.params.get("office_ids") or "")
        self.only = [part.strip() for part in wanted.split(",") if part.strip()]
        self.start = now.date()
        self.end = self.start + timedelta(days=min(7 * weeks, p.MAX_FUTURE_DAYS))
        self.offices: dict[str, _Office] = {}
        self.last_url: str | None = None

    async def view(
        self, endpoint: str, query: str, kinds: tuple[str, ...], reuse: bool = False
    ) -> PageView:
        url = f"{self.base}/{endpoint}" + (f"?{query}" if query else "")
        response = await self.session.get(
            url, allow_error_status=True, **reuse_kw(self.session, reuse)
        )
        where = self.last_url = str(response.url)
        view = read_page(response.text, where)
        if view.page == "blocked":
            raise BlockedError(f"zms: the API refuses us: {view.error}", url=where)
        if view.page == "error-page" and not (missing(view) and "error-page" in kinds):
            raise ScrapeError(
                f"zms: the API says {view.error!r} (HTTP {response.status_code})", url=where
            )
        if view.page not in kinds:
            raise PageError(f"zms: expected {' or '.join(kinds)}, got {view.page}", url=where)
        return view

    # -- step 1 ------------------------------------------------------------------------
    async def catalogue(self) -> tuple[str, list[dict[str, str]]]:
        # daily, not per snapshot (protocol notes 1.1); a stale one fails a later request
        view = await self.view(p.CATALOGUE, "", ("services",), reuse=True)
        details = view.details
        name = details["services"].get(self.service)
        if name is None:
            raise ScrapeError(
                f"zms: offices-and-services does not list service {self.service}",
                url=self.last_url,
            )
        offering = {oid for oid, sid in details["relations"] if sid == self.service}
        unlisted = sorted(offering - set(details["offices"]))
        if unlisted:
            raise PageError(
                f"zms: relations name unlisted offices {', '.join(unlisted)} for service "
                f"{self.service}",
                url=self.last_url,
            )
        captcha = []
        for oid, office in details["offices"].items():
            if oid not in offering or self.service in office["disabled"]:
                continue
            if self.only and oid not in self.only:
                continue
            if office["captcha"]:
                captcha.append({"id": oid, "name": office["name"], "status": p.CAPTCHA_STATUS})
            else:
                self.offices[oid] = _Office(oid, office["name"])
        unknown = sorted(set(self.only) - set(self.offices) - {c["id"] for c in captcha})
        if unknown:
            raise ScrapeError(
                f"zms: office_ids {', '.join(unknown)} do not offer service {self.service}",
                url=self.last_url,
            )
        return name, captcha

    def record(self, view: PageView, url: str) -> None:
        """Appointments and listed days of one answer, per office."""
        for day, ids in view.details.get("listed", {}).items():
            for oid in ids:
                if oid in self.offices:
                    self.offices[oid].listed.add(day)
        covered = view.details.get("covered") or []
        day = view.details.get("day")
        for office in self.offices.values():
            if view.details.get("office") in (None, office.id):
                office.asked.update(covered + ([day] if day else []))
                office.seen = url
        for oid, epochs in view.details.get("offices", {}).items():
            office = self.offices.get(oid)
            if office is None:
                raise PageError(f"zms: appointments of office {oid}, which was not asked", url=url)
            if epochs and not office.epochs:
                office.url = url
            office.epochs.update(epochs)

    def none_free(self, view: PageView, offices: list[_Office]) -> None:
        for office in offices:
            office.marker = office.marker or view.marker
            office.seen = self.last_url

    # -- step 2-3: the three generations -----------------------------------------------
    async def calendar(self, ids: list[str]) -> bool:
        kinds = ("days", "none-free", "error-page")
        query = p.calendar_query(self.start, self.end, ids, self.service)
        first = await self.view(p.CALENDAR, query, kinds)
        if missing(first):
            return False
        if first.page == "none-free":
            self.none_free(first, list(self.offices.values()))
            return True
        self.record(first, self.last_url or "")
        done = set(first.details["covered"])
        for day in sorted(set(first.days) - done):
            if not self.start.isoformat() <= day <= self.end.isoformat():
                continue
            query = p.calendar_query(
                self.start, self.end, ids, self.service, date.fromisoformat(day)
            )
            view = await self.view(p.CALENDAR, query, ("days", "none-free"))
            self.record(view, self.last_url or "")
        return True

    async def by_office(self, ids: list[str]) -> bool:
        query = p.days_by_office_query(self.start, self.end, ids, self.service)
        days = await self.view(p.DAYS_BY_OFFICE, query, ("days", "none-free", "error-page"))
        if missing(days):
            return False
        if days.page == "none-free":
            self.none_free(days, list(self.offices.values()))
            return True
        self.record(days, self.last_url or "")
        for day in days.days:
            query = p.appointments_by_office_query(date.fromisoformat(day), ids, self.service)
            view = await self.view(p.APPOINTMENTS_BY_OFFICE, query, ("times", "none-free"))
            view.details.setdefault("day", day)
            self.record(view, self.last_url or "")
        return True

    async def backend(self, ids: list[str]) -> bool:
        for n, oid in enumerate(ids):
            office = self.offices[oid]
            kinds = ("days", "none-free", "error-page") if n == 0 else ("days", "none-free")
            query = p.days_by_office_query(self.start, self.end, [oid], self.service)
            days = await self.view(p.BACKEND_DAYS, query, kinds)
            if missing(days):
                return False
            if days.page == "none-free":
                self.none_free(days, [office])
                continue
            office.listed.update(days.days)
            for day in days.days:
                query = p.appointments_by_office_query(date.fromisoformat(day), [oid], self.service)
                view = await self.view(p.BACKEND_APPOINTMENTS, query, ("times", "none-free"))
                found = view.details.get("offices", {})
                view.details["offices"] = {oid: found.get("?", found.get(oid, []))}
                view.details.update({"office": oid, "day": view.details.get("day") or day})
                self.record(view, self.last_url or "")
        return True


GENERATION_FACT = "zms-generation"


def missing(view: PageView) -> bool:
    """The catch-all answer of an endpoint this API generation does not have."""
    return view.page == "error-page" and p.NOT_FOUND in view.details.get("codes", [])


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of one service's offices; returns the raw payload."""
    walk = _Walk(source, session, weeks, now)
    name, captcha = await walk.catalogue()
    raw: dict[str, Any] = {
        "service": {"id": walk.service, "name": name},
        "start": walk.start.isoformat(),
        "end": walk.end.isoformat(),
        "api": None,
        "offices": [],
        "captcha": captcha,
    }
    if not walk.offices and not captcha:
        raw["none_free"] = f"{p.NO_OFFICE} {walk.service} ({name})"
        return raw
    if not walk.offices:
        raise BlockedError(
            f"zms: every office offering service {walk.service} requires a captcha "
            f"({', '.join(c['id'] for c in captcha)}); not solved, not requested",
            url=walk.last_url,
        )
    ids = sorted(walk.offices)
    steps = dict(zip(p.GENERATIONS, (walk.calendar, walk.by_office, walk.backend), strict=True))
    # the generation that answered before is asked first (kept a day like the catalogue);
    # the others only when it is missing now
    known = session.recall(GENERATION_FACT) if hasattr(session, "recall") else None
    order = [known] if known in steps else []
    order += [g for g in p.GENERATIONS if g not in order]
    for generation in order:
        if await steps[generation](ids):
            raw["api"] = generation
            if hasattr(session, "note"):
                session.note(GENERATION_FACT, generation)
            break
    else:
        raise ScrapeError(
            f"zms: none of the three API generations answers at {walk.base}", url=walk.last_url
        )
    raw["offices"] = [walk.offices[oid].payload(walk.last_url) for oid in ids]
    return raw
