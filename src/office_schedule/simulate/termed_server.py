"""Render a simulated source as the TerMed public JSON API (medical practices).

Protocol: docs/protocols/custom-machinery-export.md, section A.3. ``GET
/v2/public/doc/{n}`` answers a practice document (``{"id": null, ...}`` for unknown ids);
``GET /v2/public/doc/{id}/events/open/10/{start}/{end}[/{reason}]`` the open events whose
start lies in ``[start, end)`` (epoch seconds). Each simulated location is one calendar:
the first location is a practice without treatment reasons, the others are the treatment
reasons of a second practice (a one-location source of even index uses a reason instead).
Doc id 3 is a TerMed demo account the scraper must drop when it discovers by probing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..clock import OFFICE_TZ
from .model import HHMMSS, SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, json_reply, page

FAMILY = "termed"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("garbage",)
DOC_OFFSET = 1000
DEMO_DOC = {
    "id": 3,
    "name": "Test",
    "surname": "Arzt",
    "title": "",
    "praxis": "Testpraxis",
    "email": "demo@termed.de",
    "url": "https://demo.termed.de",
    "treatment_reasons": [],
}
FIRST_NAMES = ("Anna", "Jonas", "Maria", "Lukas", "Sophie", "Felix")
SURNAMES = ("Muster", "Beispiel", "Schmidt", "Wagner", "Becker", "Hoffmann")


def _practices(src: SimSource) -> list[tuple[int, list[tuple[int | None, Location]]]]:
    """(doc id, [(reason id or None, location)]) per practice of the source."""
    locs = list(src.locations.values())
    if len(locs) == 1 and src.index % 2 == 0:
        return [(DOC_OFFSET + int(locs[0].id), [(int(locs[0].id), locs[0])])]
    out: list[tuple[int, list[tuple[int | None, Location]]]] = [
        (DOC_OFFSET + int(locs[0].id), [(None, locs[0])])
    ]
    if len(locs) > 1:
        out.append((DOC_OFFSET + int(locs[1].id), [(int(x.id), x) for x in locs[1:]]))
    return out


def location_id(src: SimSource, loc: Location) -> str:
    for doc_id, calendars in _practices(src):
        for reason, x in calendars:
            if x.id == loc.id:
                return str(doc_id) if reason is None else f"{doc_id}-{reason}"
    raise KeyError(loc.id)


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Unused by ``SimWorld.truth`` (``truth_slots`` decides); kept for the contract."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=OFFICE_TZ).timestamp())


def _open_slots(world: SimWorld, src: SimSource, lid: str, start: int, end: int, now=None):
    """Free slot starts in ``[start, end)`` epoch seconds, as published at ``now``."""
    out: list[str] = []
    with world.lock:
        now = now or world.refresh()
        first = max(now.date(), datetime.fromtimestamp(start, OFFICE_TZ).date())
        last = min(world.horizon(now), datetime.fromtimestamp(end, OFFICE_TZ).date())
        day = first
        while day <= last:
            for m in world.published_day(src, lid, day, now):
                text = f"{day.isoformat()} {HHMMSS[m]}"
                if start <= _epoch(datetime.fromisoformat(text)) < end:
                    out.append(text)
            day += timedelta(days=1)
    return out


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list[str]:
    """What a scrape of ``weeks`` weeks at ``now`` asks for: ``[now, now + weeks·7·86400 s)``."""
    start = _epoch(now)
    end = start + (weeks if weeks is not None else world.horizon_weeks + 2) * 7 * 86400
    return _open_slots(world, src, loc.id, start, end, now)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    ids = ",".join(str(doc_id) for doc_id, _ in _practices(src))
    return base_url, {"api_url": base_url, "doc_ids": ids}


def _document(src: SimSource, doc_id: int, calendars) -> dict:
    k = doc_id % len(FIRST_NAMES)
    place = calendars[0][1].name.removeprefix("Standort ")
    reasons = []
    for reason, loc in calendars:
        if reason is not None:
            title = f"Sprechstunde {loc.name.removeprefix('Standort ')}"
            reasons.append({"id": reason, "reason": title, "duration": loc.slot_minutes})
    surname = SURNAMES[(doc_id // 7) % len(SURNAMES)]
    return {
        "id": doc_id,
        "name": FIRST_NAMES[k],
        "surname": surname,
        "title": "Dr. med.",
        "praxis": f"Praxis am {place}" if reasons else "",
        "email": f"praxis{doc_id}@example.org",
        "url": f"https://praxis-{surname.lower()}.example.org",
        "city": src.name,
        "zip": f"{4000 + doc_id % 900:05d}",
        "treatment_reasons": reasons,
    }


def garbage_page() -> Reply:
    body = "<h1>502 Bad Gateway</h1><p>The API is under maintenance.</p>"
    return page("Wartungsarbeiten - TerMed", body, status=200)


def _events(world, src, calendars, parts: list[str]) -> Reply:
    if len(parts) not in (5, 6) or parts[2] != "10":
        return json_reply({"error": "bad request"}, status=400)
    try:
        start, end = int(parts[3]), int(parts[4])
        reason = int(parts[5]) if len(parts) == 6 else None
    except ValueError:
        return json_reply({"error": "bad request"}, status=400)
    loc = next((x for r, x in calendars if r == reason), None)
    if loc is None:
        return json_reply({"error": "treatment reason not found"}, status=404)
    events = []
    for i, text in enumerate(_open_slots(world, src, loc.id, start, end)):
        stop = datetime.fromisoformat(text) + timedelta(minutes=loc.slot_minutes)
        events.append(
            {
                "id": int(loc.id) * 100000 + i,
                "start": text,
                "end": stop.strftime("%Y-%m-%d %H:%M:%S"),
                "duration": loc.slot_minutes,
                "status": "open",
            }
        )
    return json_reply(events)


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    parts = request.path.strip("/").split("/")
    if parts[:3] != ["v2", "public", "doc"] or len(parts) < 4 or not parts[3].isdigit():
        return json_reply({"error": "not found"}, status=404)
    n = int(parts[3])
    practice = next((cals for doc_id, cals in _practices(src) if doc_id == n), None)
    if len(parts) == 4:
        if practice is not None:
            return json_reply(_document(src, n, practice))
        if n == DEMO_DOC["id"]:
            return json_reply(DEMO_DOC)
        return json_reply({"id": None, "message": "Doctor not found"})
    if parts[4:6] != ["events", "open"]:
        return json_reply({"error": "not found"}, status=404)
    if fault == "garbage":
        return garbage_page()
    if practice is None:
        return json_reply({"error": "Doctor not found"}, status=404)
    return _events(world, src, practice, parts[4:])
