"""Render a simulated source's published state as TEVIS pages.

``handle`` is pure request -> ``Reply``; the HTTP plumbing lives in ``server.py``. Sources of
variant ``today`` speak today's flow (``tevis_today_server.py``, markup of the real 2025-2026
pages); ``classic`` ones the 2021 flow the reference read, whose page shapes follow
docs/protocols/tevis-netappoint.md, section 1.3 and the checklist in 3.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta
from html import escape

from ..families.tevis import protocol as P
from . import tevis_today_server as today
from .model import HHMMSS, SimWorld
from .offices import Department, Location, SimSource
from .pages import JSON, Reply, SimRequest, page

FAMILY = "tevis"

WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("garbage", "truncated", "dberror", "expired")


def error_page(src: SimSource, message: str) -> Reply:
    return today.error_page(src, message)


def start_page(src: SimSource) -> Reply:
    links = "\n".join(
        f'  <li><a class="btn btn-default" href="{P.select2_url("", d.md)[1:]}">'
        f"{escape(d.title)}</a></li>"
        for d in src.departments
    )
    body = (
        f"<h1>Online-Terminvereinbarung {escape(src.name)}</h1>\n"
        "<p>Bitte wählen Sie den Bereich, in dem Sie einen Termin vereinbaren möchten.</p>\n"
        f'<ul class="list-unstyled">\n{links}\n</ul>\n'
        '<p><a href="impressum">Impressum</a> · <a href="datenschutz">Datenschutz</a></p>'
    )
    reply = page(f"Terminvereinbarung – {src.name}", body)
    # every real TEVIS page, 2021 skin or today's, identifies itself by this body class
    reply.body = reply.body.replace(b"<body>", b'<body class="TEVISWEB">', 1)
    return reply


def garbage_page(src: SimSource) -> Reply:
    body = (
        "<h1>Willkommen auf unserem neuen Stadtportal</h1>\n"
        "<p>Die Terminvereinbarung ist umgezogen. Aktuelle Meldungen:</p>\n"
        '<ul><li><a href="/news/1">Straßenfest am Wochenende</a></li>'
        '<li><a href="/news/2">Neue Öffnungszeiten der Bibliothek</a></li></ul>'
    )
    return page(f"{src.name} – Stadtportal", body)


def _calendar_attrs(src: SimSource, svc) -> str:
    cals = "|".join(svc.calendars)
    locs = "|".join(svc.location_codes)
    return f'{src.calendar_attr}="{cals}" data-tevis-locations="{locs}"'


def _form_layout(src: SimSource, dep: Department) -> str:
    parts = []
    for svc in dep.services:
        num = svc.cnc.split("-", 1)[1]
        parts.append(
            f'<form class="cnc-form" action="calendar" method="get">\n'
            f'  <input type="hidden" name="mdt" value="{dep.mdt}">\n'
            f'  <input type="hidden" name="select_cnc" value="1">\n'
            f'  <div class="panel-heading"><a href="#info-{num}" data-toggle="collapse">'
            f"{escape(svc.title)}</a></div>\n"
            f'  <div id="info-{num}" class="collapse"><p>Bitte bringen Sie Ihre Unterlagen '
            f"mit.</p></div>\n"
            f'  <input class="cnc-item form-control" type="checkbox" name="{svc.cnc}" value="0" '
            f'{_calendar_attrs(src, svc)} data-tevis-cncname="{escape(svc.title)}">\n'
            f'  <button type="submit" class="btn btn-primary">Weiter</button>\n'
            f"</form>"
        )
    return "\n".join(parts)


def _flat_layout(src: SimSource, dep: Department) -> str:
    rows = []
    for svc in dep.services:
        rows.append(
            f'<div class="row cnc-row">\n  <div class="col-md-8">\n'
            f'    <a data-html="true" data-toggle="popover" data-content="Hinweise">'
            f"{escape(svc.title)}</a>\n"
            f'    <input class="cnc-item" type="checkbox" name="{svc.cnc}" value="0" '
            f'{_calendar_attrs(src, svc)} data-tevis-cncname="{escape(svc.title)}">\n'
            f"  </div>\n</div>"
        )
    return (
        '<form id="cnc-select" action="calendar" method="get">\n'
        f'<input type="hidden" name="mdt" value="{dep.mdt}">\n'
        '<input type="hidden" name="select_cnc" value="1">\n'
        + "\n".join(rows)
        + '\n<button type="submit" class="btn btn-primary">Weiter</button>\n</form>'
    )


def select2_page(src: SimSource, md: str) -> Reply:
    dep = src.department(md)
    if dep is None:
        return error_page(src, P.NO_MANDANT)
    inner = _form_layout(src, dep) if src.layout == "form" else _flat_layout(src, dep)
    body = f"<h1>{escape(dep.title)}</h1>\n<p>Bitte wählen Sie Ihr Anliegen.</p>\n{inner}"
    return page(f"{dep.title} – Anliegen wählen", body)


def calendar_page(src: SimSource, query: dict[str, str], today: date, fault=None) -> Reply:
    if fault == "expired":
        return error_page(src, f"{P.NO_MANDANT}. (0)")
    svc = None
    for key, value in query.items():
        if key.startswith("cnc-") and value == "1":
            svc = src.service(key)
            if svc is not None:
                break
    if svc is None:
        return error_page(src, P.NO_SUCH_CALENDAR)
    iso = today.isocalendar()
    mdt = query.get("mdt", "0")
    script = (
        f"<script>{P.SCRIPT_MARKER}\n"
        f"    mdt: {int(mdt) if mdt.isdigit() else 0},\n"
        f"    calendar: {svc.target},\n"
        f"    week: {iso.year}{iso.week:02d},\n"
        '    lang: "de"\n'
        "};\n"
        f"{P.SCRIPT_END}function () {{ tevis.loadWeek(tevis.week); }});\n</script>"
    )
    body = (
        f"<h1>Terminauswahl</h1>\n<p>Gewähltes Anliegen: {escape(svc.title)}</p>\n"
        f'<div id="caldiv"></div>\n{script}'
    )
    reply = page("Terminauswahl", body)
    reply.headers["Set-Cookie"] = f"TEVISSESSID={secrets.token_hex(12)}; Path=/; HttpOnly"
    return reply


def _caldiv_html(days: list[tuple[date, list[int]]]) -> str:
    head = "".join(f"<th>{WEEKDAYS[d.weekday()]} {d:%d.%m.}</th>" for d, _ in days)
    cells = []
    for d, minutes in days:
        if not minutes:
            cells.append('<td class="nobook">-</td>')
            continue
        link = f'<a class="slot" data-date="{d:%Y%m%d}" data-time="'
        links = "".join(f'{link}{m}">{HHMMSS[m][:5]}</a>' for m in minutes)
        cells.append(f"<td>{links}</td>")
    return f'<table class="caldiv"><tr>{head}</tr><tr>{"".join(cells)}</tr></table>'


def caldiv(world: SimWorld, src: SimSource, query: dict[str, str], truncated: bool) -> Reply:
    cal, week = query.get("cal", ""), query.get("week", "")
    if cal not in src.locations:
        return error_page(src, P.NO_SUCH_CALENDAR)
    try:
        monday = date.fromisocalendar(int(week[:4]), int(week[4:]), 1)
    except ValueError:
        return error_page(src, "Ungültige Woche")
    days = world.published_week(src.id, cal, monday)
    payload = {
        "year": f"{monday.year}",
        "month": f"{monday.month:02d}",
        "day": f"{monday.day:02d}",
        "days": [d.strftime("%Y%m%d") for d, _ in days],
        "valid": [{str(m): 1 for m in minutes} if minutes else [] for _, minutes in days],
        "html": _caldiv_html(days),
    }
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if truncated:
        body = body[: max(1, len(body) // 2)]
    return Reply(body=body, content_type=JSON)


def location_id(src: SimSource, loc: Location) -> str:
    """The location id a tevis scraper reports: the calendar id."""
    return loc.id


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Days a 2021-flow scrape of ``weeks`` covers: the ISO weeks of now + 7·i days."""
    days = []
    for i in range(weeks):
        d = now.date() + timedelta(days=7 * i)
        monday = d - timedelta(days=d.weekday())
        days.extend(monday + timedelta(days=k) for k in range(7))
    return sorted(set(days))


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list[str]:
    """The free slots a scrape of ``weeks`` reports: ISO weeks (2021 flow), or every day
    through today + 7·weeks (today's flow); everything published when ``weeks`` is None."""
    if weeks is None:
        days = world.horizon_days(now)
    elif src.variant == "today":
        days = [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]
    else:
        days = truth_days(now, weeks)
    return world.published_slots(src, loc.id, days, now)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params) of the catalog row pointing at this simulated tenant."""
    return base_url, {"base_url": base_url}


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix, e.g. ``/caldiv``) for ``src``."""
    query = request.query
    name = request.path.strip("/")
    if name == "":
        if fault == "garbage":
            return garbage_page(src)
        if fault == "dberror":
            return error_page(src, P.DB_ERROR)
    if src.variant == "today":
        base = f"http://{request.headers.get('host', '')}/{src.id}"
        return today.handle(world, src, request, fault, base)
    if name == "":
        return start_page(src)
    if name == "select2":
        return select2_page(src, query.get("md", ""))
    if name == "calendar":
        return calendar_page(src, query, world.now().date(), fault)
    if name == "caldiv":
        return caldiv(world, src, query, truncated=fault == "truncated")
    reply = error_page(src, "Die angeforderte Seite wurde nicht gefunden.")
    reply.status = 404
    return reply
