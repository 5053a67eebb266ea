"""``office-schedule watch``: alerts for newly free slots (add, list, remove, check)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable

import click
from rich.markup import escape
from rich.table import Table

from ..catalog import Source, load_catalog
from ..clock import local_from_ts
from ..report.notify import Notifier, NotifyError, redact
from ..store import Store, open_store
from ..store.sql import TIME_FORMAT
from ..watch import Announcement, Rule, RuleError, Watcher, load_watches
from . import console, db_option, dumps, err_console, format_option, main


def _announced(found: Announcement, echo) -> None:
    n = len(found.slots)
    first = min(s for _, s in found.slots).strftime("%a %Y-%m-%d %H:%M")
    echo(f"{found.watch.label}: {n} newly free slot{'s' if n != 1 else ''} at "
         f"{found.source_id} (earliest {first})")  # fmt: skip


def make_watcher(store: Store, sources: Iterable[Source] = ()) -> Watcher:
    """The watcher of snapshot/run: announcements and problems go to stderr."""

    def tell(found: Announcement) -> None:
        _announced(found, lambda text: err_console.print(escape(text), highlight=False))

    def loud(text: str) -> None:
        err_console.print(escape(text), style="bold red", highlight=False)

    return Watcher(store, sources, on_announce=tell, notice=loud)


@main.group()
def watch() -> None:
    """Alerts for newly free slots that match a stored watch.

    'run' and 'snapshot' evaluate the watches after each stored snapshot; 'watch check'
    does it for cron. Each newly free matching slot is told once; the slots of one
    snapshot come as one message with the office's booking URL.
    """


@watch.command("add")
@db_option
@click.option(
    "--source",
    "-i",
    "sources",
    multiple=True,
    help="Wildcards on source id or name (repeatable, comma-separated).",
)
@click.option("--location", "locations", multiple=True, help="Wildcards on location id or name.")
@click.option(
    "--service", "services", multiple=True, help="Wildcards on the services a location offers."
)
@click.option("--from-date", type=click.DateTime(["%Y-%m-%d"]), help="First day of the slot.")
@click.option("--until-date", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the slot.")
@click.option(
    "--weekday",
    "weekdays",
    multiple=True,
    metavar="DAY",
    help="Mon..Sun or 1-7 (1 = Monday), ranges like Mon-Fri (repeatable).",
)
@click.option(
    "--between",
    multiple=True,
    metavar="HH:MM-HH:MM",
    help="The slot starts in this time of day, end excluded (repeatable).",
)
@click.option(
    "--notify",
    "notify_urls",
    multiple=True,
    metavar="URL",
    help="Apprise URL told of each newly free slot (repeatable; mailto://, "
    "ntfy://, tgram://, json://, ...).",
)
@click.option("--name", default="", help="A label shown in list and in the messages.")
@format_option("text", "json", default="text")
def add(db, sources, locations, services, from_date, until_date, weekdays, between,
        notify_urls, name, fmt):  # fmt: skip
    """Store a watch. Wildcards ignore case; the filters of one kind are alternatives."""
    try:
        rule = Rule.from_options(
            sources, locations, services,
            from_date.date() if from_date else None, until_date.date() if until_date else None,
            weekdays, between,
        )  # fmt: skip
    except RuleError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        Notifier(notify_urls)
    except NotifyError as exc:
        raise click.BadParameter(str(exc), param_hint="--notify") from None
    now = time.time()
    with open_store(db) as store:
        watch_id = store.add_watch(
            name, rule.to_json(), list(notify_urls), local_from_ts(now).strftime(TIME_FORMAT), now
        )
    if fmt == "json":
        click.echo(dumps({"id": watch_id, "name": name, "rule": rule.to_json()}))
        return
    targets = ", ".join(redact(u) for u in notify_urls) or "no notification URL: output only"
    click.echo(f"watch {watch_id} added: {rule.describe()} -> {targets}")


@watch.command("list")
@db_option
@format_option("table", "json")
def list_cmd(db, fmt) -> None:
    """The stored watches, what they announced and what waits for delivery."""
    with open_store(db, create=False, readonly=True) as store:
        rows = store.watches()
        where = store.path
    for row in rows:
        row["notify"] = [redact(u) for u in row["notify"]]  # URLs carry tokens
        row["describe"] = Rule.from_json(row["rule"]).describe()
    if fmt == "json":
        click.echo(dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} watches in {where}")
    for col in ("id", "name", "matches", "notify", "since", "messages", "undelivered"):
        table.add_column(col, overflow="fold")
    for r in rows:
        undelivered = str(r["undelivered"])
        if r["undelivered"]:
            undelivered = f"[red]{undelivered}[/]\n{escape(r['last_error'] or '')}"
        table.add_row(str(r["id"]), escape(r["name"]), escape(r["describe"]),
                      escape("\n".join(r["notify"]) or "-"), r["created_at"],
                      str(r["delivered"]), undelivered)  # fmt: skip
    console.print(table)


@watch.command("remove")
@db_option
@click.argument("watch_ids", nargs=-1, type=int, required=True)
def remove(db, watch_ids) -> None:
    """Remove watches by id (with what they remembered and any undelivered message)."""
    with open_store(db, create=False) as store:
        missing = [i for i in watch_ids if not store.remove_watch(i)]
        where = store.path
    for i in watch_ids:
        if i not in missing:
            click.echo(f"watch {i} removed")
    if missing:
        raise click.UsageError(
            f"no watch {', '.join(map(str, missing))} in {where} (see 'office-schedule watch list')"
        )


@watch.command("check")
@db_option
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False),
              help="Extra catalog CSV (names and booking URLs of its sources).")  # fmt: skip
def check(db, catalogs) -> None:
    """Evaluate the watches against the latest stored snapshots and send what waits.

    For cron, after 'snapshot': every newly free matching slot is printed and sent once,
    undelivered messages are retried now. Exits 1 while a message stays undelivered.
    """
    catalog = load_catalog(catalogs)
    with open_store(db, create=False) as store:
        if not load_watches(store):
            click.echo(f"no watch in {store.path} (add one with 'office-schedule watch add')")
            return
        watcher = Watcher(
            store, catalog, on_announce=lambda found: _announced(found, click.echo),
            notice=lambda text: err_console.print(escape(text), style="bold red",
                                                  highlight=False),
        )  # fmt: skip
        found = [a for sid in store.source_ids() for a in watcher.evaluate(sid)]
        sent = asyncio.run(watcher.deliver(force=True))
        left = len(store.watch_messages(undelivered=True))
    click.echo(
        f"{len(found)} announcements, {sent} messages delivered, {left} undelivered", err=True
    )
    if left or watcher.failed:
        sys.exit(1)
