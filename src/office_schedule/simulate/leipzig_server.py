"""Render a simulated source as the Leipzig eKOL form wizard (Telecomputer GmbH).

Protocol: docs/protocols/custom-machinery-export.md, section A.1. ``GET /tnv`` opens a
session (cookie ``JSESSIONID``) on the privacy page; every further step is a POST of the
page's first form to ``/tnv/bgr?SID=...`` naming exactly one ``ACTION_*`` button. The
server keeps the current page of each session (office list with an open panel, concerns,
comments, calendar with an optional day popup); ``PREVIOUS`` steps back one page.
The calendar shows the current month and the two following ones, whatever the look-ahead.
"""

from __future__ import annotations

import calendar
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape

from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, page

FAMILY = "leipzig"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("maintenance",)
COOKIE = "JSESSIONID"
MONTHS_SHOWN = 3
MAX_SESSIONS = 2000
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)
HEADINGS = {
    "INFOPAGE": "Allgemeine Informationen",
    "OFFICESELECT": "Termin vereinbaren bei",
    "CONCERNSELECT": "Auswahl des Anliegens",
    "CONCERNCOMMENTS": "Zusatzinformationen zu den Anliegen",
    "CALENDARSELECT": "Auswahl des Termins",
}
#: group headings on the office page that are no offices (ids of their tree buttons)
GROUPS = (("Bürgerämter", "100"), ("Ordnungsamt", "200"))


@dataclass
class _Session:
    page: str = "INFOPAGE"
    step: int = 1
    panel: str = ""  # office whose panel is open on the office page
    office: str = ""  # location id chosen
    popup: date | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_SESSIONS: OrderedDict[tuple[str, str], _Session] = OrderedDict()
_LOCK = threading.Lock()


def location_id(src: SimSource, loc: Location) -> str:
    """The office id the scraper reads from the tree button name (after the last ``-``)."""
    return f"1279700{int(loc.id):03d}"


def _office_loc(src: SimSource, office_id: str) -> Location | None:
    return next((x for x in src.locations.values() if location_id(src, x) == office_id), None)


def _months(today: date) -> list[tuple[int, int]]:
    out, y, m = [], today.year, today.month
    for _ in range(MONTHS_SHOWN):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Every day of the month tables from today on (the look-ahead is ignored)."""
    y, m = _months(now.date())[-1]
    last = date(y, m, calendar.monthrange(y, m)[1])
    return [now.date() + timedelta(days=i) for i in range((last - now.date()).days + 1)]


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}/tnv", {"base_url": f"{base_url}/tnv"}


def _services(src: SimSource, lid: str) -> list[tuple[str, str]]:
    """(number, title) of every service offered at location ``lid``."""
    found = []
    for dep in src.departments:
        for svc in dep.services:
            if lid in svc.calendars or svc.hidden_calendar == lid:
                found.append((svc.cnc.split("-", 1)[1], svc.title))
    return found or [("9999", "Allgemeine Vorsprache")]


def _has_comments(src: SimSource, lid: str) -> bool:
    """Some offices show extra information about the chosen concern before the calendar."""
    return int(lid) % 2 == 1


# ----------------------------------------------------------------------------- pages


def _wizard(kind: str, token: str, state: _Session, inner: str, buttons: str) -> Reply:
    body = (
        '<div id="ekolHeader"><img src="logo.png" alt="Stadt Leipzig"></div>\n'
        '<div id="ekolContent">\n'
        f'  <h2 class="ekolStepBox2">{HEADINGS[kind]}</h2>\n'
        f'  <form method="post" action="bgr?SID={token[:8]}">\n'
        f'    <input type="hidden" name="FRM_SESSION" value="{token}">\n'
        f'    <input type="hidden" name="FRM_STEP" value="{state.step}">\n'
        f"{inner}\n{buttons}\n  </form>\n</div>"
    )
    return page("Terminvereinbarung - Stadt Leipzig", body)


def _info_page(token: str, state: _Session) -> Reply:
    inner = (
        "    <p>Bitte lesen Sie die Datenschutzerklärung der Stadt Leipzig.</p>\n"
        '    <input type="checkbox" name="AGREEMENT_ACCEPT" id="agree">\n'
        '    <label for="agree">Ich habe die Datenschutzhinweise gelesen und stimme zu.</label>\n'
        '    <input type="hidden" name="AGREEMENT_REQUIRED" value="true">'
    )
    button = '    <button type="submit" name="ACTION_INFOPAGE_NEXT">Weiter</button>'
    return _wizard("INFOPAGE", token, state, inner, button)


def _offices_page(src: SimSource, token: str, state: _Session) -> Reply:
    def head(name: str, ident: str) -> str:
        return (
            '    <div class="CLASS_TREEVIEWSEARCH_HEAD_LEVEL_2"><button type="submit" '
            f'name="ACTION_OFFICESELECT_TREEVIEW-HEAD-{ident}">{escape(name)}</button></div>'
        )

    rows = [
        '    <div class="CLASS_TREEVIEWSEARCH_HEAD_LEVEL_1"><button type="submit" '
        'name="ACTION_OFFICESELECT_TREEVIEW-HEAD-0">Stadt Leipzig</button></div>',
        head(*GROUPS[0]),
    ]
    for loc in src.locations.values():
        office = location_id(src, loc)
        rows.append(head(f"Bürgeramt {loc.name.removeprefix('Standort ')}", office))
        if state.panel == office:
            rows.append(
                '    <div class="CLASS_TREEVIEWSEARCH_CONTENT">\n'
                f"      <p>{escape(loc.name)}, Öffnungszeiten laut Aushang</p>\n"
                '      <button type="submit" class="class_BuergerAuswahlDienststelle_office-button"'
                f' name="ACTION_OFFICESELECT_BOOK-{office}">Termin in dieser Dienststelle '
                "vereinbaren</button>\n    </div>"
            )
    rows.append(head(*GROUPS[1]))
    rows.append(
        '    <label>Termin-ID <input type="text" name="OFFICESELECT_TERMID" value=""></label>\n'
        '    <label>PIN <input type="text" name="OFFICESELECT_RESERVATIONPIN" value=""></label>'
    )
    button = '    <button type="submit" name="ACTION_OFFICESELECT_PREVIOUS">Zurück</button>'
    return _wizard("OFFICESELECT", token, state, "\n".join(rows), button)


def _concern_page(src: SimSource, token: str, state: _Session, warn: str = "") -> Reply:
    rows = []
    for number, title in _services(src, state.office):
        rows.append(
            f'      <tr><td class="CLASS_METADATAGRIDENTRY_LABEL">{escape(title)}</td>\n'
            '          <td class="CLASS_METADATAGRIDENTRY_VALUECONTAINER">'
            f'<select name="CONCERN_COUNT_{number}"><option value="0">0</option>'
            '<option value="1">1</option><option value="2">2</option></select></td></tr>'
        )
    rows.append(
        '      <tr><td class="CLASS_METADATAGRIDENTRY_LABEL">Hinweis</td>\n'
        '          <td class="CLASS_METADATAGRIDENTRY_VALUECONTAINER">Bitte bringen Sie alle '
        "Unterlagen mit.</td></tr>"
    )
    note = f'    <p class="ekolError">{escape(warn)}</p>\n' if warn else ""
    inner = note + "    <table>\n" + "\n".join(rows) + "\n    </table>"
    buttons = (
        '    <button type="submit" name="ACTION_CONCERNSELECT_PREVIOUS">Zurück</button>\n'
        '    <button type="submit" name="ACTION_CONCERNSELECT_NEXT">Weiter</button>'
    )
    return _wizard("CONCERNSELECT", token, state, inner, buttons)


def _comments_page(token: str, state: _Session) -> Reply:
    inner = "    <p>Bitte beachten Sie: Gebühren sind vor Ort bar oder mit Karte zu zahlen.</p>"
    buttons = (
        '    <button type="submit" name="ACTION_CONCERNCOMMENTS_PREVIOUS">Zurück</button>\n'
        '    <button type="submit" name="ACTION_CONCERNCOMMENTS_NEXT">Weiter</button>'
    )
    return _wizard("CONCERNCOMMENTS", token, state, inner, buttons)


def _free_text(n: int) -> str:
    return "1 freier Termin" if n == 1 else f"{n} freie Termine"


def _month_table(world, src, lid, year, month, now) -> str:
    today, last = now.date(), world.horizon(now)
    rows, cells = [], ["<td></td>"] * date(year, month, 1).weekday()
    for d in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, d)
        if day < today or day > last:
            cells.append(
                '<td class="eKOLCalendarCellOutOfRange">'
                f'<div class="ekolCalendarDayNumberOutOfRange">{d}</div></td>'
            )
        else:
            n = len(world.published_day(src, lid, day, now))
            cells.append(
                '<td class="eKOLCalendarCellInRange"><button type="submit" '
                f'name="ACTION_CALENDARSELECT_DAY_{day:%Y%m%d}">'
                f'<div class="ekolCalendarDayNumberInRange">{d}</div>'
                f'<div class="ekolCalendarFreeTimeContainer">{_free_text(n)}</div></button></td>'
            )
        if len(cells) == 7:
            rows.append("      <tr>" + "".join(cells) + "</tr>")
            cells = []
    if cells:
        rows.append("      <tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{w}</th>" for w in ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"))
    return (
        f'    <table class="ekolCalendarMonthTable">\n      <caption>{MONTH_NAMES[month - 1]} '
        f"{year}</caption>\n      <tr>{head}</tr>\n" + "\n".join(rows) + "\n    </table>"
    )


def _calendar_page(world: SimWorld, src: SimSource, token: str, state: _Session) -> Reply:
    now = world.refresh()
    tables = [_month_table(world, src, state.office, y, m, now) for y, m in _months(now.date())]
    inner = "\n".join(tables)
    if state.popup is not None:
        minutes = world.published_day(src, state.office, state.popup, now)
        options = "".join(
            f'<option value="{m // 60:02d}{m % 60:02d}">{m // 60:02d}:{m % 60:02d}</option>'
            for m in minutes
        )
        inner += (
            '\n    <div class="messagebox">\n'
            f"      <h3>Termine am {state.popup:%d.%m.%Y}</h3>\n"
            '      <select name="ekolCalendarTimeSelect" id="ekolCalendarTimeSelect">'
            f'<option value="">Bitte wählen</option>{options}</select>\n'
            '      <button type="submit" class="messagebox_buttonclose" '
            'name="ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE">Schließen</button>\n    </div>'
        )
    button = '    <button type="submit" name="ACTION_CALENDARSELECT_PREVIOUS">Zurück</button>'
    return _wizard("CALENDARSELECT", token, state, inner, button)


def _notice(heading: str, text: str) -> Reply:
    body = f'<h2 class="ekolStepBox2">{escape(heading)}</h2>\n<p>{escape(text)}</p>'
    return page("Terminvereinbarung - Stadt Leipzig", body)


def maintenance_page() -> Reply:
    return _notice("Wartungsarbeiten", "Das Terminsystem ist derzeit nicht erreichbar.")


# ----------------------------------------------------------------------------- state machine


def _render(world: SimWorld, src: SimSource, token: str, state: _Session) -> Reply:
    if state.page == "INFOPAGE":
        return _info_page(token, state)
    if state.page == "OFFICESELECT":
        return _offices_page(src, token, state)
    if state.page == "CONCERNSELECT":
        return _concern_page(src, token, state)
    if state.page == "CONCERNCOMMENTS":
        return _comments_page(token, state)
    return _calendar_page(world, src, token, state)


def _previous(src: SimSource, state: _Session) -> str:
    if state.page == "CALENDARSELECT":
        return "CONCERNCOMMENTS" if _has_comments(src, state.office) else "CONCERNSELECT"
    if state.page == "CONCERNCOMMENTS":
        return "CONCERNSELECT"
    if state.page == "CONCERNSELECT":
        return "OFFICESELECT"
    return "INFOPAGE"


def _step(src: SimSource, state: _Session, action: str, form: dict[str, str]) -> str | None:
    """Apply one button press to ``state``; returns a warning for the concern page or None."""
    kind = state.page
    if action == f"ACTION_{kind}_PREVIOUS" and kind != "INFOPAGE":
        state.page, state.popup, state.panel = _previous(src, state), None, ""
        return None
    if kind == "INFOPAGE" and action == "ACTION_INFOPAGE_NEXT":
        if form.get("AGREEMENT_ACCEPT") != "on":
            return "agreement"
        state.page = "OFFICESELECT"
    elif kind == "OFFICESELECT" and action.startswith("ACTION_OFFICESELECT_TREEVIEW-HEAD-"):
        office = action.rsplit("-", 1)[1]
        state.panel = "" if state.panel == office else office
    elif kind == "OFFICESELECT" and action.startswith("ACTION_OFFICESELECT_BOOK-"):
        office = action.rsplit("-", 1)[1]
        loc = _office_loc(src, office)
        if loc is None or state.panel != office:
            return "invalid"
        state.office, state.panel, state.page = loc.id, "", "CONCERNSELECT"
    elif kind == "CONCERNSELECT" and action == "ACTION_CONCERNSELECT_NEXT":
        counts = [form.get(f"CONCERN_COUNT_{n}", "0") for n, _ in _services(src, state.office)]
        if not any(c.isdigit() and int(c) > 0 for c in counts):
            return "Bitte wählen Sie mindestens ein Anliegen aus."
        state.page = "CONCERNCOMMENTS" if _has_comments(src, state.office) else "CALENDARSELECT"
    elif kind == "CONCERNCOMMENTS" and action == "ACTION_CONCERNCOMMENTS_NEXT":
        state.page = "CALENDARSELECT"
    elif kind == "CALENDARSELECT" and action.startswith("ACTION_CALENDARSELECT_DAY_"):
        try:
            state.popup = datetime.strptime(action.rsplit("_", 1)[1], "%Y%m%d").date()
        except ValueError:
            return "invalid"
    elif kind == "CALENDARSELECT" and action == "ACTION_CALENDARSELECT_MESSAGEBOX_CLOSE":
        state.popup = None
    else:
        return "invalid"
    return None


def _new_session(src: SimSource) -> tuple[str, _Session]:
    token = secrets.token_hex(12)
    state = _Session()
    with _LOCK:
        _SESSIONS[(src.id, token)] = state
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    return token, state


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer ``/tnv`` (GET: new session) and ``/tnv/bgr`` (POST: one wizard step)."""
    name = request.path.strip("/")
    if request.method == "GET" and name == "tnv":
        token, state = _new_session(src)
        reply = _info_page(token, state)
        reply.headers["Set-Cookie"] = f"{COOKIE}={token}; Path=/{src.id}/tnv; HttpOnly"
        return reply
    if request.method != "POST" or name != "tnv/bgr":
        return _notice("Seite nicht gefunden", "Die angeforderte Seite existiert nicht.")
    token = request.cookies.get(COOKIE, "")
    with _LOCK:
        state = _SESSIONS.get((src.id, token))
        if state is not None:
            _SESSIONS.move_to_end((src.id, token))
    if state is None or request.form.get("FRM_SESSION") != token:
        return _notice("Sitzung abgelaufen", "Bitte starten Sie die Terminvereinbarung neu.")
    actions = [k for k in request.form if k.startswith("ACTION_")]
    if len(actions) != 1 or request.form.get("SELECTED_LANGUAGE") != "de":
        return _notice("Fehler", "Ungültige Anfrage.")
    with state.lock:  # one step at a time per session
        if request.form.get("FRM_STEP") != str(state.step):
            return _notice("Sitzung abgelaufen", "Die Seite ist nicht mehr aktuell.")
        if fault == "maintenance" and state.page == "INFOPAGE":
            return maintenance_page()
        warning = _step(src, state, actions[0], request.form)
        if warning == "invalid":
            return _notice("Fehler", f"Die Aktion {actions[0]} ist hier nicht möglich.")
        state.step += 1
        if warning and state.page == "CONCERNSELECT":
            return _concern_page(src, token, state, warning)
        return _render(world, src, token, state)
