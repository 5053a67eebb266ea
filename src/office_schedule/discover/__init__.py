"""Find the booking systems of municipal websites and propose catalog rows for them."""

from .crawler import CrawlLimits, SiteResult, crawl_site
from .rows import Site, proposed_rows, read_sites, write_rows

__all__ = [
    "CrawlLimits",
    "Site",
    "SiteResult",
    "crawl_site",
    "proposed_rows",
    "read_sites",
    "write_rows",
]
