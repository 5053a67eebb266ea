"""Load the shipped catalog (plus user catalogs that add or override entries) and select sources.

A catalog is a CSV with the columns ``id, name, family, index_url, params, verify_certificate,
needs_include, enabled, note, evidence, seen, reason, robots`` and ``interval_minutes``; only
``id`` and ``family`` are required, so older files still load. ``params`` holds the family
parameters as ``key=value`` pairs separated by ``;``. ``evidence`` names where the URL was
seen, ``seen`` its date (``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``), ``reason`` why a row is
disabled, ``robots`` is empty or ``allowed-by-operator``. The built-in catalog must give
evidence and seen for every row and a reason for every disabled one.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date
from importlib import resources
from pathlib import Path

from ..errors import CatalogError
from ..families import validate_source
from ..model import DEFAULT_INTERVAL_MINUTES, Source

COLUMNS = (
    "id",
    "name",
    "family",
    "index_url",
    "params",
    "verify_certificate",
    "needs_include",
    "enabled",
    "note",
    "evidence",
    "seen",
    "reason",
    "robots",
)
ROBOTS_VALUES = ("", "allowed-by-operator")
_SEEN = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_TRUE = {"yes", "true", "1", "y", "on"}
_FALSE = {"no", "false", "0", "n", "off", ""}


def parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise CatalogError(f"parameter {part!r} is not key=value")
        params[key.strip()] = value.strip()
    return params


def seen_start(seen: str) -> date:
    """The first day a ``seen`` value can mean (``2025-03`` -> 2025-03-01); ValueError if bad."""
    match = _SEEN.fullmatch(seen.strip())
    if not match:
        raise ValueError(f"seen {seen!r} is not YYYY-MM-DD, YYYY-MM or YYYY")
    year, month, day = (int(x) if x else 1 for x in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"seen {seen!r} is not a real date") from None


def _evidence_fields(row: dict, builtin: bool, enabled: bool) -> dict[str, str]:
    """The evidence columns of a row, checked; ValueError says what is wrong."""
    fields = {k: (row.get(k) or "").strip() for k in ("evidence", "seen", "reason", "robots")}
    if fields["seen"]:
        seen_start(fields["seen"])
    if fields["robots"] not in ROBOTS_VALUES:
        raise ValueError(f"robots must be empty or 'allowed-by-operator', got {fields['robots']!r}")
    if fields["robots"] and not (row.get("note") or "").strip():
        raise ValueError("robots=allowed-by-operator needs a note saying who granted it")
    if builtin:
        missing = [k for k in ("evidence", "seen") if not fields[k]]
        if not enabled and not fields["reason"]:
            missing.append("reason (the row is disabled)")
        if missing:
            raise ValueError(f"a built-in row needs {', '.join(missing)}")
    return fields


def _flag(value: str | None, column: str, where: str, default: bool) -> bool:
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return default if v == "" else False
    raise CatalogError(f"{where}: column {column!r} must be yes/no, got {value!r}")


def read_catalog_csv(text: str, origin: str, builtin: bool = False) -> list[Source]:
    """Parse catalog CSV text; ``origin`` names the file in error messages.

    ``builtin`` also demands evidence and seen on every row and a reason on disabled ones.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = {"id", "family"} - set(reader.fieldnames or ())
    if missing:
        raise CatalogError(f"{origin}: missing column(s) {', '.join(sorted(missing))}")
    sources = []
    lines: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        where = f"{origin}, line {line_no}"
        source_id = (row.get("id") or "").strip()
        if not source_id:
            raise CatalogError(f"{where}: empty id")
        if source_id in lines:
            raise CatalogError(f"{where}: id {source_id!r} already on line {lines[source_id]}")
        lines[source_id] = line_no
        try:
            params = parse_params(row.get("params") or "")
            interval = float(row.get("interval_minutes") or DEFAULT_INTERVAL_MINUTES)
        except (CatalogError, ValueError) as exc:
            raise CatalogError(f"{where} ({source_id}): {exc}") from None
        if interval <= 0:
            raise CatalogError(f"{where} ({source_id}): interval_minutes must be positive")
        index_url = (row.get("index_url") or "").strip() or params.get("base_url", "")
        enabled = _flag(row.get("enabled"), "enabled", where, True)
        try:
            evidence = _evidence_fields(row, builtin, enabled)
        except ValueError as exc:
            raise CatalogError(f"{where} ({source_id}): {exc}") from None
        source = Source(
            id=source_id,
            name=(row.get("name") or source_id).strip(),
            family=(row.get("family") or "").strip(),
            index_url=index_url,
            params=params,
            verify_tls=_flag(row.get("verify_certificate"), "verify_certificate", where, True),
            needs_include=_flag(row.get("needs_include"), "needs_include", where, False),
            enabled=enabled,
            note=(row.get("note") or "").strip(),
            interval_minutes=interval,
            **evidence,
        )
        try:
            validate_source(source)
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        sources.append(source)
    return sources


def builtin_catalog_text() -> str:
    return resources.files(__package__).joinpath("sources.csv").read_text(encoding="utf-8")


def load_catalog(extra_files: Iterable[str | Path] = ()) -> dict[str, Source]:
    """The shipped catalog, then each extra file adding or overriding entries by id."""
    sources = {s.id: s for s in read_catalog_csv(builtin_catalog_text(), "built-in catalog", True)}
    for path in extra_files:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read catalog file {path}: {exc.strerror}") from None
        for source in read_catalog_csv(text, str(path)):
            sources[source.id] = source
    return dict(sorted(sources.items()))


def stale_sources(sources: Iterable[Source], today: date) -> list[Source]:
    """Sources whose evidence (``seen``, from its first day) is older than a year, or absent."""
    try:
        cutoff = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        cutoff = today.replace(year=today.year - 1, day=28)
    return [s for s in sources if not s.seen or seen_start(s.seen) < cutoff]


def split_patterns(patterns: Sequence[str] | None) -> list[str]:
    """``("a*,b", "c")`` -> ``["a*", "b", "c"]``: the values of repeatable wildcard options."""
    out: list[str] = []
    for p in patterns or ():
        out.extend(x.strip() for x in p.split(",") if x.strip())
    return out


def _matches(source: Source, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(source.id, p) or fnmatch.fnmatchcase(source.name, p) for p in patterns
    )


def select_sources(
    catalog: dict[str, Source],
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    everything: bool = False,
) -> list[Source]:
    """Select like the reference: wildcards on id or name, and on family.

    Sources marked ``needs_include`` or disabled are only taken when an include pattern
    or family names them explicitly (a pattern without wildcards equal to the id, or a
    family filter for needs-include sources). ``everything`` ignores both flags.
    """
    inc, exc, fam = split_patterns(include), split_patterns(exclude), split_patterns(families)
    selected = []
    for source in catalog.values():
        if exc and _matches(source, exc):
            continue
        if inc and not _matches(source, inc):
            continue
        if fam and not any(fnmatch.fnmatchcase(source.family, p) for p in fam):
            continue
        if everything:
            selected.append(source)
            continue
        explicitly_named = source.id in inc
        if not source.enabled and not explicitly_named:
            continue
        if source.needs_include and not (inc or fam):
            continue
        selected.append(source)
    return selected
