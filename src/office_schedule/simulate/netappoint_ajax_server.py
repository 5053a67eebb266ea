"""The WEB_APPOINT ("AJAX") netappoint skin for simulated sources with ``variant == "ajax"``.

One tenant per source at ``/{source_id}/termin/index.php?loc=<CODE>``:

- ``GET`` -> the form page: ``div#WEB_APPOINT_CASETYPELIST`` around ``form#F<hex>`` with one
  ``fieldset``, per department a ``javascript:toggle('<Name_SPACE_…>')`` link with an
  ``<h3>`` and a div of that id holding one ``select[name="CASETYPES[<service>]"]`` per
  service, hidden ``step`` and ``FRM_CASETYPES_token``, ``input.WEB_APPOINT_FORWARDBUTTON``.
  No complete real form page is available: this is built from what public bots of
  Munich's instance rely on (those names, ids and nesting) and the classic skin's
  conventions; the session cookie and token are set here;
- ``POST step=WEB_APPOINT_SEARCH_BY_CASETYPES&CASETYPES[<service>]=1&FRM_CASETYPES_token=…``
  -> the answer: ``var jsonAppoints = '<JSON>';`` (every day of the shown months, empty
  lists for days without a free time) and ``div#locationContent`` with one calendar per
  location serving the service, in the markup of the real fragment
  ``real-pages/netappoint/muenchen_abh_2023-10_calendar_fragment.html`` (headline button,
  month blocks with ``navButton``/``navMonthText`` navigation, ``table.nat_calendar``
  with caption, colgroup, thead, ``td.nat_calendar`` cells whose ``headers`` name the
  weekday of the *next* day as on the real page, hidden ``Keine freien Termine am`` spans,
  and the empty ``div.WEB_APPOINT_TIMELIST``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, timedelta
from html import escape

from ..families.netappoint import protocol as p
from .model import HHMMSS, SimWorld
from .offices import Location, SimSource
from .pages import Reply, SessionStore, SimRequest, page

MOUNT = "termin"
#: months the answer shows, starting with the current one (the real page shows five)
SHOWN_MONTHS = 5
#: department title -> the ``loc=`` code of a tenant whose first department it is
CODES = {
    "Bürgerbüro": "BB",
    "Kfz-Zulassung": "KFZ",
    "Führerscheinstelle": "FS",
    "Ausländerbehörde": "ABH",
    "Standesamt": "STA",
    "Gewerbeamt": "GEW",
}
NAV = (
    ("NAV_CASETYPES", "Dienstleistungen"),
    ("NAV_LOCATION", "Standort"),
    ("NAV_DATE", "Datum"),
    ("NAV_TIME", "Uhrzeit"),
    ("NAV_CONTACT", "Kontaktdaten"),
    ("NAV_CONFIRM", "Bestätigung"),
)
_NAV_WIDTH = "42,85714285714286%"
_BUTTON_WIDTH = "28,57142857142857%;"
_COL_WIDTH = "14,28571428571429%"
_EMPTY_BUTTON = '<span class="navButton navButton_empty" );"="">&nbsp;</span>'

#: session id -> {"token": the form token}
SESSIONS = SessionStore(limit=5000, token_bytes=13)


# --------------------------------------------------------------------------- structure


def services_of(src: SimSource, loc: Location) -> list[str]:
    """Titles of the services a location serves (page order); both skins use them."""
    titles: list[str] = []
    for dep in src.departments:
        for svc in dep.services:
            if loc.id in svc.calendars or svc.hidden_calendar == loc.id:
                if svc.title not in titles:
                    titles.append(svc.title)
    return titles or ["Allgemeine Vorsprache"]


def casetypes(src: SimSource) -> dict[str, list[str]]:
    """service title -> ids of the locations serving it, in form order."""
    out: dict[str, list[str]] = {}
    for loc in src.locations.values():
        for title in services_of(src, loc):
            out.setdefault(title, []).append(loc.id)
    return out


def categories(src: SimSource) -> dict[str, list[str]]:
    """Form category (department title) -> service titles, each service once."""
    types, out, placed = casetypes(src), {}, set()
    for dep in src.departments:
        titles = [s.title for s in dep.services if s.title in types and s.title not in placed]
        if titles:
            out[dep.title] = titles
            placed.update(titles)
    rest = [t for t in types if t not in placed]
    if rest:
        out["Sonstiges"] = rest
    return out


def code(src: SimSource) -> str:
    return CODES.get(src.departments[0].title, "BB") if src.departments else "BB"


def web_id(src: SimSource, loc: Location) -> str:
    """The location's 32-hex id (jsonAppoints ``id``, calendar element ids)."""
    return hashlib.md5(f"{src.id}/{loc.id}".encode()).hexdigest()


def _dom_id(name: str) -> str:
    return name.replace(" ", "_SPACE_")


def _path(src: SimSource) -> str:
    return f"/{src.id}/{MOUNT}/index.php?loc={code(src)}"


# --------------------------------------------------------------------------- page frame


def _frame(src: SimSource, title: str, active: str, content: str) -> Reply:
    tabs = "\n".join(
        f'<li id="{nav}" class="statusleiste_aktiv">{label}</li>'
        if nav == active
        else f'<li id="{nav}">{label}</li>'
        for nav, label in NAV
    )
    body = (
        f'<div id="WEB_APPOINT">\n<h1>Terminvereinbarung {escape(src.name)}</h1>\n'
        f'<ul class="statusleiste">\n{tabs}\n</ul>\n{content}\n</div>\n'
        '<script type="text/javascript">function toggle(id) { var el = '
        "document.getElementById(id); el.style.display = (el.style.display == 'none') ? "
        "'block' : 'none'; }\nfunction nav(id) { }</script>"
    )
    return page(f"Terminvereinbarung - {src.name} - {title}", body)


def form_page(src: SimSource, token: str) -> Reply:
    groups = []
    for title, services in categories(src).items():
        selects = []
        for service in services:
            field = f"CASETYPES_{_dom_id(service)}"
            options = "".join(
                f'<option value="{n}"{" selected" if n == 0 else ""}>{n}</option>' for n in range(6)
            )
            selects.append(
                f'<div class="WEB_APPOINT_CASETYPE"><label for="{escape(field)}">'
                f"{escape(service)}</label>\n"
                f'<select name="CASETYPES[{escape(service)}]" id="{escape(field)}">{options}'
                "</select></div>"
            )
        groups.append(
            f"<a href=\"javascript:toggle('{escape(_dom_id(title))}');\"><h3>{escape(title)}"
            f'</h3></a>\n<div id="{escape(_dom_id(title))}" style="display: none;">\n'
            + "\n".join(selects)
            + "\n</div>"
        )
    form_hex = hashlib.md5(f"{src.id}/form".encode()).hexdigest()
    content = (
        f'<div id="{p.CASETYPE_LIST}">\n'
        f'<form id="F{form_hex}" name="FRM_CASETYPES" method="post" '
        f'action="{escape(_path(src))}">\n<fieldset>\n<legend>Bitte wählen Sie die '
        "gewünschten Dienstleistungen und die Anzahl der Personen aus.</legend>\n"
        + "\n".join(groups)
        + "\n</fieldset>\n"
        f'<input type="hidden" name="step" value="{p.SEARCH_STEP}">\n'
        f'<input type="hidden" name="{p.TOKEN_FIELDS[0]}" value="{token}">\n'
        f'<input type="submit" class="{p.FORWARD_BUTTON}" value="Weiter">\n</form>\n</div>'
    )
    return _frame(src, "Dienstleistungen", "NAV_CASETYPES", content)


def message_page(src: SimSource, message: str) -> Reply:
    content = f'<div class="WEB_APPOINT_ERROR"><p>{escape(message)}</p></div>'
    return _frame(src, "Hinweis", "NAV_CASETYPES", content)


def garbage_page(src: SimSource) -> Reply:
    content = (
        "<h2>Wartungsarbeiten</h2>\n<p>Die Terminvereinbarung ist vorübergehend nicht "
        "erreichbar.</p>"
    )
    return _frame(src, "Wartung", "NAV_CASETYPES", content)


# --------------------------------------------------------------------------- calendar


def shown_months(today: date) -> list[date]:
    first, out = today.replace(day=1), []
    for _ in range(SHOWN_MONTHS):
        out.append(first)
        first = (first + timedelta(days=31)).replace(day=1)
    return out


def _cell(loc_id: str, month_block: str, day: date, bookable: bool) -> str:
    # the real page names the weekday of the following day in ``headers``
    head = f'<td class="nat_calendar" headers="{month_block}{p.WEEKDAYS[(day.weekday() + 1) % 7]}">'
    tail = f".{day.month}.{day.year}"
    if not bookable:
        return (
            f'{head}<span class="hidden">{p.NONE_FREE_CELL} </span>{day.day}'
            f'<span class="hidden">{tail}</span></td>'
        )
    return (
        f'{head}<a class="{p.CALENDAR_CLASS} {p.BOOKABLE_CLASS}" '
        f'href="{p.show_time_list(loc_id, day)}"><span class="hidden">{p.BOOKABLE_CELL[0]} '
        f'</span>{day.day}<span class="hidden">{tail} {p.BOOKABLE_CELL[1]}</span></a></td>'
    )


def _month(loc_id: str, first: date, index: int, bookable: set[date]) -> str:
    block = p.month_id(loc_id, first.year, first.month)
    prev_button = (
        _EMPTY_BUTTON
        if index == 0
        else f'<a class="navButton" href="{p.switch_month(loc_id, block, "PREV")}">&lt;</a>'
    )
    next_button = (
        _EMPTY_BUTTON
        if index == SHOWN_MONTHS - 1
        else f'<a class="navButton" style="width: {_BUTTON_WIDTH}" '
        f'href="{p.switch_month(loc_id, block, "NEXT")}">&gt;</a>'
    )
    current = " htmlCalendarMonth_Current" if index == 0 else " "
    display = "block" if index == 0 else "none"
    heads = "\n".join(
        f'<th id="{block}{short}" scope="colgroup" class="nat_calendar"><abbr '
        f'title="{title}">{short}</abbr></th>'
        for short, title in zip(p.WEEKDAYS, p.WEEKDAY_TITLES, strict=True)
    )
    cells = [
        f'<td class="nat_calendar" headers="{block}{p.WEEKDAYS[i]}"></td>'
        for i in range(first.weekday())
    ]
    day = first
    while day.month == first.month:
        cells.append(_cell(loc_id, block, day, day in bookable))
        day += timedelta(days=1)
    rows = "\n".join(
        "<tr>\n" + "\n".join(cells[i : i + 7]) + "\n</tr>" for i in range(0, len(cells), 7)
    )
    cols = "\n".join(f'<col width="{_COL_WIDTH}">' for _ in range(7))
    return (
        f'<div class="{loc_id} {p.MONTH_CLASS}{current}" id="{block}" style="display: '
        f'{display};">\n<div class="nat_calendar_nav">{prev_button}<span class="navMonthText" '
        f'style="width: {_NAV_WIDTH}">{p.month_name(first)}</span>{next_button}\n</div>\n'
        f'<table border="1" summary="{p.CALENDAR_SUMMARY}" class="{p.CALENDAR_CLASS}">\n'
        f"<caption>{p.CALENDAR_CAPTION} {p.month_name(first)}</caption>\n"
        f"<colgroup>\n{cols}\n</colgroup>\n<thead>\n<tr>\n{heads}\n</tr>\n</thead>\n"
        f"<tbody>\n{rows}\n</tbody>\n</table>\n</div>"
    )


def location_content(entries: list[tuple[str, str, dict[date, list[int]]]], today: date) -> str:
    """``div#locationContent`` for (id, caption, day -> free minutes) entries."""
    parts = []
    for loc_id, caption, days in entries:
        bookable = {day for day, minutes in days.items() if minutes}
        months = "\n".join(
            _month(loc_id, first, i, bookable) for i, first in enumerate(shown_months(today))
        )
        parts.append(
            f'<input type="button" value="{escape(caption)}"\n'
            f'class="{p.HEADLINE_CLASS}"\nonclick="{p.headline_onclick(loc_id)}">\n'
            f'<div class="{p.CONTENT_CLASS}" id="{loc_id}" style="display: block;">\n'
            f'{months}\n<div class="{p.TIMELIST_CLASS}" id="{loc_id}TL"></div>\n</div>'
        )
    return f'<div id="{p.LOCATION_LIST_ID}" class="location_list">' + "\n".join(parts) + "\n</div>"


def published(world: SimWorld, src: SimSource, lids: list[str], now: datetime):
    """(id, caption, day -> free minutes) of the locations over the shown months."""
    months = shown_months(now.date())
    end = (months[-1] + timedelta(days=31)).replace(day=1)
    days = [months[0] + timedelta(days=i) for i in range((end - months[0]).days)]
    return [
        (
            web_id(src, src.locations[lid]),
            src.locations[lid].name,
            {day: world.published_day(src, lid, day, now) for day in days},
        )
        for lid in lids
    ]


def answer_page(world: SimWorld, src: SimSource, lids: list[str]) -> Reply:
    with world.lock:  # one consistent state for the JSON and the calendar
        now = world.refresh()
        entries = published(world, src, lids, now)
    data = {
        f"Termin {caption}": {
            "caption": caption,
            "id": loc_id,
            "appoints": {
                day.isoformat(): [HHMMSS[m][:5] for m in minutes] for day, minutes in days.items()
            },
        }
        for loc_id, caption, days in entries
    }
    # a JS string literal holding JSON: non-ASCII and quotes as \\u escapes
    blob = json.dumps(data, separators=(",", ":")).replace("'", "\\u0027")
    content = (
        '<p class="WEB_APPOINT_INFO">Bitte wählen Sie einen Tag und eine Uhrzeit aus.</p>\n'
        f"<script type=\"text/javascript\">var {p.JSON_VAR} = '{blob}';</script>\n"
        + location_content(entries, now.date())
    )
    return _frame(src, "Terminauswahl", "NAV_DATE", content)


# --------------------------------------------------------------------------- requests


def _session(src: SimSource, request: SimRequest) -> tuple[str, str | None, bool]:
    """(session id, its token or None when unknown, new?)."""
    sid = request.cookies.get(p.COOKIE, "")
    state = SESSIONS.get(src.id, sid)
    if state is not None:
        return sid, state["token"], False
    return SESSIONS.new(src.id, {"token": secrets.token_hex(16)}), None, True


def _token(src: SimSource, sid: str) -> str:
    return SESSIONS.get(src.id, sid)["token"]


def _post(world: SimWorld, src: SimSource, request: SimRequest, token: str | None) -> Reply:
    form = request.form
    if token is None or not secrets.compare_digest(form.get(p.TOKEN_FIELDS[0], ""), token):
        return message_page(src, p.SESSION_EXPIRED)
    if form.get("step") != p.SEARCH_STEP:
        return form_page(src, token)
    types = casetypes(src)
    chosen = []
    for name, value in form.items():
        match = p.CASETYPES_FIELD.fullmatch(name)
        if match and value.strip() not in ("", "0"):
            chosen.append(match.group(1))
    if not chosen or any(name not in types for name in chosen):
        return form_page(src, token)
    lids = [lid for lid in src.locations if all(lid in types[name] for name in chosen)]
    if not lids:
        return message_page(src, f"{p.NO_SLOTS_AFTER_SELECTION[0]}.")
    return answer_page(world, src, lids)


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix) of a WEB_APPOINT tenant."""
    if request.path.rstrip("/") not in (f"/{MOUNT}/index.php", f"/{MOUNT}"):
        return message_page(src, "Die angeforderte Seite wurde nicht gefunden.")
    sid, token, new = _session(src, request)
    if request.query.get("loc") != code(src):
        reply = message_page(src, "Bitte wählen Sie einen Bereich aus.")
    elif request.method == "POST":
        reply = message_page(src, p.SESSION_EXPIRED) if fault == "expired" else None
        reply = reply or _post(world, src, request, token)
    elif fault == "garbage":
        reply = garbage_page(src)
    else:
        reply = form_page(src, _token(src, sid))
    if new:
        reply.headers["Set-Cookie"] = f"{p.COOKIE}={sid}; path=/"
    return reply


# --------------------------------------------------------------------------- truth, catalog


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list:
    """Every free slot from today through today + 7·W (or the horizon) within the months shown."""
    last = world.horizon(now) if weeks is None else now.date() + timedelta(days=7 * weeks)
    shown = shown_months(now.date())[-1]
    end = (shown + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    out, day = [], now.date()
    while day <= min(last, end):
        out += [
            f"{day.isoformat()} {HHMMSS[m]}" for m in world.published_day(src, loc.id, day, now)
        ]
        day += timedelta(days=1)
    return out


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params): base ``{base_url}/termin``, ``extra=loc=<CODE>``, no company."""
    base = f"{base_url}/{MOUNT}"
    return f"{base}/index.php?loc={code(src)}", {"base_url": base, "extra": f"loc={code(src)}"}
