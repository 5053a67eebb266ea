"""Render a simulated TEVIS tenant as TEVIS serves it in 2025-2026.

Markup copied from real pages (``../shared/data/real-pages/tevis``): the Nürnberg start page
(department buttons), the Nürnberg and Aachen service lists (flat layout; Aachen-like tenants
with ``data-tevis-calendars`` and an absolute form action), the Aachen and Dresden office
choosers, the Aachen and Mülheim suggest pages, and the Nürnberg error page a request without
the ``TVWebSession`` cookie gets. Unknown to us, so guessed: how an office without any free
time looks in the chooser (its heading lacks "Termine ab"), and how many days one suggest
page lists (here ``SUGGEST_DAYS`` days that have free times; the stated range ends with the
last day shown, as on both real pages).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from html import escape

from ..clock import OFFICE_TZ
from ..families.tevis import protocol as P
from .model import SimWorld
from .offices import Department, Location, Service, SimSource
from .pages import Reply, SessionStore, SimRequest

SUGGEST_DAYS = 7
SESSIONS = SessionStore()


def cal_id(loc: Location) -> str:
    """The calendar (``cal``) behind an office: another number than its ``loc``."""
    return str(int(loc.id) + 400)


def with_calendars(src: SimSource) -> bool:
    """Aachen-like tenants list ``data-tevis-calendars`` (and an absolute form action)."""
    return src.index % 4 == 0


# --------------------------------------------------------------------------- page frame


def _steps(active: int) -> str:
    items = []
    for n in range(1, 7):
        state = "done" if n < active else "active" if n == active else "disabled"
        items.append(
            f'                        <li role="presentation" class="{state}">\n'
            '                            <span class="round-tab" aria-hidden="true" '
            'data-container="body" data-toggle="popover" data-placement="bottom" '
            f'data-content="" data-trigger="hover">{n}</span>\n'
            "                        </li>"
        )
    return "\n".join(items)


def _infobox(rows: dict[str, str]) -> str:
    """The "Übersicht zu Ihrem Termin" box as the real pages write each entry."""
    cells = []
    for label in ("Funktionseinheit", "Anliegen", "Standort", "Termin", "Persönliche Daten"):
        value = rows.get(label)
        if not value:
            shown = "<span class='visuallyhidden '>noch nicht gesetzt</span>"
        elif label == "Anliegen":
            shown = (
                '<ul id="info_box_cnc_list"><li>1 <span class="visuallyhidden">Mal</span>'
                f'<span aria-hidden="true">x</span> {escape(value)}</li></ul>'
            )
        elif label == "Standort":
            shown = f"<span class='cnw_skip_translation'>{escape(value)}</span>"
        else:
            shown = escape(value)
        cells.append(f"<dt><span class='infobox_text'>{label}</span></dt><dd class=''>{shown}</dd>")
    return (
        '<details id="details_infobox" class="ui-accordion ui-widget ui-helper-reset" isOpen>\n'
        '<summary id="infobox_summary" class="ui-accordion-header ui-corner-top '
        'ui-state-default ui-accordion-header-active ui-state-active ui-accordion-icons">'
        '<span class="ui-accordion-header-icon ui-icon ui-icon-triangle-1-s"></span>'
        "Übersicht zu Ihrem Termin</summary>\n"
        '<div id="infobox_content" class="ui-accordion-content ui-corner-bottom '
        'ui-helper-reset ui-widget-content">'
        f'<dl class="grid" style="margin-bottom: 0px;">{"".join(cells)}</dl></div>\n</details>'
    )


def frame(src: SimSource, step: int, heading: str, content: str, kind: str, info=None) -> str:
    title = f"Terminvereinbarung {src.name} -  Schritt {step} von 6: {heading}"
    return (
        '<!DOCTYPE html>\n<html lang="de" xmlns="http://www.w3.org/1999/xhtml">\n\n'
        '    <head>\n        <!--###NOINDEX###-->\n        <meta charset="UTF-8">\n'
        f"        <title>{escape(title)}</title>\n"
        '        <meta http-equiv="Content-type" content="text/html; charset=utf-8" />\n'
        '    </head>\n<body class="TEVISWEB">\n'
        '        <main class="container wrapper">\n'
        f"            <div class=\"content content--{kind}\" id='inhalt'>\n"
        '            <div role="banner" class="wizard">\n'
        '                <div class="wizard-inner">\n'
        '                    <ul class="nav nav-tabs" role="presentation" aria-hidden="true">\n'
        f"{_steps(step)}\n                    </ul>\n"
        "                    <div>\n"
        f"                        <h1> Schritt {step}<span class='visuallyhidden'> von 6"
        f"</span>: {escape(heading)} </h1>\n"
        "                    </div><!--ende div inhalt-->\n"
        "                </div><!-- ende div wizard-inner-->\n"
        "            </div><!--ende div wizard-->\n"
        f"            {_infobox(info) if info is not None else ''}\n{content}\n"
        "            </div>\n"
        '            <footer id="footer" class="tvweb_form"><nav id="footer-nav" class="nav '
        'navHelp"><a href="#" onclick="showFooterModals(\'imprint\', $(this).text())">'
        "Impressum</a></nav></footer>\n"
        "        </main>\n</body>\n</html>\n"
    )


def error_page(src: SimSource, message: str) -> Reply:
    """The real error page ("Fehlermeldung: Kein gültiger Mandant gefunden. (0)")."""
    body = (
        '<!DOCTYPE html>\n<html lang="de" xmlns="http://www.w3.org/1999/xhtml">\n'
        '    <head>\n        <meta charset="UTF-8">\n'
        f"        <title>Terminvereinbarung {escape(src.name)}</title>\n    </head>\n"
        '<body class="TEVISWEB">\n        <main class="container wrapper">\n'
        '            <div class="content content--error">\n<div class="header">\n'
        '<h1 class="error" style="margin-bottom: 20px">Fehler</h1>\n'
        f'<p>{P.ERROR_PREFIX} {escape(message)}<hr aria-hidden="true" />Der Fehler könnte '
        "folgende Ursachen haben:<br/><ul><li>Die Sitzung ist abgelaufen</li><li>Die "
        "Onlineterminbuchung ist in mehreren Browser-Tabs oder -Fenstern geöffnet</li><li>Die "
        'Internetadresse wurde bearbeitet</li></ul><hr aria-hidden="true" /><em '
        'class="exception_msg_task"><b>Bitte starten Sie Ihren Browser neu und wiederholen den '
        "Vorgang.</b></em><br/></p>\n</div>\n</div>\n        </main>\n</body>\n</html>\n"
    )
    return Reply(body=body.encode("utf-8"))


# --------------------------------------------------------------------------- sessions


def _reply(src: SimSource, html: str, token: str | None) -> Reply:
    reply = Reply(body=html.encode("utf-8"))
    if token:
        reply.headers["Set-Cookie"] = f"{P.SESSION_COOKIE}={token}; path=/{src.id}/; HttpOnly"
    return reply


# --------------------------------------------------------------------------- steps 1 and 2


def start_page(src: SimSource) -> str:
    items = "\n".join(
        '<li style="display: block; margin-left:-40px;">\n'
        f"                            <button onclick=\"window.location.href='"
        f"{P.select2_url('', d.md)[1:]}'\""
        f' name="{escape(d.title)}" id="buttonfunktionseinheit-{d.md}" class="sel_button btn '
        f'btn-primary pull-right onehundred select_mdt_btn">{escape(d.title)}</button>\n'
        "                        </li>"
        for d in src.departments
    )
    content = (
        '<div role="main" class="button_container row">\n<ul style="list-style: none;">\n'
        f"{items}\n</ul>\n</div>"
    )
    return frame(src, 1, P.STEP_DEPARTMENTS, content, "mdt")


def offices_of(src: SimSource, svc: Service) -> list[Location]:
    ids = svc.calendars or [svc.hidden_calendar]
    return [src.locations[i] for i in ids if i in src.locations]


def duration(src: SimSource, svc: Service) -> int:
    return min((loc.slot_minutes for loc in offices_of(src, svc)), default=15)


def _service_item(src: SimSource, svc: Service) -> str:
    num = svc.cnc.split("-", 1)[1]
    name = escape(svc.title)
    cals = ""
    if with_calendars(src):
        offices = offices_of(src, svc)
        cals = (
            f'data-tevis-locations="{"|".join(o.id for o in offices)}" '
            f'data-tevis-calendars="{"|".join(cal_id(o) for o in offices)}" '
        )
    return (
        f'<li id="li-{num}" class="liConcernsChecklist">\n'
        f'<input type="hidden" id="cncSelected_str-{num}" value="Anliegen {name} ausgewählt">\n'
        f'<div id="containerConcerns-{num}" class="container containerConcerns" >\n'
        f'<div id="rowContainer-{num}" class="row justify-content-start" >\n'
        f'<div id="labelAnliegen-{num}" class="col-sm-8" style="padding-right:0px;">\n'
        f'<div id="labelConcernSelect-{num}" class="labelConcernSelect" '
        'style="padding-bottom:5px">\n'
        f'<label tabindex="0" id="labelInput-{num}" class="labelConcerns" for="input-{num}" '
        f'aria-label="{name}" ><b>{name}</b><br/>\n</label>\n</div>\n</div>\n'
        f'<div id="inputBox-{num}" class="input-number-control input-group col-sm-4">\n'
        f'<input  id="input-{num}" type="number" name="{svc.cnc}" '
        f'title="Maximal 4 Anliegen dieses Typs!" class="cnc-item form-control cnc-number '
        f'input-number col" data-tevis-type="mdc" {cals}data-tevis-cncinfotext="" '
        f'data-tevis-cncpaper="" data-tevis-cncname="{name}" data-tevis-maxpersons="9" '
        f'data-tevis-cncid="{num}" data-tevis-duration="{duration(src, svc)}" '
        'data-tevis-duration2="" data-tevis-displayinfo="" '
        f'data-tevis-rules="{hashlib.md5(svc.cnc.encode()).hexdigest()}" '
        'data-tevis-exec_presence="1" data-tevis-exec_online="0" value="0" min="0" max="4" >\n'
        f'<p class="visuallyhidden" aria-live="polite" id="{svc.cnc}" > 0 Anliegen {name} '
        "ausgewählt</p>\n</div>\n</div>\n</div>\n</li>"
    )


def select2_page(src: SimSource, dep: Department, base_url: str) -> str:
    action = f"{base_url}/location" if with_calendars(src) else "location"
    items = "".join(_service_item(src, svc) for svc in dep.services)
    group = f"{dep.md}0"
    content = (
        '<div class="button_container row">\n<hr>\n<p>Sie können insgesamt maximal 4 Anliegen '
        "auswählen. Für einzelne Anliegen kann die Anzahl zusätzlich begrenzt sein.</p>\n"
        f'<form action="{action}" method="get" id="cnc-select-form">\n'
        f'<input type="hidden" value="{dep.mdt}" name="mdt" />\n'
        '<input type="hidden" value="1" name="select_cnc" />\n\n'
        f' <div id="concerns_accordion-{group}" data-active="false">\n'
        f'<h3 id="header_concerns_accordion-{group}">{escape(dep.title)}</h3>\n'
        f'<div id="content_concerns_accordion-{group}">\n'
        f'<ul id="ul_concerns_accordion-{group}" class="ulConcerns" '
        f"style='margin-bottom: -6px !important;'>{items}</ul>\n</div>\n</div><br>\n"
        '<input class="sel_button btn btn-primary pull-left fifty " type="button"  '
        f'onClick="historyGoBack(\'{base_url}/\');" title="Zurück zu den Funktionseinheiten" '
        'id="zurueck" value="Zurück zu den Funktionseinheiten">\n'
        '<input type="submit" class="sel_button btn btn-primary pull-right fifty" value="Weiter" '
        'title="Weiter" id="WeiterButton" />\n</form>\n</div>'
    )
    info = {"Funktionseinheit": dep.title}
    return frame(src, 2, f"{dep.title} - {P.STEP_SERVICES}", content, "mdt", info)


# --------------------------------------------------------------------------- step 3


def free_minutes(world: SimWorld, src: SimSource, loc: Location, day: date, now) -> list[int]:
    return world.published_day(src, loc.id, day, now)


def earliest(world: SimWorld, src: SimSource, loc: Location, now: datetime) -> datetime | None:
    day = now.date()
    while day <= world.horizon(now):
        minutes = free_minutes(world, src, loc, day, now)
        if minutes:
            return datetime(day.year, day.month, day.day) + timedelta(minutes=minutes[0])
        day += timedelta(days=1)
    return None


def _office_form(loc: Location, submit: str, n: int | None) -> str:
    lat, lon = 50.7 + int(loc.id) / 1000, 6.0 + int(loc.id) / 1000
    return (
        '<form method="post">\n'
        f'<input type="hidden" name="loc" value="{loc.id}" />\n'
        f'<input type="hidden" name="gps_lat" value="{lat:.5f}" />\n'
        f'<input type="hidden" name="gps_long" value="{lon:.5f}" />\n'
        + "{table}"
        + (
            f'<input type="submit" name="{P.SELECT_LOCATION}" value="Weiter mit {n}" '
            'class="btn btn-primary onehundred pull-right" />\n'
            if n is not None
            else '<input type="submit" class="sel_button btn btn-primary pull-right fifty" '
            'value="Weiter" title="Weiter" aria-label="Weiter" id="WeiterButton" '
            f'name="{P.SELECT_LOCATION}" />\n'
        )
        + "</form>"
    ).replace("{table}", submit)


def _office_table(loc: Location, first: datetime | None) -> str:
    nxt = f"<dt>{P.NEXT_LABEL}</dt><dd>ab {first:%d.%m.%Y, %H:%M} Uhr</dd>\n" if first else ""
    return (
        '<dl class="grid suggest_location_tbl">\n'
        f'<dt>Name</dt><dd class="cnw_skip_translation">{escape(loc.name)}</dd>\n'
        f'<dt>Anschrift</dt><dd class="cnw_skip_translation">{escape(loc.name)}straße 1</dd>\n'
        '<dt>Entfernung</dt><dd class="sugg_loc_distance"></dd>\n'
        f"{nxt}<dt>Information</dt><dd><p>Bitte kommen Sie pünktlich.</p></dd>\n</dl>\n"
    )


def location_page(world, src: SimSource, dep: Department, svc: Service, now) -> str:
    offices = offices_of(src, svc)
    markers = "".join(
        f'<div style="display: none;" id="map_marker_content-{o.id}">\n'
        f'    <div class="cnw_skip_translation">\n        <b>{escape(o.name)}</b><br/>\n'
        "    </div>\n    "
        + _office_form(o, "", None).replace(
            'class="sel_button btn btn-primary pull-right fifty" value="Weiter" title="Weiter" '
            'aria-label="Weiter" id="WeiterButton"',
            'class="btn btn-primary map_loc_btn" style="border: none!important" '
            'value="Standort auswählen"',
        )
        + "\n</div>\n"
        for o in offices
    )
    head = (
        '<div class="header"><h2 class="h1like" style="display: inline-block;">Bitte wählen Sie '
        "den gewünschten Standort für Ihren Termin aus:</h2></div>\n<div>\n"
        f'    <div id="map_agreement"><button class="btn" id="map_agreement_accept">Karte '
        f'anzeigen</button></div><div id="loc_map"></div>{markers}\n</div>\n'
    )
    if len(offices) == 1:
        only = offices[0]
        body = (
            '<div id="suggest_location_content" class="suggest_location_panel ui-accordion-content'
            ' ui-corner-bottom ui-helper-reset ui-widget-content suggest_location_single">\n'
            + _office_form(only, _office_table(only, None), None)
            + "\n</div>\n"
        )
    else:
        ranked = sorted(
            ((earliest(world, src, o, now), o) for o in offices),
            key=lambda p: (p[0] is None, p[0] or datetime.max, p[1].id),
        )
        parts = []
        for n, (first, o) in enumerate(ranked, 1):
            when = f", Termine ab {first:%d.%m.%Y, %H:%M} Uhr" if first else ""
            parts.append(
                f'<h3 title="{escape(o.name)}{when}"><b>{n}: </b>'
                f'<span class="cnw_skip_translation">{escape(o.name)}</span>{when}</h3>\n'
                '<div class="suggest_location_panel">\n'
                + _office_form(o, _office_table(o, first), n)
                + "\n</div>\n"
            )
        body = f'<div id="suggest_location_accordion" data-active="0">\n{"".join(parts)}</div>\n'
    info = {"Funktionseinheit": dep.title, "Anliegen": svc.title}
    return frame(src, 3, "Terminvorschläge - " + P.STEP_OFFICES, head + body, "location", info)


# --------------------------------------------------------------------------- step 4


def _filter_form(loc: Location, svc: Service, first: date, last: date | None) -> str:
    until = f"{last:%d.%m.%Y}" if last else ""
    return (
        '<details id="details_vorschlage" class="ui-accordion ui-widget ui-helper-reset" >\n'
        '<summary id="vorschlag_summary" class="ui-accordion-header ui-corner-top '
        'ui-state-default ui-accordion-header-active ui-state-active ui-accordion-icons">'
        '<span class="ui-accordion-header-icon ui-icon ui-icon-triangle-1-s"></span>\n'
        "                                         Vorschläge filtern\n"
        "                                          </summary>\n"
        '<div class="ui-accordion-content ui-corner-bottom ui-helper-reset ui-widget-content">\n'
        f'<form action="" method="get" id="{P.FILTER_FORM}">\n'
        f'<input type="hidden" name="loc" value="{loc.id}">\n'
        f'<input type="hidden" name="mdt" value="0" /><input type="hidden" name="{svc.cnc}" '
        'value="1" />\n<label><b>Zeitraum</b></label>\n<div id="suggest_date_wrap">\n'
        '<label for="filter_date_from" title="Filter für den Zeitraum von">Von:</label>\n'
        '<input type="text" name="filter_date_from" id="filter_date_from" class="suggest_date" '
        f'value="{first:%d.%m.%Y}"/>\n'
        '<label id="filterlabel" for="filter_date_to" title="Filter für den Zeitraum bis" '
        'style="margin-left:20px;">Bis: </label>\n'
        '<input type="text" name="filter_date_to" id="filter_date_to"  class="suggest_date" '
        f'value="{until}"/>\n<p class="error-text" aria-live="polite" style="left:0%"></p>\n'
        "</div>\n"
        '<input title="Zurücksetzen" type="button" class="sel_button btn btn-primary fifty" '
        'value="Zurücksetzen" name="suggest_reset" onclick="$(this).attr(\'aria-busy\', true); '
        f"window.location.href='?suggest&mdt=0&{svc.cnc}=1'\"/>\n"
        f'<input title="Filtern" type="submit" class="sel_button btn btn-primary fifty" '
        f'style="float: right;" value="{P.FILTER_SUBMIT[1]}" name="{P.FILTER_SUBMIT[0]}" />\n'
        "</form>\n</div>\n</details>\n<hr/>\n"
    )


def _slot_cell(src: SimSource, loc: Location, slot: datetime, block: int, row: int) -> str:
    minute = slot.hour * 60 + slot.minute
    iso = slot.isocalendar()
    checksum = hashlib.sha256(f"{src.id}/{loc.id}/{slot:%Y%m%d%H%M}".encode()).hexdigest()
    loc_field = (
        f'                            <input type="hidden" name="loc" value="{loc.id}" />\n'
        if src.index % 4 == 2
        else ""
    )
    return (
        f'<td><form method="post" class="{P.SUGGESTION_FORM}" style="margin-bottom: 0px;">\n'
        f'                            <input type="hidden" name="start" value="{minute}" />\n'
        f'                            <input type="hidden" name="end" '
        f'value="{minute + loc.slot_minutes}" />\n'
        f'                            <input type="hidden" name="day" value="{iso.weekday}" />\n'
        f'                            <input type="hidden" name="block" value="{block}" />\n'
        f'                            <input type="hidden" name="hour" value="{row}" />\n'
        f'                            <input type="hidden" name="week" '
        f'value="{iso.year}{iso.week:02d}" />\n'
        f'                            <input type="hidden" name="date" value="{slot:%Y%m%d}" />\n'
        f"{loc_field}"
        f'                            <input type="hidden" name="cal" value="{cal_id(loc)}" />\n'
        f'                            <input type="hidden" name="checksum" value="{checksum}" />\n'
        '                            <input type="hidden" name="pow_token" value="" />\n'
        '                            <input type="hidden" name="pow_nonce" value="" />\n\n'
        f'                            <button type="submit" class="{P.SUGGEST_BUTTON} btn '
        'btn-primary " '
        f'title="{slot:%H:%M}">{slot:%H:%M}</button >\n                        </form></td>'
    )


def _day_panel(src: SimSource, loc: Location, day: date, free: set[int]) -> str:
    rows = []
    by_hour: dict[int, list[datetime]] = {}
    for slot in loc.grid(day):
        by_hour.setdefault(slot.hour, []).append(slot)
    for row, (hour, slots) in enumerate(sorted(by_hour.items()), 1):
        if not any(s.hour * 60 + s.minute in free for s in slots):
            continue
        cells = []
        for block, slot in enumerate(slots, 1):
            if slot.hour * 60 + slot.minute in free:
                cells.append(_slot_cell(src, loc, slot, block, row))
            else:
                cells.append(
                    f'<td><button type="button" class="{P.SUGGEST_BUTTON} btn btn-primary " '
                    "disabled>"
                    f"{slot:%H:%M}</button></td>"
                )
        rows.append(
            '<tr>\n\n                                            <th scope="row">\n'
            f'                                                <span aria-hidden="true">'
            f"{hour:02d}:00 - {hour + 1:02d}:00</span>\n"
            f'                                                <span class="invisible_text">'
            f"{hour:02d} Uhr bis {hour + 1:02d} Uhr </span>\n"
            "                                            </th>\n\n" + "\n".join(cells) + "\n</tr>"
        )
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=OFFICE_TZ).timestamp())
    return (
        '<details id="details_suggest_times" class="ui-accordion ui-widget ui-helper-reset" '
        'isOpen>\n                                    <summary id="suggest_details_summary" '
        'class="ui-accordion-header ui-corner-top ui-state-default ui-accordion-header-active '
        'ui-state-active ui-accordion-icons">\n'
        '                                        <span class="ui-accordion-header-icon ui-icon '
        'ui-icon-triangle-1-s"></span>\n'
        f"                                        {P.WEEKDAYS[day.weekday()]}, {day:%d.%m.%Y}\n"
        "                                    </summary>\n"
        f'                                    <div id="panel_{midnight}" class="suggest_details_'
        'panel ui-accordion-content ui-corner-bottom ui-helper-reset ui-widget-content">\n'
        '<table class="sugg_table ">\n' + "\n".join(rows) + "\n</table>\n</div>\n</details>\n"
    )


def _back(dep: Department, svc: Service) -> str:
    return (
        '<div style="margin-top: 20px; display: inline-block; width: 100%;">\n'
        '<input class="sel_button btn btn-primary pull-left fifty " type="button"  '
        f"onClick=\"historyGoBack('location?mdt={dep.mdt}&select_cnc=1&{svc.cnc}=1');\" "
        'title="Zurück zu den Standorten" id="zurueck" value="Zurück zu den Standorten">\n</div>'
    )


def suggest_page(world, src, dep, svc, loc, now, first: date, until: date | None) -> str:
    last = min(until or world.horizon(now), world.horizon(now))
    shown: list[tuple[date, set[int]]] = []
    day = first
    while day <= last and len(shown) < SUGGEST_DAYS:
        free = free_minutes(world, src, loc, day, now)
        if free:
            shown.append((day, set(free)))
        day += timedelta(days=1)
    info = {"Funktionseinheit": dep.title, "Anliegen": svc.title, "Standort": loc.name}
    if not shown:
        content = (
            f'<div class="row"><h2 class="h1like">{P.NONE_FREE}</h2><span>Für die aktuelle '
            "Anliegenauswahl ist leider kein Termin verfügbar. Neue Termine werden täglich "
            "freigeschaltet. Bitte versuchen Sie die Terminbuchung zu einem späteren Zeitpunkt "
            f"erneut.</span></div>\n{_back(dep, svc)}"
        )
        heading = "Terminvorschläge - " + P.NONE_FREE_STEP
        return frame(src, 4, heading, content, "suggest", info)
    content = (
        '<h2 class="h1like">Bitte wählen Sie die gewünschte Uhrzeit für Ihren Termin aus:</h2>\n'
        + _filter_form(loc, svc, first, shown[-1][0])
        + ' <div class="info"><p class="hint"><strong><span class="important_info_msg">Hinweis: '
        "Ein Klick auf die Uhrzeit führt automatisch zum nächsten Schritt der Terminvergabe."
        "</span></strong></p></div>\n"
        + "".join(_day_panel(src, loc, d, free) for d, free in shown)
        + _back(dep, svc)
    )
    return frame(src, 4, "Terminvorschläge - " + P.STEP_TIMES, content, "suggest", info)


# --------------------------------------------------------------------------- routing


def _chosen(src: SimSource, query: dict[str, str], state: dict[str, str]):
    cnc = next((k for k, v in query.items() if k.startswith("cnc-") and v == "1"), None)
    cnc = cnc or state.get("cnc")
    for dep in src.departments:
        for svc in dep.services:
            if svc.cnc == cnc:
                return dep, svc
    return None, None


def _day(text: str | None) -> date | None:
    try:
        return datetime.strptime(text or "", P.DAY_FORMAT).date()
    except ValueError:
        return None


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None, base="") -> Reply:
    """Answer one request of a today-variant tenant (path relative to its prefix)."""
    name = request.path.strip("/")
    state = SESSIONS.get(src.id, request.cookies.get(P.SESSION_COOKIE, ""))
    fresh = None
    if state is None and name in ("", "select2"):
        state = {}
        fresh = SESSIONS.new(src.id, state)
    if name == "":
        return _reply(src, start_page(src), fresh)
    if name == "select2":
        dep = src.department(request.query.get("md", ""))
        if dep is None:
            return error_page(src, f"{P.NO_MANDANT}. (0)")
        state["md"] = dep.md
        return _reply(src, select2_page(src, dep, base), fresh)
    if state is None or fault == "expired":
        return error_page(src, f"{P.NO_MANDANT}. (0)")
    now = world.refresh()
    dep, svc = _chosen(src, request.query, state)
    if svc is None:
        return error_page(src, "Es wurde kein Anliegen ausgewählt.")
    if name == "location" and request.method == "POST":
        loc = request.form.get("loc", "")
        if loc not in {o.id for o in offices_of(src, svc)}:
            return error_page(src, "Der ausgewählte Standort ist ungültig.")
        state.update(cnc=svc.cnc, loc=loc)
        return Reply(status=302, headers={"Location": "suggest"})
    if name == "location":
        state["cnc"] = svc.cnc
        return _reply(src, location_page(world, src, dep, svc, now), None)
    if name == "suggest":
        loc_id = request.query.get("loc") or state.get("loc", "")
        loc = src.locations.get(loc_id)
        if loc is None or loc not in offices_of(src, svc):
            return error_page(src, "Der ausgewählte Standort ist ungültig.")
        first = max(_day(request.query.get("filter_date_from")) or now.date(), now.date())
        html = suggest_page(
            world, src, dep, svc, loc, now, first, _day(request.query.get("filter_date_to"))
        )
        body = html.encode("utf-8")
        if fault == "truncated":
            body = body[: len(body) // 2]
        return Reply(body=body)
    return error_page(src, "Die angeforderte Seite wurde nicht gefunden.")
