"""The offices as data: every known source, shipped as a CSV in the package."""

from .catalog import (
    Source,
    load_catalog,
    parse_params,
    seen_start,
    select_sources,
    split_patterns,
    stale_sources,
)

__all__ = [
    "Source",
    "load_catalog",
    "parse_params",
    "seen_start",
    "select_sources",
    "split_patterns",
    "stale_sources",
]
