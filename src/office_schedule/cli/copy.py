"""The ``copy`` command: move a store's data into another store (e.g. SQLite into PostgreSQL)."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from ..catalog import split_patterns
from . import console, err_console, main


@main.command("copy")
@click.option(
    "--from",
    "src",
    required=True,
    metavar="DB",
    help="Store to copy from: a SQLite file or a postgresql:// URL (only read).",
)
@click.option(
    "--to",
    "dest",
    required=True,
    metavar="DB",
    help="Store to copy into: a SQLite file or a postgresql:// URL (created when missing).",
)
@click.option("-i", "--include", multiple=True, help="Source id wildcards, comma-separated.")
@click.option("-e", "--exclude", multiple=True, help="Source id wildcards, comma-separated.")
def copy_cmd(src, dest, include, exclude):
    """Copy snapshots, imported weeks, metadata, robots.txt reads and health into another store.

    Idempotent: what the destination has is skipped, so a second run changes nothing and a
    later one appends what was recorded since. A source whose new snapshots would fall
    before the destination's latest one (two recordings interleaved) is refused and the
    command exits 1; the other sources are still copied. Recorder leases and watches are
    not copied.
    """
    from ..store.copy import TABLES, copy_store

    summary = copy_store(src, dest, split_patterns(include), split_patterns(exclude))
    n = len(summary.sources)
    table = Table(title=f"copy {summary.source} -> {summary.dest}: {n} source{'s' * (n != 1)}")
    for col in ("table", "copied", "merged", "skipped"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name in TABLES:
        counts = summary.counts[name]
        table.add_row(name, *(str(counts[k]) for k in ("copied", "merged", "skipped")))
    console.print(table)
    if summary.watches_left:
        err_console.print(
            f"{summary.watches_left} watches of {summary.source} are not copied: add them again "
            "with 'office-schedule watch add --db ...' on the destination",
            highlight=False,
            soft_wrap=True,
        )
    for message in summary.refused.values():
        err_console.print(f"[red]refused[/]: {message}", highlight=False, soft_wrap=True)
    if summary.refused:
        sys.exit(1)
