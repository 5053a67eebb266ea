"""The analysis commands on a week slice: drawn by our own code, and cut from the real week."""

from __future__ import annotations

import json
import tarfile

from click.testing import CliRunner

from office_schedule.cli import main


def test_metrics_and_insights_commands(tmp_path, week_slice):
    db, out = str(tmp_path / "a.db"), tmp_path / "metrics"
    runner = CliRunner()
    assert runner.invoke(main, ["import", "--db", db, str(week_slice)]).exit_code == 0
    result = runner.invoke(main, ["metrics", "--db", db, "--out", str(out)])
    assert result.exit_code == 0, result.output
    with tarfile.open(out / "metrics" / "2021" / "2021-28.tar.gz") as tar:
        names = tar.getnames()
    assert {"appointments.csv", "cancellations.csv", "changed.csv", "free_dates.csv"} <= set(names)
    result = runner.invoke(main, ["insights", "--db", db, "--by", "city", "--format", "json"])
    assert result.exit_code == 0, result.output
    tables = json.loads(result.output)
    assert {"summary", "daily", "lead_time", "booking_hour"} <= set(tables)
    cities = {row["city"] for row in tables["summary"]}
    assert {"Bonn", "Jena"} <= cities
    jena = next(row for row in tables["summary"] if row["city"] == "Jena")
    assert jena["appointments"] > 0
    for fmt in ("csv", "table"):
        assert runner.invoke(main, ["insights", "--db", db, "--format", fmt]).exit_code == 0
