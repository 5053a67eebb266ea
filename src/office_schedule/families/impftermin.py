"""Impfterminservice (KBV): whether the vaccination centres have appointments, yes or no.

Requests: ``GET {base_url}/assets/static/impfzentren.json`` (state -> list of centres with
``URL`` ending in ``/`` and ``PLZ``); once ``GET {URL}assets/static/its/vaccination-list.json``;
per centre, with fresh cookies, ``GET {URL}impftermine/service?plz={PLZ}`` and then
``GET {URL}rest/suche/termincheck?plz={PLZ}&leistungsmerkmale=L920,L921,L922,L923``.

The real site sits behind bot protection that wants browser-made cookies and JavaScript:
an HTML answer where JSON is expected, or HTTP 403/429, raises
``BlockedError("impfterminservice: bot protection, needs a browser")``.

The termcheck answer only says whether appointments exist, never when. ``parse`` therefore
yields one location per centre with **zero slots**; availability stays in the raw payload.

Catalog parameters (all optional): ``base_url`` (default ``https://www.impfterminservice.de``),
``request_delay`` (seconds, default 0.7), ``leistungsmerkmale`` (default
``L920,L921,L922,L923``).

Raw payload: ``{"vaccines": <vaccination-list JSON>, "centres": [{"id": PLZ, "name": str|null,
"state": str, "url": str, "available": bool, "answer": <termincheck JSON>}]}``.
Location id = ``id`` (the centre's postcode), name = ``name``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import BlockedError, ParseError, ScrapeError
from ..model import Location, ParsedSnapshot
from .common import PacedSession

NAME = "impftermin"
DEFAULT_BASE_URL = "https://www.impfterminservice.de"
DEFAULT_REQUEST_DELAY = 0.7
DEFAULT_FEATURES = "L920,L921,L922,L923"
BOT_MESSAGE = "impfterminservice: bot protection, needs a browser"


def centre_list(data: Any) -> list[dict[str, Any]]:
    """``{"id", "name", "state", "url"}`` per centre of ``impfzentren.json``; ScrapeError if odd."""
    if not isinstance(data, dict):
        raise ScrapeError("impfzentren.json is not an object of states")
    centres = []
    for state, entries in data.items():
        if not isinstance(entries, list):
            raise ScrapeError(f"impfzentren.json: state {state!r} is not a list")
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("URL") or not entry.get("PLZ"):
                raise ScrapeError(f"impfzentren.json: centre without URL/PLZ in {state!r}")
            url = str(entry["URL"])
            name = entry.get("Zentrumsname") or entry.get("Ort")
            centres.append(
                {
                    "id": str(entry["PLZ"]),
                    "name": str(name).strip() if name else None,
                    "state": str(state),
                    "url": url if url.endswith("/") else url + "/",
                }
            )
    return centres


def is_available(answer: Any) -> bool:
    """The termincheck answer's yes/no (``termineVorhanden``)."""
    return isinstance(answer, dict) and answer.get("termineVorhanden") is True


class _Client(PacedSession):
    """Paced requests that turn bot-protection answers into BlockedError."""

    async def get(self, url: str, params: dict[str, str] | None = None):
        try:
            return await super().get(url, params)
        except BlockedError as exc:
            raise BlockedError(BOT_MESSAGE, url=exc.url) from exc

    async def json(self, url: str, params: dict[str, str] | None = None) -> Any:
        response = await self.get(url, params)
        try:
            return json.loads(response.text)
        except json.JSONDecodeError:
            raise BlockedError(BOT_MESSAGE, url=str(response.url)) from None


async def scrape(source, session, weeks: int, now: datetime) -> dict[str, Any]:
    base_url = (source.params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    delay = float(source.params.get("request_delay") or DEFAULT_REQUEST_DELAY)
    features = source.params.get("leistungsmerkmale") or DEFAULT_FEATURES
    client = _Client(session, delay)
    index_url = f"{base_url}/assets/static/impfzentren.json"
    try:
        centres = centre_list(await client.json(index_url))
    except BlockedError:
        raise
    except ScrapeError as exc:
        raise ScrapeError(str(exc), url=index_url) from None
    vaccines = None
    if centres:
        vaccines = await client.json(f"{centres[0]['url']}assets/static/its/vaccination-list.json")
    out = []
    for centre in centres:
        session.clear_cookies()
        plz = centre["id"]
        await client.get(f"{centre['url']}impftermine/service", {"plz": plz})
        answer = await client.json(
            f"{centre['url']}rest/suche/termincheck", {"plz": plz, "leistungsmerkmale": features}
        )
        out.append({**centre, "available": is_available(answer), "answer": answer})
    return {"vaccines": vaccines, "centres": out}


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
        if not isinstance(centre.get("available"), bool):
            raise ParseError(f"{where}: available is not true/false")
        known = locations.get(centre_id)
        locations[centre_id] = Location(id=centre_id, name=name or (known and known.name) or None)
    return ParsedSnapshot(locations)
