"""Render a simulated source as a SmartCJM calendar (``/m/{mandant}/extern/calendar``).

The results page, the "nothing free" page and the expired-session page are written after
the real Leipzig pages of 2026 (``../shared/data/real-pages/smartcjm``; styles, tracking and
dialog scripts trimmed): the hidden step inputs, the day cards, the slot containers with
their ``h4.timeslot_cards_locations``, the ``appointment_reserve`` buttons (URL-encoded ISO
times with offset in lower-case ``%3a``, ``data-slot-from`` with seven fraction digits), the
booking summary. Every second source uses the older skin (the same markup without
``data-testid``). No real services step, locations step or earliest page was available:
those are built from the fields other clients post and read (``label.service_title`` for
``service_<uid>``, ``service_<uid>_amount``, ``services``; checkboxes ``name=locations``
with labels, ``locations_selected_all``; ``#json_appointment_list``), and their titles and
``step_goto`` values are guesses.

One calendar per source; its services are the source's services, its locations the
source's locations (a locations step when there are several). Sessions are the ``wsid`` of
the URL (no cookie, as the Aachen client shows), idle out after 20 simulated minutes and
accept any token and ``rev`` they issued. Guessed: the results page lists the free times of
``WINDOW_DAYS`` days; sources with index 2, 3 (mod 4) redirect to the backend port 8443
like Leipzig's load balancer; every third source is catalogued with ``mode=earliest``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import uuid
from datetime import date, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from ..families.smartcjm import protocol as P
from .model import SimWorld
from .offices import Location, Service, SimSource
from .pages import Reply, SessionStore, SimRequest

FAMILY = P.NAME
#: ``expired``: every POST meets the expired page; ``expireonce``: only the source's first
#: session does; ``throttle``: Cloudflare's 429 (Retry-After: 1) from the third request on;
#: ``cfblock``: Cloudflare's 403 block page; ``empty``: every search finds nothing;
#: ``garbage``: the results page's buttons call another function (a changed front-end)
PAGE_FAULTS = ("expired", "expireonce", "throttle", "cfblock", "empty", "garbage")
TRUTH_SKIPS_EMPTY = True
WINDOW_DAYS = 21
RETRY_AFTER = "1"
SESSIONS = SessionStore(limit=2000)
_NS = uuid.UUID("5b7d6c1e-8f0a-4c51-9d3e-2a6f4b8c0e17")
_SEEN: dict[tuple[int, str], int] = {}
_EXPIRED_ONCE: set[tuple[int, str]] = set()
_LOCK = threading.Lock()
STEP_NAMES = {"services": "Anliegen", "locations": "Standort", "search_results": "Termin",
              "booking": "Ihre Daten", "finish": "Bestätigung"}  # fmt: skip
STEP_TITLES = {"services": "Auswahl des Anliegens", "locations": "Auswahl des Standortes",
               "search_results": P.RESULTS_TITLE}  # fmt: skip


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def calendar_uid(src: SimSource) -> str:
    return _uuid(src.id, "calendar")


def mandant(src: SimSource) -> str:
    return f"simstadt-{src.index:02d}"


def calendar_path(src: SimSource) -> str:
    return f"/m/{mandant(src)}/extern/calendar"


def location_id(src: SimSource, loc: Location) -> str:
    """The location uuid of the slot buttons."""
    return _uuid(src.id, "location", loc.id)


def resources(src: SimSource, loc: Location) -> list[str]:
    """The counters of a location: two at every third one."""
    count = 2 if int(loc.id) % 3 == 0 else 1
    return [_uuid(src.id, "resource", loc.id, str(k)) for k in range(count)]


def services(src: SimSource) -> list[tuple[str, Service]]:
    seen: dict[str, Service] = {}
    for dep in src.departments:
        for svc in dep.services:
            seen.setdefault(svc.cnc, svc)
    return [(_uuid(src.id, "service", cnc), svc) for cnc, svc in seen.items()]


def served(svc: Service) -> list[str]:
    return list(svc.calendars or [svc.target])


def has_locations(src: SimSource) -> bool:
    return len(src.locations) > 1


def steps(src: SimSource) -> list[str]:
    middle = [P.STEP_LOCATIONS] if has_locations(src) else []
    return [P.STEP_SERVICES, *middle, P.STEP_RESULTS, P.STEP_BOOKING, "finish"]


def is_earliest(src: SimSource) -> bool:
    """Every third source is catalogued with ``mode=earliest``."""
    return src.index % 3 == 0


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    base = f"{base_url}{calendar_path(src)}"
    params = {"base_url": base, "uid": calendar_uid(src)}
    if is_earliest(src):
        params["mode"] = P.EARLIEST_MODE
    return f"{base}/?uid={calendar_uid(src)}", params


def truth_days(now: datetime, weeks: int) -> list[date]:
    """The look-ahead days the results page lists (its window is ``WINDOW_DAYS`` days)."""
    last = min(7 * weeks, WINDOW_DAYS - 1)
    return [now.date() + timedelta(days=i) for i in range(last + 1)]


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list:
    """All free times of the window; for ``mode=earliest`` sources only the first one."""
    if not is_earliest(src):
        days = truth_days(now, weeks if weeks is not None else WINDOW_DAYS)
        return world.published_slots(src, loc.id, days, now)
    days = world.horizon_days(now)
    if weeks is not None:
        days = [d for d in days if d <= now.date() + timedelta(days=7 * weeks)]
    first = _first_free(world, src, loc, days, now)
    return [f"{first:%Y-%m-%d %H:%M}:00"] if first else []


def _first_free(world: SimWorld, src, loc: Location, days: list[date], now) -> datetime | None:
    for day in days:
        minutes = world.published_day(src, loc.id, day, now)
        if minutes:
            return datetime(day.year, day.month, day.day) + timedelta(minutes=minutes[0])
    return None


def _rev() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(5))


# --------------------------------------------------------------------------- page frame


def _nav(src: SimSource, query: str, current: str) -> str:
    items = []
    names = steps(src)
    for i, step in enumerate(names):
        state, inner = "", f'<span class="step">{STEP_NAMES[step]}</span>'
        if step == current:
            state, inner = "active ", inner.replace('"step"', '"step"aria-current="step"')
        elif names.index(current) > i:
            href = f"\t\t\t\tindex?{query}&step_goto={i}&rev={_rev()}#top\n"
            state, inner = "completed ", f'<a href="{href}" class="step">{STEP_NAMES[step]}</a>'
        items.append(f'\t\t\t<li id="step_{i}" class="{state}">\n\t\t\t\t{inner}\n\t\t\t</li>')
    return (
        '<nav class="steps" aria-label="Schritte der Terminbuchung">\n\t<ol id="steplist">\n'
        + "\n".join(items)
        + "\n\t</ol>\n</nav>\n"
    )


def _document(src: SimSource, host: str, title: str, body: str, main_class: str = "") -> str:
    root = f"/{src.id}/m/{mandant(src)}"
    wizard = f"Terminvereinbarung {src.name}"
    main = f'<main class="{main_class}">' if main_class else "<main>"
    return (
        '<!--\n\n\n-->\n<!DOCTYPE html>\n<html lang="de">\n\t<head>\n'
        '\t\t<meta charset="utf-8" />\n'
        '\t\t<meta name="viewport" content="width=device-width, initial-scale=1" />\n\n'
        f"\t\t<title>\n\t\t\t{escape(src.name)} - {escape(wizard)}  - {escape(title)}\n</title>\n"
        f'\t\t<script src="{root}/extern/libs/jquery-3.6.1/jquery.min.js"></script>\n'
        "\t\t<script>\n\t\t\t$(function () {\n\t\t\t\trc.page.init({\n"
        f'\t\t\t\t\t"tenant_fullurl": "http://{host}{root}",\n\t\t\t\t\t"baseurl": "{root}",\n'
        '\t\t\t\t\t"language_ui": "de",\n\t\t\t\t\t"version": "1.13.0.0"\n'
        "\t\t\t\t});\n\t\t\t});\n\t\t</script>\n\t</head>\n"
        '\t<body class="rc_appointment_wizard rc_appointment_wizard_bitv ">\n'
        '<div class="rc_page">\n<header>\n\t<h1 class="rc_wizard_name">\n'
        f"\t\t<span>{escape(wizard)} </span>\n\t</h1>\n</header>\n"
        f"{body[0]}{main}\n{body[1]}\n</main>\n\n<footer>\n"
        '\t<p data-template_version="BITV">\n\t\t\tBITV/WCAG-Template | &copy; Smart CJM '
        f"'Licensed for {escape(src.name)}, {mandant(src)}'| Sprache: de\n\t\t</p>\n</footer>\n"
        "\t\t</div>\n\t</body>\n\n</html>\n"
    )


def _reply(src: SimSource, html: str, status: int = 200) -> Reply:
    if (
        src.index % 2 == 0
    ):  # every second source: the older skin: the same markup without data-testid
        html = re.sub(r'\s?data-testid="[^"]*"', "", html)
    return Reply(status=status, body=html.encode("utf-8"))


def _query(src: SimSource, wsid: str) -> str:
    return urlencode([("uid", calendar_uid(src)), ("wsid", wsid), *P.LANG])


def _wizard_page(src, host, state: dict, wsid: str, step: str, content: str) -> Reply:
    names, token, rev = steps(src), secrets.token_urlsafe(80), _rev()
    index = names.index(step)
    state["tokens"] = (state.get("tokens", []) + [token])[-50:]
    state["revs"] = (state.get("revs", []) + [rev])[-50:]
    query, form = _query(src, wsid), str(uuid.uuid4())
    fields = (
        f"\t\t<input type='hidden' id='RequestVerificationToken' name='{P.TOKEN_FIELD}' "
        f"value='{token}' />\n"
        '\t\t<input type="hidden" id="action_type" name="action_type" value="" />\n\n'
        f'\t\t<input type="hidden" id="steps" name="steps" value="{"".join(names)}" />\n'
        f'\t\t<input type="hidden" id="step_current" name="step_current" value="{step}" />\n'
        '\t\t<input type="hidden" id="step_current_index" name="step_current_index" '
        f'value="{index}" />\n'
        f'\t\t<input type="hidden" id="step_goto" name="step_goto" value="{names[index + 1]}" />\n'
        '\t\t<input type="hidden" id="access_code_key" name="access_code_key" value="" />\n'
    )
    main = (
        f'\t<h2 id="page_title">{STEP_TITLES[step]}</h2>\n'
        '<div id="rc_session_timeout_counter"></div>\n'
        f'\t<form id="calendar_{form}" name="calendar_{form}_{step}" method="post" '
        f'action="?{query}&rev={rev}#top">\n\n{fields}{content}\n\t</form>\n'
    )
    html = _document(src, host, STEP_TITLES[step], (_nav(src, query, step), main))
    return _reply(src, html)


def expired_page(src: SimSource, host: str) -> Reply:
    query = urlencode([("uid", calendar_uid(src)), *P.LANG])
    main = (
        f'\t<h2 id="page_title">{P.SESSION_EXPIRED_HEADING}</h2>\n'
        f'\t<p id="expired_message">{P.SESSION_EXPIRED_TEXT}</p>\n'
        '\t<div class="actions">\n'
        f'\t\t\t<a class="button" href="/{src.id}{calendar_path(src)}/?{query}">'
        f"{P.SESSION_EXPIRED_LINK}</a>\n\t</div>\n"
    )
    html = _document(src, host, P.SESSION_EXPIRED_TITLE, ("", main), main_class="message")
    return _reply(src, html)


def cloudflare(host: str, status: int) -> Reply:
    """Cloudflare's block (403) and rate-limit (429) pages, reduced to their texts."""
    name = host.split(":", 1)[0]
    if status == 429:
        title, h1, h2 = (f"Access denied | {name} used Cloudflare to restrict access",
                         "Error 1015", P.CLOUDFLARE_RATE_LIMITED)  # fmt: skip
    else:
        title, h1, h2 = ("Attention Required! | Cloudflare", P.CLOUDFLARE_BLOCKED,
                         f"You are unable to access {name}")  # fmt: skip
    html = (
        f'<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<title>{title}</title>\n</head>\n'
        f'<body>\n<div id="cf-wrapper">\n<h1 data-translate="block_headline">{h1}</h1>\n'
        f"<h2>{h2}</h2>\n<p>Performance &amp; security by Cloudflare</p>\n</div>\n</body>\n"
        "</html>\n"
    )
    headers = {"Retry-After": RETRY_AFTER} if status == 429 else {}
    return Reply(status=status, body=html.encode("utf-8"), headers=headers)


def _plain(status: int, message: str) -> Reply:
    return Reply(status=status, body=f"<html><body>{message}</body></html>".encode())


# --------------------------------------------------------------------------- the steps


def services_page(src, host, state, wsid) -> Reply:
    uids = {svc.cnc: uid for uid, svc in services(src)}
    groups, shown = [], set()
    for dep in src.departments:
        items = []
        for svc in dep.services:
            if svc.cnc in shown:
                continue
            shown.add(svc.cnc)
            uid = uids[svc.cnc]
            items.append(
                '\t\t\t<div class="service_container">\n'
                '\t\t\t\t<div class="service_selection">\n'
                f'\t\t\t\t\t<input type="hidden" name="{P.SERVICES_FIELD}" value="{uid}" />\n'
                f'\t\t\t\t\t<select id="{P.SERVICE_ID_PREFIX}{uid}" name="{P.amount_field(uid)}">'
                '<option value="">0</option><option value="1">1</option></select>\n'
                '\t\t\t\t</div>\n\t\t\t\t<div class="service_description">\n'
                f'\t\t\t\t\t<label class="{P.SERVICE_LABEL_CLASS}" '
                f'for="{P.SERVICE_ID_PREFIX}{uid}">{escape(svc.title)}</label>\n'
                "\t\t\t\t</div>\n\t\t\t</div>"
            )
        if items:
            groups.append(
                '\t\t<fieldset>\n\t\t\t<legend class="service_category_label">'
                f"{escape(dep.title)}</legend>\n" + "\n".join(items) + "\n\t\t</fieldset>"
            )
    content = (
        '<section id="step_services">\n'
        f'\t\t<input type="hidden" name="{P.SERVICES_FIELD}" value="" />\n'
        + "\n".join(groups)
        + '\n</section>\n<div class="actions right">\n'
        '\t<button type="submit" data-testid="button_next">Weiter</button>\n</div>'
    )
    return _wizard_page(src, host, state, wsid, P.STEP_SERVICES, content)


def _address(src: SimSource, loc: Location) -> tuple[str, str]:
    return f"Hauptstraße {int(loc.id) % 90 + 1}", f"{10000 + int(loc.id) * 7} {src.name}"


def locations_page(src, host, state, wsid, svc: Service) -> Reply:
    rows = []
    for lid in served(svc):
        loc = src.locations[lid]
        uid = location_id(src, loc)
        street, city = _address(src, loc)
        rows.append(
            '\t\t<div class="location-container">\n'
            '\t\t\t<div class="location_choice">'
            f'<input type="checkbox" name="{P.LOCATIONS_FIELD}" value="{uid}" '
            f'id="{P.LOCATION_ID_PREFIX}{uid}" /></div>\n'
            f'\t\t\t<div class="location_choice"><label for="{P.LOCATION_ID_PREFIX}{uid}">'
            f"{escape(loc.name)}<br/>{escape(street)}<br/>{escape(city)}</label></div>\n"
            "\t\t</div>"
        )
    content = (
        '<section id="step_locations">\n'
        '\t<button type="button" id="locations_selected_all_top">Alle auswählen</button>\n'
        f'\t<input type="hidden" id="{P.LOCATIONS_ALL_FIELD}" name="{P.LOCATIONS_ALL_FIELD}" '
        'value="" />\n\t<div class="location-table">\n'
        + "\n".join(rows)
        + '\n\t</div>\n</section>\n<div class="actions right">\n'
        '\t<button type="submit" id="next-button" data-testid="button_next">Weiter</button>\n</div>'
    )
    return _wizard_page(src, host, state, wsid, P.STEP_LOCATIONS, content)


def _free(world, src, state: dict, picked, now, days) -> list[tuple[datetime, str, int, str]]:
    """(start, location id, minutes, resource) of the search, sorted as the page lists them."""
    several = state.get("several") or []
    lids = [lid for svc in several for lid in served(svc)]
    lids = [lid for lid in src.locations if lid in lids]
    if picked is not None:
        lids = [lid for lid in lids if location_id(src, src.locations[lid]) in picked]
    found = []
    for day in days:
        base = datetime(day.year, day.month, day.day)
        for lid in lids:
            loc = src.locations[lid]
            res = resources(src, loc)
            for m in world.published_day(src, lid, day, now):
                found.append((base + timedelta(minutes=m), lid, loc.slot_minutes, res[0]))
                if len(res) > 1 and m % 3 == 0:  # the same start at the second counter
                    found.append((base + timedelta(minutes=m), lid, loc.slot_minutes, res[1]))
    if len(several) > 1 and found:  # several services at once: the global earliest slot
        return [min(found)]
    return found


def _button(src, n: int, slot: datetime, loc: Location, minutes: int, res: str, fn: str) -> str:
    ident = _uuid(src.id, "slot", loc.id, slot.isoformat(), res)
    label, shown = P.SLOT_LABEL.format(time=f"{slot:%H:%M}"), P.slot_from(slot)
    call = f"return {fn}('{P.encoded(slot)}', '{minutes}', '{location_id(src, loc)}', '{res}');"
    return (
        f'\t\t\t\t\t\t<li data-testid="slot_button_li-{n}">\n\t\t\t\t\t\t\t<button \n'
        '\t\t\t\t\t\t\tclass="card" \n'
        f'\t\t\t\t\t\t\tid="slot_{ident}" \n\t\t\t\t\t\t\taria-label="{label}" \n'
        f'\t\t\t\t\t\t\tonclick="{call}" \n\t\t\t\t\t\t\tdata-testid="slot_button-{n}">\n'
        f'\t\t\t\t\t\t\t\t<strong class="slot_from_parsed" {P.SLOT_FROM_ATTR}="{shown}">'
        f"\n\t\t\t\t\t\t\t\t\t{shown}\n\t\t\t\t\t\t\t\t</strong>\n"
        "\t\t\t\t\t\t\t</button>\n\t\t\t\t\t\t</li>"
    )


def _cards(free) -> str:
    days = sorted({slot.date() for slot, *_ in free})
    out, month, n_month = [], None, 0
    for i, day in enumerate(days, 1):
        if day.month != month:
            if month is not None:
                out.append("\t\t\t\t</ol>")
            month, n_month = day.month, n_month + 1
            heading = P.MONTH_HEADING.format(month=P.MONTHS[day.month - 1])
            out.append(f'\t\t\t\t\t\t<h4 data-testid="month_heading-{n_month}">{heading}</h4>\n'
                       f'\t\t\t\t\t\t<ol data-testid="month_ol-{n_month}">')  # fmt: skip
        out.append(
            f'\t\t\t\t\t\t<li data-testid="slot_date-{i}">\n\t\t\t\t\t\t\t<button class="card big" '
            f"id=\"'{day}'\" onclick=\"showTimeSlots('{day}'); return false;\" "
            f'aria-label="{day:%d.%m.%Y}" data-testid="slot_date_button-{i}">\n'
            f"\t\t\t\t\t\t\t\t<strong>{P.WEEKDAYS[day.weekday()]}</strong>\n"
            f"\t\t\t\t\t\t\t\t<br/>\n\t\t\t\t\t\t\t\t{day:%d.%m.%Y}\n\t\t\t\t\t\t\t</button>\n"
            "\t\t\t\t\t\t</li>"
        )
    return "\n".join(out) + '\n\t\t\t\t</ol data-testid="ending_ol-">'


def _containers(src, free, fn: str) -> str:
    out, n_loc, n_slot = [], 0, 0
    days = sorted({slot.date() for slot, *_ in free})
    for d, day in enumerate(days, 1):
        weekday = P.WEEKDAYS[day.weekday()]
        out.append(
            f'\t\t\t\t\t\t\t<div class="slot_container day_{day}" data-testid="slot_container-{d}" '
            f'style="display: none;">\n\t\t\t\t\t\t\t\t<h3 data-testid="slot_date_heading-{d}">\n'
            f"\t\t\t\t\t\t\t\t\t{P.DAY_HEADING.format(weekday=weekday, date=f'{day:%d.%m.%Y}')}\n"
            "\t\t\t\t\t\t\t\t</h3>\n"
            f'\t\t\t\t\t\t\t\t\t<div class="actions right" data-testid="actions_right-{d}">\n'
            f'\t\t\t\t\t\t\t\t\t\t<button data-testid="button_back-{d}" class="back_button" '
            'onclick="showDateCards(); return false;">\n\t\t\t\t\t\t\t\t\t\t\tZurück\n'
            "\t\t\t\t\t\t\t\t\t\t</button>\n\t\t\t\t\t\t\t\t\t</div>"
        )
        for lid in dict.fromkeys(lid for slot, lid, *_ in free if slot.date() == day):
            n_loc += 1
            loc = src.locations[lid]
            out.append(
                f'\t\t\t\t\t\t\t\t<h4 class="{P.LOCATION_HEADING_CLASS}" '
                f'data-testid="timeslot_cards_locations-{n_loc}">\n'
                f"\t\t\t\t\t\t\t\t\t{escape(loc.name)}\n\t\t\t\t\t\t\t\t</h4>\n"
                f'\t\t\t\t\t\t\t<ol data-testid="timeslot_cards_ol-{n_loc}">'
            )
            for slot, other, minutes, res in free:
                if other == lid and slot.date() == day:
                    n_slot += 1
                    out.append(_button(src, n_slot, slot, loc, minutes, res, fn))
            out.append("\t\t\t\t\t\t\t\t</ol>")
        out[-1] += "</div>" if d < len(days) else ""
    if out:
        out[-1] = '\t\t\t\t\t</ol data-testid="ending_ol-">\n\t\t\t\t</div>'
    return "\n".join(out)


def _summary(src, state: dict, lids: list[str]) -> str:
    svcs = "".join(
        f'\n\t\t\t\t\t\t<li class="summary_container services" data-testid="service-summary-'
        f'container-{i}"><p data-testid="service-name-{i}"><span>1x&nbsp;{escape(s.title)} '
        "</span></p></li>"
        for i, s in enumerate(state.get("several") or [], 1)
    )
    locs = []
    for i, lid in enumerate(lids, 1):
        loc = src.locations[lid]
        street, city = _address(src, loc)
        locs.append(
            f'\n\t\t\t\t\t\t\t\t<li class="summary_container location" data-testid="summary-'
            f'container-{i}">\n\t\t\t\t\t\t\t\t\t<p data-testid="location-name-{i}">\n'
            f"\t\t\t\t\t\t\t\t\t\t{escape(loc.name)}\n\t\t\t\t\t\t\t\t\t\t\t<br data-testid="
            f'"location-address-{i}" />{escape(street)}\n\t\t\t\t\t\t\t\t\t\t\t<br data-testid='
            f'"location-postal-city-{i}"/>{escape(city)}\n\t\t\t\t\t\t\t\t\t</p>\n\t\t\t\t\t\t\t\t</li>'
        )
    return (
        '<section id="booking_summary" class="right">\n\t\t\t<h3>Ihre bisherigen Angaben</h3>\n'
        '\t<dl>\n\t\t<dt class="summary_title">Dienstleistung</dt>\n\t\t<dd data-testid="services-'
        f'container">\n\t\t\t\t\t<ul data-testid="services-list" id="services-list">{svcs}\n'
        '\t\t\t\t\t</ul>\n\t\t</dd>\n\t\t<dt class="summary_title">Standort</dt>\n\t\t<dd data-'
        'testid="locations-container">\n\t\t\t\t\t<ul data-testid="locations-list" id="locations-'
        f'list">{"".join(locs)}\n\t\t\t\t\t</ul>\n\t\t</dd>\n\t</dl>\n</section>'
    )


def results_page(world, src, request, state, wsid, now, fault, picked) -> Reply:
    days = [now.date() + timedelta(days=i) for i in range(WINDOW_DAYS)]
    free = [] if fault == "empty" else _free(world, src, state, picked, now, days)
    fn = "slot_reserve" if fault == "garbage" else P.RESERVE_FUNCTION
    root = f"/{src.id}{calendar_path(src)}"
    script = (
        f'<script type="text/javascript">\n\tfunction {P.RESERVE_FUNCTION}(appointment_datetime, '
        "appointment_duration, location, resource) {\n\t\twindow.location='"
        f"{root}/booking?{_query(src, wsid)}&rev={_rev()}&appointment_datetime=' + "
        "appointment_datetime \n\t\t\t+ '&appointment_duration=' + appointment_duration + "
        "'&location=' + location + '&resources=' + resource;\n\t\treturn false;\n\t}\n</script>\n"
    )
    if free:
        listing = (f"{_cards(free)}\n\t\t</div>\n\t\t\t\t<div class=\"timeslot_cards\">\n"
                   f"{_containers(src, free, fn)}\n\t\t\t</div>")  # fmt: skip
    else:
        listing = (
            f'\t\t\t\t<div id="{P.NONE_FREE_ID}" class="errors" role="alert" aria-relevant="all"'
            f'data-testid="{P.NONE_FREE_ID}">\n\t\t\t\t\t<p data-testid="error_message-">'
            f"{P.NONE_FREE}</p>\n\t\t\t\t</div>\n\t\t</div>"
        )
    lids = list(dict.fromkeys(lid for svc in state.get("several") or [] for lid in served(svc)))
    content = (
        f'{script}\n<div class="rc_form_layout_70_30">\n\t<!-- APPOINTMENT LIST -->\n'
        '\t<section id="step_search_results" class="left">\n\t\t<div class="date_cards">\n'
        f'\t\t\t<h3 id="title_days_with_available_appointments">{P.DAYS_HEADING}</h3>\n'
        f"{listing}\n\t</section>\n{_summary(src, state, lids)}\n</div>"
    )
    return _wizard_page(src, request.headers.get("host", ""), state, wsid, P.STEP_RESULTS, content)


def earliest_page(world, src, request, state, now, fault) -> Reply:
    entries = []
    several = state.get("several") or []
    lids = [lid for lid in src.locations if any(lid in served(s) for s in several)]
    for lid in [] if fault == "empty" else lids:
        loc = src.locations[lid]
        first = _first_free(world, src, loc, world.horizon_days(now), now)
        if first is None:
            continue
        query = [
            ("appointment_datetime", P.iso(first)),
            ("appointment_duration", loc.slot_minutes),
            ("location", location_id(src, loc)),
            ("resources", resources(src, loc)[0]),
        ]
        booking = f"/{src.id}{calendar_path(src)}/booking?{_query(src, request.query['wsid'])}"
        link = f"{booking}&{urlencode(query)}"
        entries.append({
            "date_time": P.earliest_date_time(first),
            "link": link, P.EARLIEST_ISO_KEY: P.iso(first), "unit": loc.name,
            "unit_uid": location_id(src, loc), "duration": str(loc.slot_minutes),
        })  # fmt: skip
    data = {"appointments": entries or P.EARLIEST_NONE}
    text = escape(json.dumps(data, ensure_ascii=False), quote=False)
    main = f'\t<div id="{P.EARLIEST_LIST_ID}">{text}</div>\n'
    html = _document(src, request.headers.get("host", ""), P.RESULTS_TITLE, ("", main))
    return _reply(src, html)


def _new_session(world: SimWorld, src: SimSource, request: SimRequest, now: datetime) -> Reply:
    with _LOCK:
        key = (id(world), src.id)
        doomed = key not in _EXPIRED_ONCE
        _EXPIRED_ONCE.add(key)
    token = SESSIONS.new(src.id, {"last": now, "doomed": doomed})
    wsid = str(uuid.UUID(hex=token))
    target = f"/{src.id}{calendar_path(src)}/?{_query(src, wsid)}"
    if src.index % 4 in (2, 3):  # Leipzig's load balancer leaks its backend port
        name = request.headers.get("host", "").split(":")[0]
        target = f"http://{name}:{P.BACKEND_PORT}{target}"
    return Reply(status=302, headers={"Location": target})


def _post(world, src, request: SimRequest, state: dict, wsid: str, now, fault) -> Reply:
    host = request.headers.get("host", "")
    form = request.form
    if (
        form.get(P.TOKEN_FIELD) not in state.get("tokens", [])
        or request.query.get("rev") not in state.get("revs", [])
        or form.get("steps") != "".join(steps(src))
        or form.get("step_goto") != P.GOTO_NEXT
    ):
        return _plain(400, "Bad Request")
    step = form.get("step_current")
    if step == P.STEP_SERVICES:
        chosen = [(uid, svc) for uid, svc in services(src) if form.get(P.amount_field(uid)) == "1"]
        if not chosen:
            return _plain(400, "Bad Request")
        state["several"] = [svc for _, svc in chosen]
        if has_locations(src):
            return locations_page(src, host, state, wsid, chosen[0][1])
        return results_page(world, src, request, state, wsid, now, fault, None)
    if step == P.STEP_LOCATIONS and state.get("several") and has_locations(src):
        if form.get(P.LOCATIONS_ALL_FIELD) == "1":
            picked = None
        else:  # the form dict keeps the last of repeated keys: one location
            picked = {form.get(P.LOCATIONS_FIELD, "")}
        return results_page(world, src, request, state, wsid, now, fault, picked)
    return _plain(400, "Bad Request")


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    host = request.headers.get("host", "")
    if fault == "cfblock":
        return cloudflare(host, 403)
    if fault == "throttle":
        with _LOCK:
            key = (id(world), src.id)
            _SEEN[key] = _SEEN.get(key, 0) + 1
            if _SEEN[key] > 2:
                return cloudflare(host, 429)
    base = calendar_path(src)
    if request.query.get("uid") != calendar_uid(src):
        return _plain(404, "Not Found")
    now = world.refresh()
    wsid = request.query.get("wsid", "")
    if request.path in (base, base + "/") and request.method == "GET" and not wsid:
        return _new_session(world, src, request, now)
    state = SESSIONS.get(src.id, wsid.replace("-", ""))
    idle = timedelta(minutes=P.SESSION_IDLE_MINUTES)
    if state is None or now - state["last"] > idle:
        return expired_page(src, host)
    state["last"] = now
    if request.method == "POST" and (
        fault == "expired" or (fault == "expireonce" and state["doomed"])
    ):
        return expired_page(src, host)
    if request.path in (base, base + "/"):
        if request.method == "GET":
            return services_page(src, host, state, wsid)
        return _post(world, src, request, state, wsid, now, fault)
    if request.path == f"{base}/{P.SEARCH_RESULT}" and request.method == "GET":
        if request.query.get("search_mode") == P.EARLIEST_MODE and state.get("several"):
            return earliest_page(world, src, request, state, now, fault)
    return _plain(404, "Not Found")
