"""Shared fixtures: stores in temporary folders, the shared real data when present.

``OFFICE_SCHEDULE_SHARED`` names another folder for ``../shared`` (e.g. ``/nonexistent`` to
check that everything that needs it skips cleanly).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from office_schedule.catalog import load_catalog
from office_schedule.store import SQLiteStore

from . import stores, weekslices

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OFFICE_SCHEDULE_SHARED") or ROOT.parent / "shared")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore(tmp_path / "test.db") as s:
        yield s


@pytest.fixture(params=stores.BACKENDS)
def backend(request) -> str:
    """Each backend in turn: "sqlite" or "postgresql" (a throwaway server)."""
    if request.param == "postgresql":
        stores.pg_server()
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> str:
    """A ``--db`` value of a new, empty store of each backend."""
    return stores.db_for(backend, tmp_path)


@pytest.fixture
def any_store(db_url: str):
    """A new store of each backend."""
    with stores.open_store(db_url) as s:
        yield s


def pytest_sessionfinish(session, exitstatus):
    stores.stop_server()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def real_slice(shared_dir: Path, tmp_path_factory) -> Path:
    """Folder of the four-source slice of the real week 2021-28 (``weekslices.SLICE_ROWS``)
    and their metadata.json, cut from ../shared once per session."""
    raw = weekslices.dataset(shared_dir) / "raw"
    cuts = weekslices.real_cuts(raw / "2021" / f"{weekslices.WEEK}.tar.gz")
    files = {sid: cuts[sid] for sid in weekslices.SLICE_ROWS}
    assert {s: len(weekslices.csv_rows(d)) - 1 for s, d in files.items()} == weekslices.SLICE_ROWS
    meta = weekslices.real_metadata(raw / "metadata.json", files)
    return weekslices.write_folder(tmp_path_factory.mktemp("real") / weekslices.WEEK, files, meta)


@pytest.fixture(scope="session")
def synthetic_slice(tmp_path_factory) -> Path:
    """Folder of a drawn week 2021-28 of the same four sources, in the published format."""
    files = weekslices.synthetic_week()
    meta = weekslices.synthetic_metadata(load_catalog())
    return weekslices.write_folder(tmp_path_factory.mktemp("synth") / weekslices.WEEK, files, meta)


@pytest.fixture(params=["synthetic", "real"])
def week_slice(request) -> Path:
    """The synthetic slice, then the real one (skipped without ../shared)."""
    return request.getfixturevalue(f"{request.param}_slice")


@pytest.fixture(scope="session")
def real_metrics_slice(shared_dir: Path, tmp_path_factory) -> tuple[Path, dict]:
    """Monday of 2021-28 of ``weekslices.METRICS_SOURCES`` (a folder of CSVs) and the
    published metrics cells of those locations and buckets."""
    base = weekslices.dataset(shared_dir)
    cuts = weekslices.real_cuts(base / "raw" / "2021" / f"{weekslices.WEEK}.tar.gz")
    files = {sid: cuts[sid] for sid in weekslices.METRICS_SOURCES}
    folder = weekslices.write_folder(tmp_path_factory.mktemp("metrics") / "raw", files)
    cells = weekslices.real_metrics_cells(base / "metrics" / "2021" / f"{weekslices.WEEK}.tar.gz")
    return folder, cells
