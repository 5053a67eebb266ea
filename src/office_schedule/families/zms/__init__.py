"""ZMS / eappointment: Munich's citizen API (``www48.muenchen.de/buergeransicht/api/citizen``).

A source is one service (``service_id``; optional ``base_url``, ``office_ids`` = a CSV subset
of its offices). A location is one office (its ``officeId``): the backend computes free
appointments per office, so a service's appointments at an office are one location; its
name is the office's name, its services the one service asked.

The request sequence is in ``scraper.py``; every answer is read by :func:`read_page`
(``pages.py``), which ``office-schedule read-page zms`` also uses. Appointments are Unix
epoch seconds, converted to Europe/Berlin wall time in :func:`parse`.

Raw payload: ``{"service": {"id", "name"}, "start", "end", "api": "calendar" | "by-office" |
"backend", "offices": [{"id", "name", "appointments": [epoch, ...], "url"[, "none_free"]}],
"captcha": [{"id", "name", "status"}][, "none_free"]}``. An office without appointments
names the API's statement in ``none_free`` (its own ``noAppointment…`` text, or that the
listed bookable days or the day's appointment lists do not name it). Offices that require
a captcha are listed in ``captcha`` and are not locations: nothing is known of them.

Assumptions (no recorded answer): an API generation without ``available-calendar/`` answers
it with the citizen API's catch-all ``{"errors": [{"errorCode": "notFound"}]}`` (HTTP 404);
the 2025 backend answered a day without appointments with a flat ``noAppointmentForThisDay``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from ...model import Location, ParsedSnapshot
from .. import propose
from ..family import Family
from ..payload import TOP, Payload
from . import protocol
from .pages import read_page
from .protocol import NAME
from .scraper import scrape

PAYLOAD = Payload(NAME)


def _slots(entry: dict[str, Any], where: str) -> list[datetime]:
    out = []
    for value in PAYLOAD.items(entry, "appointments", where):
        epoch = protocol.epoch_of(value)
        if epoch is None or not isinstance(value, int):
            raise PAYLOAD.fail(where, f"{value!r} is not an appointment time in epoch seconds")
        out.append(protocol.local_time(epoch))
    return out


def _office(where: str, entry: dict[str, Any], service_name: str) -> Location:
    if protocol.office_id(entry.get("id")) is None or not isinstance(entry.get("id"), str):
        raise PAYLOAD.fail(where, f"'id' must be an office id text, got {entry.get('id')!r}")
    name = PAYLOAD.text(entry, "name", where)
    return PAYLOAD.location(entry, where, _slots(entry, where), name=name, services=(service_name,))


def parse(raw: Any) -> ParsedSnapshot:
    """Locations = the offices asked; slots = their appointments in Europe/Berlin time."""
    service = PAYLOAD.obj(PAYLOAD.obj(raw, TOP).get("service"), "service")
    service_name = PAYLOAD.text(service, "name", "service")
    snapshot = PAYLOAD.snapshot(
        raw, "offices", lambda where, entry: _office(where, entry, service_name), what="office"
    )
    names = Counter(loc.name for loc in snapshot.locations.values())
    for key, loc in snapshot.locations.items():
        if names[loc.name] > 1:  # Munich has several offices of one name
            snapshot.locations[key] = replace(loc, name=f"{loc.name} ({loc.id})")
    return snapshot


FAMILY = Family(
    name=NAME,
    summary=(
        "JSON API: offices-and-services -> available-calendar per service (all offices, "
        "one call per bookable day); 2025/2026-06 endpoints as fallbacks"
    ),
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("service_id",),
    optional=("base_url", "office_ids"),
    # one request at a time, at most 50 a minute: the API limits 60 per minute and IP and
    # an F5 layer blacklists; a failed request waits for the next sweep instead of a retry
    politeness={"per_host_concurrency": 1, "min_gap": 1.2, "attempts": 1},
    fingerprints=(
        r"muenchen\.de/buergeransicht/api/(citizen|backend)",
        r"stadt\.muenchen\.de/buergerservice/terminvereinbarung",
        r"/buergeransicht/api/citizen",
    ),
    page_fingerprints=(
        r"<zms-appointment",
        r'"captchaActivatedRequired"',
        r'"errorCode"\s*:\s*"noAppointmentForThisScope"',
    ),
    propose=propose.zms,
    server="office_schedule.simulate.zms_server",
)

__all__ = ["FAMILY", "NAME", "parse", "read_page", "scrape"]
