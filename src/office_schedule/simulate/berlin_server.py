"""Render a simulated source as service.berlin.de (Bürgerämter, HTML booking pages).

Protocol: docs/protocols/custom-machinery-export.md, section A.4, and the day-page
assumption of ``families/berlin.py``. Pages: ``/standorte/buergeraemter/`` (offices per
district), ``/standort/{id}/`` (office page with ``<form id="termin_form">``),
``/terminvereinbarung/termin/tag.php`` (GET of that form: chooses office and service in the
session cookie and shows the current and the next month), and
``/terminvereinbarung/termin/time/{epoch of the day}/`` (free times of a day).

Links the site writes as root paths carry the source prefix ``/{source id}`` here, so that
they resolve on the shared simulator host; the office links stay ``/standort/...`` because
the scraper prefixes them with its base URL itself. The "Auswahl ... hat sich geändert"
restart page is not simulated: the scraper only recognises restart links that start at the
host root, which cannot reach a prefixed source.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta
from html import escape

from ..clock import OFFICE_TZ
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, page

FAMILY = "berlin"
#: fault modes answered by this module (the others are handled by the HTTP layer):
#: ``captcha`` on the booking form, ``throttle`` = HTTP 429 everywhere, ``throttle200`` =
#: the same page with HTTP 200 from the first office page on
PAGE_FAULTS = ("captcha", "throttle", "throttle200")
COOKIE = "Zmsappointment"
MAX_SESSIONS = 2000
DISTRICTS = ("Mitte", "Pankow")
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)
TITLE = "Service Berlin - Berlin.de"

_SESSIONS: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
_LOCK = threading.Lock()


def location_id(src: SimSource, loc: Location) -> str:
    """The office number in ``/standort/{number}/``."""
    return f"122{int(loc.id):03d}"


def _months(today: date) -> list[tuple[int, int]]:
    nxt = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return [(today.year, today.month), nxt]


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Look-ahead days (today .. today + 7·weeks) inside the two months the calendar shows."""
    shown = set(_months(now.date()))
    days = [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]
    return [d for d in days if (d.year, d.month) in shown]


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}/terminvereinbarung/", {"base_url": base_url, "request_delay": "0"}


def _services(src: SimSource, lid: str) -> list[tuple[str, str]]:
    """(number, title) of every service offered at location ``lid``."""
    found = []
    for dep in src.departments:
        for svc in dep.services:
            if lid in svc.calendars or svc.hidden_calendar == lid:
                found.append((f"120{svc.cnc.split('-', 1)[1]}", svc.title))
    return found or [("120999", "Allgemeine Vorsprache")]


def _office(src: SimSource, number: str) -> Location | None:
    return next((x for x in src.locations.values() if location_id(src, x) == number), None)


def _name(loc: Location) -> str:
    return f"Bürgeramt {loc.name.removeprefix('Standort ')}"


def _day_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=OFFICE_TZ).timestamp())


# ----------------------------------------------------------------------------- pages


def offices_page(src: SimSource) -> Reply:
    groups = []
    locs = list(src.locations.values())
    for k, district in enumerate(DISTRICTS):
        mine = locs[k :: len(DISTRICTS)]
        if not mine:
            continue
        items = [
            f'      <li><a href="/standort/{location_id(src, x)}/">{escape(_name(x))}</a></li>'
            for x in mine
        ]
        items.append(
            f'      <li><a href="https://www.berlin.de/ba-{district.lower()}/">Bezirksamt '
            f"{district}</a></li>"
        )
        groups.append(
            '  <div class="ort-group">\n'
            f'    <h2 class="letter">{district} <a href="#top" class="totop">nach oben</a></h2>\n'
            "    <ul>\n" + "\n".join(items) + "\n    </ul>\n  </div>"
        )
    body = (
        '<div id="layout-grid__area--maincontent">\n  <h1>Bürgerämter</h1>\n'
        + "\n".join(groups)
        + "\n</div>"
    )
    return page(f"Bürgerämter - {TITLE}", body)


def office_page(src: SimSource, loc: Location) -> Reply:
    number = location_id(src, loc)
    boxes = "\n".join(
        f'    <li><input type="checkbox" name="anliegen[]" value="{value}" id="a{i}">'
        f'<label for="a{i}">{escape(title)}</label></li>'
        for i, (value, title) in enumerate(_services(src, loc.id))
    )
    body = (
        f"<h1>{escape(_name(loc))}</h1>\n<p>{escape(loc.name)}, 10115 Berlin</p>\n"
        f'<form id="termin_form" method="get" '
        f'action="/{src.id}/terminvereinbarung/termin/tag.php?id=&amp;buergerID=">\n'
        f'  <input type="hidden" name="dienstleisterlist" value="{number}">\n'
        '  <input type="hidden" name="anliegen_typ" value="dienstleistung">\n'
        f"  <ul>\n{boxes}\n  </ul>\n"
        '  <button type="submit">Termin buchen</button>\n</form>'
    )
    return page(f"{_name(loc)} - {TITLE}", body)


def _month(world, src, lid, year, month, now, prefix) -> str:
    today, last = now.date(), world.horizon(now)
    first = date(year, month, 1)
    cells = ["<td></td>"] * first.weekday()
    day = first
    while day.month == month:
        if day < today:
            cells.append(f'<td class="inaktiv">{day.day:02d}</td>')
        elif day <= last and world.published_day(src, lid, day, now):
            cells.append(
                f'<td class="buchbar"><a href="{prefix}/time/{_day_ts(day)}/" '
                f'title="An diesem Tag einen Termin buchen">{day.day:02d}</a></td>'
            )
        else:
            cells.append(f'<td class="nichtbuchbar">{day.day:02d}</td>')
        day += timedelta(days=1)
    rows = ["<tr>" + "".join(cells[i : i + 7]) + "</tr>" for i in range(0, len(cells), 7)]
    head = "".join(f"<th>{w}</th>" for w in ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"))
    return (
        '<div class="calendar-month-table">\n  <table>\n'
        f'    <thead><tr><th class="month" colspan="7">{MONTH_NAMES[month - 1]} {year}</th></tr>\n'
        f"      <tr>{head}</tr></thead>\n    <tbody>"
        + "\n".join(rows)
        + "</tbody>\n  </table>\n</div>"
    )


def calendar_page(world: SimWorld, src: SimSource, lid: str) -> Reply:
    now = world.refresh()
    prefix = f"/{src.id}/terminvereinbarung/termin"
    tables = [_month(world, src, lid, y, m, now, prefix) for y, m in _months(now.date())]
    body = "<h1>Bitte wählen Sie ein Datum</h1>\n" + "\n".join(tables)
    return page(f"Terminvereinbarung - {TITLE}", body)


def day_page(world: SimWorld, src: SimSource, choice: tuple[str, str], ts: str) -> Reply:
    lid, service = choice
    if not ts.isdigit():
        return message_page("Ungültiger Tag.")
    day = datetime.fromtimestamp(int(ts), OFFICE_TZ).date()
    if int(ts) != _day_ts(day):
        return message_page("Ungültiger Tag.")
    now = world.refresh()
    free = set(world.published_day(src, lid, day, now))
    with world.lock:
        grid = [s.hour * 60 + s.minute for s in src.locations[lid].grid(day)]
    number = location_id(src, src.locations[lid])
    base = f"/{src.id}/terminvereinbarung/termin/time/{ts}/{number}/{service}/"
    rows = []
    for m in grid:
        hhmm = f"{m // 60:02d}:{m % 60:02d}"
        if m in free:
            link = f'<a href="{base}?t={hhmm.replace(":", "")}">{hhmm}</a>'
            rows.append(f'<tr><th class="buchbar">{hhmm}</th><td class="frei">{link}</td></tr>')
        else:
            rows.append(
                f'<tr><th class="nichtbuchbar">{hhmm}</th><td class="belegt">belegt</td></tr>'
            )
    body = (
        f"<h1>Bitte wählen Sie eine Uhrzeit</h1>\n<p>{day:%d.%m.%Y}</p>\n"
        '<div class="timetable">\n  <table>\n' + "\n".join(rows) + "\n  </table>\n</div>"
    )
    return page(f"Terminvereinbarung - {TITLE}", body)


def message_page(text: str, status: int = 200) -> Reply:
    body = f'<h1>Terminvereinbarung</h1>\n<div class="alert alert-info"><p>{escape(text)}</p></div>'
    return page(f"Terminvereinbarung - {TITLE}", body, status)


def throttle_page(status: int) -> Reply:
    body = (
        "<h1>Zu viele Zugriffe</h1>\n<p>Sie haben in kurzer Zeit zu viele Anfragen gestellt. "
        "Bitte versuchen Sie es in einer Stunde erneut.</p>"
    )
    reply = page("Zu viele Zugriffe - Service Berlin", body, status)
    if status == 429:
        reply.headers["Retry-After"] = "3600"
    return reply


def captcha_page(src: SimSource) -> Reply:
    body = (
        "<h1>Sicherheitsabfrage</h1>\n<p>Bitte bestätigen Sie, dass Sie kein Roboter sind.</p>\n"
        f'<form id="captcha_form" method="post" action="/{src.id}/terminvereinbarung/captcha/">\n'
        f'  <img class="captcha-image" src="/{src.id}/terminvereinbarung/captcha/image.png" '
        'alt="Sicherheitscode">\n  <input type="text" name="captcha_code">\n'
        '  <button type="submit">Weiter</button>\n</form>'
    )
    return page(f"Terminvereinbarung - {TITLE}", body)


# ----------------------------------------------------------------------------- routing


def _choose(world: SimWorld, src: SimSource, request: SimRequest) -> Reply:
    """The booking form's GET: remember office and service in a session, show the calendar."""
    query = request.query
    loc = _office(src, query.get("dienstleisterlist", ""))
    if loc is None or query.get("termin") != "1":
        return message_page("Bitte wählen Sie einen Standort und eine Dienstleistung.")
    service = query.get("anliegen[]", "")
    if service not in {value for value, _ in _services(src, loc.id)}:
        return message_page("Die gewählte Dienstleistung wird an diesem Standort nicht angeboten.")
    token = request.cookies.get(COOKIE, "")
    with _LOCK:
        if (src.id, token) not in _SESSIONS:
            token = secrets.token_hex(16)
        _SESSIONS[(src.id, token)] = (loc.id, service)
        _SESSIONS.move_to_end((src.id, token))
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    reply = calendar_page(world, src, loc.id)
    reply.headers["Set-Cookie"] = f"{COOKIE}={token}; Path=/{src.id}/terminvereinbarung/; HttpOnly"
    return reply


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    path = request.path
    if fault == "throttle":
        return throttle_page(429)
    if path == "/standorte/buergeraemter/":
        return offices_page(src)
    if fault == "throttle200":
        return throttle_page(200)
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "standort":
        loc = _office(src, parts[1])
        if loc is not None:
            return office_page(src, loc)
    elif path == "/terminvereinbarung/termin/tag.php":
        return captcha_page(src) if fault == "captcha" else _choose(world, src, request)
    elif parts[:3] == ["terminvereinbarung", "termin", "time"] and len(parts) == 4:
        with _LOCK:
            choice = _SESSIONS.get((src.id, request.cookies.get(COOKIE, "")))
        if choice is None:
            return message_page("Ihre Sitzung ist abgelaufen. Bitte beginnen Sie erneut.")
        return day_page(world, src, choice, parts[3])
    return message_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
