"""Simulated offices and fake booking-system servers with known ground truth.

``SimWorld`` models the offices (no HTTP), ``SimServer`` publishes each source in its
family's protocol on loopback, ``SiteServer`` (``municipalities``) serves municipal websites
that link to them; ``serve`` runs them until Ctrl-C/SIGTERM (``office-schedule simulate
serve``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from .model import SimWorld
from .municipalities import SiteServer, build_sites, town_bookings
from .server import FAULT_MODES, PortInUseError, SimServer, family_hosts, parse_faults

__all__ = [
    "FAULT_MODES",
    "PortInUseError",
    "SimServer",
    "SimWorld",
    "SiteServer",
    "parse_faults",
    "serve",
]


def serve(
    port: int = 0,
    catalog_out: str | Path | None = None,
    seed: int = 0,
    speed: float = 1.0,
    frozen: bool = False,
    n_sources: int = 3,
    hosts: Iterable[str] | None = None,
    latency: float = 0.0,
    faults: Mapping[str, str] | Iterable[str] | None = None,
    *,
    start: datetime | None = None,
    flicker: float = 0.0,
    behaviour: str = "plain",
    families: Mapping[str, int] | None = None,
    municipalities: int = 0,
    sites_out: str | Path | None = None,
    disallow: Iterable[str] = (),
    stop: threading.Event | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Serve a simulated world until Ctrl-C or SIGTERM (or ``stop`` is set).

    Without ``hosts`` every family gets its own loopback address (127.0.0.1, .2, ...), so a
    sweep keeps each family's politeness on its own lane, as it does against real sites.
    ``municipalities`` websites (127.0.2.1, ...) on the same port link to the sources;
    ``disallow`` names sources whose host's robots.txt disallows them.
    """
    say = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    world = SimWorld(
        seed=seed,
        n_sources=n_sources,
        start=start,
        speed=speed,
        frozen=frozen,
        flicker=flicker,
        behaviour=behaviour,
        families=dict(families) if families else None,
    )
    disallow = list(disallow)
    unknown = [sid for sid in disallow if sid not in world.sources]
    if unknown:
        raise ValueError(f"--disallow names unknown source(s): {', '.join(unknown)}")
    if not 0 <= municipalities <= 250:
        raise ValueError("--municipalities must be between 0 and 250")
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        assignment = None
        if hosts is None:
            assignment = family_hosts(world)
            hosts = tuple(dict.fromkeys(assignment.values())) or ("127.0.0.1",)
        with ExitStack() as stack:
            srv = stack.enter_context(
                SimServer(
                    world,
                    hosts=hosts,
                    port=port,
                    latency=latency,
                    faults=faults,
                    assignment=assignment,
                )
            )
            for sid in disallow:
                srv.disallow(sid)
            if catalog_out:
                say(f"catalog written to {srv.write_catalog(catalog_out)}")
            sites = None
            if municipalities:
                sites = stack.enter_context(
                    SiteServer(
                        build_sites(town_bookings(srv.sources()), municipalities, seed),
                        port=urlsplit(srv.urls[0]).port or 0,
                    )
                )
                srv.internal["__sites__"] = lambda _query: sites.truth()
                if sites_out:
                    say(f"sites written to {sites.write_sites(sites_out)}")
            n_loc = sum(len(s.locations) for s in world.sources.values())
            kinds = ", ".join(sorted({s.family for s in world.sources.values()}))
            say(f"simulating {len(world.sources)} sources ({kinds}), {n_loc} locations")
            for url in srv.urls:
                say(f"  serving {url}  (ground truth: {url}/__truth__)")
            if sites is not None:
                first, last = sites.urls[0], sites.urls[-1]
                say(f"  {municipalities} municipal sites {first} .. {last}  (truth: /__sites__)")
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            say("simulator stopped")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
