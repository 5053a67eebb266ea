"""Render a simulated source's published state as TEMPUS pages (tempus-termine.com or Essen).

``handle`` is pure request -> ``Reply`` apart from the PHP-like session table below; the HTTP
plumbing lives in ``server.py``. Page shapes follow docs/protocols/etermin-tempus.md,
sections 2 and 3: an index form (nested lists on tempus-termine.com, labels in the Essen
variant), a POST of the chosen services answered by a location overview, a calendar page or
the "keinem Standort" text (sometimes after a "Wichtiger Hinweis" interstitial), month tables
whose event days link to day pages with one ``HH:MM Uhr`` per cell.

The selection lives in the server session (cookie ``PHPSESSID``, created by the index page);
any other page without a known session answers the "Sitzung abgelaufen" error page. Any
service of a department (category) offers every location serving some service of it.
"""

from __future__ import annotations

import calendar
import secrets
import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta
from html import escape

from ..families.common import look_ahead_days
from .model import SimWorld
from .offices import Department, Location, SimSource
from .pages import Reply, SimRequest, error_page, page

FAMILY = "tempus"
#: a calendar without any free day is never reached by the scraper
TRUTH_SKIPS_EMPTY = True
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("expired", "garbage")

COOKIE = "PHPSESSID"
PATH = "/termine/index.php"
MAX_SESSIONS = 4096
NO_LOCATION = "Leider können wir Ihnen im Moment an keinem Standort einen Termin anbieten."
BOOKED_OUT = "Leider sind derzeit alle Termine ausgebucht."
EXPIRED = (
    "Ihre Sitzung ist abgelaufen oder die gewählte Anlage ist nicht verfügbar.\n"
    "  Bitte beginnen Sie die Terminvereinbarung erneut."
)
#: departments whose services are preceded by a "Wichtiger Hinweis" page
NOTICE_DEPARTMENTS = ("Bürgerbüro", "Ausländerbehörde")
MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip

_sessions: OrderedDict[str, dict] = OrderedDict()
_sessions_lock = threading.Lock()


# ---------------------------------------------------------------- per-source identity


def is_essen(src: SimSource) -> bool:
    """Whether ``src`` is served in the self-hosted Essen layout (varies with seed and index)."""
    return (src.index + (src.layout == "flat")) % 2 == 0


def anlagennr(src: SimSource) -> str:
    return str(20 + src.index) if is_essen(src) else str(100 + 7 * src.index)


def anwendung(src: SimSource) -> str | None:
    return str(3350 + 2 * src.index) if is_essen(src) else None


def _task(src: SimSource, loc: Location) -> str:
    return str(1000 + 10 * int(loc.id) + src.index % 10)


def _queue(loc: Location) -> str:
    return str(1 + int(loc.id) % 9)


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
    index_url = f"{url}?anlagennr={params['anlagennr']}"
    app = anwendung(src)
    if app is not None:
        params["extra"] = f"anwendung={app}"
        index_url += f"&anwendung={app}"
    return index_url, params


# ---------------------------------------------------------------- sessions


def _new_session(src: SimSource, app: str | None) -> str:
    token = secrets.token_hex(13)
    with _sessions_lock:
        _sessions[token] = {"src": src.id, "anwendung": app, "deps": None}
        while len(_sessions) > MAX_SESSIONS:
            _sessions.popitem(last=False)
    return token


def _session(src: SimSource, request: SimRequest) -> dict | None:
    with _sessions_lock:
        state = _sessions.get(request.cookies.get(COOKIE, ""))
        if state is None or state["src"] != src.id:
            return None
        _sessions.move_to_end(request.cookies[COOKIE])
        return state


# ---------------------------------------------------------------- links and scaffolding


def _link(src: SimSource, action: str, **params: str) -> str:
    """A relative link as the pages write it (``&amp;`` in attributes)."""
    key, prefix = ("aktion", "index.php") if is_essen(src) else ("action", "")
    query = [f"anlagennr={anlagennr(src)}", f"{key}={action}"]
    query += [f"{k}={v}" for k, v in params.items()]
    return prefix + "?" + "&amp;".join(query)


def _keys(src: SimSource, loc: Location) -> dict[str, str]:
    return {"standortrowid": loc.id, "schlangennr": _queue(loc), "tasks": _task(src, loc)}


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
        f'  <p class="fehler">{EXPIRED}</p>\n  <p><a href="index.php">Zur Startseite</a></p>\n'
        " </div>\n</div>"
    )
    return page("TEMPUS - Fehler", body)


def garbage_page(src: SimSource) -> Reply:
    body = (
        "<p>Die Online-Terminvereinbarung ist wegen Wartungsarbeiten vorübergehend nicht "
        "erreichbar.</p>\n<p>Bitte versuchen Sie es später erneut.</p>\n"
        '<p><a href="https://www.tempus-terminvergabe.de">TEMPUS</a></p>'
    )
    return _page(src, "Wartungsarbeiten", body)


# ---------------------------------------------------------------- index form


def _option_id(src: SimSource, cnc: str) -> str:
    num = cnc.split("-", 1)[1]
    return f"anliegen_{num}" if is_essen(src) else f"s_{num}"


def _select(option_id: str) -> str:
    return (
        f'<select id="{option_id}" name="{option_id}" class="anzahl">'
        '<option value="0">0</option><option value="1">1</option></select>'
    )


def _lists_form(src: SimSource) -> str:
    items = []
    for di, dep in enumerate(src.departments):
        entries = []
        for si, svc in enumerate(dep.services):
            oid = _option_id(src, svc.cnc)
            name = escape(svc.title)
            label = f'<div class="anliegen">{name}</div>' if si % 3 == 2 else f"<span>{name}</span>"
            info = ""
            if si == 0:
                info = (
                    f' <a class="infolink" href="{_link(src, "info", dienst=oid)}" '
                    'title="Informationen">Infolink</a>'
                )
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
    return (
        f'  <form id="formular" name="formular" action="{_link(src, "auswahl")}" method="post">\n'
        '   <ul class="menuepunkt">\n' + "\n".join(items) + "\n   </ul>\n"
        '   <p><input type="submit" class="button" value="Weiter"></p>\n  </form>'
    )


def _labels_form(src: SimSource) -> str:
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
        f'  <form id="formular" action="{_link(src, "standortwahl")}" method="post">\n'
        "  <fieldset>\n" + "\n".join(labels) + "\n  </fieldset>\n"
        '  <input type="submit" name="weiter" value="Weiter zur Standortauswahl">\n  </form>'
    )


def index_page(src: SimSource) -> Reply:
    intro = "<p>Wählen Sie bitte Ihr Anliegen und die Anzahl der Personen aus.</p>\n"
    form = _labels_form(src) if is_essen(src) else _lists_form(src)
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


def notice_page(src: SimSource) -> Reply:
    target = _link(src, "hinweis", ok="1")
    text = (
        "<p>Bitte bringen Sie alle erforderlichen Unterlagen im Original mit. Bei einer "
        "Verspätung von mehr als 10 Minuten verfällt der Termin.</p>\n"
        "<p>Pro Termin wird nur eine Person bedient.</p>\n"
    )
    if is_essen(src):
        button = (
            '<input type="submit" class="button" value="Bestätigen und weiter zur Terminauswahl"'
            f" onclick=\"location.href='{target}';\">"
        )
        return _page(src, "Hinweise zu Ihrem Anliegen", text + button)
    body = (
        "  <h1>Wichtiger Hinweis</h1>\n" + text + '<input type="button" class="button" value='
        f'"Ich habe die Hinweise zur Kenntnis genommen" onclick="location.href=\'{target}\';">'
        '\n<input type="button" class="button" value="Zurück" onclick="history.back();">'
    )
    return page(f"Terminvereinbarung - {src.name}", f'<div id="wrapper">\n{body}\n</div>')


def _earliest(days: dict[date, list[int]]) -> str | None:
    if not days:
        return None
    day = min(days)
    m = days[day][0]
    return f"{day:%d.%m.%Y}, {m // 60:02d}:{m % 60:02d} Uhr"


def overview_page(
    src: SimSource, locs: list[Location], free: dict[str, dict[date, list[int]]]
) -> Reply:
    if is_essen(src):
        items = []
        for loc in locs:
            href = _link(src, "kalender", **_keys(src, loc))
            first = _earliest(free[loc.id])
            sub = ""
            if first:
                book = _link(src, "termin", standortrowid=loc.id)
                sub = f'\n   <ul><li><a href="{book}">{first}</a></li></ul>'
            items.append(f'  <li><a href="{href}">{escape(loc.name)}</a>{sub}\n  </li>')
        body = ' <ul id="nav_menu2">\n' + "\n".join(items) + "\n </ul>"
        return _page(src, "Bürgerämter und<br />frühestmögliche Termine", body)
    rows, firsts = [], []
    for loc in locs:
        href = _link(src, "kalender", **_keys(src, loc))
        first = _earliest(free[loc.id])
        if first:
            book = _link(src, "termin", standortrowid=loc.id)
            cell = f'<a class="infolink" href="{book}">{first}</a>'
            firsts.append(min(free[loc.id]))
        else:
            cell = "zur Zeit keine freien Termine"
        rows.append(
            f'   <tr>\n    <td><a class="infolink" href="{href}">Termine in {escape(loc.name)}'
            f"</a></td>\n    <td>{cell}</td>\n   </tr>"
        )
    info = _link(src, "info", seite="standorte")
    rows.append(
        f'   <tr><td colspan="2"><a class="infolink" href="{info}">'
        "Lage und Öffnungszeiten der Standorte</a></td></tr>"
    )
    lead = ""
    if firsts:
        lead = f"<p>Der stadtweit früheste Termin ist am {min(firsts):%d.%m.%Y}.</p>\n"
    body = lead + '<table class="standorte">\n' + "\n".join(rows) + "\n</table>"
    return _page(src, "Standorte und<br>frühestmögliche Termine", body)


def _month_table(src: SimSource, loc: Location, year: int, month: int, days: set[date]) -> str:
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
                href = _link(src, "termine" if not is_essen(src) else "tag", **_keys(src, loc))
                href += f"&amp;datum={d.isoformat()}"
                link = f'<a href="{href}" title="freie Termine">{d.day}</a>'
                cells.append(f'<td class="monatevent">{link}</td>')
            else:
                cells.append(f'<td class="monat">{d.day}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="cal">\n' + "\n".join(rows) + "\n</table>"


def calendar_page(world: SimWorld, src: SimSource, loc: Location) -> Reply:
    free = _free_days(world, src, loc)
    if not free:
        return _page(src, f"{escape(loc.name)}: Kalender", f'<p class="hinweis">{BOOKED_OUT}</p>')
    first, last = world.now().date(), max(free)
    tables, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        tables.append(_month_table(src, loc, year, month, set(free)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    body = (
        "<p>Bitte wählen Sie einen Tag aus. Tage mit freien Terminen sind farbig hinterlegt.</p>\n"
        + "\n".join(tables)
        + '\n<p class="legende"><span class="monatevent">&nbsp;&nbsp;</span> '
        "freie Termine vorhanden</p>"
    )
    return _page(src, f"{escape(loc.name)}: Kalender", body)


def day_page(world: SimWorld, src: SimSource, loc: Location, day: date) -> Reply:
    with world.lock:
        now = world.refresh()
        minutes = world.published_day(src, loc.id, day, now)
    if not minutes:
        body = '<p>An diesem Tag sind keine Termine frei.</p>\n<table class="termine">\n</table>'
        return _page(src, "Freie Termine am gewählten Tag", body)
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
                href = _link(src, "buchen", standortrowid=loc.id, tasks=_task(src, loc))
                href += f"&amp;datum={day.isoformat()}&amp;zeit={hhmm}"
                cells.append(f'<td><a href="{href}">{hhmm} Uhr</a></td>')
            cells += ["<td>&nbsp;</td>"] * (4 - len(cells))
            rows.append("<tr>" + "".join(cells) + "</tr>")
    body = (
        "<p>Bitte klicken Sie auf die gewünschte Uhrzeit.</p>\n"
        '<table class="termine">\n' + "\n".join(rows) + "\n</table>"
    )
    return _page(src, "Freie Termine am gewählten Tag", body)


def answer_page(world: SimWorld, src: SimSource, deps: list[int], fault: str | None) -> Reply:
    """What the submitted selection shows: nothing free, one calendar or an overview."""
    locs = _selected_locations(src, deps)
    free = {loc.id: _free_days(world, src, loc) for loc in locs}
    if not any(free.values()):
        return _page(src, "Standortauswahl", f'<p class="hinweis">{NO_LOCATION}</p>')
    if len(locs) == 1:
        return expired_page() if fault == "expired" else calendar_page(world, src, locs[0])
    return overview_page(src, locs, free)


# ---------------------------------------------------------------- routing


def _chosen_departments(src: SimSource, form: dict[str, str]) -> list[int]:
    deps = []
    for di, dep in enumerate(src.departments):
        for svc in dep.services:
            value = form.get(_option_id(src, svc.cnc), "0")
            if value.isdigit() and int(value) > 0:
                deps.append(di)
                break
    return deps


def _location(src: SimSource, query: dict[str, str], state: dict) -> Location | None:
    loc = src.locations.get(query.get("standortrowid", ""))
    ok = loc is not None and query.get("tasks") == _task(src, loc)
    return loc if ok and loc.id in {x.id for x in _selected_locations(src, state["deps"])} else None


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix, ``/termine/index.php``)."""
    if request.path != PATH:
        return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
    query = request.query
    if query.get("anlagennr") != anlagennr(src):
        return expired_page()
    action = query.get("aktion" if is_essen(src) else "action")
    if action is None and request.method == "GET":
        if fault == "garbage":
            return garbage_page(src)
        if query.get("anwendung") != anwendung(src):
            return expired_page()
        token = _new_session(src, query.get("anwendung"))
        reply = index_page(src)
        reply.headers["Set-Cookie"] = f"{COOKIE}={token}; Path=/{src.id}/; HttpOnly"
        return reply
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
            return notice_page(src)
        return answer_page(world, src, deps, fault)
    if request.method != "GET" or not state["deps"]:
        return expired_page()
    if action == "hinweis":
        return answer_page(world, src, state["deps"], fault)
    loc = _location(src, query, state)
    if loc is None:
        return error_page("Der gewählte Standort ist nicht verfügbar.")
    if action == "kalender":
        return expired_page() if fault == "expired" else calendar_page(world, src, loc)
    if action == ("tag" if is_essen(src) else "termine"):
        try:
            day = date.fromisoformat(query.get("datum", ""))
        except ValueError:
            return error_page("Ungültiges Datum.")
        return day_page(world, src, loc, day)
    return error_page("Die angeforderte Seite wurde nicht gefunden.", status=404)
