"""``office-schedule read-page``: what a saved page of a booking system shows."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from rich.table import Table

from ..errors import ScrapeError
from ..families import FAMILIES, read_page
from ..families.pages import PageView
from . import console, err_console, format_option, main

_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def decode_page(data: bytes) -> str:
    """Saved page bytes -> text: UTF-8 (with or without BOM), else the declared charset."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(data[:4096])
    if match:
        try:
            return data.decode(match.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("cp1252", errors="replace")


def _short(items: list[str], limit: int = 12) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", … ({len(items)} in all)"


def _table(file: str, view: PageView) -> Table:
    table = Table(title=f"{file}: {view.page}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("reader", view.reader)
    if view.error:
        table.add_row("error", view.error)
    if view.marker:
        table.add_row("nothing free", view.marker)
    if view.choices:
        table.add_row("choices", _short([f"{i}: {n}" for i, n in view.choices], 20))
    if view.offices:
        table.add_row(
            "offices",
            "\n".join(
                f"{o.id}: {o.name or '-'}" + (f" (next {o.earliest})" if o.earliest else "")
                for o in view.offices
            ),
        )
    if view.days:
        table.add_row("days", _short(view.days))
    if view.slots or view.page == "times":
        table.add_row("slots", f"{len(view.slots)}: {_short(view.slots)}")
    return table


@main.command("read-page")
@click.argument("family", type=click.Choice(sorted(FAMILIES)))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@format_option("table", "json")
def read_page_cmd(family: str, files: tuple[str, ...], fmt: str) -> None:
    """Read saved pages (HTML or JSON as the site sent them) the way a sweep would.

    Prints which step of the family's flow each page is and what it shows: bookable days,
    free slots, the offices of a chooser, the site's error message. A page the reader does
    not recognise is reported on stderr and makes the exit code 1.
    """
    views: list[tuple[str, PageView]] = []
    failed = 0
    for file in files:
        text = decode_page(Path(file).read_bytes())
        try:
            views.append((file, read_page(family, text, url=None)))
        except ScrapeError as exc:
            failed += 1
            err_console.print(f"[red]{file}[/red]: {exc}", highlight=False)
    if fmt == "json":
        payload = [view.as_json(file) for file, view in views]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for file, view in views:
            console.print(_table(file, view))
    if failed:
        sys.exit(1)
