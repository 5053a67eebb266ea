"""Exchange with the office-schedule-data layout: weekly CSV tar.gz files and metadata.json."""

from .exporter import export_weeks
from .importer import import_paths
from .parquet import export_parquet
from .reader import WeekData
from .weekfile import WeekFileError, read_week_csv, write_week_csv

__all__ = [
    "WeekData",
    "WeekFileError",
    "export_parquet",
    "export_weeks",
    "import_paths",
    "read_week_csv",
    "write_week_csv",
]
