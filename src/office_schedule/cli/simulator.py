"""The simulator command: simulated offices and booking-system servers on localhost."""

from __future__ import annotations

import click

from ..simulate.behaviour import BEHAVIOURS
from . import main

# -- simulate ------------------------------------------------------------------------------


@main.group()
def simulate() -> None:
    """Simulated offices and booking-system servers on localhost."""


@simulate.command("serve")
@click.option("--port", default=8800, show_default=True, help="Port (0 picks a free one).")
@click.option(
    "--catalog-out",
    type=click.Path(dir_okay=False),
    default="catalog-sim.csv",
    show_default=True,
    help="Where to write the catalog of the simulated sources.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--speed", default=1.0, show_default=True, help="Simulated seconds per second.")
@click.option("--frozen", is_flag=True, help="Nothing changes while serving.")
@click.option("--sources", "n_sources", default=2, show_default=True, help="Sources per family.")
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
@click.option("--latency", default=0.0, show_default=True, help="Seconds before each answer.")
@click.option("--flicker", default=0.0, show_default=True, help="Share of slots hidden per tick.")
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
    help="SOURCE=MODE, MODE one of down, 500, slow, garbage, truncated, dberror.",
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
):
    """Serve simulated offices until Ctrl-C; GET /__truth__ returns the published slots."""
    from ..simulate import parse_faults, serve
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
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
