"""Konsentas online appointments (``{tenant}.konsentas.de/form/{n}/``): a JSON API.

Requests per choice of the form's catalogue (docs/protocols/systems-2026.md, section 13;
shapes in ``pages.py``), all with ``X-Requested-With: XMLHttpRequest``:

1. ``getOtaStartUp/?signupform_id=N&...``: an anonymous JWT, the first ``op_id`` and the
   catalogue (the first start-up of a snapshot serves the first choice too);
2. ``postOtaNextStep/`` with ``formdata[processes][0]=opt-{dept}_{recno}``, ``op_id``,
   ``navigation=1`` and ``Authorization: Bearer {jwt}``, then the confirm step with an empty
   ``formdata[processes][0]``; both answer ``code`` 3 and the next ``op_id``;
3. ``brick_ota_termin_getFirstAvailableTimeslot/``: the earliest slot, or ``null`` (then the
   choice is stored empty with that statement);
4. ``brick_ota_termin_getTimeslot/?start=&end=`` (unix seconds of local midnight today and
   after today + 7 x weeks): every timeslot with ``places``; free = ``places`` > 0.

Cost: at most 5 per choice. Step 4 in the anonymous flow is the notes' GUESS: any answer
off the documented shapes, a refusal, or a listing that lacks the earliest slot step 3
named fails the source with the reason. Step 2 is sent form-encoded (the Stuttgart ABH
watcher does so); the browser sends multipart. Times: minutes after local midnight.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from ...clock import OFFICE_TZ
from ...errors import ScrapeError
from ...model import Location, ParsedSnapshot
from .. import propose
from ..common import look_ahead_days
from ..family import Family
from ..pages import PageError, PageView
from ..payload import Payload
from .pages import (
    CHOOSE_FIELD,
    FIRST_PATH,
    NAME,
    NEXT_STEP_PATH,
    SLOTS_PATH,
    STARTUP_PATH,
    STARTUP_QUERY,
    UNVERIFIED,
    read_page,
)

XHR = {"X-Requested-With": "XMLHttpRequest"}


def epoch(day: Any) -> int:
    """Unix seconds of local midnight starting ``day`` (office time zone)."""
    return int(datetime.combine(day, time(0), tzinfo=OFFICE_TZ).timestamp())


class _Walk:
    """One snapshot: session, tenant, form and the horizon's unix range."""

    def __init__(self, source: Any, session: Any, weeks: int, now: datetime):
        self.session = session
        self.base = str(source.params.get("base_url") or "").strip().rstrip("/")
        self.form = str(source.params.get("signupform_id") or "").strip()
        if not self.base or not self.form.isdigit():
            raise ScrapeError(f"konsentas: source {source.id!r} needs base_url and signupform_id")
        days = look_ahead_days(now.date(), weeks)
        self.start, self.end = epoch(days[0]), epoch(days[-1] + timedelta(days=1))
        self.jwt = ""

    async def view(self, response: Any, step: str, kinds: tuple[str, ...]) -> PageView:
        where = str(response.url)
        view = read_page(response.text, where)
        if view.page == "error-page":
            hint = f" ({UNVERIFIED})" if step == "getTimeslot" else ""
            raise ScrapeError(f"konsentas {step}: the API says {view.error}{hint}", url=where)
        if view.page not in kinds:
            raise PageError(
                f"konsentas {step}: expected {' or '.join(kinds)}, got {view.page} ({view.reader})",
                url=where,
            )
        view.details["url"] = where
        return view

    def headers(self) -> dict[str, str]:
        return {**XHR, "Authorization": f"Bearer {self.jwt}"}

    async def startup(self) -> PageView:
        url = f"{self.base}{STARTUP_PATH}?" + STARTUP_QUERY.format(form=self.form)
        response = await self.session.get(url, headers=XHR)
        view = await self.view(response, "getOtaStartUp", ("services", "closed"))
        if view.page == "services":
            self.jwt = view.details["jwt"]
        return view

    async def step(self, fields: dict[str, str], what: str) -> str:
        response = await self.session.post(
            f"{self.base}{NEXT_STEP_PATH}", data=fields, headers=self.headers()
        )
        view = await self.view(response, f"postOtaNextStep ({what})", ("start",))
        return view.details["op_id"]

    async def get(self, path: str, step: str, kinds: tuple[str, ...]) -> PageView:
        response = await self.session.get(f"{self.base}{path}", headers=self.headers())
        return await self.view(response, step, kinds)

    async def choice(self, choice: dict[str, str], op_id: str) -> dict[str, Any]:
        """Steps 2-4 for one choice of a fresh start-up; the payload entry."""
        op_id = await self.step(
            {CHOOSE_FIELD: choice["choice"], "op_id": op_id, "navigation": "1"}, "process"
        )
        await self.step({"0": "", CHOOSE_FIELD: "", "op_id": op_id, "navigation": "1"}, "confirm")
        entry: dict[str, Any] = {"id": choice["id"], "name": choice["name"], "slots": []}
        first = await self.get(FIRST_PATH, "getFirstAvailableTimeslot", ("offices", "none-free"))
        if first.page == "none-free":
            entry.update(none_free=first.marker, url=first.details["url"])
            return entry
        entry["first"] = first.details["first"]
        listing = await self.get(
            f"{SLOTS_PATH}?start={self.start}&end={self.end}", "getTimeslot", ("times", "none-free")
        )
        entry["url"] = listing.details["url"]
        inside = self.start <= epoch(datetime.fromisoformat(entry["first"]).date()) < self.end
        if inside and entry["first"] not in listing.details["listed"]:
            raise PageError(
                f"konsentas getTimeslot: the listing lacks the first available timeslot "
                f"{entry['first']} ({UNVERIFIED})",
                url=entry["url"],
            )
        if listing.page == "none-free":
            entry["none_free"] = listing.marker
        entry["slots"] = listing.slots
        return entry


def _wanted(source: Any, choices: list[dict[str, str]]) -> list[dict[str, str]]:
    text = str(source.params.get("choices") or "").strip()
    if not text:
        return choices
    keep = [part.strip() for part in text.split(",") if part.strip()]
    missing = sorted(set(keep) - {c["id"] for c in choices})
    if missing:
        raise ScrapeError(f"konsentas: the form lists no choice {missing}")
    return [c for c in choices if c["id"] in keep]


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    """Fetch one snapshot of a Konsentas form (raw payload, see :func:`parse`)."""
    walk = _Walk(source, session, weeks, now)
    view = await walk.startup()
    if view.page == "closed":
        raise ScrapeError(f"{view.error} (form {walk.form})", url=view.details["url"])
    entries = []
    for i, choice in enumerate(_wanted(source, view.details["choices"])):
        if i:  # a wizard session chooses once: every further choice starts afresh
            view = await walk.startup()
            if choice["id"] not in {c["id"] for c in view.details.get("choices", [])}:
                raise ScrapeError(f"konsentas: choice {choice['id']} vanished from the form")
        entries.append(await walk.choice(choice, view.details["op_id"]))
    return {"form": walk.form, "choices": entries}


# --------------------------------------------------------------------------- parsing

PAYLOAD = Payload(NAME)


def _choice(where: str, entry: dict[str, Any]) -> Location:
    name = PAYLOAD.text(entry, "name", where)
    return PAYLOAD.location(
        entry, where, PAYLOAD.slot_texts(entry, where), name=name, services=(name,)
    )


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = the form's choices (``{department}_{recno}``), named as the form shows."""
    return PAYLOAD.snapshot(raw, "choices", _choice, what="choice")


FAMILY = Family(
    name=NAME,
    summary="JSON API: start-up (JWT, catalogue) -> choose + confirm -> first and all "
    "timeslots per choice (konsentas.de)",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url", "signupform_id"),
    optional=("choices",),
    # no stated limit; 1 request/s per host and one at a time is the safe ceiling of the notes
    politeness={"per_host_concurrency": 1, "min_gap": 1.0},
    fingerprints=(r"\.konsentas\.de",),
    page_fingerprints=(
        r"""id=["']ota-app["']""",
        r"getOtaStartUp",
    ),
    propose=propose.konsentas,
    server="office_schedule.simulate.konsentas_server",
    # anonymous access to the timeslot list is unverified: sources run only when named
    disabled_by_default=True,
)

__all__ = ["FAMILY", "NAME", "XHR", "epoch", "parse", "read_page", "scrape"]
