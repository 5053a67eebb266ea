"""A sweep over a simulated catalog of every simulated family equals the published truth."""

from __future__ import annotations

import json

import httpx2
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


#: disabled in the real catalog and paced at seconds per request by their politeness
#: defaults; their scrapers are checked against the simulator in tests/test_sim_custom.py
SLOW_FAMILIES = {"berlin", "impftermin"}


def test_every_family_end_to_end_equals_truth(tmp_path):
    families = {family: 2 for family in FAMILY_SERVERS if family not in SLOW_FAMILIES}
    world = SimWorld(seed=21, families=families, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2", "127.0.0.3")) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        db = tmp_path / "all.db"
        named = ",".join(["sim-*", *world.sources])  # disabled ones run when named exactly
        result = cli("snapshot", "--catalog", catalog, "--db", db, "-i", named, "--gap", 0)
        assert result.exit_code == 0, result.output
        truth = httpx2.get(f"{srv.urls[0]}/__truth__", params={"weeks": 4}).json()
    status = json.loads(cli("status", "--db", db, "--format", "json").output)
    assert {r["source_id"] for r in status} == set(world.sources)
    assert [r for r in status if r["errors"]] == []
    slots_seen = 0
    for source_id in world.sources:
        shown = json.loads(cli("show", source_id, "--db", db, "--format", "json").output)
        assert shown == truth[source_id], source_id
        slots_seen += sum(map(len, shown.values()))
    assert slots_seen > 0
