"""The code base stays ruff-clean and its modules stay small."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import ROOT

MAX_MODULE_LINES = 600


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args):
    result = subprocess.run(
        ["ruff", *args, "src", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small():
    for path in (ROOT / "src" / "office_schedule").rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
