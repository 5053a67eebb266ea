"""Render a simulated source as "Impftermin Thüringen" (Covid vaccination centres).

Protocol: docs/protocols/custom-machinery-export.md, section A.2, and ``families/
impfthueringen.py``. ``GET /terminvergabe/index.php`` lists the centres (one per simulated
location) in ``<div class="select-ort-area">`` (``select#select-ort``, name ``ID_LIB_Ort``,
as other people's 2021 code addresses it); ``POST /terminvergabe/func.php`` (``typ=1, ort,
pos=0, timestamp``) answers the ``<optgroup>``/``<option>`` elements the page puts into
``select[name="DatumUhrzeit"]``, or an empty body when nothing is offered. Like the real
site it offers only the first free slot of each of the next three days that have one, so
``truth_slots`` (not the day-based default) gives the ground truth; the look-ahead is
ignored. No real answer was recorded: the fragment's exact markup is inferred.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape

from ..families.impfthueringen import CENTRE_AREA
from .model import HHMMSS, SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, page

FAMILY = "impfthueringen"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("garbage",)
DAYS_OFFERED = 3
#: days until the second dose, per vaccine
VACCINES = (("BioNTech", 21), ("Moderna", 28), ("BioNTech", 42))
WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def location_id(src: SimSource, loc: Location) -> str:
    """The centre key (``ort``) is the numeric location id; ``to_id`` keeps it."""
    return loc.id


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Unused by ``SimWorld.truth`` (``truth_slots`` decides); kept for the contract."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def offered(world: SimWorld, src: SimSource, lid: str, now: datetime) -> list[tuple[date, int]]:
    """(day, minute) of the first free slot of each of the next three days that have one."""
    out: list[tuple[date, int]] = []
    with world.lock:
        last = world.horizon(now)
        day = now.date()
        while day <= last and len(out) < DAYS_OFFERED:
            minutes = world.published_day(src, lid, day, now)
            if minutes:
                out.append((day, minutes[0]))
            day += timedelta(days=1)
    return out


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list[str]:
    return [f"{d.isoformat()} {HHMMSS[m]}" for d, m in offered(world, src, loc.id, now)]


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}/terminvergabe", {"base_url": f"{base_url}/terminvergabe"}


def _centre_name(src: SimSource, i: int, loc: Location) -> str:
    place = loc.name.removeprefix("Standort ")
    kind = "IZ" if i % 2 == 0 else "IST"
    extra = " | Nachmittag" if loc.hours.get(0) and loc.hours[0][-1][1] > 16 * 60 else ""
    return f"{kind} {place}{extra} | Impfstoff: {VACCINES[i % len(VACCINES)][0]}"


def index_page(src: SimSource) -> Reply:
    options = ['      <option value="0">Bitte wählen Sie eine Impfstelle</option>']
    for i, loc in enumerate(src.locations.values()):
        options.append(
            f'      <option value="{loc.id}">{escape(_centre_name(src, i, loc))}</option>'
        )
    body = (
        "<h1>Terminvergabe für die Corona-Schutzimpfung in Thüringen</h1>\n"
        f'<form id="terminform">\n  <div class="{CENTRE_AREA}">\n'
        '    <label for="select-ort">Impfstelle wählen</label>\n'
        '    <select id="select-ort" name="ID_LIB_Ort">\n'
        + "\n".join(options)
        + "\n    </select>\n  </div>\n"
        '  <div class="select-termin-area"><select id="select-termin" name="DatumUhrzeit">'
        "</select></div>\n</form>\n"
        '<script src="js/terminvergabe.js"></script>'
    )
    return page("Impftermin Thüringen - Terminvergabe", body)


def garbage_page() -> Reply:
    body = (
        "<h1>Wartungsarbeiten</h1>\n<p>Die Terminvergabe ist wegen Wartungsarbeiten "
        "vorübergehend nicht erreichbar. Bitte versuchen Sie es später erneut.</p>"
    )
    return page("Impftermin Thüringen - Wartung", body)


def func_fragment(world: SimWorld, src: SimSource, form: dict[str, str]) -> Reply:
    key = form.get("ort", "")
    if form.get("typ") != "1" or key not in src.locations or not form.get("timestamp"):
        text = "<p>Ungültige Anfrage.</p>"
        return Reply(body=text.encode("utf-8"))
    now = world.refresh()
    i = list(src.locations).index(key)
    gap = VACCINES[i % len(VACCINES)][1]
    slots = offered(world, src, key, now)
    if not slots:
        return Reply(body=b"")
    lines = []
    for day, m in slots:
        hhmm = HHMMSS[m][:5]
        second = day + timedelta(days=gap)
        lines.append(
            f'<optgroup label="{WEEKDAYS[day.weekday()]}, {day:%d.%m.%Y}">'
            f'<option value="{day.isoformat()} {hhmm}" '
            f'data-folge-termin="{second.isoformat()} {hhmm}">'
            f"{hhmm} Uhr (Zweittermin: {second:%d.%m.%Y})</option></optgroup>"
        )
    return Reply(body=("\n".join(lines) + "\n").encode("utf-8"))


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    name = request.path.strip("/")
    if name in ("terminvergabe", "terminvergabe/index.php") and request.method == "GET":
        return garbage_page() if fault == "garbage" else index_page(src)
    if name == "terminvergabe/func.php" and request.method == "POST":
        if fault == "garbage":
            return garbage_page()
        return func_fragment(world, src, request.form)
    return page("Nicht gefunden", "<h1>404</h1><p>Seite nicht gefunden.</p>", status=404)
