"""The ``serve`` command: the read-only web dashboard over the store."""

from __future__ import annotations

import click

from ..analysis.health import Thresholds
from ..catalog import load_catalog
from ..store import open_store, resolve_db
from . import db_option, main
from .health import threshold_options


@main.command()
@db_option
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra catalog CSV for source names and cities (repeatable).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--root-path",
    default="",
    metavar="PREFIX",
    help="URL prefix under which a reverse proxy publishes the dashboard (e.g. "
    "/office-schedule); the proxy strips it before passing requests on.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Store reader threads (each holds one read-only connection).",
)
@threshold_options
def serve(db, catalogs, host, port, root_path, threads, failing_after, degraded_after):
    """A read-only web dashboard: sources and health, free slots, appointments and
    cancellations per hour, lead times, the city comparison, and JSON endpoints (/api)."""
    import uvicorn

    from ..serve import create_app

    db = resolve_db(db)
    with open_store(db, create=False, readonly=True) as store:  # a missing store fails here
        where = store.path  # a URL without its password
    root_path = "/" + root_path.strip("/") if root_path.strip("/") else ""
    th = Thresholds(failing_after=failing_after, degraded_after=degraded_after)
    app = create_app(db, load_catalog(catalogs), th, threads=threads, warm=True)
    click.echo(f"serving {where} on http://{host}:{port}{root_path}/ (Ctrl-C stops)", err=True)
    uvicorn.run(app, host=host, port=port, root_path=root_path, log_level="info")
