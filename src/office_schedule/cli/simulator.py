"""The simulator command: simulated offices and booking-system servers on localhost."""

from __future__ import annotations

import sys

import click

from ..simulate.behaviour import BEHAVIOURS
from . import main

# -- simulate ------------------------------------------------------------------------------


@main.group()
def simulate() -> None:
    """Simulated offices and booking-system servers on localhost."""


@simulate.command("serve")
@click.option(
    "--port",
    default=8800,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 picks a free one).",
)
@click.option(
    "--catalog-out",
    type=click.Path(dir_okay=False),
    default="catalog-sim.csv",
    show_default=True,
    help="Where to write the catalog of the simulated sources.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per second.",
)
@click.option("--frozen", is_flag=True, help="Nothing changes while serving.")
@click.option(
    "--sources",
    "n_sources",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sources per family.",
)
@click.option(
    "--family",
    "sim_families",
    multiple=True,
    help="Simulate only these families (repeatable; default: every simulated family).",
)
@click.option(
    "--hosts",
    default=0,
    show_default=True,
    help="Spread the sources over loopback addresses 127.0.0.1..N (0: one address per family).",
)
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds before each answer.",
)
@click.option(
    "--flicker",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of slots hidden per tick.",
)
@click.option(
    "--behaviour",
    type=click.Choice(BEHAVIOURS),
    default="plain",
    show_default=True,
    help="Office habits: booking cutoffs and block releases (realistic: as measured in 2021).",
)
@click.option(
    "--fault",
    multiple=True,
    help="SOURCE=MODE (repeatable): down, 500, slow, empty (nothing free), changed (a new "
    "portal no reader knows) or a family's own mode (garbage, expired, ...). While serving: "
    "GET /__fault__?source=SOURCE&mode=MODE (empty mode clears).",
)
@click.option(
    "--municipalities",
    default=0,
    show_default=True,
    help="Also serve N municipal websites (127.0.2.1..N, same port) linking to the sources; "
    "GET /__sites__ lists the booking systems each links to.",
)
@click.option(
    "--sites-out",
    type=click.Path(dir_okay=False),
    default="sites-sim.csv",
    show_default=True,
    help="Where to write the sites (name,url) when --municipalities is above 0.",
)
@click.option(
    "--disallow",
    multiple=True,
    metavar="SOURCE",
    help="Disallow this source in its host's robots.txt (repeatable).",
)
def simulate_serve(
    port,
    catalog_out,
    seed,
    speed,
    frozen,
    n_sources,
    sim_families,
    hosts,
    latency,
    flicker,
    behaviour,
    fault,
    municipalities,
    sites_out,
    disallow,
):
    """Serve simulated offices until Ctrl-C; GET /__truth__ returns the published slots.

    With --municipalities N also N municipal websites whose pages link to or embed the
    booking systems (one with two systems, one whose robots.txt disallows everything, one
    with a dead link, one without any); GET /__sites__ returns what each links to.
    """
    from ..simulate import PortInUseError, parse_faults, serve
    from ..simulate.families import FAMILY_SERVERS

    chosen = list(sim_families) or list(FAMILY_SERVERS)
    unknown = [f for f in chosen if f not in FAMILY_SERVERS]
    if unknown:
        raise click.BadParameter(
            f"no simulator for {', '.join(unknown)} (have: {', '.join(FAMILY_SERVERS)})",
            param_hint="--family",
        )
    if not 0 <= hosts <= 250:
        raise click.BadParameter("must be between 0 and 250", param_hint="--hosts")
    if not 0 <= municipalities <= 250:
        raise click.BadParameter("must be between 0 and 250", param_hint="--municipalities")
    try:
        faults = parse_faults(list(fault))
        serve(
            port=port,
            catalog_out=catalog_out,
            seed=seed,
            speed=speed,
            frozen=frozen,
            n_sources=n_sources,
            hosts=tuple(f"127.0.0.{i}" for i in range(1, hosts + 1)) or None,
            latency=latency,
            flicker=flicker,
            behaviour=behaviour,
            faults=faults,
            families={family: n_sources for family in chosen},
            municipalities=municipalities,
            sites_out=sites_out if municipalities else None,
            disallow=disallow,
        )
    except PortInUseError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
