"""A booking-system family as one declared object.

Every family module ends with ``FAMILY = Family(...)``: its name, the catalog parameters it
reads, its politeness, the URL patterns that identify its tenants (for ``discover``), its
reader, scraper and parser, and the module of its fake server. The registry in
``families/__init__.py`` collects them; the catalog, the sweep, ``read-page``, ``discover``
and the simulator all read that one registry.

A family may also be a *refusal*: a system we know of and deliberately do not read (robots.txt
forbids it, it refuses non-browser clients, no public interface exists). It has no scraper,
its catalog rows can only be disabled, and ``refusal`` says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: politeness fields a family may set for its hosts (see ``fetch/settings.py``)
POLITENESS_FIELDS = ("per_host_concurrency", "min_gap", "attempts", "timeout")


@dataclass(frozen=True)
class Family:
    """One booking system."""

    name: str
    #: one line for humans: how a snapshot is read (or, for a refusal, what the system is)
    summary: str
    scrape: Callable[..., Any] | None = None
    parse: Callable[[Any], Any] | None = None
    read_page: Callable[..., Any] | None = None
    #: catalog parameters (``params`` column); any other key is a catalog error
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    #: per-host politeness this system needs beyond the defaults (stricter only)
    politeness: Mapping[str, Any] = field(default_factory=dict)
    #: regular expressions on a URL that identify a tenant of this system
    fingerprints: tuple[str, ...] = ()
    #: regular expressions on a page body that confirm it is this system's booking page
    page_fingerprints: tuple[str, ...] = ()
    #: ``propose(url, body) -> (index_url, params)``: the catalog row of a booking page
    #: (``discover``); ``CatalogError`` when a required parameter cannot be read
    propose: Callable[[str, str], tuple[str, dict[str, str]]] | None = None
    #: ``redirect(asked, target) -> url``: how the system's broken ``Location``s are mended
    #: (``Session.request(redirect=)``), for requests made outside its scraper (``discover``)
    redirect: Callable[[str, str], str] | None = None
    #: the fake server module (``office_schedule.simulate.…``), imported only when simulating
    server: str | None = None
    #: why this system is not read at all (its catalog rows stay disabled)
    refusal: str | None = None
    #: whether the real sources are disabled by default (e.g. robots.txt): so are simulated ones
    disabled_by_default: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.politeness) - set(POLITENESS_FIELDS)
        if unknown:
            raise ValueError(f"family {self.name}: unknown politeness field(s) {sorted(unknown)}")
        object.__setattr__(self, "politeness", MappingProxyType(dict(self.politeness)))
        if self.refusal is None and not (self.scrape and self.parse and self.read_page):
            raise ValueError(f"family {self.name}: needs scrape, parse and read_page")
        for pattern in (*self.fingerprints, *self.page_fingerprints):
            re.compile(pattern)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.required + self.optional

    def matches(self, url: str) -> bool:
        """Whether ``url`` looks like a tenant of this system."""
        return any(re.search(p, url, re.IGNORECASE) for p in self.fingerprints)

    def confirms(self, url: str, body: str) -> bool:
        """Whether ``url`` or the page ``body`` it answered identifies this system."""
        return self.matches(url) or any(
            re.search(p, body or "", re.IGNORECASE) for p in self.page_fingerprints
        )
