"""Commands about sources and snapshots: list, snapshot, run, status, show, reparse."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..catalog import Source, load_catalog, select_sources, stale_sources
from ..clock import local_now
from ..errors import StoreError
from ..families import get_family, parse_checked, resolve_politeness
from ..fetch import Fetcher, Politeness
from ..fetch.robots import RobotsCache
from ..leasing import DEFAULT_TTL, HostLeases
from ..store import Store, open_store
from ..sweep import (
    DEFAULT_WEEKS,
    LEASED,
    REJECTED,
    SKIPPED,
    UNSTORED,
    SweepResult,
    run_forever,
    run_plan,
    run_sweep,
)
from . import (
    _select,
    catalog_options,
    console,
    db_option,
    err_console,
    format_option,
    main,
)
from .health import make_monitor, notify_option
from .watch import make_watcher

# -- list ----------------------------------------------------------------------------------


def _short_url(url: str) -> tuple[str, str]:
    """The reference README's link text: no scheme, a final '?'/file part shortened."""
    short = url.split("://", 1)[-1]
    parts = url.split("/")
    last = parts[-1]
    if "?" in last or ("." in last and len(parts) > 3):
        return "/".join(short.split("/")[:-1]) + "/...", url
    if not url.endswith("/"):
        return short + "/", url + "/"
    return short, url


STANDARD_FAMILIES = ("tevis", "netappoint", "etermin", "tempus")


def _markdown_table(sources: list[Source]) -> str:
    """The table of the reference README: name, scraper, url; padded pipe table by name."""
    rows = []
    for s in sorted(sources, key=lambda s: s.name):
        short, full = _short_url(s.index_url)
        family = s.family if s.family in STANDARD_FAMILIES else "custom"
        rows.append((s.name, family, f"[{short}]({full})"))
    header = ("name", "scraper", "url")
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(3)]

    def line(cells) -> str:
        return "|" + "|".join(f" {c.ljust(w)} " for c, w in zip(cells, widths, strict=True)) + "|"

    rule = "|" + "|".join(":" + "-" * (w + 1) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


@main.command("list")
@catalog_options
@click.option("--all", "show_all", is_flag=True, help="Also disabled and needs-include sources.")
@click.option(
    "--stale",
    is_flag=True,
    help="Only sources whose evidence (seen) is older than a year; implies --all.",
)
@format_option("table", "markdown", "csv", "json")
def list_cmd(catalogs, include, exclude, families, show_all, stale, fmt) -> None:
    """List the sources of the catalog."""
    if show_all or stale:
        catalog = load_catalog(catalogs)
        sources = select_sources(catalog, include, exclude, families, everything=True)
    else:
        sources = _select(catalogs, include, exclude, families, require=False)
    if stale:
        sources = stale_sources(sources, local_now().date())
    if fmt == "markdown":
        click.echo(_markdown_table(sources))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(sources[0].as_row()) if sources else ["id"])
        writer.writeheader()
        for s in sources:
            writer.writerow(s.as_row())
        click.echo(out.getvalue(), nl=False)
    elif fmt == "json":
        click.echo(json.dumps([s.as_row() | {"params": s.params} for s in sources], indent=2))
    else:
        title = f"{len(sources)} {'stale ' if stale else ''}sources"
        table = Table(title=title)
        reasons = {s.id: disabled_reason(s) for s in sources if not s.enabled}
        columns = ["id", "name", "family", "url", "enabled", "every", "seen / evidence"]
        for col in columns + (["why disabled"] if reasons else []):
            table.add_column(col, overflow="fold")
        for s in sources:
            enabled = "yes" if s.enabled else "[red]no[/]"
            if s.needs_include:
                enabled += " (include)"
            row = [s.id, s.name, s.family, s.index_url, enabled, f"{s.interval_minutes:g} min"]
            evidence = f"\n[dim]{escape(s.evidence)}[/]" if s.evidence else ""
            row.append(f"{s.seen or '-'}{evidence}")
            table.add_row(*row, *([reasons.get(s.id, "")] if reasons else []))
        console.print(table)


def disabled_reason(source: Source) -> str:
    """Why a source is not recorded: its reason, else its note, else its family's refusal."""
    if source.reason:
        return source.reason
    refusal = get_family(source.family).refusal
    return source.note or (f"refused: {refusal}" if refusal else "disabled")


# -- snapshot / run ------------------------------------------------------------------------


def politeness_options(f: Callable) -> Callable:
    defaults = Politeness()
    options = [
        click.option(
            "-w",
            "--weeks",
            default=DEFAULT_WEEKS,
            show_default=True,
            type=click.IntRange(min=1),
            help="Weeks to look ahead.",
        ),
        click.option(
            "--per-host",
            default=defaults.per_host_concurrency,
            show_default=True,
            type=click.IntRange(min=1),
            help="Requests in flight per host.",
        ),
        click.option(
            "--gap",
            default=defaults.min_gap,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Seconds between requests on one host lane.",
        ),
        click.option(
            "--timeout",
            default=defaults.timeout,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds per request.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _fetcher(
    sources: list[Source], per_host: int, gap: float, timeout: float, store: Store
) -> Fetcher:
    """The shared client: the defaults, the families' own per-host values, explicit flags."""
    ctx = click.get_current_context()
    given = {"per_host_concurrency": ("per_host", per_host), "min_gap": ("gap", gap),
             "timeout": ("timeout", timeout)}  # fmt: skip
    overrides = {
        field: value
        for field, (param, value) in given.items()
        if ctx.get_parameter_source(param) is not click.core.ParameterSource.DEFAULT
    }
    base, per_host_values = resolve_politeness(sources, overrides)
    return Fetcher(base, host_overrides=per_host_values, robots=RobotsCache(store))


def _summary_table(results: list[SweepResult]) -> Table:
    table = Table(title="sweep summary")
    for col, justify in (
        ("source", "left"),
        ("status", "left"),
        ("locations", "right"),
        ("slots", "right"),
        ("requests", "right"),
        ("seconds", "right"),
        ("error", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")
    colors = {"ok": "green", "unchanged": "cyan", "error": "red", "disallowed": "blue",
              UNSTORED: "bold red", REJECTED: "red", SKIPPED: "dim", LEASED: "dim"}  # fmt: skip
    for r in sorted(results, key=lambda r: r.source_id):
        table.add_row(
            r.source_id,
            f"[{colors[r.status]}]{r.status}[/]",
            str(r.locations),
            str(r.slots),
            str(r.requests),
            f"{r.seconds:.1f}",
            escape((r.store_error or r.error or "") + (f" ({r.error_url})" if r.error_url else "")),
        )
    return table


def _loud(text: str) -> None:
    err_console.print(escape(text), style="bold red", highlight=False)


def _observe(monitor, source_id: str) -> None:
    try:
        monitor.observe(source_id)
    except StoreError as exc:
        _loud(f"health of {source_id} not recorded: {exc}")


async def _deliver(monitor) -> None:
    try:
        await monitor.deliver()
    except StoreError as exc:
        _loud(f"notifications not recorded: {exc}")


def lease_option(f: Callable) -> Callable:
    return click.option(
        "--lease",
        default=DEFAULT_TTL,
        show_default=True,
        type=click.FloatRange(min=1),
        help="Seconds a recorder's hold on a host lasts unrenewed (shared stores): a "
        "recorder that dies gives its hosts up after this.",
    )(f)


def _leases(store: Store, sources: list[Source], ttl: float, share: bool) -> HostLeases | None:
    """Host leases on a shared store (PostgreSQL); a SQLite file has one recorder."""
    if not store.shared:
        return None
    return HostLeases(store, [s.host for s in sources], ttl=ttl, share=share, notice=_loud)


@main.command()
@catalog_options
@db_option
@politeness_options
@notify_option
@lease_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def snapshot(
    catalogs, include, exclude, families, db, weeks, per_host, gap, timeout,
    notify_urls, failing_after, degraded_after, lease, quiet,
):  # fmt: skip
    """Scrape the selected sources once and store their snapshots."""
    sources = _select(catalogs, include, exclude, families)
    with open_store(db) as store:
        store.acquire_lock(shared=True)
        leases = _leases(store, sources, lease, share=False)
        fetcher = _fetcher(sources, per_host, gap, timeout, store)
        monitor = make_monitor(store, notify_urls, failing_after, degraded_after)
        watcher = make_watcher(store, sources)
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
        )

        async def go() -> list[SweepResult]:
            async with fetcher:
                with progress:
                    task = progress.add_task("snapshot", total=len(sources))

                    def done(result: SweepResult) -> None:
                        progress.update(task, advance=1, description=result.source_id)
                        if result.status not in (UNSTORED, REJECTED, SKIPPED, LEASED):
                            _observe(monitor, result.source_id)
                            watcher.observe(result.source_id)

                    results = await run_sweep(
                        sources, store, fetcher, weeks, on_result=done, notice=_loud,
                        leases=leases,
                    )  # fmt: skip
            await _deliver(monitor)
            await watcher.deliver()
            return results

        try:
            results = asyncio.run(go())
        finally:
            if leases is not None:
                leases.close()
    if not quiet:
        console.print(_summary_table(results))
    unstored = sorted(r.source_id for r in results if r.status == UNSTORED)
    skipped = sum(r.status == SKIPPED for r in results)
    leased = sorted(r.source_id for r in results if r.status == LEASED)
    if leased:
        click.echo(
            f"{len(leased)} sources left to the recorders that hold their hosts: "
            + ", ".join(leased[:10]) + (" ..." if len(leased) > 10 else ""),
            err=True,
        )  # fmt: skip
        results = [r for r in results if r.status != LEASED]
    failed = sum(r.status in ("error", REJECTED) for r in results)
    if unstored or skipped:
        cause = next(r.store_error for r in results if r.store_error)
        kept = len(results) - len(unstored) - skipped
        _loud(f"the sweep stopped: {cause}")
        click.echo(
            f"{len(results)} sources: {kept} stored ({failed} of them errors), "
            f"{len(unstored)} scraped but not stored ({', '.join(unstored) or '-'}), "
            f"{skipped} not started",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{len(results)} sources: {len(results) - failed} stored, {failed} failed", err=True)
    if results and failed == len(results):
        _loud(f"every source failed ({failed} of {failed}): see 'office-schedule status'")
        sys.exit(1)


@main.command()
@catalog_options
@db_option
@politeness_options
@notify_option
@lease_option
def run(
    catalogs, include, exclude, families, db, weeks, per_host, gap, timeout,
    notify_urls, failing_after, degraded_after, lease,
):  # fmt: skip
    """Snapshot the selected sources forever, each on its own interval (Ctrl-C stops).

    On a PostgreSQL store several recorders (on several machines) share the work by host.
    """
    sources = _select(catalogs, include, exclude, families)
    with open_store(db) as store:
        store.acquire_lock(shared=True)
        leases = _leases(store, sources, lease, share=True)
        fetcher = _fetcher(sources, per_host, gap, timeout, store)
        monitor = make_monitor(store, notify_urls, failing_after, degraded_after)
        watcher = make_watcher(store, sources)
        deliveries: set[asyncio.Task] = set()

        def report(r: SweepResult) -> None:
            if r.status == UNSTORED:
                _loud(f"{r.source_id}: scraped but NOT STORED, kept in memory")
                return
            if r.status == REJECTED:
                _loud(f"{r.source_id}: {r.store_error}")
                return
            line = f"{r.source_id}: {r.status} {r.locations} locations {r.slots} slots"
            err_console.print(
                line + (f" [red]{escape(r.error)}[/]" if r.error else ""), highlight=False
            )
            _observe(monitor, r.source_id)
            watcher.observe(r.source_id)  # starts sending what it announces
            if monitor.notifier and monitor.pending and not deliveries:
                task = asyncio.get_running_loop().create_task(_deliver(monitor))
                deliveries.add(task)
                task.add_done_callback(deliveries.discard)

        async def go() -> int:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            for line in run_plan(sources, time.time()):
                err_console.print(line, highlight=False)
            err_console.print(
                f"running {len(sources)} sources into {store.path}; Ctrl-C or SIGTERM stops",
                highlight=False,
            )
            if leases is not None:
                err_console.print(
                    f"recorder {leases.worker} shares the hosts with the other recorders of "
                    f"this store (lease {lease:g} s)",
                    highlight=False,
                )
            async with fetcher:
                stored = await run_forever(
                    sources, store, fetcher, stop, weeks, on_result=report, notice=_loud,
                    leases=leases,
                )  # fmt: skip
            await asyncio.gather(*deliveries, return_exceptions=True)
            await _deliver(monitor)
            await watcher.deliver()
            return stored

        try:
            stored = asyncio.run(go())
        finally:
            if leases is not None:
                leases.close()
    err_console.print(f"stopped after {stored} snapshots")


# -- show / reparse ---------------------------------------------------------------


@main.command()
@click.argument("source_id")
@db_option
@format_option("table", "json")
@click.option("--times", is_flag=True, help="List every free time instead of counts.")
def show(source_id, db, fmt, times):
    """Show the latest stored snapshot of SOURCE_ID as a calendar."""
    with open_store(db, create=False, readonly=True) as store:
        latest = store.latest_state(source_id)
        if latest is None:
            known = ", ".join(sorted(store.source_ids())[:20]) or "none"
            raise click.ClickException(
                f"no stored snapshot of {source_id!r} in {store.path} (sources stored: {known})"
            )
        taken_at, snap_status, state = latest
    if fmt == "json":
        click.echo(json.dumps(state.to_truth(), indent=2, ensure_ascii=False))
        return
    days: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for loc in state.locations.values():
        for slot in loc.slots:
            days[slot.strftime("%a %Y-%m-%d")][loc.id].append(slot.strftime("%H:%M"))
    table = Table(title=f"{source_id} at {taken_at} ({snap_status}, {state.slot_count} free slots)")
    table.add_column("day")
    for loc in state.locations.values():
        table.add_column(f"{loc.id}\n{loc.name or ''}", overflow="fold")
    for day in sorted(days, key=lambda d: d[4:]):
        cells = []
        for loc_id in state.locations:
            slots = days[day].get(loc_id, [])
            if not slots:
                cells.append("")
            elif times:
                cells.append(" ".join(slots))
            else:
                cells.append(f"{len(slots)}  {slots[0]}–{slots[-1]}")
        table.add_row(day, *cells)
    console.print(table)


@main.command()
@catalog_options
@db_option
def reparse(catalogs, include, exclude, families, db):
    """Re-run the parsers over the stored raw payloads (after a parser fix)."""
    catalog = load_catalog(catalogs)
    with open_store(db, create=False) as store:
        store.acquire_lock()
        stored = set(store.source_ids())
        chosen = [
            s
            for s in select_sources(catalog, include or ["*"], exclude, families)
            if s.id in stored
        ]
        if not chosen:
            raise click.UsageError("no stored source matches the selection")
        for source in chosen:
            counts = reparse_source(store, source)
            click.echo(f"{source.id}: {counts['parsed']} parsed, {counts['failed']} failed")


def reparse_source(store: Store, source: Source) -> dict[str, int]:
    return store.reparse(source.id, lambda raw: parse_checked(source.family, raw))
