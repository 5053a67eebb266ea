"""Crawl one municipal website politely and confirm the booking systems it links to.

Same-site HTML pages only (the site's host, with or without ``www.``), breadth first with
booking-like links first, at most ``pages`` per site and ``depth`` clicks from the start.
Every link, frame, form and script URL is held against the families' URL fingerprints; a
match (or a booking-like link to another host) is a *candidate*, opened exactly once to
confirm it by its page markup and to read the family parameters (``Family.propose``).
robots.txt is obeyed through the fetcher's ``RobotsCache`` like every other request.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import CatalogError, DisallowedError, ScrapeError
from ..families import FAMILIES, Family
from ..fetch import Fetcher

#: link text or URL words that mean "book an appointment here"
BOOKING_WORDS = re.compile(
    r"termin|buchung|buchen|reservier|appointment|vorsprache|warteschlange|ticket",
    re.IGNORECASE,
)
#: files a crawler never opens
NOT_HTML = re.compile(
    r"\.(pdf|docx?|xlsx?|pptx?|odt|zip|jpe?g|png|gif|svg|webp|ico|mp[34]|css|js|ics|vcf|xml)$",
    re.IGNORECASE,
)
_ABSOLUTE_URL = re.compile(r"https?://[^\s\"'<>()\\]+")


@dataclass(frozen=True)
class CrawlLimits:
    pages: int = 30
    depth: int = 3


@dataclass
class Candidate:
    """A booking URL seen on a page; after ``confirm`` its family and catalog row."""

    url: str
    found_on: str
    family: str | None
    index_url: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # why it gives no row (dead link, robots.txt, not confirmed)

    @property
    def confirmed(self) -> bool:
        return self.index_url is not None and self.problem is None


@dataclass
class SiteResult:
    name: str
    url: str
    pages_read: int = 0
    pages_disallowed: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # booking-like links of no family
    error: str | None = None

    @property
    def systems(self) -> list[Candidate]:
        return [c for c in self.candidates if c.confirmed]


def _same_site(host: str, site_host: str) -> bool:
    strip = lambda h: h.lower().removeprefix("www.")  # noqa: E731
    return strip(host) == strip(site_host)


def family_of_url(url: str) -> Family | None:
    """The family whose URL fingerprints match (refusals included), or None."""
    return next((f for f in FAMILIES.values() if f.matches(url)), None)


def links_of(html: str, base: str) -> list[tuple[str, str]]:
    """(absolute URL, link text) of every link, frame, form, script and inline-script URL."""
    tree = HTMLParser(html)
    found: list[tuple[str, str]] = []
    for node in tree.css("a[href], area[href], iframe[src], frame[src], form[action], script"):
        target = node.attributes.get("href") or node.attributes.get("src")
        target = target or node.attributes.get("action") or node.attributes.get("data-src")
        if node.tag == "script" and not target:
            found.extend((u, "") for u in _ABSOLUTE_URL.findall(node.text() or ""))
            continue
        if not target or target.startswith(("mailto:", "tel:", "javascript:", "#")):
            continue
        if node.tag in ("a", "area"):
            text = node.text(strip=True) or node.attributes.get("title") or ""
        elif node.tag in ("iframe", "frame"):
            # an embedded page of another site is a widget: a candidate whatever it says
            text = f"iframe {node.attributes.get('title') or ''} termin"
        else:
            text = node.attributes.get("title") or ""
        found.append((urljoin(base, target.strip()), text))
    return found


async def crawl_site(
    name: str,
    url: str,
    fetcher: Fetcher,
    limits: CrawlLimits = CrawlLimits(),  # noqa: B008 (frozen)
    on_page: Callable[[str], None] | None = None,
) -> SiteResult:
    """Crawl one site and confirm its candidates; never raises for the site's own faults."""
    result = SiteResult(name, url)
    session = fetcher.session()
    site_host = urlsplit(url).hostname or ""
    queue: deque[tuple[str, int]] = deque([(urldefrag(url)[0], 0)])
    seen_pages = {queue[0][0]}
    seen_paths = {urlsplit(url).path or "/"}
    variants: list[tuple[str, int]] = []
    candidates: dict[str, Candidate] = {}
    while queue and result.pages_read < limits.pages:
        page_url, depth = queue.popleft()
        if result.pages_read:
            await _crawl_delay(fetcher, page_url)
        try:
            response = await session.get(page_url)
        except DisallowedError:
            result.pages_disallowed += 1
            if depth == 0:
                break
            continue
        except ScrapeError as exc:
            if not result.pages_read and depth == 0:
                result.error = f"{exc} ({exc.url or page_url})"
                return result
            continue
        result.pages_read += 1
        if on_page:
            on_page(page_url)
        final = session.last_url or page_url
        if "html" not in response.headers.get("content-type", "html"):
            continue
        booking_first: list[tuple[str, int]] = []
        rest: list[tuple[str, int]] = []
        for link, text in links_of(response.text, final):
            parts = urlsplit(link)
            if parts.scheme not in ("http", "https"):
                continue
            family = family_of_url(link)
            if family is not None:
                candidates.setdefault(link, Candidate(link, final, family.name))
                continue
            wanted = BOOKING_WORDS.search(link) or BOOKING_WORDS.search(text)
            if not _same_site(parts.hostname or "", site_host):
                if wanted:
                    candidates.setdefault(link, Candidate(link, final, None))
                continue
            page = urldefrag(link)[0]
            if page in seen_pages or NOT_HTML.search(parts.path) or depth + 1 > limits.depth:
                continue
            seen_pages.add(page)
            if parts.query and parts.path in seen_paths and not wanted:
                variants.append((page, depth + 1))  # ?print=1 and the like: read last
                continue
            seen_paths.add(parts.path)
            (booking_first if wanted else rest).append((page, depth + 1))
        # booking-like pages jump the queue, so the page budget is spent where systems are
        queue.extendleft(reversed(booking_first))
        queue.extend(rest)
        if not queue and variants:
            queue.extend(variants)
            variants.clear()
    if result.pages_disallowed and not result.pages_read:
        result.error = f"robots.txt of {site_host} disallows crawling the site"
        return result
    for candidate in candidates.values():
        await confirm(candidate, fetcher)
        if candidate.family is None and candidate.problem:
            result.unknown.append(candidate.url)
        else:
            result.candidates.append(candidate)
    return result


async def _crawl_delay(fetcher: Fetcher, url: str) -> None:
    """Wait what robots.txt's ``Crawl-delay`` asks beyond the host lane's own gap."""
    delay = fetcher.robots.crawl_delay(url) if fetcher.robots is not None else None
    if delay:
        gap = fetcher.politeness_for(urlsplit(url).hostname or "").min_gap
        await asyncio.sleep(max(0.0, min(float(delay), 60.0) - gap))


async def confirm(candidate: Candidate, fetcher: Fetcher) -> None:
    """Open the candidate once: which family serves it, and with which parameters."""
    family = FAMILIES.get(candidate.family or "")
    if family is not None and family.refusal:
        candidate.problem = f"{family.name} is not read: {family.refusal}"
        candidate.index_url, candidate.params = candidate.url, {}
        return
    session = fetcher.session()
    try:
        redirect = family.redirect if family is not None else None
        response = await session.request("GET", candidate.url, redirect=redirect)
    except DisallowedError as exc:
        candidate.problem = f"robots.txt disallows it ({exc.line})"
        return
    except ScrapeError as exc:
        candidate.problem = f"could not be opened: {exc}"
        return
    final, body = session.last_url or candidate.url, response.text
    if family is None or not family.confirms(final, body):
        family = next((f for f in FAMILIES.values() if f.propose and f.confirms(final, body)), None)
    if family is None or family.propose is None:
        candidate.problem = "no known booking system on this page"
        return
    candidate.family = family.name
    try:
        candidate.index_url, candidate.params = family.propose(final, body)
    except CatalogError as exc:
        candidate.problem = str(exc)
