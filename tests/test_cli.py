"""CLI behaviour that needs no simulator: listing, clear errors, store options."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from office_schedule.cli import main

from .conftest import ROOT


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_list_formats():
    table = invoke("list")
    assert table.exit_code == 0 and "frankfurt" in table.output
    md = invoke("list", "--all", "--format", "markdown").output.splitlines()
    assert [c.strip() for c in md[0].split("|")] == ["", "name", "scraper", "url", ""]
    assert md[1].startswith("|:-----") and len({len(line) for line in md}) == 1
    cells = [[c.strip() for c in line.split("|")[1:4]] for line in md[2:]]
    link = "[tevis.ekom21.de/fra/](https://tevis.ekom21.de/fra/)"
    assert ["Stadt Frankfurt", "tevis", link] in cells
    leipzig = (
        "[leipzig.de/fachanwendungen/termine/...]"
        "(https://leipzig.de/fachanwendungen/termine/index.html)"
    )
    assert ["Stadt Leipzig", "custom", leipzig] in cells
    assert len(cells) >= 200 and [c[0] for c in cells] == sorted(c[0] for c in cells)
    rows = json.loads(invoke("list", "--all", "--format", "json", "-i", "fra*").output)
    assert [r["id"] for r in rows][:2] == ["frankenthal", "frankfurt"]
    assert rows[1]["params"]["base_url"] == "https://tevis.ekom21.de/fra"
    csv_out = invoke("list", "--format", "csv", "--all", "-i", "westerwaldkreis").output
    assert "westerwaldkreis" in csv_out and ",no," in csv_out


def test_empty_selection_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["snapshot", "--db", str(tmp_path / "x.db"), "-i", "nope*"])
    assert result.exit_code == 2
    assert "selection is empty" in result.output


def test_bad_db_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["status", "--db", str(tmp_path / "no" / "x.db")])
    assert result.exit_code == 2 and "no store at" in result.output
    result = CliRunner().invoke(
        main, ["snapshot", "--db", str(tmp_path / "no" / "x.db"), "-i", "frankfurt"]
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def test_db_from_environment(tmp_path):
    db = tmp_path / "env.db"
    result = CliRunner().invoke(main, ["status"], env={"OFFICE_SCHEDULE_DB": str(db)})
    assert result.exit_code == 2 and str(db) in result.output


def test_bad_catalog_file_is_named(tmp_path):
    bad = tmp_path / "cat.csv"
    bad.write_text("id,family\nx,nosuch\n")
    result = CliRunner().invoke(main, ["list", "--catalog", str(bad)])
    assert result.exit_code == 2
    assert "cat.csv, line 2" in result.output and "unknown family" in result.output


def test_show_unknown_source(tmp_path):
    from office_schedule.store import SQLiteStore

    SQLiteStore(tmp_path / "s.db").close()
    result = CliRunner().invoke(main, ["show", "nowhere", "--db", str(tmp_path / "s.db")])
    assert result.exit_code != 0 and "no stored snapshot of 'nowhere'" in result.output


def _commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        yield prefix + name, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + name + " ")


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, cmd in _commands(main):
        assert cmd.help, f"{name} has no help text"
        if not isinstance(cmd, click.Group):
            assert f"office-schedule {name}" in readme, f"{name} missing from README"
