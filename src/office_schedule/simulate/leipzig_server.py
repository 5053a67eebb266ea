"""Render a simulated source as an eKOL/TNV form wizard (Telecomputer GmbH).

Protocol: docs/protocols/custom-machinery-export.md, section A.1, systems-2026.md §16, and
``families/leipzig.py``. The markup copies a real Potsdam calendar page of 2022 (the
flx5/potsdam bot's ``data/time_selection.html``): ``form#contextForm`` posting to
``bgr;jsessionid=…`` with hidden ``PGUTSMSC`` (changes every step) and ``TCSID``, month
tables of ``td.eKOLCalendarCellInRange`` day buttons named
``ACTION_CALENDARVIEW{n}||DAY_SELECT||{epoch ms}``, ``N frei``/``0 frei``/``geschlossen``
counts and the time popup. Sources take the spellings of :data:`SPELLINGS` in turn:

- ``classic`` (Leipzig 2021, as the reference scraper read it): an agreement page first,
  ``h2.ekolStepBox2`` headings, the office tree with a panel per office, concern selects
  in ``td.CLASS_METADATAGRIDENTRY_VALUECONTAINER``, bare day numbers;
- ``span`` (Potsdam 2020-2022): the office chooser first with one
  ``ACTION_OFFICESELECT_TERMNEW_PREFIX{id}`` button per office, concern selects labelled
  by ``label[for]``, menu forms before the context form, day numbers ``26<span>.10.</span>``;
- ``underscore`` (2025): as ``span`` with ``ekolCalendar_*`` classes and
  ``<span class="conMonthNr">`` (known from other people's 2025 code: cell, day number,
  count, free-day button, container; the month table's ``ekolCalendar_MonthTable`` class
  and the office and concern markup of the TNV tenants are inferred, not copied).

The server keeps the current page of each session; ``PREVIOUS`` steps back one page.
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

from ..clock import OFFICE_TZ
from ..families.leipzig import (
    CLASSES,
    CLOSE_BUTTON,
    CLOSED_TEXT,
    CONCERN_CELL,
    CONTEXT_FORM,
    DAY_SELECT,
    FREE_TEXT,
    MONTH_SPAN_CLASS,
    OFFICE_BUTTON,
    PAGES,
    POPUP_COUNT,
    POPUP_COUNT_ID,
    POPUP_DAY_ID,
    POPUP_OK,
    POPUP_TITLE,
    SPELLINGS,
    TERMNEW_PREFIX,
    TIME_SELECT,
    TIME_SELECT_ID,
    TREE_HEAD,
)
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest

FAMILY = "leipzig"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("maintenance",)
COOKIE = "JSESSIONID"
MONTHS_SHOWN = 3
MAX_SESSIONS = 2000
MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)
HEADINGS = {step: heading for heading, step in PAGES.items()}
#: group headings on the classic office page that are no offices (ids of their tree buttons)
GROUPS = (("Bürgerämter", "100"), ("Ordnungsamt", "200"))
MAINTENANCE = "Das Terminsystem ist derzeit wegen Wartungsarbeiten nicht erreichbar."
EXPIRED = "Ihre Sitzung ist abgelaufen. Bitte starten Sie die Terminvereinbarung neu."


@dataclass
class _Session:
    page: str = "INFOPAGE"
    pg: str = ""  # PGUTSMSC of the page last sent
    panel: str = ""  # office whose panel is open on the classic office page
    office: str = ""  # location id chosen
    popup: date | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_SESSIONS: OrderedDict[tuple[str, str], _Session] = OrderedDict()
_LOCK = threading.Lock()


def spelling(src: SimSource) -> str:
    """The front-end spelling of a source: the sources of the family take them in turn."""
    if src.variant in SPELLINGS:
        return src.variant
    return SPELLINGS[(src.index - 1) % len(SPELLINGS)]


def location_id(src: SimSource, loc: Location) -> str:
    """The office id the scraper reads from the tree/booking button name."""
    base = "1279700" if spelling(src) == "classic" else "1333626"
    return f"{base}{int(loc.id):03d}"


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
    """Classic offices show extra information for some concerns; TNV tenants always do."""
    return spelling(src) != "classic" or int(lid) % 2 == 1


def _view(src: SimSource) -> str:
    return f"ACTION_CALENDARVIEW{274156 + src.index}"


def _ms(t: datetime) -> int:
    return int(t.replace(tzinfo=OFFICE_TZ).timestamp() * 1000)


def _ent(text: str) -> str:
    """Escaped like the real pages: non-ASCII as hexadecimal character references."""
    return "".join(c if ord(c) < 128 else f"&#x{ord(c):x};" for c in escape(text, quote=False))


def _button(
    name: str, label: str, css: str = "btnDefault", *, pre: str = "", mid: str = "", title=""
) -> str:
    """A submit button with the attribute order of the real pages."""
    title = f' title="{_ent(title)}"' if title else ""
    return (
        f'<button {pre}name="{name}"{mid} type="submit" class="{css}"{title} '
        f'id="{name.lower()}">{_ent(label)}</button>'
    )


# ----------------------------------------------------------------------------- pages


def _document(src: SimSource, token: str, state: _Session, context: str, inner: str) -> Reply:
    tnv = spelling(src) != "classic"
    hidden = (
        f'<input type="hidden" name="PGUTSMSC" value="{state.pg}"/>'
        f'<input type="hidden" name="TCSID" value="_A{token[:16]}"/>'
    )
    menu = ""
    if tnv:  # the real TNV pages carry two menu forms, with their own PGUTSMSC, first
        menu = "".join(
            f'<div data-role="popup" data-overlay-theme="b" id="{name}"><form accept-charset='
            f'"UTF-8" action="bgr;jsessionid={token}" data-ajax="false" method="post">'
            f'<input type="hidden" name="PGUTSMSC" value="M{secrets.token_hex(8)}"/>'
            f'<input type="hidden" name="TCSID" value="_A{token[:16]}"/></form></div>'
            for name in ("menupopup", "settingspopup")
        )
    text = (
        '<!DOCTYPE html>\n<html lang="de">\n\n<head>\n\n <title>Terminverwaltung</title>\n'
        ' <meta http-equiv="content-type" content="text/html;" />\n'
        ' <meta name="author" content="Telecomputer GmbH" />\n'
        ' <meta name="keywords" content="eKOL, Terminverwaltung, Telecomputer, eGovernment" />\n'
        ' <meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        "\n</head>\n\n"
        f'<body id="ekolBody">\n<div data-tccontext="{context}" data-role="page" '
        f'class="ekolBody" id="tc">{menu}<form onsubmit="return eKOLformAllreadySendCheck();" '
        f'accept-charset="UTF-8" action="bgr;jsessionid={token}" data-ajax="false" '
        f'id="{CONTEXT_FORM}" method="post">{hidden}<div class="ekolContainer" '
        'id="idEkolContainer"><button name="ACTION_REFRESH" type="submit" data-enhanced="true" '
        'value="Aktualisieren" id="action_refresh" style="border:none;"></button>'
        '<header class="ekolHeadContainer" id="pageHeader"><div class="ekolHeadBox1">'
        '<h1 class="ekolHeadBox1">Terminvereinbarung</h1></div></header>'
        f'<div class="headspacer">Terminvereinbarung</div>{inner}</div></form></div>'
        "<!-- TC-CONTEXT (do not modify this line!) -->\n</body>\n</html>\n"
    )
    return Reply(body=text.encode("utf-8"))


def _main(src: SimSource, kind: str | None, sections: str, buttons: str, popup="") -> str:
    heading = ""
    if kind and spelling(src) == "classic":
        heading = f'<h2 class="ekolStepBox2">{_ent(HEADINGS[kind])}</h2>'
    foot = f'<footer class="ekolFootContainer"><div class="ekolFootBox2">{buttons}</div></footer>'
    return f"{popup}<main>{heading}{sections}{foot}</main>"


def _segment(title: str, content: str, z: int = 2) -> str:
    return (
        f'<section class="ekolSegmentContainer" style="z-index:{z};"><div class="ekolSegmentBox1">'
        f'<h3 class="ekolSegmentBox1">{_ent(title)}</h3></div><div class="ekolSegmentBox2">'
        f"{content}</div></section>"
    )


def _steps(kind: str, *which: str) -> str:
    labels = {"PREVIOUS": "Zurück", "NEXT": "Weiter"}
    css = "btnDefault button_maincontrol footerButton"
    wait = 'onclick="eKOLprogressBarInit(2,&#x27;Bitte warten ...&#x27;);" '
    return "".join(_button(f"ACTION_{kind}_{w}", labels[w], css, pre=wait) for w in which)


def _info_page(src: SimSource, token: str, state: _Session) -> Reply:
    inner = (
        "<p>Bitte lesen Sie die Datenschutzerklärung.</p>"
        '<input type="checkbox" name="AGREEMENT_ACCEPT" id="agreement_accept">'
        '<label for="agreement_accept">Ich habe die Datenschutzhinweise gelesen und stimme '
        'zu.</label><input type="hidden" name="AGREEMENT_REQUIRED" value="true"/>'
    )
    main = _main(src, "INFOPAGE", _segment("Datenschutz", inner), _steps("INFOPAGE", "NEXT"))
    return _document(src, token, state, "buergerinfopage", main)


def _offices_page(src: SimSource, token: str, state: _Session) -> Reply:
    rows = []
    if spelling(src) == "classic":

        def head(name: str, ident: str) -> str:
            button = _button(f"ACTION_OFFICESELECT_TREEVIEW-HEAD-{ident}", name, "btnDefault")
            return f'<div class="{TREE_HEAD}">{button}</div>'

        rows.append(head(*GROUPS[0]))
        for loc in src.locations.values():
            office = location_id(src, loc)
            rows.append(head(f"Bürgeramt {loc.name.removeprefix('Standort ')}", office))
            if state.panel == office:
                book = _button(
                    f"ACTION_OFFICESELECT_BOOK-{office}",
                    "Termin in dieser Dienststelle vereinbaren",
                    f"btnDefault {OFFICE_BUTTON}",
                )
                rows.append(
                    f'<div class="CLASS_TREEVIEWSEARCH_CONTENT"><p>{_ent(loc.name)}, '
                    f"Öffnungszeiten laut Aushang</p>{book}</div>"
                )
        rows.append(head(*GROUPS[1]))
    else:
        items = "".join(
            f'<div class="treeItem_searchChild"><div>Bürgerservicecenter '
            f"{_ent(loc.name.removeprefix('Standort '))}</div>"
            + _button(f"{TERMNEW_PREFIX}{location_id(src, loc)}", "Termin vereinbaren")
            + "</div>"
            for loc in src.locations.values()
        )
        rows.append(f'<div id="id_buergerauswahldienststelle_tree-office">{items}</div>')
    rows.append(
        '<label>Termin-ID <input type="text" name="OFFICESELECT_TERMID" value=""/></label>'
        '<label>PIN <input type="text" name="OFFICESELECT_RESERVATIONPIN" value=""/></label>'
    )
    buttons = _steps("OFFICESELECT", "PREVIOUS") if spelling(src) == "classic" else ""
    main = _main(src, "OFFICESELECT", _segment("Dienststelle", "".join(rows)), buttons)
    return _document(src, token, state, "buergerauswahldienststelle", main)


def _concern_page(src: SimSource, token: str, state: _Session, warn: str = "") -> Reply:
    options = "".join(f'<option value="{i}">{i}</option>' for i in range(3))
    if spelling(src) == "classic":
        rows = "".join(
            f'<tr><td class="CLASS_METADATAGRIDENTRY_LABEL">{_ent(title)}</td>'
            f'<td class="{CONCERN_CELL}"><select name="{n}" id="id_{n}">{options}</select>'
            "</td></tr>"
            for n, title in _services(src, state.office)
        )
        rows += (
            '<tr><td class="CLASS_METADATAGRIDENTRY_LABEL">Hinweis</td>'
            f'<td class="{CONCERN_CELL}">Bitte bringen Sie alle Unterlagen mit.</td></tr>'
        )
        grid = f"<table>{rows}</table>"
    else:
        fields = "".join(
            f'<div class="ui-field-contain"><label for="id_{n}">{_ent(title)}</label>'
            f'<select name="{n}" id="id_{n}">{options}</select></div>'
            for n, title in _services(src, state.office)
        )
        grid = (
            '<div class="blockdatagrid" id="id_abstractcontexttnv_mdg-input-anliegen-ohne-dauer">'
            f'<div class="blockcontentdatagrid">{fields}</div></div>'
        )
    main = _main(
        src,
        "CONCERNSELECT",
        _messages(warn) + _segment("Anliegen", grid),
        _steps("CONCERNSELECT", "PREVIOUS", "NEXT"),
    )
    return _document(src, token, state, "buergeranliegen", main)


def _comments_page(src: SimSource, token: str, state: _Session) -> Reply:
    note = "<p>Bitte beachten Sie: Gebühren sind vor Ort bar oder mit Karte zu zahlen.</p>"
    buttons = _steps("CONCERNCOMMENTS", "PREVIOUS", "NEXT")
    main = _main(src, "CONCERNCOMMENTS", _segment("Hinweise zu den Anliegen", note), buttons)
    return _document(src, token, state, "buergeranliegenhinweise", main)


def _day_cell(src: SimSource, day: date, in_range: bool, free: int | None) -> str:
    """One day cell; ``free`` None means closed (no opening hours that day)."""
    cls, spell = CLASSES[spelling(src)], spelling(src)
    month, span = MONTH_SPAN_CLASS[spell], ""
    if month is not None:
        span = f'<span class="{month}">' if month else "<span>"
        span += f".{day.month}.</span>"
    if not in_range:
        number = f'<div class="{cls["number_out"]}">{day.day}{span}</div>'
        return f'<td class="{cls["cell_out"]}">{number}</td>'
    name = f"{_view(src)}{DAY_SELECT}{_ms(datetime(day.year, day.month, day.day))}"
    state = "FreeX" if free else "Free0"
    label = CLOSED_TEXT if free is None else FREE_TEXT.format(n=free)
    css = f"{cls['button']} btnDefault {cls['button']}{state} ui-button"
    inner = (
        f'<div class="{cls["number"]}">{day.day}{span}</div>'
        f'<div class="{cls["free"]}">{_ent(label)}</div>'
    )
    return (
        f'<td class="{cls["cell"]}"><button name="{name}" type="submit" class="{css}" '
        f'title="Diesen Tag ausw&#xe4;hlen" id="{name.lower()}">{inner}</button></td>'
    )


def _month_table(world, src, lid, year, month, now, index) -> str:
    today, last = now.date(), world.horizon(now)
    prefix = CLASSES[spelling(src)]["cell"].removesuffix("InRange")
    loc = src.locations[lid]
    rows, cells = [], []
    first = date(year, month, 1)
    cells = [f'<td class="{prefix}OutMonthStart"></td>'] * first.weekday()
    week = first.isocalendar().week
    for d in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, d)
        in_range = today <= day <= last
        free = None
        if in_range and loc.grid(day):
            free = len(world.published_day(src, lid, day, now))
        cells.append(_day_cell(src, day, in_range, free))
        if len(cells) == 7 or d == calendar.monthrange(year, month)[1]:
            cells += [f'<td class="{prefix}OutMonthEnd"></td>'] * (7 - len(cells))
            rows.append(f'<tr><td class="{prefix}KwValue">{week}</td>{"".join(cells)}</tr>')
            cells, week = [], (day + timedelta(days=1)).isocalendar().week
    head = "".join(f"<th>{w}</th>" for w in ("KW", "Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"))
    ident = f"monthtable{index}" if spelling(src) == "underscore" else f"monthTable{index}"
    cols = '<col width="50px"/>' + '<col width="14%"/>' * 7
    return (
        f'<table data-role="table" class="{CLASSES[spelling(src)]["table"]}" id="{ident}" '
        f'data-mode="reflow"><caption>{_ent(MONTH_NAMES[month - 1])} {year}</caption>'
        f"<colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _popup(world: SimWorld, src: SimSource, state: _Session, now: datetime) -> str:
    day = state.popup
    assert day is not None
    minutes = world.published_day(src, state.office, day, now)
    base = datetime(day.year, day.month, day.day)
    options = "".join(
        f'\n <option value="{_ms(base + timedelta(minutes=m))}">{m // 60:02d}:{m % 60:02d}</option>'
        for m in minutes
    )
    view = _view(src)
    close = _button(
        f"{view}||POPUP_CLOSE",
        "Schliessen",
        f"btnDefault {CLOSE_BUTTON}",
        pre='data-show-label="false" data-inline="true" '
        'onclick="eKOLScrollbarApplyWindowsPositionY(this);" ',
    ).replace(' type="submit"', ' type="submit" data-icon="ui-icon-delete"', 1)
    ok = _button(f"{view}{POPUP_OK}{_ms(base)}", "Ok", title="Ausgewählte Zeit bestätigen")
    return (
        '<div class="ekolstaticpopup"><div class="messagebox"><div '
        f'class="messagebox_buttonclosecontainer">{close}</div><div class="messagebox_title">'
        '</div><div class="messagebox_contentcontainer"><div id="ekolcalendarpopopwithtimes">'
        f'<div id="{POPUP_DAY_ID}">{_ent(POPUP_TITLE.format(day=day))}</div>'
        f'<div id="{POPUP_COUNT_ID}">{POPUP_COUNT.format(n=len(minutes))}</div>'
        f'<div id="ekolcalendarpopupdayzeitauswahlcontainer"><select name="{TIME_SELECT}" '
        f'id="{TIME_SELECT_ID}">\n <option value="">- - -</option>{options}\n</select></div>'
        f'<div id="ekolcalendarpopupdayauswahlbuttoncontainer">{ok}</div></div></div></div>'
        '</div><div class="ekolPopupOverlay"></div>'
    )


def _calendar_page(world: SimWorld, src: SimSource, token: str, state: _Session) -> Reply:
    with world.lock:
        now = world.refresh()
        months = _months(now.date())
        tables = "".join(
            _month_table(world, src, state.office, y, m, now, i) for i, (y, m) in enumerate(months)
        )
        popup = _popup(world, src, state, now) if state.popup is not None else ""
    view, cls = _view(src), CLASSES[spelling(src)]
    nav = "".join(
        _button(f"{view}||{w.upper()}", label, mid=' disabled="disabled"', title=title)
        for w, label, title in (
            ("backward", "Rückwärts", "Ansicht auf einen früheren Zeitraum setzen"),
            ("forward", "Vorwärts", "Ansicht auf einen späteren Zeitraum setzen"),
        )
    )
    loc = src.locations[state.office]
    where = (
        '<div class="blockdatagrid" id="id_abstractcontexttnvbgr_mdg-locationdata"><div '
        'class="blockcontentdatagrid"><div class="rowdatagrid"><div class="keydatagrid">Wo:</div>'
        f'<div class="valuedatagrid">{_ent(loc.name)}</div></div></div></div>'
    )
    content = (
        f'<div class="{cls["container"]}" id="id_buergerneuerterminzeitpunkt_caldayselect">'
        f'<div class="ekolCalendarNavigationContainer">{nav}</div>'
        f'<div class="ekolCalendarMonthsContainer">{tables}</div></div>'
    )
    sections = _segment("Termindaten", where, 3) + _segment("Termine", content)
    buttons = _steps("CALENDARSELECT", "PREVIOUS")
    main = _main(src, "CALENDARSELECT", sections, buttons, popup)
    return _document(src, token, state, "buergerneuerterminzeitpunkt", main)


def _messages(*texts: str) -> str:
    items = "".join(f"<li>{_ent(t)}</li>" for t in texts if t)
    if not items:
        return ""
    return (
        '<div id="uimsgcontainer"><div class="uiMessageAdvancedWarning"><ul data-role="listview" '
        f'class="ui-listview" id="warnmsglist">{items}</ul></div></div>'
    )


def notice_page(src: SimSource, text: str) -> Reply:
    """A page of no step showing one warning (expired session, maintenance, bad request)."""
    return _document(src, "0" * 24, _Session(pg="0"), "notice", f"<main>{_messages(text)}</main>")


# ----------------------------------------------------------------------------- state machine


def _render(world: SimWorld, src: SimSource, token: str, state: _Session, warn="") -> Reply:
    state.pg = secrets.token_hex(12)
    if state.page == "INFOPAGE":
        return _info_page(src, token, state)
    if state.page == "OFFICESELECT":
        return _offices_page(src, token, state)
    if state.page == "CONCERNSELECT":
        return _concern_page(src, token, state, warn)
    if state.page == "CONCERNCOMMENTS":
        return _comments_page(src, token, state)
    return _calendar_page(world, src, token, state)


def _previous(src: SimSource, state: _Session) -> str:
    if state.page == "CALENDARSELECT":
        return "CONCERNCOMMENTS" if _has_comments(src, state.office) else "CONCERNSELECT"
    if state.page == "CONCERNCOMMENTS":
        return "CONCERNSELECT"
    if state.page == "CONCERNSELECT":
        return "OFFICESELECT"
    return "INFOPAGE" if spelling(src) == "classic" else "OFFICESELECT"


def _choose(src: SimSource, state: _Session, office: str) -> str | None:
    loc = _office_loc(src, office)
    if loc is None:
        return "invalid"
    state.office, state.panel, state.page = loc.id, "", "CONCERNSELECT"
    return None


def _step(src: SimSource, state: _Session, action: str, form: dict[str, str]) -> str | None:
    """Apply one button press to ``state``; returns a warning for the concern page or None."""
    kind, view, classic = state.page, _view(src), spelling(src) == "classic"
    if action == f"ACTION_{kind}_PREVIOUS" and kind != "INFOPAGE":
        state.page, state.popup, state.panel = _previous(src, state), None, ""
    elif kind == "INFOPAGE" and action == "ACTION_INFOPAGE_NEXT":
        if form.get("AGREEMENT_ACCEPT") != "on":
            return "invalid"
        state.page = "OFFICESELECT"
    elif kind == "OFFICESELECT" and classic and action.startswith("ACTION_OFFICESELECT_TREE"):
        office = action.rsplit("-", 1)[1]
        state.panel = "" if state.panel == office else office
    elif kind == "OFFICESELECT" and classic and action.startswith("ACTION_OFFICESELECT_BOOK-"):
        office = action.rsplit("-", 1)[1]
        return "invalid" if state.panel != office else _choose(src, state, office)
    elif kind == "OFFICESELECT" and not classic and action.startswith(TERMNEW_PREFIX):
        return _choose(src, state, action[len(TERMNEW_PREFIX) :])
    elif kind == "CONCERNSELECT" and action == "ACTION_CONCERNSELECT_NEXT":
        counts = [form.get(n, "0") for n, _ in _services(src, state.office)]
        if not any(c.isdigit() and int(c) > 0 for c in counts):
            return "Bitte wählen Sie mindestens ein Anliegen aus."
        state.page = "CONCERNCOMMENTS" if _has_comments(src, state.office) else "CALENDARSELECT"
    elif kind == "CONCERNCOMMENTS" and action == "ACTION_CONCERNCOMMENTS_NEXT":
        state.page = "CALENDARSELECT"
    elif kind == "CALENDARSELECT" and action.startswith(f"{view}{DAY_SELECT}"):
        stamp = action.rsplit("||", 1)[1]
        if not stamp.isdigit():
            return "invalid"
        state.popup = datetime.fromtimestamp(int(stamp) / 1000, OFFICE_TZ).date()
    elif kind == "CALENDARSELECT" and action == f"{view}||POPUP_CLOSE":
        state.popup = None
    else:
        return "invalid"
    return None


def _new_session(src: SimSource) -> tuple[str, _Session]:
    token = secrets.token_hex(16).upper()
    state = _Session(page="INFOPAGE" if spelling(src) == "classic" else "OFFICESELECT")
    with _LOCK:
        _SESSIONS[(src.id, token)] = state
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    return token, state


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer ``/tnv`` (GET: new session) and ``/tnv/bgr;jsessionid=…`` (POST: one step)."""
    name = request.path.strip("/")
    if request.method == "GET" and name == "tnv":
        if fault == "maintenance" and spelling(src) != "classic":
            return notice_page(src, MAINTENANCE)
        token, state = _new_session(src)
        reply = _render(world, src, token, state)
        reply.headers["Set-Cookie"] = f"{COOKIE}={token}; Path=/{src.id}/tnv; HttpOnly"
        return reply
    if request.method != "POST" or not name.startswith("tnv/bgr"):
        return notice_page(src, "Die angeforderte Seite existiert nicht.")
    token = name.partition(";jsessionid=")[2] or request.cookies.get(COOKIE, "")
    with _LOCK:
        state = _SESSIONS.get((src.id, token))
        if state is not None:
            _SESSIONS.move_to_end((src.id, token))
    if state is None or request.form.get("TCSID") != f"_A{token[:16]}":
        return notice_page(src, EXPIRED)
    actions = [k for k in request.form if k.startswith("ACTION_")]
    if len(actions) != 1:
        return notice_page(src, "Ungültige Anfrage.")
    with state.lock:  # one step at a time per session
        if request.form.get("PGUTSMSC") != state.pg:
            return notice_page(src, EXPIRED)
        if fault == "maintenance" and state.page == "INFOPAGE":
            return notice_page(src, MAINTENANCE)
        warning = _step(src, state, actions[0], request.form)
        if warning == "invalid":
            return notice_page(src, f"Die Aktion {actions[0]} ist hier nicht möglich.")
        return _render(world, src, token, state, warning or "")
