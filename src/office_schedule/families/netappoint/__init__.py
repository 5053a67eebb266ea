"""netappoint (NetAppoint / netcallup, EDV Kahlert): the classic and the WEB_APPOINT skin.

- ``protocol``: markers, class names and link forms (shared with the fake server);
- ``classic`` / ``webappoint``: the page readers of each skin;
- ``reader.read_page``: which step of either skin a page is (``office-schedule read-page``);
- ``scraper.scrape``: the request flows (requests per snapshot in its docstring);
- ``payload.parse``: raw payload -> locations.
"""

from __future__ import annotations

from .. import propose
from ..family import Family
from .classic import (
    Category,
    IndexPage,
    absolute,
    day_url,
    link_date,
    normal_time,
    read_index,
)
from .payload import parse
from .protocol import NAME
from .reader import read_page
from .scraper import extra_params, scrape

__all__ = [
    "NAME",
    "Category",
    "IndexPage",
    "absolute",
    "day_url",
    "extra_params",
    "link_date",
    "normal_time",
    "parse",
    "read_index",
    "read_page",
    "scrape",
]


FAMILY = Family(
    name=NAME,
    summary=(
        "classic: categories -> month calendar -> day pages; "
        "WEB_APPOINT: CASETYPES form -> jsonAppoints per service"
    ),
    scrape=scrape,
    parse=parse,
    read_page=read_page,
    required=("base_url",),
    optional=("company", "extra"),
    fingerprints=(r"netappoint", r"index\.php\?company=", r"/termin/index\.php"),
    page_fingerprints=(
        r"\bnat_(?:calendar|casetypelist|wrapper)\b",
        r"\bWEB_APPOINT_",
        r'name="frm_casetype"',
    ),
    propose=propose.netappoint,
    server="office_schedule.simulate.netappoint_server",
)
