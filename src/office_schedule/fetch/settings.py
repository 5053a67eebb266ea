"""Every tunable of politeness in one place; families never hard-code delays.

The defaults keep at most two requests in flight per host and leave a gap after each
request before its lane is used again, so a host sees a steady trickle instead of bursts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import __version__

USER_AGENT = (
    f"office-schedule/{__version__} (open-data research on public office appointment slots; "
    "polite: per-host limits; https://github.com/office-schedule/office-schedule)"
)


@dataclass(frozen=True)
class Politeness:
    """How hard we may press one host."""

    per_host_concurrency: int = 2
    #: seconds a lane stays idle after each request before the next request to that host
    min_gap: float = 0.25
    #: seconds for connect/read/write/pool
    timeout: float = 10.0
    #: attempts per request (first try included) for connection errors, 5xx and 429
    attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    #: longest Retry-After we honour by waiting; longer ones fail the request
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({429, 500, 502, 503, 504})
    )
    max_redirects: int = 10
    user_agent: str = USER_AGENT
