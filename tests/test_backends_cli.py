"""Every command works unchanged on SQLite and PostgreSQL: `--db` decides, same output."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from office_schedule.cli import main

from . import stores

#: (label, arguments; "{out}" is the folder the command writes to)
READERS = [
    ("status", ["status", "--format", "json"]),
    ("show", ["show", "jena", "--format", "json"]),
    ("insights", ["insights", "--by", "city", "--format", "json"]),
    ("events", ["events", "--format", "csv"]),
    ("export", ["export", "--out", "{out}"]),
    ("parquet", ["export", "--format", "parquet", "--out", "{out}"]),
    ("metrics", ["metrics", "--out", "{out}"]),
    ("report", ["report", "--out", "{out}"]),
]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix not in (".png", ".svg")  # charts embed render metadata
    }


def _outputs(db: str, folder: Path, week: Path) -> dict[str, object]:
    runner = CliRunner()
    done = runner.invoke(main, ["import", "--db", db, str(week)])
    assert done.exit_code == 0, done.output
    seen: dict[str, object] = {}
    for label, args in READERS:
        out = folder / label
        argv = [a.replace("{out}", str(out)) for a in args] + ["--db", db]
        result = runner.invoke(main, argv)
        assert result.exit_code in (0, 1), (label, result.output)
        text = result.stdout.replace(db, "DB").replace(str(folder), "OUT")
        seen[label] = (result.exit_code, text, _files(out) if out.exists() else {})
    return seen


def test_reading_commands_give_the_same_output_on_both_backends(tmp_path, synthetic_slice):
    stores.pg_server()
    sqlite = _outputs(str(tmp_path / "a.db"), tmp_path / "sqlite", synthetic_slice)
    postgres = _outputs(stores.new_pg_url(), tmp_path / "postgresql", synthetic_slice)
    for label, _ in READERS:
        assert postgres[label] == sqlite[label], label
    assert json.loads(sqlite["show"][1])  # the outputs hold data, not just equal emptiness
    assert sqlite["export"][2] and sqlite["metrics"][2] and sqlite["report"][2]


def test_writing_commands_on_postgresql(tmp_path):
    """snapshot, reparse and prune on a shared store, against the simulator."""
    from office_schedule.simulate import SimServer, SimWorld

    db = stores.new_pg_url()
    runner = CliRunner()
    world = SimWorld(seed=3, families={"tevis": 2}, frozen=True)
    with SimServer(world) as srv:
        catalog = str(srv.write_catalog(tmp_path / "sim.csv"))
        args = ["snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", "0", "-q"]
        for _ in range(2):
            result = runner.invoke(main, args)
            assert result.exit_code == 0, result.output
    reparse = runner.invoke(main, ["reparse", "--catalog", catalog, "--db", db, "-i", "sim-*"])
    assert reparse.exit_code == 0, reparse.output
    pruned = runner.invoke(main, ["prune", "--db", db, "-i", "sim-tevis-01", "--yes"])
    assert pruned.exit_code == 0, pruned.output
    status = json.loads(runner.invoke(main, ["status", "--db", db, "--format", "json"]).stdout)
    assert [r["source_id"] for r in status] == ["sim-tevis-02"]
    assert status[0]["snapshots"] == 2 and status[0]["unchanged"] == 1
