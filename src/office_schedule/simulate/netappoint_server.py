"""Render a simulated source's published state as NetAppoint pages.

``handle`` is pure request -> ``Reply`` apart from the session tables; the HTTP plumbing
lives in ``server.py``. Sources with ``variant == "ajax"`` speak the WEB_APPOINT skin
(``netappoint_ajax_server.py``); the others the classic skin, whose page shapes follow
docs/protocols/tevis-netappoint.md, sections 2 and 3 (no real classic page is at hand).
Markers, class names and link forms come from ``families/netappoint/protocol.py``.
One classic tenant per source, mounted at ``/{source_id}/netappoint``:

- ``GET  …/index.php?company=C[&extra]``: the ``frm_casetype`` form, one category per
  location (category name = location name, cases = the services serving it);
- ``POST …/index.php?company=C&step=2``: month calendar (or, for some tenants, a branch
  chooser leading to it) of the month containing today, remembered in the session;
- ``GET  …/index.php?company=C&step=3&branch=B[&year=Y&month=M&day=D]``: the month
  calendar again (session with a selection) or the free times of that day (no selection).

Every link and the form action are host-absolute paths including ``/{source_id}``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from ..families.common import to_id
from ..families.netappoint import protocol as p
from . import netappoint_ajax_server as ajax
from .model import HHMMSS, SimWorld
from .offices import Location, SimSource
from .pages import Reply, SessionStore, SimRequest, page

FAMILY = "netappoint"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("expired", "garbage")

MOUNT = "netappoint"
NO_SERVICE = p.NO_SLOTS_AFTER_SELECTION[1]
BAD_COMBINATION = f"{p.NO_SLOTS_AFTER_SELECTION[0]}."
#: extra index parameters some tenants need (the catalog's ``extra``)
EXTRAS = ("", "cur_cause=0", "cur_cause=10", "cur_causes=0|1|2")

#: session id -> {"branch": the selected branch or None}
SESSIONS = SessionStore(limit=5000, token_bytes=13)


@dataclass(frozen=True)
class Tenant:
    """Per-source variant choices, derived deterministically from the source structure."""

    company: str
    extra: str
    chooser: bool  # the selection POST answers with a branch chooser
    selects: bool  # the first case of a category is a count <select>


def tenant(src: SimSource) -> Tenant:
    key = zlib.crc32(f"{src.id}/{'/'.join(src.locations)}".encode())
    return Tenant(
        company=f"simstadt{src.index:02d}",
        extra=EXTRAS[key % len(EXTRAS)],
        chooser=bool(key >> 4 & 1),
        selects=bool(key >> 5 & 1),
    )


def _extra_pairs(extra: str) -> dict[str, str]:
    return dict(part.partition("=")[::2] for part in extra.split("&") if part)


# ---------------------------------------------------------------------------
# structure: categories and cases


def cases(src: SimSource) -> dict[str, list[tuple[str, str]]]:
    """location id -> [(case field name, service title)], page order."""
    out = {}
    for i, loc in enumerate(src.locations.values(), start=1):
        out[loc.id] = [
            (f"casetype_{i}{j:02d}", title) for j, title in enumerate(ajax.services_of(src, loc), 1)
        ]
    return out


def _case_location(src: SimSource, name: str) -> str | None:
    for lid, fields in cases(src).items():
        if any(field == name for field, _ in fields):
            return lid
    return None


# ---------------------------------------------------------------------------
# page scaffolding


def _prefix(src: SimSource) -> str:
    return f"/{src.id}/{MOUNT}/index.php?company={tenant(src).company}"


def _frame(src: SimSource, title: str, step: int, content: str, head: str = "") -> Reply:
    steps = "".join(
        f'<li class="nat_step_active">{n}. {label}</li>' if n == step else f"<li>{n}. {label}</li>"
        for n, label in enumerate(("Anliegen", "Termin", "Daten", "Bestätigung"), start=1)
    )
    prefix = escape(_prefix(src))
    body = (
        f'{head}<div id="nat_wrapper">\n<div id="nat_header"><h1>Online-Terminvergabe</h1>'
        f'</div>\n<ul id="nat_steps">{steps}</ul>\n<div id="nat_content">\n{content}\n</div>\n'
        f'<div id="nat_footer"><a href="{prefix}&amp;step=impressum">Impressum</a> | '
        f'<a href="{prefix}&amp;step=datenschutz">Datenschutz</a> | powered by NetAppoint'
        "</div>\n</div>"
    )
    return page(f"Online-Terminvergabe - {src.name} - {title}", body)


def index_page(src: SimSource) -> Reply:
    ten = tenant(src)
    groups = []
    for n, (lid, fields) in enumerate(cases(src).items(), start=1):
        items = []
        for k, (field, title) in enumerate(fields):
            if k == 0 and ten.selects:
                options = "".join(f'<option value="{v}">{v}</option>' for v in range(3))
                control = (
                    f'<select class="{p.CASE_SELECT_CLASS} casetype_select" '
                    f'name="{field}" id="{field}">{options}</select>'
                )
            else:
                control = (
                    f'<input class="{p.CHECKBOX_CLASS}" type="checkbox" '
                    f'name="{field}" id="{field}" value="1" />'
                )
            items.append(
                f'<li class="nat_casetypelist_li">{control}\n'
                f'<label for="{field}">{escape(title)}</label></li>'
            )
        name = escape(src.locations[lid].name)
        groups.append(
            f'<h2 class="nat_casetypelist_header"><a href="javascript:toggle(\'cat_{n}\');">'
            f"Kategorie {name}</a></h2>\n"
            f'<ul class="{p.CATEGORY_LIST_CLASS}" id="cat_{n}" style="display:none">\n'
            + "\n".join(items)
            + "\n</ul>"
        )
    action = escape(f"{_prefix(src)}&step=2")
    content = (
        '<p class="nat_infotext">Bitte wählen Sie Ihre Anliegen aus.</p>\n'
        f'<form name="{p.CLASSIC_FORM}" id="{p.CLASSIC_FORM}" method="post" action="{action}">\n'
        '<input type="hidden" name="nat_lang" value="de" />\n'
        + "\n".join(groups)
        + '\n<div class="nat_buttons"><input type="submit" class="nat_button" '
        f'name="{p.SUBMIT_NAME}" value="{p.SUBMIT_VALUE}" /></div>\n</form>'
    )
    script = (
        '<script type="text/javascript">function toggle(id) { var el = '
        "document.getElementById(id); el.style.display = (el.style.display == 'none') ? "
        "'block' : 'none'; }</script>\n"
    )
    return _frame(src, "Anliegen", 1, content, head=script)


def garbage_page(src: SimSource) -> Reply:
    content = (
        '<div class="nat_error"><h2>Wartungsarbeiten</h2>\n<p>Die Online-Terminvergabe ist '
        "wegen Wartungsarbeiten vorübergehend nicht erreichbar. Bitte versuchen Sie es "
        "später erneut.</p></div>"
    )
    return _frame(src, "Wartung", 1, content)


def message_page(src: SimSource, title: str, message: str, step: int = 2) -> Reply:
    back = escape(f"{_prefix(src)}&step=1")
    content = (
        f'<div class="nat_error"><h2>{escape(title)}</h2>\n<p>{escape(message)}</p>\n'
        f'<p><a class="nat_button" href="{back}">Zurück</a></p></div>'
    )
    return _frame(src, title, step, content)


def expired_page(src: SimSource) -> Reply:
    return message_page(src, "Sitzung abgelaufen", p.SESSION_EXPIRED, step=1)


def _bookable_month(world: SimWorld, src: SimSource, lid: str, now: datetime) -> list[date]:
    """The days of the month containing today that have a free slot."""
    first = now.date().replace(day=1)
    out, day = [], first
    while day.month == first.month:
        if world.published_day(src, lid, day, now):
            out.append(day)
        day += timedelta(days=1)
    return out


def calendar_page(world: SimWorld, src: SimSource, lid: str) -> Reply:
    """Month calendar of the month containing today for branch ``lid``."""
    with world.lock:  # a consistent read while other threads advance the world
        now = world.refresh()
        bookable = set(_bookable_month(world, src, lid, now))
    first = now.date().replace(day=1)
    link = f"{_prefix(src)}&step=4&branch={lid}"
    cells = ['<td class="nat_calendar_empty">&nbsp;</td>'] * first.weekday()
    day = first
    while day.month == first.month:
        if day in bookable:
            href = escape(f"{link}&year={day.year}&month={day.month}&day={day.day}")
            cells.append(
                f'<td class="nat_calendar_weekday"><a class="{p.BOOKABLE_CLASS}" '
                f'title="Termine verfügbar" href="{href}">{day.day}</a></td>'
            )
        elif day.weekday() >= 5:
            cells.append(f'<td class="nat_calendar_weekend{p.NOT_BOOKABLE_SUFFIX}">{day.day}</td>')
        else:
            cells.append(f'<td class="nat_calendar_weekday{p.NOT_BOOKABLE_SUFFIX}">{day.day}</td>')
        day += timedelta(days=1)
    cells += ['<td class="nat_calendar_empty">&nbsp;</td>'] * (-len(cells) % 7)
    rows = "\n".join("<tr>" + "".join(cells[i : i + 7]) + "</tr>" for i in range(0, len(cells), 7))
    month = p.month_name(first)
    nxt = (first + timedelta(days=31)).replace(day=1)
    nav = escape(f"{_prefix(src)}&step=2&year={nxt.year}&month={nxt.month}")
    loc = src.locations[lid]
    content = (
        '<div class="nat_selected_casetypes"><h3>Ihr gewählter Standort</h3>'
        f"<ul><li>{escape(loc.name)}</li></ul></div>\n"
        '<p class="nat_infotext">Bitte wählen Sie einen Tag aus. Tage mit freien Terminen '
        "sind hervorgehoben.</p>\n"
        f'<div class="nat_calendar_nav"><strong>{month}</strong> '
        f'<a class="nat_calendar_next" href="{nav}">weiter &raquo;</a></div>\n'
        f'<table class="{p.CALENDAR_CLASS}" summary="Kalender {month}">\n<thead><tr>'
        + "".join(f"<th>{w}</th>" for w in p.WEEKDAYS)
        + f"</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
    )
    return _frame(src, "Terminauswahl", 2, content)


def chooser_page(src: SimSource, lid: str) -> Reply:
    """Branch chooser: a closed branch, an info link, then this location's step=3 link."""
    base = _prefix(src)
    items = [
        '<li class="nat_casetypelist_casetype_li nat_branch_closed">'
        "<span>Außenstelle (derzeit geschlossen)</span></li>",
        f'<li class="nat_casetypelist_casetype_li"><a href="'
        f'{escape(f"{base}&step=2&branch={lid}&info=1")}" title="Informationen">'
        f"Informationen zu den Standorten</a></li>",
    ]
    for other in [lid, *(x for x in src.locations if x != lid)]:
        href = escape(f"{base}&step=3&branch={other}")
        items.append(
            f'<li class="nat_casetypelist_casetype_li"><a href="{href}">'
            f"{escape(src.locations[other].name)}</a></li>"
        )
    content = (
        '<h2>Standortwahl</h2>\n<p class="nat_infotext">Ihr Anliegen kann an mehreren '
        "Standorten bearbeitet werden. Bitte wählen Sie einen Standort aus.</p>\n"
        '<ul class="nat_casetypelist nat_branchlist">\n' + "\n".join(items) + "\n</ul>"
    )
    return _frame(src, "Standortwahl", 2, content)


def day_page(world: SimWorld, src: SimSource, lid: str, day: date) -> Reply:
    with world.lock:
        now = world.refresh()
        minutes = world.published_day(src, lid, day, now)
    heading = f"<h2>{p.WEEKDAYS[day.weekday()]}, {day.day}. {p.month_name(day)}</h2>"
    if not minutes:
        return _frame(
            src, "Uhrzeit", 2, f'{heading}\n<p class="nat_infotext">{p.DAY_NONE_FREE}</p>'
        )
    base = f"{_prefix(src)}&step=5&branch={lid}&year={day.year}&month={day.month}&day={day.day}"
    cells = [
        f'<td><a href="{escape(f"{base}&time={m}")}"><abbr title="{HHMMSS[m][:5]} Uhr">'
        f"{HHMMSS[m][:5]}</abbr></a></td>"
        for m in minutes
    ]
    rows = "\n".join("<tr>" + "".join(cells[i : i + 4]) + "</tr>" for i in range(0, len(cells), 4))
    content = (
        f'{heading}\n<p class="nat_infotext">Bitte wählen Sie eine Uhrzeit aus.</p>\n'
        f'<table class="{p.TIMES_CLASS}" summary="freie Termine am {day:%d.%m.%Y}">\n{rows}\n'
        "</table>"
    )
    return _frame(src, "Uhrzeit", 2, content)


# ---------------------------------------------------------------------------
# sessions


def _session(src: SimSource, request: SimRequest) -> tuple[str, str | None, bool]:
    """(session id, selected branch, new?) for the request's cookie; unknown -> new session."""
    sid = request.cookies.get(p.COOKIE, "")
    state = SESSIONS.get(src.id, sid)
    if state is not None:
        return sid, state["branch"], False
    return SESSIONS.new(src.id, {"branch": None}), None, True


def _select(src: SimSource, sid: str, branch: str | None) -> None:
    state = SESSIONS.get(src.id, sid)
    if state is not None:
        state["branch"] = branch


def _post(world: SimWorld, src: SimSource, request: SimRequest, sid: str) -> Reply:
    if p.SUBMIT_NAME not in request.form:
        return index_page(src)
    chosen = {
        _case_location(src, name)
        for name, value in request.form.items()
        if value.strip() not in ("", "0") and name.startswith("casetype_")
    }
    chosen.discard(None)
    if not chosen:
        return message_page(src, "Hinweis", NO_SERVICE)
    if len(chosen) > 1:
        return message_page(src, "Hinweis", BAD_COMBINATION)
    (lid,) = chosen
    _select(src, sid, lid)
    if tenant(src).chooser:
        return chooser_page(src, lid)
    return calendar_page(world, src, lid)


def _get(world: SimWorld, src: SimSource, query: dict[str, str], selected: str | None) -> Reply:
    step = query.get("step", "")
    if step in ("", "1"):
        return index_page(src)
    branch = query.get("branch", "")
    if step == "2":  # month navigation of the current selection
        return calendar_page(world, src, selected) if selected else expired_page(src)
    if step not in ("3", "4") or branch not in src.locations:
        return message_page(src, "Fehler", "Die angeforderte Seite existiert nicht.")
    if "year" not in query:  # branch chooser link: needs the selection
        return calendar_page(world, src, branch) if selected else expired_page(src)
    if selected and step == "3":  # a selection pending: the day chooser again
        return calendar_page(world, src, selected)
    try:
        day = date(int(query["year"]), int(query.get("month", "")), int(query.get("day", "")))
    except ValueError:
        return message_page(src, "Fehler", "Ungültiges Datum.")
    return day_page(world, src, branch, day)


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    """Answer a request (path relative to the source prefix) for ``src``."""
    if src.variant == "ajax":
        return ajax.handle(world, src, request, fault)
    if request.path.rstrip("/") != f"/{MOUNT}/index.php":
        return message_page(src, "Fehler", "Die angeforderte Seite wurde nicht gefunden.")
    ten = tenant(src)
    query = request.query
    if query.get("company") != ten.company:
        return message_page(src, "Fehler", "Unbekannter Mandant.", step=1)
    sid, selected, new = _session(src, request)
    if request.method == "POST":
        reply = expired_page(src) if fault == "expired" else _post(world, src, request, sid)
    elif not query.get("step") and fault == "garbage":
        reply = garbage_page(src)
    elif not query.get("step") and any(
        query.get(k) != v for k, v in _extra_pairs(ten.extra).items()
    ):
        reply = message_page(src, "Hinweis", "Bitte wählen Sie einen Bereich aus.", step=1)
    else:
        reply = _get(world, src, query, selected)
    if new:
        reply.headers["Set-Cookie"] = f"{p.COOKIE}={sid}; path=/"
    return reply


# ---------------------------------------------------------------------------
# ground truth and catalog


def location_id(src: SimSource, loc: Location) -> str:
    """Classic: the id the scraper derives from the category name (protocol 2.6);
    WEB_APPOINT: the location's 32-hex id."""
    return ajax.web_id(src, loc) if src.variant == "ajax" else to_id(loc.name)


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Days a scrape of ``weeks`` covers: today through today + 7·weeks."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list:
    """What a scrape sees: nothing unless the month of today shows a bookable day.

    The scraper walks days from the first bookable day of that month view; the days
    before it are not bookable, so the walk covers every free slot through today + 7·W.
    WEB_APPOINT tenants publish every month shown at once (see the ajax module).
    """
    if src.variant == "ajax":
        return ajax.truth_slots(world, src, loc, now, weeks)
    if weeks is None:
        days = world.horizon_days(now)
    elif not _bookable_month(world, src, loc.id, now):
        return []
    else:
        days = truth_days(now, weeks)
    return world.published_slots(src, loc.id, days, now)


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    """(index_url, params): base ``{base_url}/netappoint``, company and optional extra."""
    if src.variant == "ajax":
        return ajax.catalog_entry(src, base_url)
    ten = tenant(src)
    base = f"{base_url}/{MOUNT}"
    params = {"base_url": base, "company": ten.company}
    if ten.extra:
        params["extra"] = ten.extra
    return f"{base}/index.php?company={ten.company}", params
