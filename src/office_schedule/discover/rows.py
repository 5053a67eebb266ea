"""The sites to crawl, and the catalog rows proposed from what was found on them."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..catalog.catalog import COLUMNS, read_catalog_csv
from ..errors import CatalogError
from ..families import FAMILIES, validate_source
from ..model import Source
from .crawler import SiteResult


@dataclass(frozen=True)
class Site:
    name: str
    url: str


def read_sites(args: Sequence[str]) -> list[Site]:
    """Each argument is a site URL or a CSV file with the columns ``name,url``."""
    sites: list[Site] = []
    for arg in args:
        if re.match(r"https?://", arg, re.IGNORECASE):
            sites.append(Site(_host_name(arg), arg))
            continue
        path = Path(arg)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CatalogError(
                f"{arg} is neither an http(s) URL nor a readable CSV file ({exc.strerror})"
            ) from None
        reader = csv.DictReader(io.StringIO(text))
        if "url" not in (reader.fieldnames or ()):
            raise CatalogError(f"{path}: needs a header with the columns name,url")
        for line_no, row in enumerate(reader, start=2):
            url = (row.get("url") or "").strip()
            if not re.match(r"https?://", url, re.IGNORECASE):
                raise CatalogError(f"{path}, line {line_no}: {url!r} is not an http(s) URL")
            sites.append(Site((row.get("name") or "").strip() or _host_name(url), url))
    return list(dict.fromkeys(sites))


def _host_name(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url, flags=re.IGNORECASE).split("/")[0]


def slug(text: str) -> str:
    text = text.replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"^(stadt|gemeinde|landkreis|kreis|markt)\s+", "", text.lower().strip())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "site"


def proposed_rows(results: Iterable[SiteResult], today: date) -> list[dict[str, str]]:
    """One catalog row per distinct booking system found (the first page that links it
    is the evidence), valid for ``--catalog``; a system whose required parameters no page
    gave gets no row, its candidate says why."""
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    ids: set[str] = set()
    for result in results:
        for c in result.candidates:
            if c.family is None or c.index_url is None:
                continue
            family = FAMILIES[c.family]
            key = (c.family, c.index_url, repr(sorted(c.params.items())))
            if key in seen:
                continue
            seen.add(key)
            base = f"{slug(result.name)}-{c.family}"
            source_id, n = base, 1
            while source_id in ids:
                n += 1
                source_id = f"{base}-{n}"
            ids.add(source_id)
            reason = ""
            if family.refusal:
                reason = f"refused: {family.refusal}"
            elif c.problem:
                reason = c.problem
            elif family.disabled_by_default:
                reason = f"{family.name} sources are disabled by default (see the family notes)"
            source = Source(
                id=source_id,
                name=result.name,
                family=c.family,
                index_url=c.index_url,
                params=c.params,
                enabled=not reason,
                note="proposed by office-schedule discover; check before enabling"
                if not reason
                else "proposed by office-schedule discover",
                evidence=f"discover: {c.found_on}",
                seen=today.isoformat(),
                reason=reason,
            )
            try:
                validate_source(source)
            except CatalogError as exc:  # e.g. a required id that no page carries
                c.problem = f"found, but no catalog row: {exc}"
                continue
            rows.append(source.as_row())
    return rows


def write_rows(rows: list[dict[str, str]], path: str | Path | None = None) -> str:
    """The rows as catalog CSV (checked by the catalog reader); written to ``path`` if given."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COLUMNS, "interval_minutes"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue()
    read_catalog_csv(text, "proposed rows")  # what discover writes, --catalog must accept
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
