"""A static HTML page (no scripts, no external assets) with charts and tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

import polars as pl

WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1060px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.5em 0 1.5em; } img { max-width: 100%; height: auto; }
figcaption { font-size: 0.8em; color: #555; }
"""


def _cell(value: object) -> tuple[str, bool]:
    """Text of a table cell and whether it is a number."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, float):
        return ("" if math.isnan(value) else f"{value:,.2f}"), True
    if isinstance(value, int):
        return f"{value:,}", True
    return str(value), False


def table(frame: pl.DataFrame, caption: str = "") -> str:
    """``frame`` as an HTML table, every text escaped."""
    if "weekday" in frame.columns and frame.schema["weekday"].is_integer():
        frame = frame.with_columns(pl.col("weekday").replace_strict(WEEKDAYS, default="?"))
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        cells = []
        for value in row:
            text, num = _cell(value)
            cells.append(
                f'<td class="num">{escape(text)}</td>' if num else f"<td>{escape(text)}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    body = "\n".join(rows) if rows else f'<tr><td colspan="{frame.width}">no rows</td></tr>'
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def figure(files: Sequence[str], caption: str, folder: str = "charts") -> str:
    """The PNG of a chart linking to its SVG; ``files`` are its file names in ``folder``."""
    links = {f.rsplit(".", 1)[-1]: f"{folder}/{quote(f)}" for f in files}
    png, svg = escape(links["png"]), escape(links["svg"])
    cap = escape(caption)
    return (
        f'<figure><a href="{svg}"><img src="{png}" alt="{cap}" width="1000" height="320"></a>'
        f'<figcaption>{cap} (<a href="{svg}">SVG</a>, <a href="{png}">PNG</a>)</figcaption>'
        "</figure>"
    )


def page(title: str, intro: str, sections: Sequence[tuple[str, Sequence[str]]]) -> str:
    """The whole document; ``sections`` are (heading, HTML blocks) pairs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><p>{escape(intro)}</p>",
    ]
    toc = "".join(
        f'<li><a href="#s{i}">{escape(heading)}</a></li>' for i, (heading, _) in enumerate(sections)
    )
    parts.append(f"<ul>{toc}</ul>")
    for i, (heading, blocks) in enumerate(sections):
        parts.append(f'<h2 id="s{i}">{escape(heading)}</h2>')
        parts.extend(blocks)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def subheading(text: str) -> str:
    """An escaped third-level heading."""
    return f"<h3>{escape(text)}</h3>"


__all__ = ["figure", "page", "subheading", "table"]
