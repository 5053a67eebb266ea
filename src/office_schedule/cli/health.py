"""Commands about the state of the recorded sources: status and health."""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Callable

import click
from rich.table import Table

from ..analysis.health import Health, Thresholds
from ..catalog import split_patterns
from ..clock import local_from_ts
from ..monitor import HealthMonitor, source_health
from ..report.notify import Notifier, NotifyError
from ..store import Store, open_store
from . import console, db_option, dumps, err_console, format_option, main

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STATE_COLORS = {
    "ok": "green",
    "degraded": "yellow",
    "changed": "magenta",
    "failing": "red",
    "blocked": "red",
    "disallowed": "blue",
    "unknown": "dim",
}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``2d`` or plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 1h or 2d")
    return float(match[1]) * _UNITS[match[2] or "s"]


def _duration(ctx, param, value):
    return parse_duration(value)


def threshold_options(f: Callable) -> Callable:
    defaults = Thresholds()
    options = [
        click.option(
            "--failing-after",
            default=f"{defaults.failing_after / 3600:g}h",
            show_default=True,
            callback=_duration,
            help="Errors on every snapshot for this long make a source failing/changed.",
        ),
        click.option(
            "--degraded-after",
            default=f"{defaults.degraded_after / 3600:g}h",
            show_default=True,
            callback=_duration,
            help="Zero free slots (after a period with slots) for this long: degraded.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def notify_option(f: Callable) -> Callable:
    f = click.option(
        "--notify",
        "notify_urls",
        multiple=True,
        metavar="URL",
        help="Apprise URL told of every health change (repeatable; mailto://, ntfy://, ...).",
    )(f)
    return threshold_options(f)


def make_monitor(store: Store, notify_urls, failing_after, degraded_after):
    """The health monitor of snapshot/run, logging each change to stderr."""
    try:
        notifier = Notifier(notify_urls) if notify_urls else None
    except NotifyError as exc:
        raise click.BadParameter(str(exc), param_hint="--notify") from None
    th = Thresholds(failing_after=failing_after, degraded_after=degraded_after)

    def log_change(health: Health, old: str | None) -> None:
        color = STATE_COLORS.get(health.state, "white")
        err_console.print(
            f"health: {health.source_id} {old or 'new'} -> [{color}]{health.state}[/]"
            + (f" ({health.detail})" if health.detail else ""),
            highlight=False,
        )

    return HealthMonitor(store, th, notifier, on_change=log_change)


def _healths(store: Store, th: Thresholds, include, exclude) -> list[Health]:
    inc, exc = split_patterns(include), split_patterns(exclude)
    out = []
    for sid in sorted(store.recorded_source_ids()):
        if inc and not any(fnmatch.fnmatchcase(sid, p) for p in inc):
            continue
        if any(fnmatch.fnmatchcase(sid, p) for p in exc):
            continue
        out.append(source_health(store, sid, th))
    return out


def selection_options(f: Callable) -> Callable:
    f = click.option("-e", "--exclude", multiple=True, help="Wildcards on source ids.")(f)
    return click.option("-i", "--include", multiple=True, help="Wildcards on source ids.")(f)


@main.command()
@db_option
@selection_options
@threshold_options
@click.option("--problems", is_flag=True, help="Only sources whose health is not ok.")
@click.option("--leases", "show_leases", is_flag=True,
              help="Only the hosts each recorder holds now (shared stores).")  # fmt: skip
@format_option("table", "json")
def status(db, include, exclude, failing_after, degraded_after, problems, show_leases, fmt):
    """Per source: health and since when, snapshots, errors, last good, last error; then
    which recorder holds which host."""
    th = Thresholds(failing_after=failing_after, degraded_after=degraded_after)
    with open_store(db, create=False, readonly=True) as store:
        leases = store.leases()
        if show_leases:
            _print_leases(leases, store.path, fmt)
            return
        rows = store.status_summary()
        healths = {h.source_id: h for h in _healths(store, th, include, exclude)}
        where = store.path  # a URL without its password
    selected = [r for r in rows if r["source_id"] in healths or not (include or exclude)]
    for r in selected:
        h = healths.get(r["source_id"])
        r["health"] = h.state if h else "imported"
        r["health_since"] = h.since if h else None
        r["health_detail"] = h.detail if h else ""
        r["last_good"] = h.last_good if h else r["last_ok"]
    if problems:
        selected = [r for r in selected if r["health"] not in ("ok", "imported")]
    if fmt == "json":
        click.echo(dumps(selected, indent=2))
        return
    table = Table(title=f"{len(selected)} sources in {where}")
    for col in ("source", "health", "since", "snapshots", "errors", "last good", "last error"):
        table.add_column(col, overflow="fold")
    for r in selected:
        color = STATE_COLORS.get(r["health"], "white")
        health = f"[{color}]{r['health']}[/]" + (
            f"\n{r['health_detail']}" if r["health_detail"] else ""
        )
        err = f"{r['last_error_at']} {r['last_error']}" if r["last_error"] else ""
        table.add_row(
            r["source_id"],
            health,
            r["health_since"] or "-",
            str(r["snapshots"]),
            f"[red]{r['errors']}[/]" if r["errors"] else "0",
            r["last_good"] or "-",
            err,
        )
    console.print(table)
    if leases:
        _print_leases(leases, where, fmt)


def _print_leases(leases: list[dict], where: object, fmt: str) -> None:
    if fmt == "json":
        click.echo(dumps(leases, indent=2))
        return
    workers = len({lease["worker"] for lease in leases})
    table = Table(title=f"{len(leases)} hosts held by {workers} recorders in {where}")
    for col in ("host", "recorder", "since", "lease left"):
        table.add_column(col, overflow="fold")
    for lease in leases:
        since = local_from_ts(lease["since_ts"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(lease["host"], lease["worker"], since, f"{lease['expires_in']:.0f} s")
    console.print(table)


@main.command()
@db_option
@selection_options
@threshold_options
@format_option("table", "json")
def health(db, include, exclude, failing_after, degraded_after, fmt):
    """Exit 1 when any selected recorded source is not ok (for cron and monitoring)."""
    th = Thresholds(failing_after=failing_after, degraded_after=degraded_after)
    with open_store(db, create=False, readonly=True) as store:
        healths = _healths(store, th, include, exclude)
        where = store.path
    if not healths:
        raise click.UsageError(f"no recorded source in {where} matches the selection")
    bad = [h for h in healths if not h.ok]
    if fmt == "json":
        click.echo(dumps([h.as_json() for h in healths], indent=2))
    else:
        for h in bad:
            click.echo(
                f"{h.source_id}: {h.state} since {h.since}" + (f": {h.detail}" if h.detail else "")
            )
        click.echo(f"{len(healths)} sources: {len(healths) - len(bad)} ok, {len(bad)} not ok")
    sys.exit(1 if bad else 0)
