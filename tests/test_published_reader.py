"""Acceptance: the published dataset's own reader works unchanged on our export.

The reader (``src/data.py`` of office-schedule-data, with its tests ``src/tests/test_data*.py``)
is not ours to copy, so this test runs it from a checkout named by the environment variable
``OFFICE_SCHEDULE_DATA_REPO`` (a git checkout or a folder holding ``src/``). Its tests run
twice — on the published week 2021-28 and on our import + export of it — and must pass and
fail identically. Skipped when the checkout, ``../shared`` or pandas/tqdm are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from office_schedule.cli import main

CANDIDATES = [
    os.environ.get("OFFICE_SCHEDULE_DATA_REPO", ""),
    "/work/.mirror/defgsus+office-schedule-data/repo",
]


def _reader_source(tmp: Path) -> Path | None:
    for candidate in filter(None, CANDIDATES):
        path = Path(candidate)
        if (path / "src" / "data.py").is_file():
            shutil.copytree(path / "src", tmp / "src")
            return tmp
        if (path / "HEAD").is_file() or (path / ".git").exists():
            archive = subprocess.run(
                ["git", "--git-dir", str(path if (path / "HEAD").is_file() else path / ".git"),
                 "archive", "HEAD", "src"],
                capture_output=True,
            )  # fmt: skip
            if archive.returncode == 0:
                tmp.mkdir(parents=True, exist_ok=True)
                subprocess.run(["tar", "x", "-C", str(tmp)], input=archive.stdout, check=True)
                return tmp
    return None


def _outcomes(repo: Path, raw: Path) -> dict[str, str]:
    shutil.rmtree(repo / "raw", ignore_errors=True)
    shutil.copytree(raw, repo / "raw")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
         "src/tests/test_data.py", "src/tests/test_data_filter.py"],
        cwd=repo, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    outcomes = {}
    for line in result.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR"):
            outcomes[rest.split(" - ")[0]] = word
    return outcomes


def test_published_reader_sees_our_export_like_the_published_files(shared_dir, tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("tqdm")
    repo = _reader_source(tmp_path / "reader")
    if repo is None:
        pytest.skip("no office-schedule-data checkout (set OFFICE_SCHEDULE_DATA_REPO)")
    published = shared_dir / "data" / "office-schedule-data" / "raw"
    pub_raw = tmp_path / "published"
    (pub_raw / "2021").mkdir(parents=True)
    shutil.copy(published / "2021" / "2021-28.tar.gz", pub_raw / "2021")
    shutil.copy(published / "metadata.json", pub_raw)
    db, out = tmp_path / "s.db", tmp_path / "out"
    runner = CliRunner()
    args = ["import", "--db", str(db), str(published / "2021" / "2021-28.tar.gz")]
    assert runner.invoke(main, [*args, str(published / "metadata.json")]).exit_code == 0
    assert runner.invoke(main, ["export", "--db", str(db), "--out", str(out)]).exit_code == 0
    theirs = _outcomes(repo, pub_raw)
    ours = _outcomes(repo, out / "raw")
    assert theirs, "the reader's tests did not run"
    assert ours == theirs
    assert "PASSED" in set(ours.values())
