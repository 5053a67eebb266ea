"""Render a simulated source's published state as TEMPUS pages (tempus-termine.com or Essen).

``handle`` is pure request -> ``Reply`` apart from the PHP-like session table below; the HTTP
plumbing lives in ``server.py``. No real TEMPUS page was ever recorded: the shapes follow
docs/protocols/etermin-tempus.md (sections 2 and 3) and the URLs and texts other people's
bots read (systems-2026.md sections 11 and 23). Three front ends, by source (:func:`variant`):

- ``classic`` (tempus-termine.com as in 2021): nested-list index form, ``action=...`` links,
  cookie ``PHPSESSID``, overview table of ``a.infolink`` rows, "keinem Standort";
- ``essen`` (meintermin.essen.de): label form, ``aktion=...`` links, overview ``ul#nav_menu2``;
- ``today`` (2023-26 bots' URLs): index with a mandatory ``anlagentoken``, the session as
  ``sna=T<32 hex>`` in every link (no cookie), ``anr=`` instead of ``anlagennr``,
  ``action=open&page=hinweisbestaetigung|standortauswahl|tagesauswahl`` with ``tasks``,
  ``kuerzel`` and ``schlangen=2-11``; a notice with a check box and an ``input#confirm``;
  the overview ``ul.nav_menu2``; "Keine Termine verfügbar" when nothing is free; the month
  tables inside ``div#kalender`` with ``title="Termine am  13. Juli"`` on event links.

Overview rows of a location without a free day say "Kein Termin verfügbar". Guessed (no
evidence): the day page heading with its date, the form actions of POSTs, the error pages.
"""

from __future__ import annotations

import calendar
import re
import secrets
import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta
from html import escape

from ..families.common import look_ahead_days
from ..families.tempus import pages as T
from .model import SimWorld
from .offices import Department, Location, SimSource
from .pages import Reply, SimRequest, error_page, page

FAMILY = "tempus"
#: every location of a category with a free day is listed (empty ones with the row marker);
#: only a location all of whose categories have no free day at all stays unseen
TRUTH_SKIPS_EMPTY = False
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("expired", "garbage")

COOKIE = "PHPSESSID"
PATH = "/termine/index.php"
MAX_SESSIONS = 4096
#: departments whose services are preceded by a notice page
NOTICE_DEPARTMENTS = ("Bürgerbüro", "Ausländerbehörde")
MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
#: action -> ``page=`` of the today variant
TODAY_PAGES = {
    "hinweis": "standortauswahl",
    "kalender": "tagesauswahl",
    "termine": "terminauswahl",
    "info": "information",
    "termin": "buchung",
    "buchen": "buchung",
}

_sessions: OrderedDict[str, dict] = OrderedDict()
_sessions_lock = threading.Lock()


# ---------------------------------------------------------------- per-source identity


def is_essen(src: SimSource) -> bool:
    """Whether ``src`` is served in the self-hosted Essen layout (varies with seed and index)."""
    return (src.index + (src.layout == "flat")) % 2 == 0


def variant(src: SimSource) -> str:
    if is_essen(src):
        return "essen"
    return "today" if src.index % 4 in (0, 3) else "classic"


def anlagennr(src: SimSource) -> str:
    return str(20 + src.index) if is_essen(src) else str(100 + 7 * src.index)


def anwendung(src: SimSource) -> str | None:
    if variant(src) == "today":
        return str(1 + src.index % 3)
    return str(3350 + 2 * src.index) if is_essen(src) else None


def anlagentoken(src: SimSource) -> str | None:
    if variant(src) != "today":
        return None
    return "".join("UqdpZvKm7x9"[(src.index * 7 + i * 3) % 11] for i in range(8))


def _task(src: SimSource, loc: Location) -> str:
    return str(1000 + 10 * int(loc.id) + src.index % 10)


def _queue(src: SimSource, loc: Location) -> str:
    q = 1 + int(loc.id) % 9
    return f"{q}-{q + 9}" if variant(src) == "today" else str(q)


def location_id(src: SimSource, loc: Location) -> str:
    """The location id a tempus scraper reports: ``<standortrowid>/<tasks>``."""
    return f"{loc.id}/{_task(src, loc)}"


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Days a tempus scrape of ``weeks`` covers: today through today + 7·weeks."""
    return look_ahead_days(now.date(), weeks)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params) of the catalog row pointing at this simulated installation."""
    url = base_url + PATH
    params = {"base_url": url, "anlagennr": anlagennr(src)}
    query = f"anlagennr={params['anlagennr']}"
    if anlagentoken(src):
        params["anlagentoken"] = anlagentoken(src)
        query += f"&anlagentoken={params['anlagentoken']}"
    if anwendung(src) is not None:
        params["extra"] = f"anwendung={anwendung(src)}"
        if variant(src) == "today":
            params["extra"] += "&infotext=buergerbuero"
        query += "&" + params["extra"]
    return f"{url}?{query}", params


# ---------------------------------------------------------------- sessions


def _new_session(src: SimSource, app: str | None) -> str:
    token = "T" + secrets.token_hex(16) if variant(src) == "today" else secrets.token_hex(13)
    with _sessions_lock:
        _sessions[token] = {"src": src.id, "anwendung": app, "deps": None, "token": token}
        while len(_sessions) > MAX_SESSIONS:
            _sessions.popitem(last=False)
    return token


def _session(src: SimSource, request: SimRequest) -> dict | None:
    key = request.query.get("sna", "") if variant(src) == "today" else request.cookies.get(COOKIE)
    with _sessions_lock:
        state = _sessions.get(key or "")
        if state is None or state["src"] != src.id:
            return None
        _sessions.move_to_end(key)
        return state


# ---------------------------------------------------------------- links and scaffolding


def _link(src: SimSource, state: dict, action: str, **params: str) -> str:
    """A relative link as the pages write it (``&amp;`` in attributes)."""
    if variant(src) == "today":
        query = [f"anr={anlagennr(src)}", f"anwendung={anwendung(src)}", f"sna={state['token']}"]
        query.append("action=open" if action in TODAY_PAGES else f"action={action}")
        query += [f"page={TODAY_PAGES[action]}"] if action in TODAY_PAGES else []
        prefix = ""
    else:
        key, prefix = ("aktion", "index.php") if is_essen(src) else ("action", "")
        query = [f"anlagennr={anlagennr(src)}", f"{key}={action}"]
    query += [f"{k}={v}" for k, v in params.items()]
    return prefix + "?" + "&amp;".join(query)


def _keys(src: SimSource, loc: Location) -> dict[str, str]:
    if variant(src) == "today":
        return {
            "tasks": _task(src, loc),
            "kuerzel": f"TERMIN{loc.id}",
            "schlangen": _queue(src, loc),
            "standortrowid": loc.id,
        }
    return {"standortrowid": loc.id, "schlangennr": _queue(src, loc), "tasks": _task(src, loc)}


def _page(src: SimSource, heading: str, body: str) -> Reply:
    if is_essen(src):
        title = f"{src.name} - Terminvereinbarung"
        inner = (
            f'<div id="kopf"><img src="bilder/logo.svg" alt="{escape(src.name)}"></div>\n'
            f'<div id="inhalt">\n <h2>{heading}</h2>\n{body}\n</div>\n'
            f'<div id="fuss">{escape(src.name)} &middot; Bürgerangelegenheiten</div>'
        )
    else:
        title = f"Terminvereinbarung - {src.name}"
        inner = (
            '<div id="wrapper">\n <div id="content">\n'
            f"  <h2>{heading}</h2>\n{body}\n </div>\n</div>"
        )
    return page(title, inner)


def expired_page() -> Reply:
    body = (
        '<div id="wrapper">\n <div id="content">\n  <h2>Es ist ein Fehler aufgetreten</h2>\n'
        f'  <p class="fehler">{T.EXPIRED_TEXT}\n  Bitte beginnen Sie die Terminvereinbarung '
        'erneut.</p>\n  <p><a href="index.php">Zur Startseite</a></p>\n </div>\n</div>'
    )
    return page("TEMPUS - Fehler", body)


def garbage_page(src: SimSource) -> Reply:
    body = (
        "<p>Die Online-Terminvereinbarung ist wegen Wartungsarbeiten vorübergehend nicht "
        "erreichbar.</p>\n<p>Bitte versuchen Sie es später erneut.</p>\n"
        '<p><a href="https://www.tempus-terminvergabe.de">TEMPUS</a></p>'
    )
    return _page(src, "Wartungsarbeiten", body)


def _heading(index: int) -> str:
    """An overview heading: one of the family's markers, line break as the pages write it."""
    return T.OVERVIEW_MARKERS[index].replace("<br/>", "<br />")


# ---------------------------------------------------------------- index form


def _option_id(src: SimSource, cnc: str, title: str = "") -> str:
    num = cnc.split("-", 1)[1]
    if variant(src) == "today":
        return re.sub(r"\W", "_", title.split()[0] if title else "Anliegen") + f"-{num}-mittermin"
    return f"anliegen_{num}" if is_essen(src) else f"s_{num}"


def _select(option_id: str) -> str:
    return (
        f'<select id="{option_id}" name="{option_id}" class="anzahl">'
        '<option value="0">0</option><option value="1">1</option></select>'
    )


def _lists_form(src: SimSource, state: dict) -> str:
    items = []
    for di, dep in enumerate(src.departments):
        entries = []
        for si, svc in enumerate(dep.services):
            oid = _option_id(src, svc.cnc, svc.title)
            name = escape(svc.title)
            label = f'<div class="anliegen">{name}</div>' if si % 3 == 2 else f"<span>{name}</span>"
            info = ""
            if si == 0:
                href = _link(src, state, "info", dienst=oid)
                info = f' <a class="infolink" href="{href}" title="Informationen">Infolink</a>'
            entries.append(f"      <li>{label}{info} {_select(oid)}</li>")
        head = f"\n     <h3>{escape(dep.title)}</h3>" if (di + src.index) % 3 else escape(dep.title)
        items.append(
            f'    <li>{head}\n     <ul class="untermenuepunkt">\n'
            + "\n".join(entries)
            + "\n     </ul>\n    </li>"
        )
    items.append(
        '    <li>\n     <h3>Informationen</h3>\n     <ul class="untermenuepunkt">\n'
        "      <li><span>Öffnungszeiten und Anfahrt</span></li>\n     </ul>\n    </li>"
    )
    submit = "Datum und Uhrzeit auswählen" if variant(src) == "today" else "Weiter"
    return (
        f'  <form id="formular" name="formular" action="{_link(src, state, "auswahl")}" '
        'method="post">\n   <ul class="menuepunkt">\n' + "\n".join(items) + "\n   </ul>\n"
        f'   <p><input type="submit" class="button" value="{submit}"></p>\n  </form>'
    )


def _labels_form(src: SimSource, state: dict) -> str:
    labels = []
    for dep in src.departments:
        labels.append(f'   <label class="menuepunkt">{escape(dep.title)}</label>')
        for svc in dep.services:
            oid = _option_id(src, svc.cnc)
            labels.append(
                f'   <label class="untermenuepunkt"><span>{escape(svc.title)}</span>\n'
                f"    {_select(oid)}</label>"
            )
    labels.append('   <label class="menuepunkt">Hinweise</label>')
    labels.append(
        '   <label class="untermenuepunkt"><span>Bitte bringen Sie alle Unterlagen mit</span>'
        "</label>"
    )
    return (
        f'  <form id="formular" action="{_link(src, state, "standortwahl")}" method="post">\n'
        "  <fieldset>\n" + "\n".join(labels) + "\n  </fieldset>\n"
        '  <input type="submit" name="weiter" value="Weiter zur Standortauswahl">\n  </form>'
    )


def index_page(src: SimSource, state: dict) -> Reply:
    intro = "<p>Wählen Sie bitte Ihr Anliegen und die Anzahl der Personen aus.</p>\n"
    form = _labels_form(src, state) if is_essen(src) else _lists_form(src, state)
    return _page(src, f"Online-Terminvereinbarung {escape(src.name)}", intro + form)


# ---------------------------------------------------------------- published state


def _dep_locations(src: SimSource, dep: Department) -> list[Location]:
    ids = set()
    for svc in dep.services:
        ids.update(svc.calendars)
        if svc.hidden_calendar:
            ids.add(svc.hidden_calendar)
    return [loc for lid, loc in src.locations.items() if lid in ids]


def _selected_locations(src: SimSource, deps: list[int]) -> list[Location]:
    chosen: dict[str, Location] = {}
    for di in deps:
        for loc in _dep_locations(src, src.departments[di]):
            chosen.setdefault(loc.id, loc)
    return list(chosen.values())


def _free_days(world: SimWorld, src: SimSource, loc: Location) -> dict[date, list[int]]:
    """Days with free slots from today through the booking horizon (at refresh time)."""
    with world.lock:
        now = world.refresh()
        day, last, out = now.date(), world.horizon(now), {}
        while day <= last:
            minutes = world.published_day(src, loc.id, day, now)
            if minutes:
                out[day] = minutes
            day += timedelta(days=1)
    return out


# ---------------------------------------------------------------- answer pages


def notice_page(src: SimSource, state: dict) -> Reply:
    target = _link(src, state, "hinweis", ok="1")
    text = (
        "<p>Bitte bringen Sie alle erforderlichen Unterlagen im Original mit. Bei einer "
        "Verspätung von mehr als 10 Minuten verfällt der Termin.</p>\n"
        "<p>Pro Termin wird nur eine Person bedient.</p>\n"
    )
    go = f"onclick=\"location.href='{target}';\""
    if variant(src) == "today":
        box = (
            '<p><input type="checkbox" id="einzelhinweischeck" name="einzelhinweischeck" '
            'value="1"> <label for="einzelhinweischeck">Hinweise gelesen</label></p>\n'
        )
        value = T.NOTICE_BUTTON_VALUES[3]
        button = f'<input type="button" id="confirm" class="button" value="{value}" {go}>'
        return _page(src, "Hinweise zu Ihrem Anliegen", text + box + button)
    if is_essen(src):
        button = f'<input type="submit" class="button" value="{T.NOTICE_BUTTON_VALUES[3]}" {go}>'
        return _page(src, "Hinweise zu Ihrem Anliegen", text + button)
    body = (
        f"  {T.NOTICE_HEADING}\n{text}"
        f'<input type="button" class="button" value="{T.NOTICE_BUTTON_VALUES[0]}" {go}>'
        '\n<input type="button" class="button" value="Zurück" onclick="history.back();">'
    )
    return page(f"Terminvereinbarung - {src.name}", f'<div id="wrapper">\n{body}\n</div>')


def _earliest(days: dict[date, list[int]]) -> str | None:
    if not days:
        return None
    day = min(days)
    m = days[day][0]
    return f"{day:%d.%m.%Y}, {m // 60:02d}:{m % 60:02d} Uhr"


def _nav_overview(src, state, locs, free) -> Reply:
    items = []
    for loc in locs:
        href = _link(src, state, "kalender", **_keys(src, loc))
        if variant(src) == "today":
            href += f"&amp;standortanzahl={len(locs)}"
        first = _earliest(free[loc.id])
        sub = f"<li>{T.ROW_NONE_TEXT}</li>"
        if first:
            book = _link(src, state, "termin", standortrowid=loc.id)
            sub = f'<li><a href="{book}">{first}</a></li>'
        items.append(f'  <li><a href="{href}">{escape(loc.name)}</a>\n   <ul>{sub}</ul>\n  </li>')
    menu = 'class="nav_menu2"' if variant(src) == "today" else 'id="nav_menu2"'
    body = f" <ul {menu}>\n" + "\n".join(items) + "\n </ul>"
    return _page(src, _heading(2 if variant(src) == "today" else 6), body)


def overview_page(src, state, locs: list[Location], free: dict[str, dict]) -> Reply:
    if variant(src) != "classic":
        return _nav_overview(src, state, locs, free)
    rows, firsts = [], []
    for loc in locs:
        href = _link(src, state, "kalender", **_keys(src, loc))
        first = _earliest(free[loc.id])
        if first:
            book = _link(src, state, "termin", standortrowid=loc.id)
            cell = f'<a class="infolink" href="{book}">{first}</a>'
            firsts.append(min(free[loc.id]))
        else:
            cell = T.ROW_NONE_TEXT
        rows.append(
            f'   <tr>\n    <td><a class="infolink" href="{href}">Termine in {escape(loc.name)}'
            f"</a></td>\n    <td>{cell}</td>\n   </tr>"
        )
    info = _link(src, state, "info", seite="standorte")
    rows.append(
        f'   <tr><td colspan="2"><a class="infolink" href="{info}">'
        "Lage und Öffnungszeiten der Standorte</a></td></tr>"
    )
    lead = ""
    if firsts:
        lead = f"<p>{T.OVERVIEW_MARKERS[0]} am {min(firsts):%d.%m.%Y}.</p>\n"
    body = lead + '<table class="standorte">\n' + "\n".join(rows) + "\n</table>"
    return _page(src, _heading(3), body)


def _month_table(src, state, loc: Location, year: int, month: int, days: set[date]) -> str:
    rows = [
        f'<tr><th colspan="7" class="monatsname">{MONTHS[month - 1]} {year}</th></tr>',
        "<tr><th>Mo</th><th>Di</th><th>Mi</th><th>Do</th><th>Fr</th><th>Sa</th><th>So</th></tr>",
    ]
    for week in calendar.Calendar().monthdatescalendar(year, month):
        cells = []
        for d in week:
            if d.month != month:
                cells.append('<td class="leer">&nbsp;</td>')
            elif d in days:
                href = _link(
                    src, state, "termine" if not is_essen(src) else "tag", **_keys(src, loc)
                )
                href += f"&amp;datum={d.isoformat()}"
                title = f"Termine am  {d.day}. {MONTHS[d.month - 1]}"
                link = f'<a href="{href}" title="{title}">{d.day}</a>'
                cells.append(f'<td class="{T.EVENT_CLASS}">{link}</td>')
            else:
                cells.append(f'<td class="{T.DAY_CLASS}">{d.day}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="cal">\n' + "\n".join(rows) + "\n</table>"


def calendar_page(world: SimWorld, src: SimSource, state: dict, loc: Location) -> Reply:
    free = _free_days(world, src, loc)
    if not free:
        body = f'<p class="hinweis">{T.BOOKED_OUT_TEXT}</p>'
        return _page(src, f"{escape(loc.name)}: Kalender", body)
    first, last = world.now().date(), max(free)
    tables, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        tables.append(_month_table(src, state, loc, year, month, set(free)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    months = "\n".join(tables)
    if variant(src) == "today":
        months = f'<div id="kalender">\n{months}\n</div>'
    body = (
        "<p>Bitte wählen Sie einen Tag aus. Tage mit freien Terminen sind farbig hinterlegt.</p>\n"
        + months
        + f'\n<p class="legende"><span class="{T.EVENT_CLASS}">&nbsp;&nbsp;</span> '
        "freie Termine vorhanden</p>"
    )
    return _page(src, f"{escape(loc.name)}: Kalender", body)


def day_page(world: SimWorld, src: SimSource, state: dict, loc: Location, day: date) -> Reply:
    with world.lock:
        now = world.refresh()
        minutes = world.published_day(src, loc.id, day, now)
    heading = f"Freie Termine am {day:%d.%m.%Y}"
    rows = []
    for label, part in (
        ("Vormittag", [m for m in minutes if m < 720]),
        ("Nachmittag", [m for m in minutes if m >= 720]),
    ):
        if not part:
            continue
        rows.append(f'<tr><th colspan="4">{label}</th></tr>')
        for i in range(0, len(part), 4):
            cells = []
            for m in part[i : i + 4]:
                hhmm = f"{m // 60:02d}:{m % 60:02d}"
                href = _link(src, state, "buchen", standortrowid=loc.id, tasks=_task(src, loc))
                href += f"&amp;datum={day.isoformat()}&amp;zeit={hhmm}"
                cells.append(f'<td><a href="{href}">{hhmm} Uhr</a></td>')
            cells += ["<td>&nbsp;</td>"] * (4 - len(cells))
            rows.append("<tr>" + "".join(cells) + "</tr>")
    lead = "<p>Bitte klicken Sie auf die gewünschte Uhrzeit.</p>\n" if rows else ""
    body = lead + '<table class="termine">\n' + "\n".join(rows) + "\n</table>"
    return _page(src, heading, body)


def answer_page(
    world: SimWorld, src: SimSource, state: dict, deps: list[int], fault: str | None
) -> Reply:
    """What the submitted selection shows: nothing free, one calendar or an overview."""
    locs = _selected_locations(src, deps)
    free = {loc.id: _free_days(world, src, loc) for loc in locs}
    if not any(free.values()):
        text = T.NO_APPOINTMENTS_TEXT if variant(src) == "today" else T.NO_LOCATION_TEXT
        return _page(src, "Standortauswahl", f'<p class="hinweis">{text}</p>')
    if len(locs) == 1:
        if fault == "expired":
            return expired_page()
        return calendar_page(world, src, state, locs[0])
    return overview_page(src, state, locs, free)


# ---------------------------------------------------------------- routing


def _chosen_departments(src: SimSource, form: dict[str, str]) -> list[int]:
    deps = []
    for di, dep in enumerate(src.departments):
        for svc in dep.services:
            value = form.get(_option_id(src, svc.cnc, svc.title), "0")
            if value.isdigit() and int(value) > 0:
                deps.append(di)
                break
    return deps


def _location(src: SimSource, query: dict[str, str], state: dict) -> Location | None:
    loc = src.locations.get(query.get("standortrowid", ""))
    ok = loc is not None and query.get("tasks") == _task(src, loc)
    return loc if ok and loc.id in {x.id for x in _selected_locations(src, state["deps"])} else None


def _action(src: SimSource, query: dict[str, str]) -> str | None:
    if variant(src) != "today":
        return query.get("aktion" if is_essen(src) else "action")
    if query.get("action") == "open":
        return next((a for a, p in TODAY_PAGES.items() if p == query.get("page")), "?")
    return query.get("action")


def _index(src: SimSource, query: dict[str, str], fault) -> Reply:
    if fault == "garbage":
        return garbage_page(src)
    if query.get("anwendung") != anwendung(src):
        return expired_page()
    if query.get("anlagentoken") != anlagentoken(src) and variant(src) == "today":
        return error_page("Die gewählte Anlage ist nicht verfügbar.")
    token = _new_session(src, query.get("anwendung"))
    reply = index_page(src, _sessions[token])
    if variant(src) != "today":
        reply.headers["Set-Cookie"] = f"{COOKIE}={token}; Path=/{src.id}/; HttpOnly"
    return reply


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix, ``/termine/index.php``)."""
    if request.path != PATH:
        return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
    query = request.query
    number = query.get("anlagennr") or (query.get("anr") if variant(src) == "today" else None)
    if number != anlagennr(src):
        return expired_page()
    action = _action(src, query)
    if action is None and request.method == "GET":
        return _index(src, query, fault)
    state = _session(src, request)
    if state is None or state["anwendung"] != anwendung(src):
        return expired_page()
    if request.method == "POST" and action == ("standortwahl" if is_essen(src) else "auswahl"):
        deps = _chosen_departments(src, request.form)
        if not deps:
            return _page(src, "Hinweis", "<p>Bitte wählen Sie mindestens ein Anliegen aus.</p>")
        with _sessions_lock:
            state["deps"] = deps
        if any(src.departments[di].title in NOTICE_DEPARTMENTS for di in deps):
            return notice_page(src, state)
        return answer_page(world, src, state, deps, fault)
    if request.method != "GET" or not state["deps"]:
        return expired_page()
    if action == "hinweis":
        return answer_page(world, src, state, state["deps"], fault)
    loc = _location(src, query, state)
    if loc is None:
        return error_page("Der gewählte Standort ist nicht verfügbar.")
    if action == "kalender":
        return expired_page() if fault == "expired" else calendar_page(world, src, state, loc)
    if action == ("tag" if is_essen(src) else "termine"):
        try:
            day = date.fromisoformat(query.get("datum", ""))
        except ValueError:
            return error_page("Ungültiges Datum.")
        return day_page(world, src, state, loc, day)
    return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
