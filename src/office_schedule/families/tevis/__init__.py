"""Kommunix TEVIS: the system of about a thousand German municipalities.

Two flows, chosen per tenant from the form of its service list (``select2``): services that
lead to ``location`` are read with today's flow (office chooser and suggest pages,
``today.py``); services that lead to ``calendar`` with the 2021 flow of the reference
(weekly ``caldiv`` JSON, ``classic.py``). ``pages.py`` reads every page of both
(``office-schedule read-page tevis``), ``protocol.py`` holds the facts both share with the
fake server.

Catalog parameters: ``base_url`` (the tenant without trailing slash), ``mp_group``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...errors import ParseError
from ...fetch.daily import reused
from ...model import ParsedSnapshot
from .. import propose
from ..family import Family
from . import classic, client, today
from .pages import read_page

NAME = "tevis"

__all__ = ["NAME", "parse", "read_page", "scrape"]


async def scrape(source, session, weeks: int, now: datetime) -> dict[str, Any]:
    """One snapshot of a tenant: departments, then the flow its service pages lead to.

    The start page and the service lists are kept for a day; today's flow fetches the first
    service list afresh, as it starts the ``TVWebSession`` the later pages need.
    """
    base = source.base_url
    departments = await client.departments(session, base, reuse=True)
    md, kept = next(iter(departments)), reused(session)
    first = await client.services(session, base, md, reuse=True)
    if reused(session) > kept and first.details["flow"] != "classic":
        first = await client.services(session, base, md)
    flow = classic if first.details["flow"] == "classic" else today
    return await flow.scrape(session, base, departments, first, weeks, now)


def parse(raw: Any) -> ParsedSnapshot:
    """Raw payload (v2: 2021 flow, v3: today's flow) -> locations with slots."""
    if not isinstance(raw, dict):
        raise ParseError(f"tevis payload is a {type(raw).__name__}, not an object")
    version = raw.get("v", 2)
    if version == 3:
        return today.parse(raw)
    if version != 2:
        raise ParseError(f"tevis payload version {version!r} is not 2 or 3")
    return classic.parse(raw)


FAMILY = Family(
    name=NAME,
    summary=(
        "start page -> departments -> services; today: office chooser -> suggest pages; "
        "2021: calendars -> weekly caldiv JSON"
    ),
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url",),
    optional=("mp_group",),
    fingerprints=(r"termine-reservieren\.(de|online)", r"\btevis", r"/select2\?md=\d+"),
    page_fingerprints=(
        r'class="TEVISWEB"',
        r"/tvweb\.js\b",
        r"\bdata-tevis-(cncname|calendars|cncid)\b",
    ),
    propose=propose.tevis,
    server="office_schedule.simulate.tevis_server",
)
