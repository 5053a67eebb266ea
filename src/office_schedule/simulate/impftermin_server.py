"""Render a simulated source as the KBV Impfterminservice (availability yes/no only).

Protocol: docs/protocols/custom-machinery-export.md, section A.5, and ``families/
impftermin.py``. ``/assets/static/impfzentren.json`` lists one centre per simulated location
(``URL`` = ``http://{host}/{source id}/iz{location id}/``, ``PLZ`` = the location id);
under each centre ``assets/static/its/vaccination-list.json``,
``impftermine/service?plz=`` (sets the ``bm_sz`` cookie the site's bot protection wants)
and ``rest/suche/termincheck?plz=&leistungsmerkmale=`` (``termineVorhanden`` = the location
has any published free slot). Without that cookie, or in fault mode ``botwall``, the
termincheck answers the bot-protection page (Akamai's "Access Denied"). Like both real
lists of 2021 the centre list also holds an entry with ``"PLZ": ""`` (a state's hotline)
that the scraper must skip. The truth has no slots at all.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from ..families.impftermin import (
    APP_ROOT,
    AVAILABLE_KEY,
    BOT_TITLE,
    CHECK_PATH,
    INDEX_PATH,
    SERVICE_PATH,
    VACCINES_PATH,
)
from .model import SimWorld
from .offices import Location, SimSource
from .pages import Reply, SimRequest, json_reply, page

FAMILY = "impftermin"
#: fault modes answered by this module (the others are handled by the HTTP layer)
PAGE_FAULTS = ("botwall",)
COOKIE = "bm_sz"
STATES = ("Sachsen", "Hessen", "Bayern")
#: the fields of the real 2021 vaccination-list.json
VACCINES = [
    {
        "qualification": "L920",
        "name": "Comirnaty (BioNTech)",
        "short": "BioNTech",
        "tssname": "BioNTech",
        "interval": 40,
        "age": "16+",
        "tssage": "16-17",
    },
    {
        "qualification": "L921",
        "name": "mRNA-1273 (Moderna)",
        "short": "Moderna",
        "tssname": "Moderna, BioNTech",
        "interval": 40,
        "age": "18+",
        "tssage": "18-59",
    },
    {
        "qualification": "L922",
        "name": "COVID-1912 (AstraZeneca)",
        "short": "AstraZeneca",
        "tssname": "Moderna, BioNTech, AstraZeneca",
        "interval": 40,
        "age": "60+",
        "tssage": "60+",
    },
    {
        "qualification": "L923",
        "name": "COVID-19 Vaccine Janssen (Johnson & Johnson)",
        "short": "Johnson&Johnson",
        "tssname": "Johnson&Johnson",
        "age": "18+",
    },
]


def location_id(src: SimSource, loc: Location) -> str:
    """The centre's postcode (``PLZ``)."""
    return f"{4000 + int(loc.id):05d}"


def truth_days(now: datetime, weeks: int) -> list[date]:
    """Unused by ``SimWorld.truth`` (``truth_slots`` decides); kept for the contract."""
    return [now.date() + timedelta(days=i) for i in range(7 * weeks + 1)]


def truth_slots(world: SimWorld, src: SimSource, loc: Location, now: datetime, weeks) -> list[str]:
    """The site never tells when: every centre has zero slots."""
    return []


def catalog_entry(src: SimSource, base_url: str) -> tuple[str, dict[str, str]]:
    return f"{base_url}/impftermine", {"base_url": base_url, "request_delay": "0"}


def _available(world: SimWorld, src: SimSource, lid: str) -> bool:
    with world.lock:
        now = world.refresh()
        day, last = now.date(), world.horizon(now)
        while day <= last:
            if world.published_day(src, lid, day, now):
                return True
            day += timedelta(days=1)
    return False


def centres(src: SimSource, host: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    state = STATES[src.index % len(STATES)]
    out[state] = [
        {
            "Zentrumsname": f"Terminservice des Landes {state}",
            "PLZ": "",
            "Ort": state,
            "Bundesland": state,
            "URL": f"http://{host}/{src.id}/iz098/",
            "Adresse": f"Terminservice des Landes {state} ",
        }
    ]
    for i, loc in enumerate(src.locations.values()):
        place = loc.name.removeprefix("Standort ")
        out.setdefault(STATES[i % len(STATES)], []).append(
            {
                "Zentrumsname": f"Impfzentrum {place}",
                "PLZ": location_id(src, loc),
                "Ort": src.name,
                "Bundesland": STATES[i % len(STATES)],
                "URL": f"http://{host}/{src.id}/iz{loc.id}/",
                "Adresse": f"{place}straße 1",
            }
        )
    return out


def botwall_page(host: str, path: str) -> Reply:
    """Akamai's refusal, as its edge servers write it (upper-case tags, escaped URL)."""
    where = "".join(c if c.isalnum() else f"&#{ord(c)};" for c in f"http://{host}/{path}")
    ref = secrets.token_hex(4)
    text = (
        f"<HTML><HEAD>\n<TITLE>{BOT_TITLE}</TITLE>\n</HEAD><BODY>\n<H1>{BOT_TITLE}</H1>\n \n"
        f'You don\'t have permission to access "{where}" on this server.<P>\n'
        f"Reference&#32;&#35;18&#46;{ref}&#46;1620000000&#46;{ref[:6]}\n</BODY>\n</HTML>\n"
    )
    return Reply(status=200, body=text.encode("utf-8"))


def _centre(world: SimWorld, src: SimSource, request: SimRequest, lid: str, rest: str) -> Reply:
    loc = src.locations.get(lid)
    if loc is None:
        return page("Nicht gefunden", "<h1>404</h1>", status=404)
    if rest == VACCINES_PATH:
        return json_reply(VACCINES)
    if rest == SERVICE_PATH:
        reply = page(
            "ImpfterminService - Impftermine",
            f'<{APP_ROOT}></{APP_ROOT}><script src="main.js"></script>',
        )
        path = f"/{src.id}/iz{lid}/"
        reply.headers["Set-Cookie"] = f"{COOKIE}={secrets.token_hex(10)}; Path={path}"
        return reply
    if rest == CHECK_PATH:
        if request.query.get("plz") != location_id(src, loc) or COOKIE not in request.cookies:
            return botwall_page(request.headers.get("host", ""), f"{src.id}/iz{lid}/{rest}")
        if _available(world, src, lid):
            return json_reply({AVAILABLE_KEY: True, "vorhandeneLeistungsmerkmale": ["L920"]})
        return json_reply({AVAILABLE_KEY: False, "vorhandeneLeistungsmerkmale": []})
    return page("Nicht gefunden", "<h1>404</h1>", status=404)


def handle(world: SimWorld, src: SimSource, request: SimRequest, fault=None) -> Reply:
    path = request.path.strip("/")
    if fault == "botwall" and path.endswith(CHECK_PATH):
        return botwall_page(request.headers.get("host", ""), path)
    if path == INDEX_PATH:
        return json_reply(centres(src, request.headers.get("host", "127.0.0.1")))
    head, _, rest = path.partition("/")
    if head.startswith("iz") and head[2:].isdigit():
        return _centre(world, src, request, head[2:], rest)
    return page("Nicht gefunden", "<h1>404</h1>", status=404)
