"""Render a simulated source as service.berlin.de (Bürgerämter, ZMS HTML booking pages).

Protocol: docs/protocols/custom-machinery-export.md, section A.4, and the real pages in
``../shared/data/real-pages/berlin/`` (the markup below is written after them). Pages:
``/standorte/buergeraemter/`` (offices per district), ``/standort/{id}/`` (office page with
``form#termin_form``), ``/terminvereinbarung/termin/tag.php`` (GET of that form: chooses office
and service in the session cookie and redirects to the day chooser ``…/termin/day/`` like the
2024 ``Day.html``, or to ``…/termin/taken/`` like ``Taken.html`` when no day is bookable),
``…/termin/time/{local midnight epoch}/`` (the time chooser like the 2022 page: one row per
free time, the time in the ``th``, the office in the link). A form GET whose session already
holds another choice answers the reference's "Auswahl … hat sich geändert" page with a link
to ``…/termin/restart/?providerList=…&requestList=…``.

Links the site writes as root paths carry the source prefix ``/{source id}`` here, absolute
links the host the request came to; the office links stay ``/standort/...`` because the
scraper prefixes them with its base URL itself.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape

from ..clock import OFFICE_TZ
from ..families.berlin import (
    CHANGED_SENTENCE,
    DAY_BOOKABLE_TEXT,
    DAY_FULL_TEXT,
    DAY_NONE_TEXT,
    DAY_PATH,
    DAY_TITLE,
    LEGEND_FREE,
    LEGEND_FULL,
    MONTH_NAMES,
    RESTART_PATH,
    ROBOT_TEXT,
    SITE_TITLE,
    SLOT_LINK_TITLE,
    TAKEN_HEADING,
    TAKEN_PATH,
    TAKEN_TITLE,
    THROTTLE_TEXT,
    THROTTLE_TITLE,
    TIME_PATH,
    TIME_TITLE,
    WEEKDAYS,
)
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SessionStore, SimRequest, page

FAMILY = "berlin"
#: fault modes answered by this module (the others are handled by the HTTP layer):
#: ``captcha`` on the booking form, ``throttle`` = HTTP 429 everywhere, ``throttle200`` =
#: the same page with HTTP 200 from the first office page on
PAGE_FAULTS = ("captcha", "throttle", "throttle200")
COOKIE = "Zmsappointment"
DISTRICTS = ("Mitte", "Pankow")
TITLE = SITE_TITLE

SESSIONS = SessionStore(limit=2000)


def location_id(src: SimSource, loc: Location) -> str:
    """The office number in ``/standort/{number}/``."""
    return f"122{int(loc.id):03d}"


def scope_id(loc: Location) -> str:
    """The number after the epoch in a time row's link (the real page: ``…/1661772240/2863/``)."""
    return str(2800 + int(loc.id))


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


def _ts(day: date, minutes: int = 0) -> int:
    at = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=OFFICE_TZ)
    return int(at.timestamp())


def _dmy(day: date) -> str:
    return f"{day:%d.%m.%Y}"


# ----------------------------------------------------------------------------- page frame


def zms_page(title: str, body_id: str, content: str, status: int = 200) -> Reply:
    """The service.berlin.de frame (header, scripts and footers trimmed) around ``div.zms``."""
    text = f"""<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="de" lang="de"><head>\
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    <title>{escape(title)}</title>
    <meta name="robots" content="NOINDEX NOFOLLOW">
    <link rel="stylesheet" type="text/css" href="/terminvereinbarung/termin/_css/appointment.css">
</head>
<body class="locale_de" id="{body_id}">
<div id="page-wrapper" class=" container-content ">
  <div role="main" id="layout-grid" class="template-land_overview">
    <div id="layout-grid__area--maincontent">
      <div class="container-wrapper">
        <div class="container">
          <div class="row row-breadcrumb noprint">
            <div class="span10">
              <div class="html5-section breadcrumb">
                <ul>
                  <li><a href="https://service.berlin.de/" class="homehaus">Service Berlin</a></li>
                  <li><a href="https://service.berlin.de/terminvereinbarung/" class="pos1">\
Terminvereinbarung</a></li>
                </ul>
              </div>
            </div>
          </div>
          <div class="row">
            <div class="span2 column-left">
            </div>
            <div class="span7 column-content">
              <div class="html5-section article" role="main">
                <div class="zms">
{content}
                </div>
              </div>
            </div>
          </div>
        </div>
      </div>
    </div>
  </div>
</div>
</body></html>
"""
    return Reply(status=status, body=text.encode("utf-8"))


def _step(number: int, title: str, description: str, edit: str = "", closed: bool = True) -> str:
    span = "span3" if closed else "span11"
    options = (
        f'        <div class="table-cell collapsible-options span1">\n'
        f"        \t{edit}\n        </div>\n"
        if edit
        else ""
    )
    return (
        f'<div class="collapsible-group{" closed" if closed else ""}">\n'
        '    <div class="collapsible-heading row-fluid">\n'
        '    <div class="collapsible-toggle">\n'
        f'        <div class="table-cell collapsible-counter span1">{number}</div>\n'
        f'        <div class="table-cell collapsible-title {span}">{title}</div>\n'
        f'        <div class="table-cell collapsible-description span7">\n'
        f"        {description}\n        </div>\n{options}"
        "            </div>\n</div>\n</div>"
    )


def _service_step(host: str, src: SimSource, service: str, services) -> str:
    title = dict(services).get(service, service)
    item = (
        '<ul class="list-bullet">\n            <li data-url="'
        f'http://{host}/{src.id}/dienstleistung/{service}/">{escape(title)}</li>\n    </ul>'
    )
    edit = (
        f'<a href="http://{host}/{src.id}/dienstleistungen/" class="edit icon-pencil" '
        'title="Zur Dienstleistungsauswahl">Bearbeiten</a>'
    )
    return _step(1, "Dienstleistung", item, edit)


def _legend(full: str) -> str:
    spans = [
        f'  <span class="legend-element"><span class="legend-color {css}">&nbsp;</span>{word}'
        for css, word in (("buchbar", LEGEND_FREE), ("nichtbuchbar", full))
    ]
    return '<div class="calendar-legend">\n' + "</span>\n".join(spans) + "</span>\n</div>"


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


def _day_cell(world: SimWorld, src: SimSource, lid: str, day: date, now, base: str) -> str:
    """One day of the 2024 calendar: buchbar with a link, nichtbuchbar, or not offered."""
    tab = "" if day.weekday() == 6 else 'tabindex="0" '
    last = world.horizon(now)
    if now.date() <= day <= last and world.published_day(src, lid, day, now):
        label = f"{_dmy(day)} - {DAY_BOOKABLE_TEXT}"
        return (
            f'<td class="buchbar"><a tabindex="0" aria-label="{label}" title="{label}" '
            f'href="{base}{TIME_PATH}{_ts(day)}/">{day.day:02d}</a></td>'
        )
    open_day = bool(src.locations[lid].grid(day)) and day <= last
    label = f"{_dmy(day)} - {DAY_FULL_TEXT if open_day else DAY_NONE_TEXT}"
    css = "nichtbuchbar" if open_day else ""
    return f'<td {tab}class="{css}" aria-label="{label}" title="{label}">{day.day:02d}</td>'


def _month(world, src, lid, year, month, now, base: str, first_shown: bool) -> str:
    first = date(year, month, 1)
    cells = [f'<td colspan="{first.weekday()}"></td>'] if first.weekday() else []
    rows, filled, day = [], first.weekday(), first
    while day.month == month:
        cells.append(_day_cell(world, src, lid, day, now, base))
        filled += 1
        day += timedelta(days=1)
        if filled % 7 == 0:
            rows.append(cells)
            cells = []
    if cells:
        cells.append(f'<td colspan="{7 - filled % 7}">&nbsp;</td>')
        rows.append(cells)
    body = "".join(
        "                        <tr>\n" + "\n".join(f"    {c}" for c in r) + "\n</tr>\n"
        for r in rows
    )
    if first_shown:
        before = (first - timedelta(days=1)).replace(day=1)
        text = f"zu vorherigem Monat ab {_dmy(before)}"
        prev = (
            f'<th class="prev">\n<a tabindex="0" aria-label="{text}" title="{text}" '
            f'href="{base}{DAY_PATH}{_ts(before)}/">«</a>\n</th>'
        )
        nxt = "<th>&nbsp;</th>"
    else:
        prev, nxt = "<th>&nbsp;</th>", '<th class="next">\n</th>'
    names = "\n".join(
        f'        <th aria-label="{w}" title="{w}"'
        + (' class="sonnfeiertag"' if i == 6 else "")
        + f">{w[:2]}</th>"
        for i, w in enumerate(WEEKDAYS)
    )
    return (
        '            <div class="calendar-month-table span6">\n'
        '<table style="margin-bottom:-1px;">\n    <thead>\n        <tr class="controll">\n'
        f"            {prev}\n"
        f'            <th colspan="5" class="month">{MONTH_NAMES[month - 1]} {year}</th>\n'
        f"            {nxt}\n        </tr>\n    </thead>\n    <tbody>\n"
        f'    <tr class="dayname">\n{names}\n    </tr>\n</tbody></table>\n'
        f"                <table>\n                    <tbody>\n{body}"
        "                    </tbody>\n                </table>\n            </div>"
    )


def _bookable(world: SimWorld, src: SimSource, lid: str, now: datetime) -> bool:
    last = world.horizon(now)
    for year, month in _months(now.date()):
        day = max(date(year, month, 1), now.date())
        while day.month == month and day <= last:
            if world.published_day(src, lid, day, now):
                return True
            day += timedelta(days=1)
    return False


def calendar_page(
    world: SimWorld, src: SimSource, choice: tuple[str, str], host: str, now: datetime
) -> Reply:
    lid, service = choice
    base = f"http://{host}/{src.id}"
    tables = "\n".join(
        _month(world, src, lid, y, m, now, base, i == 0)
        for i, (y, m) in enumerate(_months(now.date()))
    )
    content = f"""<div class="html5-header header">
    <h1 class="title">Terminvereinbarung</h1>
</div>
{_service_step(host, src, service, _services(src, lid))}
{_step(2, "Datum", "", closed=False)}
<div class="collapsible-body">
    <div class="calendar-table">
        <div class="calendar-head">
            <h2 class="title">Bitte wählen Sie ein Datum:</h2>
            {_legend(LEGEND_FULL)}
        </div>
        <div class="row-fluid">
{tables}
        </div>
    </div>
</div>
<div style="clear:left;">
    An blau unterlegten und fett geschriebenen Tagen sind noch Termine verfügbar.<br>
    An rot unterlegten Tagen sind alle Termine ausgebucht.<br>
    An weiß unterlegten Tagen sind noch keine Termine zur Buchung freigegeben.
</div>"""
    return zms_page(f"{DAY_TITLE} - {SITE_TITLE}", "dayselect", content)


def time_page(
    src: SimSource, choice: tuple[str, str], host: str, day: date, free: list[int]
) -> Reply:
    """The 2022 time chooser: ``th.buchbar`` time, ``td.frei`` link named after the office."""
    lid, service = choice
    loc = src.locations[lid]
    rows = []
    for i, m in enumerate(free):
        href = f"/{src.id}{TIME_PATH}{_ts(day, m)}/{scope_id(loc)}/"
        rows.append(
            f"""                        <tr>
                          <th class="buchbar" style="border-bottom-width:0px;">
                            {m // 60:02d}:{m % 60:02d}
                          </th>
                          <td class="frei">
                            <a href="{href}" title="{SLOT_LINK_TITLE}" tabindex="{4 + i}">
                              {escape(_name(loc))}
                            </a>
                          </td>
                        </tr>"""
        )
    shown = f"{WEEKDAYS[day.weekday()][:2]}. {day.day}. {MONTH_NAMES[day.month - 1]} {day.year}"
    edit = (
        f'<a href="/{src.id}{DAY_PATH}" class="edit icon-pencil" '
        'title="Zurück zur Auswahl des Tages">Bearbeiten</a>'
    )
    rows_html = "\n".join(rows)
    content = f"""<div class="html5-header header">
    <h1 class="title">Terminvereinbarung </h1>
</div>
{_service_step(host, src, service, _services(src, lid))}
{_step(2, "Datum", shown, edit)}
{_step(3, "Uhrzeit und Standort wählen", "", closed=False)}
<div class="calendar-table">
  <div class="calendar-head">
    <h2 class="title">Bitte wählen Sie eine Uhrzeit:</h2>
    {_legend("nicht verfügbar")}
  </div>
  <div class="timetable">
    <table>
      <tbody>
{rows_html}
      </tbody>
    </table>
  </div>
</div>"""
    return zms_page(f"{TIME_TITLE} - {SITE_TITLE}", "timeselect", content)


def taken_page(src: SimSource, choice: tuple[str, str], host: str) -> Reply:
    """``Taken.html``: nothing free for this choice, with the form to search again."""
    lid, service = choice
    number = location_id(src, src.locations[lid])
    content = f"""<div class="taken-esi">
    <div id="layout-grid__area--herounit">
<div class="herounit-article herounit-article--default">
    <h1 class="title">{TAKEN_HEADING}</h1>
</div>
    </div>
    <div id="layout-grid__area--maincontent">
<section class="modul-text_bild  imagealignleft teaser ">
        <div class="text">
        <div class="textile">
  <p>
    Versuchen Sie es bitte zu einem anderen Zeitpunkt noch einmal. Frei werdende Termine \
stellen wir im Laufe des Tages wieder im Kalender bereit.
  </p>
</div>    </div>
    </section>
    </div>
    </div>
    <form method="GET" action="http://{host}/{src.id}{RESTART_PATH}">
        <input type="hidden" name="providerList" value="{number}">
        <input type="hidden" name="requestList" value="{service}">
        <p>
            <button class="btn disable">Terminsuche wiederholen</button>
        </p>
    </form>"""
    return zms_page(f"{TAKEN_TITLE} - {SITE_TITLE}", "taken", content)


def changed_page(src: SimSource, choice: tuple[str, str]) -> Reply:
    """The reference's "Auswahl … hat sich geändert" page (no real copy known)."""
    number = location_id(src, src.locations[choice[0]])
    href = f"/{src.id}{RESTART_PATH}?providerList={number}&amp;requestList={choice[1]}"
    body = (
        f'<div class="alert">\n  <p>{CHANGED_SENTENCE}</p>\n'
        f'  <a href="{href}">Terminvereinbarung neu starten</a>\n</div>'
    )
    return page(f"Terminvereinbarung - {TITLE}", body)


def message_page(text: str, status: int = 200) -> Reply:
    body = f'<h1>Terminvereinbarung</h1>\n<div class="alert alert-info"><p>{escape(text)}</p></div>'
    return page(f"Terminvereinbarung - {TITLE}", body, status)


def throttle_page(status: int) -> Reply:
    body = (
        f"<h1>{THROTTLE_TEXT}</h1>\n<p>Sie haben in kurzer Zeit zu viele Anfragen gestellt. "
        "Bitte versuchen Sie es in einer Stunde erneut.</p>"
    )
    title = THROTTLE_TITLE if status == 429 else f"{THROTTLE_TEXT} - Service Berlin"
    reply = page(title, body, status)
    if status == 429:
        reply.headers["Retry-After"] = "3600"
    return reply


def captcha_page(src: SimSource) -> Reply:
    body = (
        f"<h1>Sicherheitsabfrage</h1>\n<p>{ROBOT_TEXT}.</p>\n"
        f'<form id="captcha_form" method="post" action="/{src.id}/terminvereinbarung/captcha/">\n'
        f'  <img class="captcha-image" src="/{src.id}/terminvereinbarung/captcha/image.png" '
        'alt="Sicherheitscode">\n  <input type="text" name="captcha_code">\n'
        '  <button type="submit">Weiter</button>\n</form>'
    )
    return page(f"Terminvereinbarung - {TITLE}", body)


# ----------------------------------------------------------------------------- routing


def _redirect(src: SimSource, path: str, cookie: str | None = None) -> Reply:
    reply = Reply(status=302, headers={"Location": f"/{src.id}{path}"})
    if cookie is not None:
        reply.headers["Set-Cookie"] = (
            f"{COOKIE}={cookie}; Path=/{src.id}/terminvereinbarung/; HttpOnly"
        )
    return reply


def _session(src: SimSource, request: SimRequest) -> tuple[str, str] | None:
    state = SESSIONS.get(src.id, request.cookies.get(COOKIE, ""))
    return state["choice"] if state is not None else None


def _choose(world: SimWorld, src: SimSource, number: str, service: str, request, changed: bool):
    """Remember office and service in a session, then show the day chooser (or Taken)."""
    loc = _office(src, number)
    if loc is None:
        return message_page("Bitte wählen Sie einen Standort und eine Dienstleistung.")
    if service not in {value for value, _ in _services(src, loc.id)}:
        return message_page("Die gewählte Dienstleistung wird an diesem Standort nicht angeboten.")
    choice = (loc.id, service)
    token = request.cookies.get(COOKIE, "")
    known = SESSIONS.get(src.id, token)
    if changed and known is not None and known["choice"] != choice:
        return changed_page(src, choice)
    if known is None:
        token = SESSIONS.new(src.id, {"choice": choice})
    else:
        known["choice"] = choice
    now = world.refresh()
    return _redirect(src, DAY_PATH if _bookable(world, src, loc.id, now) else TAKEN_PATH, token)


def _time(world: SimWorld, src: SimSource, choice, host: str, ts: str) -> Reply:
    if not ts.isdigit():
        return message_page("Ungültiger Tag.")
    day = datetime.fromtimestamp(int(ts), OFFICE_TZ).date()
    if int(ts) != _ts(day):
        return message_page("Ungültiger Tag.")
    now = world.refresh()
    free = world.published_day(src, choice[0], day, now)
    if not free:
        return _redirect(src, TAKEN_PATH)
    return time_page(src, choice, host, day, free)


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    path = request.path
    if fault == "throttle":
        return throttle_page(429)
    if path == "/standorte/buergeraemter/":
        return offices_page(src)
    if fault == "throttle200":
        return throttle_page(200)
    parts = path.strip("/").split("/")
    host = request.headers.get("host", "127.0.0.1")
    if len(parts) == 2 and parts[0] == "standort":
        loc = _office(src, parts[1])
        if loc is not None:
            return office_page(src, loc)
    elif path == "/terminvereinbarung/termin/tag.php":
        if fault == "captcha":
            return captcha_page(src)
        query = request.query
        if query.get("termin") != "1":
            return message_page("Bitte wählen Sie einen Standort und eine Dienstleistung.")
        number, service = query.get("dienstleisterlist", ""), query.get("anliegen[]", "")
        return _choose(world, src, number, service, request, changed=True)
    elif path == "/terminvereinbarung/":  # the entry page the catalog and the towns link to
        return message_page("Bitte wählen Sie eine Dienstleistung und einen Standort.")
    elif path == RESTART_PATH:
        number, service = request.query.get("providerList", ""), request.query.get("requestList")
        return _choose(world, src, number, service or "", request, changed=False)
    elif path in (DAY_PATH, TAKEN_PATH) or parts[:3] == ["terminvereinbarung", "termin", "time"]:
        choice = _session(src, request)
        if choice is None:
            return message_page("Ihre Sitzung ist abgelaufen. Bitte beginnen Sie erneut.")
        if path == DAY_PATH:
            return calendar_page(world, src, choice, host, world.refresh())
        if path == TAKEN_PATH:
            return taken_page(src, choice, host)
        if len(parts) == 4:
            return _time(world, src, choice, host, parts[3])
    return message_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
