"""Impfterminservice (KBV): whether the vaccination centres have appointments, yes or no.

Requests: ``GET {base_url}/assets/static/impfzentren.json`` (state -> list of centres with
``URL`` ending in ``/`` and ``PLZ``); once ``GET {URL}assets/static/its/vaccination-list.json``;
per centre, with fresh cookies, ``GET {URL}impftermine/service?plz={PLZ}`` and then
``GET {URL}rest/suche/termincheck?plz={PLZ}&leistungsmerkmale=L920,L921,L922,L923``.

Both real centre lists (2021, 126 and 103 centres) hold two entries with ``"PLZ": ""``
(a state's hotline, a forwarding page); such a centre is skipped and listed under
``skipped`` in the raw payload, never fatal.

The real site sits behind bot protection (Akamai) that wants browser-made cookies and
JavaScript: its "Access Denied" page, any HTML answer where JSON is expected, or HTTP
403/429, raises ``BlockedError("impfterminservice: bot protection, needs a browser")``.

The termincheck answer only says whether appointments exist, never when. ``parse``
therefore yields one location per centre with **zero slots** whose ``empty`` says so
(``availability only: termineVorhanden=false``); availability stays in the raw payload.

Catalog parameters (all optional): ``base_url`` (default ``https://www.impfterminservice.de``),
``request_delay`` (seconds between requests to the host, if more than the family's 0.7),
``leistungsmerkmale`` (default
``L920,L921,L922,L923``).

Raw payload: ``{"vaccines": <vaccination-list JSON>, "centres": [{"id": PLZ, "name": str|null,
"state": str, "url": str, "available": bool, "answer": <termincheck JSON>, "check_url": str}],
"skipped": [{"name": str|null, "state": str, "reason": str}]}``.
Location id = ``id`` (the centre's postcode), name = ``name``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from ..errors import BlockedError, ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from . import pages, propose
from .common import CheckedSession
from .family import Family
from .pages import Office, PageError, PageView

NAME = "impftermin"
DEFAULT_BASE_URL = "https://www.impfterminservice.de"
DEFAULT_FEATURES = "L920,L921,L922,L923"
BOT_MESSAGE = "impfterminservice: bot protection, needs a browser"
INDEX_PATH = "assets/static/impfzentren.json"
VACCINES_PATH = "assets/static/its/vaccination-list.json"
SERVICE_PATH = "impftermine/service"
CHECK_PATH = "rest/suche/termincheck"
#: the termincheck field and the marker of its "no" answer
AVAILABLE_KEY = "termineVorhanden"
NONE_FREE_MARKER = "termineVorhanden: false"
#: the heading/title of the bot-protection page (Akamai's standard refusal)
BOT_TITLE = "Access Denied"
#: the element the Angular app shell (``impftermine/service``) mounts on
APP_ROOT = "app-root"
_JSON_PATHS = (INDEX_PATH, VACCINES_PATH, CHECK_PATH)


def empty_marker(available: bool) -> str:
    """``Location.empty`` of a centre: the site tells availability only, never times."""
    return f"availability only: {AVAILABLE_KEY}={'true' if available else 'false'}"


def read_centres(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(centres, skipped)`` of ``impfzentren.json``; PageError if it is no centre list.

    A centre is ``{"id": PLZ, "name", "state", "url"}``; one without PLZ or URL is skipped
    as ``{"name", "state", "reason"}``.
    """
    if not isinstance(data, dict) or not data:
        raise PageError("impfzentren.json is not an object of states")
    centres, skipped = [], []
    for state, entries in data.items():
        if not isinstance(entries, list):
            raise PageError(f"impfzentren.json: state {state!r} is not a list")
        for entry in entries:
            if not isinstance(entry, dict) or not ({"PLZ", "URL"} & set(entry)):
                raise PageError(f"impfzentren.json: {str(entry)[:80]} in {state!r} is no centre")
            name = entry.get("Zentrumsname") or entry.get("Ort")
            name = str(name).strip() if name else None
            plz, url = str(entry.get("PLZ") or "").strip(), str(entry.get("URL") or "").strip()
            if not plz or not url:
                reason = "no PLZ" if not plz else "no URL"
                skipped.append({"name": name, "state": str(state), "reason": reason})
                continue
            centres.append(
                {
                    "id": plz,
                    "name": name,
                    "state": str(state),
                    "url": url if url.endswith("/") else url + "/",
                }
            )
    return centres, skipped


def _read_json(value: Any, text: str, url: str | None) -> PageView:
    if isinstance(value, dict) and AVAILABLE_KEY in value:
        answer = value[AVAILABLE_KEY]
        features = value.get("vorhandeneLeistungsmerkmale")
        details = {"available": answer, "features": features, "answer": value}
        if answer is False:
            reader = "impftermin.termincheck"
            return PageView("none-free", marker=NONE_FREE_MARKER, reader=reader, details=details)
        if answer is True:
            return PageView("days", reader="impftermin.termincheck", details=details)
        raise pages.unknown(NAME, text, url, f"{AVAILABLE_KEY} is {answer!r}")
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and v.get("qualification") for v in value)
    ):
        choices = [(str(v["qualification"]), str(v.get("name") or "")) for v in value]
        reader = "impftermin.vaccination-list"
        return PageView("services", choices=choices, reader=reader, details={"list": value})
    if isinstance(value, dict):
        try:
            centres, skipped = read_centres(value)
        except PageError as exc:
            raise pages.unknown(NAME, text, url, str(exc)) from None
        offices = [Office(c["id"], c["name"]) for c in centres]
        details = {"centres": centres, "skipped": skipped}
        return PageView(
            "offices", offices=offices, reader="impftermin.impfzentren", details=details
        )
    raise pages.unknown(NAME, text, url)


def read_page(text: str, url: str | None = None) -> PageView:
    """Recognise an answer of the Impfterminservice.

    ``impfzentren.json`` -> "offices" (id = PLZ, name = Zentrumsname; centres without
    PLZ are left out and listed in ``details["skipped"]``); ``vaccination-list.json`` ->
    "services" (choices = qualification, name); termincheck ``{"termineVorhanden": false}``
    -> "none-free" with marker ``termineVorhanden: false``; ``true`` -> "days" with no
    days (the site states availability, never a day or a time; ``details["available"]``);
    the Angular shell of ``impftermine/service`` -> "start"; the bot-protection page, or
    HTML where a JSON endpoint was asked -> "blocked".
    """
    value = pages.json_document(text)
    if value is not None:
        return _read_json(value, text, url)
    doc = pages.tree(text)
    title = pages.title_of(doc)
    heading = pages.node_text(doc.css_first("h1"))
    if BOT_TITLE in (title, heading):
        return PageView("blocked", error=BOT_MESSAGE, reader="impftermin.access-denied")
    if url and any(p in url for p in _JSON_PATHS) and text.lstrip().startswith("<"):
        return PageView("blocked", error=BOT_MESSAGE, reader="impftermin.html-for-json")
    if doc.css_first(APP_ROOT) is not None:
        return PageView("start", reader="impftermin.service")
    raise pages.unknown(NAME, text, url)


class _Client(CheckedSession):
    """Requests read by ``read_page``; bot-protection answers raise BlockedError."""

    async def get(self, url: str, params: dict[str, str] | None = None):
        try:
            return await super().get(url, params)
        except BlockedError as exc:
            raise BlockedError(BOT_MESSAGE, url=exc.url) from exc

    async def view(self, url: str, params: dict[str, str] | None = None, *kinds: str):
        response = await self.get(url, params)
        where = str(response.url)
        view = read_page(response.text, where)
        if view.page == "blocked":
            raise BlockedError(BOT_MESSAGE, url=where)
        if view.page not in kinds:
            raise ScrapeError(f"impftermin: expected {' or '.join(kinds)}, got {view.page}", where)
        return view


async def scrape(source, session, weeks: int, now: datetime) -> dict[str, Any]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    features = source.params.get("leistungsmerkmale") or DEFAULT_FEATURES
    client = _Client(session)
    index = await client.view(f"{base_url}/{INDEX_PATH}", None, "offices")
    centres, skipped = index.details["centres"], index.details["skipped"]
    vaccines = None
    if centres:
        listing = await client.view(f"{centres[0]['url']}{VACCINES_PATH}", None, "services")
        vaccines = listing.details["list"]
    out = []
    for centre in centres:
        session.clear_cookies()
        plz = centre["id"]
        await client.view(f"{centre['url']}{SERVICE_PATH}", {"plz": plz}, "start")
        query = {"plz": plz, "leistungsmerkmale": features}
        check_url = f"{centre['url']}{CHECK_PATH}"
        view = await client.view(check_url, query, "days", "none-free")
        out.append(
            {
                **centre,
                "available": view.details["available"] is True,
                "answer": view.details["answer"],
                "check_url": f"{check_url}?{urlencode(query)}",
            }
        )
    return {"vaccines": vaccines, "centres": out, "skipped": skipped}


def parse(raw: Any) -> ParsedSnapshot:
    """One location per centre, always without slots (the site tells only yes/no)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("centres"), list):
        raise ParseError("impftermin: raw payload is not an object with a centres list")
    locations: dict[str, Location] = {}
    for i, centre in enumerate(raw["centres"]):
        where = f"impftermin centre #{i}"
        if not isinstance(centre, dict):
            raise ParseError(f"{where}: not an object")
        centre_id, name = centre.get("id"), centre.get("name")
        if not isinstance(centre_id, str) or not centre_id:
            raise ParseError(f"{where}: bad id {centre_id!r}")
        if name is not None and not isinstance(name, str):
            raise ParseError(f"{where}: bad name {name!r}")
        available = centre.get("available")
        if not isinstance(available, bool):
            raise ParseError(f"{where}: available is not true/false")
        url = centre.get("check_url") or centre.get("url")
        known = locations.get(centre_id)
        if known is not None and known.empty == empty_marker(True):
            available = True  # the same PLZ twice: any "yes" wins
        locations[centre_id] = Location(
            id=centre_id,
            name=name or (known and known.name) or None,
            empty=empty_marker(available),
            url=url if isinstance(url, str) else None,
        )
    return ParsedSnapshot(locations)


FAMILY = Family(
    name=NAME,
    summary="impfterminservice.de: availability per centre only",
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    optional=("base_url", "request_delay", "leistungsmerkmale"),
    politeness={"per_host_concurrency": 1, "min_gap": 0.7, "attempts": 1},
    fingerprints=(r"impfterminservice\.de",),
    page_fingerprints=(r'"Zentrumsname"\s*:',),
    propose=propose.impftermin,
    server="office_schedule.simulate.impftermin_server",
    disabled_by_default=True,
)
