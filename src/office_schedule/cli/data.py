"""Commands about data exchange and analysis: export, import, metrics."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from ..catalog import load_catalog, split_patterns
from ..store import Store, open_store
from . import catalog_options, db_option, dumps, main

# -- exchange ------------------------------------------------------------------------------


def _stored_sources(store: Store, catalogs, include, exclude, families) -> dict:
    """Stored sources matching the filters: {id: family}, plus catalog metadata fields."""
    import fnmatch

    from ..exchange.metadata import scraper_name

    catalog = load_catalog(catalogs)
    known: dict[str, tuple[str, str | None]] = {}
    for sid, (name, scraper, _url) in store.source_metadata().items():
        known[sid] = (name or sid, scraper)
    for sid in store.source_ids():
        known.setdefault(sid, (sid, None))
    chosen, fields = {}, {}
    inc, exc, fam = split_patterns(include), split_patterns(exclude), split_patterns(families)
    for sid, (name, scraper) in sorted(known.items()):
        source = catalog.get(sid)
        family = source.family if source else scraper
        names = (sid, source.name if source else name)
        if inc and not any(fnmatch.fnmatchcase(n, p) for n in names for p in inc):
            continue
        if exc and any(fnmatch.fnmatchcase(n, p) for n in names for p in exc):
            continue
        if fam and not any(fnmatch.fnmatchcase(family or "", p) for p in fam):
            continue
        chosen[sid] = family
        if source:
            fields[sid] = (source.name, scraper_name(source.family), source.index_url)
    if not chosen:
        raise click.UsageError("no stored source matches the selection")
    return {"sources": chosen, "fields": fields}


def _range(date_from, date_to) -> tuple[str, str]:
    """The ``taken_at`` bounds of ``--from``/``--to``."""
    start = date_from.strftime("%Y-%m-%d") if date_from else ""
    return start, date_to.strftime("%Y-%m-%d") if date_to else "9999"


def range_options(f):
    """``--from DAY`` (first day) and ``--to DAY`` (the day after the last)."""
    f = click.option(
        "--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last."
    )(f)
    return click.option(
        "--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="First day."
    )(f)


@main.command("export")
@catalog_options
@db_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@range_options
@click.option(
    "--incomplete",
    is_flag=True,
    help="Also write the current, unfinished week (marked YEAR-WW.partial, rewritten later).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="csv: the office-schedule-data layout; parquet: OUT/week=YYYY-WW/source_id=ID/.",
)
def export_cmd(
    catalogs, include, exclude, families, db, out_dir, date_from, date_to, incomplete, fmt
):
    """Write weekly office-schedule-data files (OUT/raw/YEAR/YEAR-WW.tar.gz, metadata.json)."""
    from ..exchange import export_parquet, export_weeks

    with open_store(db, create=False, readonly=True) as store:
        chosen = _stored_sources(store, catalogs, include, exclude, families)
        if fmt == "parquet":
            written = export_parquet(
                store,
                out_dir,
                chosen["sources"],
                date_from.date() if date_from else None,
                date_to.date() if date_to else None,
                catalog_fields=chosen["fields"],
            )
            click.echo(f"{len(written.partitions)} partitions, {written.rows} rows in {out_dir}")
            return
        result = export_weeks(
            store,
            out_dir,
            chosen["sources"],
            date_from.date() if date_from else None,
            date_to.date() if date_to else None,
            incomplete=incomplete,
            catalog_fields=chosen["fields"],
        )
    for week in result.weeks_written:
        note = " (partial: the week is not over, a later export rewrites it)"
        click.echo(
            f"wrote {out_dir}/raw/{week[:4]}/{week}.tar.gz"
            + (note if week in result.weeks_partial else "")
        )
    for week in result.weeks_skipped:
        click.echo(f"kept existing {week} (finished weeks are never rewritten)")
    click.echo(f"{len(result.weeks_written)} weeks, {result.files} files, {result.rows} rows")


@main.command("import")
@db_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def import_cmd(db, paths):
    """Import published week files (.tar.gz or a folder of CSVs) and metadata.json."""
    from ..exchange import import_paths

    with open_store(db) as store:
        store.acquire_lock(shared=True)  # imports add weeks beside the recorders
        for result in import_paths(store, list(paths)):
            click.echo(
                f"{result.path}: {result.snapshots} snapshots of {result.sources} sources "
                f"imported, {result.skipped} already present"
            )


@main.command("metrics")
@catalog_options
@db_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@range_options
def metrics_cmd(catalogs, include, exclude, families, db, out_dir, date_from, date_to):
    """Write the published weekly metrics (OUT/metrics/YEAR/YEAR-WW.tar.gz), exactly.

    The weeks of the range are computed as one run: the counting state carries from week to
    week, as in the published dataset, starting empty at --from.
    """
    from ..analysis import write_metrics_weeks

    with open_store(db, create=False, readonly=True) as store:
        chosen = _stored_sources(store, catalogs, include, exclude, families)
        paths = write_metrics_weeks(
            store,
            out_dir,
            chosen["sources"],
            date_from.date() if date_from else None,
            date_to.date() if date_to else None,
        )
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"{len(paths)} weeks")


@main.command("insights")
@catalog_options
@db_option
@range_options
@click.option(
    "--by",
    type=click.Choice(["source", "location", "city"]),
    default="source",
    show_default=True,
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option(
    "--cutoffs",
    is_flag=True,
    help="Only the booking cutoffs learned per location (kind, value, since, how sure).",
)
def insights_cmd(catalogs, include, exclude, families, db, date_from, date_to, by, fmt, cutoffs):
    """Appointments, cancellations, lead times and busy hours per source, location or city.

    Appointments exclude slots that expired at the office's booking cutoff (see --cutoffs).
    """
    import polars as pl

    from ..analysis import insights, store_cutoffs

    catalog = load_catalog(catalogs)
    start, end = _range(date_from, date_to)
    with open_store(db, create=False, readonly=True) as store:
        chosen = _stored_sources(store, catalogs, include, exclude, families)
        if cutoffs:
            tables = {"cutoffs": store_cutoffs(store, list(chosen["sources"]), start, end)}
        else:
            tables = insights(store, catalog, list(chosen["sources"]), start=start, end=end, by=by)
    if fmt == "json":
        click.echo(dumps({k: v.to_dicts() for k, v in tables.items()}, default=str))
    elif fmt == "csv":
        for name, frame in tables.items():
            click.echo(f"# {name}")
            click.echo(frame.write_csv(), nl=False)
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=160):
            for name, frame in tables.items():
                click.echo(f"\n{name}")
                click.echo(frame)


@main.command("events")
@catalog_options
@db_option
@range_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="File (default stdout).")
@click.option(
    "--rule",
    type=click.Choice(["ours", "reference"]),
    default="ours",
    show_default=True,
    help="ours: the event rules of the README; reference: the published dataset's rule.",
)
def events_cmd(catalogs, include, exclude, families, db, date_from, date_to, fmt, out_file, rule):
    """Every event of the stored snapshots, for analysts.

    Columns source_id, location_id, detected, slot, lead_minutes, kind; kind is booked,
    cancelled, expired (withdrawn at the office's booking cutoff) or released.
    """
    import sys

    from ..analysis import store_events

    if fmt == "parquet" and not out_file:
        raise click.UsageError("--format parquet needs --out FILE")
    start, end = _range(date_from, date_to)
    with open_store(db, create=False, readonly=True) as store:
        chosen = _stored_sources(store, catalogs, include, exclude, families)
        ev = store_events(store, list(chosen["sources"]), start, end, rule=rule)
    ev = ev.rename({"event": "kind"}).sort("source_id", "location_id", "detected", "slot")
    if fmt == "parquet":
        ev.write_parquet(out_file)
    else:
        text = ev.write_csv() if fmt == "csv" else ev.write_json()
        if out_file:
            Path(out_file).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if out_file:
        click.echo(f"wrote {ev.height} events to {out_file}", err=True)


@main.command("report")
@catalog_options
@db_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@range_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown on a terminal).")
def report_cmd(catalogs, include, exclude, families, db, out_dir, date_from, date_to, quiet):
    """Write a static report: PNG/SVG charts and OUT/index.html with the insight tables."""
    from ..report import write_report

    catalog = load_catalog(catalogs)
    with open_store(db, create=False, readonly=True) as store:
        chosen = _stored_sources(store, catalogs, include, exclude, families)
        with _report_progress(quiet) as progress:
            index = write_report(
                store,
                catalog,
                list(chosen["sources"]),
                out_dir,
                start=date_from.strftime("%Y-%m-%d") if date_from else "",
                end=date_to.strftime("%Y-%m-%d") if date_to else "9999",
                progress=progress,
            )
    click.echo(f"wrote {index}")


@contextmanager
def _report_progress(quiet: bool):
    """A rich progress bar on stderr (a task per phase), or None off a terminal or quiet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from . import err_console

    if quiet or not err_console.is_terminal:
        yield None
        return
    # no refresh thread: the chart workers are forked while it would run
    bar = Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        console=err_console,
        auto_refresh=False,
    )
    tasks: dict[str, int] = {}
    labels = {"read": "reading", "charts": "charts"}

    def update(phase: str, done: int, total: int, item: str) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(labels.get(phase, phase), total=total, item=item)
        bar.update(tasks[phase], completed=done, total=total, item=item, refresh=True)

    with bar:
        yield update
