"""The ``office-schedule`` command: a thin click layer over the library.

Commands live in submodules by topic (sources and sweeps, data exchange and analysis,
simulator); this module holds the group and the options they share.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from .. import __version__
from ..catalog import Source, load_catalog, select_sources
from ..errors import OfficeScheduleError

console = Console()
err_console = Console(stderr=True)


# -- shared options ------------------------------------------------------------------------


def db_option(f: Callable) -> Callable:
    return click.option(
        "--db",
        envvar="OFFICE_SCHEDULE_DB",
        default="office-schedule.db",
        show_default=True,
        help="Store: a SQLite file, or a postgresql://user@host/db URL to share one "
        "store between recorders and analysts (or set OFFICE_SCHEDULE_DB).",
    )(f)


def catalog_options(f: Callable) -> Callable:
    options = [
        click.option(
            "--catalog",
            "catalogs",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="Extra catalog CSV adding or overriding sources (repeatable).",
        ),
        click.option(
            "-i", "--include", multiple=True, help="Wildcards on id or name, comma-separated."
        ),
        click.option(
            "-e", "--exclude", multiple=True, help="Wildcards on id or name, comma-separated."
        ),
        click.option(
            "-t", "--family", "families", multiple=True, help="Family wildcards (tevis, ...)."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def format_option(*choices: str, default: str = "table") -> Callable:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def _select(catalogs, include, exclude, families, *, require: bool = True) -> list[Source]:
    catalog = load_catalog(catalogs)
    selected = select_sources(catalog, include, exclude, families)
    if require and not selected:
        raise click.UsageError(
            "the selection is empty: no enabled source matches "
            f"--include {list(include) or '*'} --exclude {list(exclude) or '-'} "
            f"--family {list(families) or '*'} (see 'office-schedule list')"
        )
    return selected


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(obj: Any, **kw: Any) -> str:
    """JSON that is JSON: NaN and infinities become null (``allow_nan=False`` guards)."""
    kw.setdefault("ensure_ascii", False)
    return json.dumps(_finite(obj), allow_nan=False, **kw)


class Main(click.Group):
    """Turn the project's own errors into one clear line and an exit code.

    2: the command could not start (usage, input, a store missing, locked or too new);
    1: it ran and failed (an error with ``exit_code = 1``, e.g. a failed store write).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OfficeScheduleError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(getattr(exc, "exit_code", 2))


@click.group(cls=Main)
@click.version_option(__version__, prog_name="office-schedule")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Record the free appointment slots of German public offices."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


from . import copy, data, discover, health, pages, prune, scrape, serve, simulator, watch  # noqa: E402,F401  (registers the commands)

__all__ = ["main"]
