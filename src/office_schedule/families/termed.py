"""TerMed: open appointments of medical practices from the public JSON API.

Practices: ``GET {api_url}/v2/public/doc/{n}``. Open slots: ``GET {api_url}/v2/public/doc/{id}
/events/open/10/{start}/{end}`` (epoch seconds, ``10`` a literal path element), with
``/{reason id}`` appended once per treatment reason when the practice lists any.

Unlike the reference we do not probe 4000 practice ids on every snapshot: the catalog
parameter ``doc_ids`` (comma-separated) names the practices; without it ids
``0..max_doc_id`` are probed once per process and the discovered practices are cached in
memory (``_DISCOVERED``), so only the first snapshot of a process pays for the discovery;
probe answers are remembered too (``_PROBED``), so a discovery cut short resumes.

Catalog parameters (all optional): ``doc_ids``, ``max_doc_id`` (default 3999), ``api_url``
(default ``https://api.termed.de``).

Every answer is read by :func:`read_page`. An events answer that is an empty JSON list
is the API's explicit "nothing open" (marker :data:`EMPTY_EVENTS`).

The only recent public client asks another endpoint,
``{api_url}/v2/getEvents.php?action=free&time=8&id={doc id}&reason=undefined``, answered
``{"aps": [{"date": …, "time": …}]}``; its date format and the meaning of ``time`` are
unknown, so this family still asks the 2021 endpoints above.

Raw payload: a list of calendar entries, location ids always strings:
``{"location_id": "812", "dates": ["YYYY-MM-DD HH:MM:SS", ...], "url": str}`` (with
``"none_free": EMPTY_EVENTS`` when the list is empty),
``{"location_id": "901-4", "dates": {"eq": "901-3"}}`` (same slots as an earlier entry of
the same practice) or ``{"location_id": "77", "error": "..."}`` for a calendar that failed
(``parse`` skips these). A failing calendar does not fail the source unless all of them fail.
Location id and name are both ``location_id``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from ..clock import OFFICE_TZ
from ..errors import BlockedError, ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import parse_slot, sorted_slots
from .family import Family
from .pages import Office, PageError, PageView

NAME = "termed"
DEFAULT_API_URL = "https://api.termed.de"
DEFAULT_MAX_DOC_ID = 3999
DISCOVERY_CONCURRENCY = 8
#: ids the reference never probes (exactly its list)
DROPPED_IDS = frozenset(
    {3209, 3662, 3663, 3664, 3666, 3668, 3669, 3697, 3699, 3700, 3701, 3702, 3703, 3704}
)

#: (api_url, max_doc_id) -> practice documents found by probing; lives as long as the process
_DISCOVERED: dict[tuple[str, int], list[dict[str, Any]]] = {}
#: api_url -> {id: document or None} of every id probed so far, so that a discovery cut
#: short (sweep timeout, blocking) resumes where it stopped instead of starting over
_PROBED: dict[str, dict[int, dict[str, Any] | None]] = {}

_SLOT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?")
#: the marker of an events answer that is an empty list
EMPTY_EVENTS = "events/open answered an empty list"


def is_listed_practice(doc: Any) -> bool:
    """A real practice: has an id and is no TerMed test or demo account."""
    if not isinstance(doc, dict) or not doc.get("id"):
        return False
    text = f"{doc.get('praxis') or ''} {doc.get('name') or ''}"
    if "Test" in text and "Testzentrum" not in text:
        return False
    if "@termed.de" in str(doc.get("email") or ""):
        return False
    return "termed.de" not in str(doc.get("url") or "")


def calendars(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """``(location id, events path suffix)`` per calendar of a practice."""
    doc_id = str(doc["id"])
    reasons = doc.get("treatment_reasons")
    if isinstance(reasons, list) and reasons:
        out = []
        for reason in reasons:
            if isinstance(reason, dict) and reason.get("id") is not None:
                out.append((f"{doc_id}-{reason['id']}", f"/{reason['id']}"))
        if out:
            return out
    return [(doc_id, "")]


def event_starts(events: Any) -> list[str]:
    """The ``start`` of each open event; ValueError when the answer is not such a list."""
    if not isinstance(events, list):
        raise ValueError(f"events answer is a {type(events).__name__}, not a list")
    starts = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("start"), str):
            raise ValueError(f"event without a start: {str(event)[:80]}")
        starts.append(event["start"])
    return starts


def _doc_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScrapeError(f"termed: doc_ids {text!r} is not a comma-separated id list") from None


def _practice_name(doc: dict[str, Any]) -> str:
    name = " ".join(str(doc.get(k)) for k in ("name", "surname") if doc.get(k))
    praxis = doc.get("praxis")
    return f"{name} - {praxis}" if name and praxis else str(praxis or name or doc["id"])


def read_page(text: str, url: str | None = None) -> PageView:
    """Recognise an API answer: a practice document, an events list or an error object.

    A document -> "offices" (one entry per calendar: the practice, or each treatment
    reason; ``details["doc"]``); ``{"id": null, ...}`` or ``{"error": ...}`` ->
    "error-page"; a list of events -> "times" (``details["starts"]`` verbatim); an empty
    list -> "none-free" with marker :data:`EMPTY_EVENTS`. Anything else raises PageError.
    """
    value = pages.json_document(text)
    if isinstance(value, dict) and value.get("id"):
        reasons = value.get("treatment_reasons") or []
        if not isinstance(reasons, list):
            raise pages.unknown(NAME, text, url, "treatment_reasons is not a list")
        names = {str(r.get("id")): r.get("reason") for r in reasons if isinstance(r, dict)}
        offices = [
            Office(loc_id, str(names.get(suffix[1:]) or _practice_name(value)))
            for loc_id, suffix in calendars(value)
        ]
        return PageView("offices", offices=offices, reader="termed.doc", details={"doc": value})
    if isinstance(value, dict) and ("error" in value or value.get("id", 0) is None):
        error = str(value.get("error") or value.get("message") or "no practice with this id")
        return PageView("error-page", error=error, reader="termed.error")
    if isinstance(value, list):
        if not value:
            return PageView("none-free", marker=EMPTY_EVENTS, reader="termed.events")
        try:
            starts = event_starts(value)
        except ValueError as exc:
            raise pages.unknown(NAME, text, url, str(exc)) from None
        for start in starts:
            if not _SLOT.fullmatch(start):
                raise pages.unknown(NAME, text, url, f"event start {start!r} is no date/time")
        slots = [start[:16] for start in starts]
        return PageView("times", slots=slots, reader="termed.events", details={"starts": starts})
    raise pages.unknown(NAME, text, url)


async def _get_doc(session, api_url: str, n: int) -> dict[str, Any] | None:
    """The practice document of id ``n``, or None when there is none (HTTP error, not JSON)."""
    url = f"{api_url}/v2/public/doc/{n}"
    response = await session.get(url, allow_error_status=True)
    if response.status_code >= 400:
        return None
    try:
        view = read_page(response.text, url)
    except PageError:
        return None
    return view.details["doc"] if view.page == "offices" else None


async def _discover(session, api_url: str, max_doc_id: int) -> list[dict[str, Any]]:
    key = (api_url, max_doc_id)
    if key in _DISCOVERED:
        return _DISCOVERED[key]
    gate = asyncio.Semaphore(DISCOVERY_CONCURRENCY)
    probed = _PROBED.setdefault(api_url, {})

    async def probe(n: int) -> dict[str, Any] | None:
        if n in probed:
            return probed[n]
        async with gate:
            try:
                doc = await _get_doc(session, api_url, n)
            except BlockedError:
                raise
            except ScrapeError:
                return None  # not remembered: probed again by the next discovery
        probed[n] = doc
        return doc

    ids = [n for n in range(max_doc_id + 1) if n not in DROPPED_IDS]
    try:  # a TaskGroup cancels the remaining probes as soon as one is blocked
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(probe(n)) for n in ids]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    docs = [task.result() for task in tasks]
    found = [d for d in docs if d is not None and is_listed_practice(d)]
    if found:  # an empty result is not cached: the next snapshot probes again
        _DISCOVERED[key] = found
    return found


async def _calendar_entries(session, api_url, doc, start, end) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    seen: list[tuple[str, list[str]]] = []
    for loc_id, suffix in calendars(doc):
        url = f"{api_url}/v2/public/doc/{doc['id']}/events/open/10/{start}/{end}{suffix}"
        try:
            response = await session.get(url)
            view = read_page(response.text, url)
        except BlockedError:
            raise
        except ScrapeError as exc:
            entries.append({"location_id": loc_id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if view.page not in ("times", "none-free"):
            error = f"{view.page}: {view.error}" if view.error else view.page
            entries.append({"location_id": loc_id, "error": f"events answered {error}"})
            continue
        dates = view.details.get("starts", [])
        same = next((earlier for earlier, slots in seen if slots == dates), None)
        entry: dict[str, Any] = {"location_id": loc_id, "dates": {"eq": same} if same else dates}
        if view.marker:
            entry["none_free"] = view.marker
        entries.append({**entry, "url": url})
        seen.append((loc_id, dates))
    return entries


async def scrape(source, session, weeks: int, now: datetime) -> list[dict[str, Any]]:
    api_url = (source.params.get("api_url") or DEFAULT_API_URL).rstrip("/")
    # whole minutes, like every slot time (and the simulator's clock)
    start = int(now.replace(second=0, microsecond=0, tzinfo=OFFICE_TZ).timestamp())
    end = start + weeks * 7 * 86400
    raw: list[dict[str, Any]] = []
    if source.params.get("doc_ids"):
        docs = []
        for n in _doc_ids(source.params["doc_ids"]):
            try:
                doc = await _get_doc(session, api_url, n)
            except BlockedError:
                raise
            except ScrapeError as exc:
                doc, reason = None, f"ScrapeError: {exc}"
            else:
                reason = "no practice with this id (HTTP error or no JSON document)"
            if doc is None:
                raw.append({"location_id": str(n), "error": reason})
            else:
                docs.append(doc)
    else:
        max_doc_id = int(source.params.get("max_doc_id") or DEFAULT_MAX_DOC_ID)
        docs = await _discover(session, api_url, max_doc_id)
        if not docs:
            raise ScrapeError(f"termed: no practice found among ids 0..{max_doc_id}", url=api_url)
    for doc in docs:
        raw.extend(await _calendar_entries(session, api_url, doc, start, end))
    if raw and all("error" in entry for entry in raw):
        raise ScrapeError(
            f"termed: every calendar failed ({len(raw)}), first: {raw[0]['error']}", url=api_url
        )
    return raw


def parse(raw: Any) -> ParsedSnapshot:
    if not isinstance(raw, list):
        raise ParseError("termed: raw payload is not a list of calendars")
    locations: dict[str, Location] = {}
    for i, entry in enumerate(raw):
        where = f"termed calendar #{i}"
        if not isinstance(entry, dict):
            raise ParseError(f"{where}: not an object")
        loc_id = entry.get("location_id")
        if isinstance(loc_id, bool) or not isinstance(loc_id, str | int) or loc_id == "":
            raise ParseError(f"{where}: bad location_id {loc_id!r}")
        loc_id = str(loc_id)
        if "error" in entry:
            if not isinstance(entry["error"], str):
                raise ParseError(f"{where}: error is not a string")
            continue
        dates, url = entry.get("dates"), entry.get("url")
        if isinstance(dates, dict):
            ref = dates.get("eq")
            if set(dates) != {"eq"} or not isinstance(ref, str) or ref not in locations:
                raise ParseError(f"{where}: {dates!r} refers to no earlier calendar")
            slots, empty = locations[ref].slots, locations[ref].empty
        elif isinstance(dates, list):
            for d in dates:
                if not isinstance(d, str) or not _SLOT.fullmatch(d):
                    raise ParseError(f"{where}: bad slot {d!r}")
            slots = sorted_slots([parse_slot(d, where) for d in dates])
            # the list is the API's answer verbatim: an empty one is its explicit "nothing"
            empty = None if dates else EMPTY_EVENTS
        else:
            raise ParseError(f"{where}: dates is neither a list nor an eq reference")
        if loc_id in locations:
            slots = sorted_slots([*slots, *locations[loc_id].slots])
        locations[loc_id] = Location(
            id=loc_id,
            name=loc_id,
            slots=slots,
            empty=None if slots else empty,
            url=url if isinstance(url, str) else None,
        )
    return ParsedSnapshot(locations)


FAMILY = Family(
    name=NAME,
    summary="medical practices' JSON API (thousands of calendars)",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("doc_ids", "max_doc_id", "api_url", "base_url"),
    fingerprints=(r"termed\.de",),
    page_fingerprints=(r'"treatment_reasons"\s*:',),
    propose=propose.termed,
    server="office_schedule.simulate.termed_server",
)
