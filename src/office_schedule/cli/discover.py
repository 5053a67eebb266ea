"""The discover command: find booking systems on municipal websites, propose catalog rows."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..clock import local_now
from ..discover import CrawlLimits, SiteResult, crawl_site, proposed_rows, read_sites, write_rows
from ..fetch import Fetcher, Politeness
from ..fetch.robots import RobotsCache
from ..store import open_store
from . import console, err_console, main

#: politeness of a crawl: one request at a time per host, at least a second apart
CRAWL_POLITENESS = Politeness(per_host_concurrency=1, min_gap=1.0, attempts=2, timeout=15.0)
SITES_AT_ONCE = 8


@main.command()
@click.argument("sites", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the proposed rows (CSV).")
@click.option("--depth", default=3, show_default=True, help="Clicks from a site's start page.")
@click.option("--pages", default=30, show_default=True, help="Page budget per site.")
@click.option(
    "--gap",
    default=CRAWL_POLITENESS.min_gap,
    show_default=True,
    help="Seconds between requests to one host (robots.txt Crawl-delay may ask for more).",
)
@click.option(
    "--db",
    envvar="OFFICE_SCHEDULE_DB",
    default=None,
    help="Store whose robots.txt cache to use and fill (default: none, read afresh).",
)
def discover(sites, out, depth, pages, gap, db):
    """Find the booking systems that SITES link to and propose catalog rows.

    SITES are municipal website URLs or CSV files with the columns name,url. Pages are
    read politely (robots.txt honoured, one request per second and host, same-site pages
    only); each booking page found is opened once to confirm it and read its parameters.
    """
    if depth < 0 or pages < 1 or gap < 0:
        raise click.UsageError("--depth must be >= 0, --pages >= 1 and --gap >= 0")
    chosen = read_sites(sites)
    limits = CrawlLimits(pages=pages, depth=depth)
    store = open_store(db) if db else None
    try:
        results = asyncio.run(_crawl_all(chosen, limits, gap, store))
    finally:
        if store is not None:
            store.close()
    rows = proposed_rows(results, local_now().date())
    text = write_rows(rows, out)
    console.print(_summary(results))
    for r in results:
        if r.error:
            err_console.print(f"[red]{r.url}[/]: could not be read: {r.error}", highlight=False)
        for c in r.candidates:
            if c.problem:
                err_console.print(f"{r.url}: {c.url}: {c.problem}", highlight=False)
    if out:
        err_console.print(f"{len(rows)} proposed rows written to {out}")
    else:
        click.echo(text, nl=False)


async def _crawl_all(sites, limits: CrawlLimits, gap: float, store) -> list[SiteResult]:
    politeness = replace(CRAWL_POLITENESS, min_gap=gap)
    robots = RobotsCache(store)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        console=err_console,
    )
    gate = asyncio.Semaphore(SITES_AT_ONCE)
    async with Fetcher(politeness, robots=robots) as fetcher:

        async def one(site) -> SiteResult:
            async with gate:
                task = progress.add_task(site.name, total=limits.pages)

                def page(_url: str) -> None:
                    progress.advance(task)

                result = await crawl_site(site.name, site.url, fetcher, limits, on_page=page)
                progress.update(task, total=result.pages_read or 1, completed=result.pages_read)
                return result

        with progress:
            return list(await asyncio.gather(*(one(s) for s in sites)))


def _summary(results: list[SiteResult]) -> Table:
    table = Table(title=f"discover: {len(results)} sites")
    for col, justify in (("site", "left"), ("pages read", "right"), ("systems found", "left"),
                         ("unknown booking-like links", "right"), ("problem", "left")):  # fmt: skip
        table.add_column(col, justify=justify, overflow="fold")
    for r in results:
        systems = ", ".join(sorted({c.family for c in r.systems if c.family})) or "-"
        table.add_row(
            f"{r.name}\n{r.url}",
            str(r.pages_read),
            systems,
            str(len(r.unknown)),
            r.error or "",
        )
    total_pages = sum(r.pages_read for r in results)
    total_systems = sum(len(r.systems) for r in results)
    table.caption = f"{total_pages} pages read, {total_systems} booking systems confirmed"
    return table
