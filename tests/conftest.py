"""Shared fixtures: stores in temporary folders, the shared real data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from office_schedule.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore(tmp_path / "test.db") as s:
        yield s


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
