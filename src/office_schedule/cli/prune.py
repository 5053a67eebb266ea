"""The ``prune`` command: remove snapshots by source, time and status (dry run by default)."""

from __future__ import annotations

import click

from ..catalog import split_patterns
from ..store import open_store
from . import db_option, main


@main.command("prune")
@db_option
@click.option("-i", "--include", multiple=True, help="Source id wildcards, comma-separated.")
@click.option("-e", "--exclude", multiple=True, help="Source id wildcards, comma-separated.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option(
    "--before", "date_before", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last."
)
@click.option("--errors", is_flag=True, help="Only error snapshots (status error).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["ok", "unchanged", "error", "disallowed"]),
    help="Only snapshots of this status (repeatable).",
)
@click.option("--imported", is_flag=True, help="Also imported snapshots (week segments).")
@click.option("--yes", is_flag=True, help="Delete; without it only the counts are printed.")
def prune_cmd(db, include, exclude, date_from, date_before, errors, statuses, imported, yes):
    """Remove snapshots of the selected sources, days and statuses, in one transaction.

    Later snapshots keep exactly the state they had: the slot sets of a removed snapshot
    that later ones depend on move forward to the next remaining snapshot.
    """
    from ..store.prune import Selection, plan, prune

    statuses = tuple(statuses) + (("error",) if errors else ())
    if not (include or exclude or date_from or date_before or statuses):
        raise click.UsageError(
            "say what to prune: -i/-e sources, --from/--before days, --errors or --status"
        )
    sel = Selection(
        include=split_patterns(include),
        exclude=split_patterns(exclude),
        start=date_from.strftime("%Y-%m-%d") if date_from else "",
        end=date_before.strftime("%Y-%m-%d") if date_before else "~",
        statuses=tuple(dict.fromkeys(statuses)),
        imported=imported,
    )
    with open_store(db, create=False) as store:
        if yes:
            store.acquire_lock()
            result = prune(store, sel)
        else:
            result = plan(store, sel)
    touched = sorted(set(result.scraped) | set(result.imported))
    for sid in touched:
        counts = result.scraped.get(sid, {})
        parts = [
            f"{counts[s]} {s}" for s in ("ok", "unchanged", "error", "disallowed") if s in counts
        ]
        if result.imported.get(sid):
            parts.append(f"{result.imported[sid]} imported")
        click.echo(f"{sid}: {', '.join(parts)}")
    verb = "deleted" if yes else "would delete"
    click.echo(f"{verb} {result.total()} snapshots of {len(touched)} sources")
    if not yes and result.total():
        click.echo("dry run: pass --yes to delete")
