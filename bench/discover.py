"""discover over simulated municipalities: precision, recall, pages, time, and the sweep check.

Serves the simulated booking systems (one loopback address per family) and ``--sites``
municipal websites linking to them, runs ``office-schedule discover`` over the sites' CSV
with its default politeness (one request per host a second apart), and compares the
proposed rows with ``/__sites__``: precision and recall of (family, index_url). Then it
sweeps the proposed catalog and counts the sources whose stored slots equal ``/__truth__``.
Families recognised by their vendor's host name alone (etermin, flexappoint, termed,
impftermin) cannot be served under that name on loopback and are left out. Last line:
``discover_precision=P discover_recall=R sweep_equal=N of M``.

    python bench/discover.py [--sites 20] [--sources 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import httpx2
from click.testing import CliRunner

from office_schedule.cli import main as cli_main
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.municipalities import (
    HOST_ONLY_FAMILIES,
    SiteServer,
    build_sites,
    town_bookings,
)
from office_schedule.simulate.server import family_hosts


def run(*args: object) -> str:
    result = CliRunner().invoke(cli_main, [str(a) for a in args], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"office-schedule {args[0]} failed: {result.output}")
    return result.output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--sources", type=int, default=2, help="simulated sources per family")
    args = parser.parse_args()
    families = {f: args.sources for f in FAMILY_SERVERS if f not in HOST_ONLY_FAMILIES}
    world = SimWorld(seed=21, families=families, frozen=True)
    assignment = family_hosts(world)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimServer(
            world, hosts=tuple(dict.fromkeys(assignment.values())), assignment=assignment
        ) as srv,
    ):
        with SiteServer(build_sites(town_bookings(srv.sources()), args.sites, seed=4)) as web:
            sites = web.write_sites(Path(tmp) / "sites.csv")
            out = Path(tmp) / "rows.csv"
            started = time.monotonic()
            run("discover", sites, "--out", out)
            seconds = time.monotonic() - started
            truth = httpx2.get(f"{web.urls[0]}__sites__").json()
            pages = sum(len(web.requests_to(s.host)) for s in web.sites)
        catalog = {s.id: s.index_url for s in srv.sources()}
        by_url = {url: sid for sid, url in catalog.items()}
        wanted = {(b["family"], catalog[b["source_id"]]) for rows in truth.values()
                  for b in rows if b.get("robots") != "disallowed"}  # fmt: skip
        with open(out, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        proposed = {(r["family"], r["index_url"]) for r in rows}
        found = proposed & wanted
        precision = len(found) / len(proposed) if proposed else 0.0
        recall = len(found) / len(wanted) if wanted else 0.0
        enabled = [r for r in rows if r["enabled"] == "yes" and r["index_url"] in by_url]
        db = Path(tmp) / "s.db"
        ids = ",".join(r["id"] for r in enabled)
        run("snapshot", "--catalog", out, "-i", ids, "--db", db, "--gap", "0", "-q")
        now = httpx2.get(f"{srv.urls[0]}/__truth__", params={"weeks": 4}).json()
        equal = 0
        for r in enabled:
            shown = json.loads(run("show", r["id"], "--db", db, "--format", "json"))
            equal += shown == now[by_url[r["index_url"]]]
    print(f"sites {args.sites}, booking systems linked {len(wanted)}, rows proposed {len(rows)}")
    print(f"site requests {pages} in {seconds:.1f} s (robots.txt included)")
    print(f"missed: {sorted(wanted - proposed)}")
    print(f"wrong: {sorted(proposed - wanted)}")
    print(
        f"discover_precision={precision:.3f} discover_recall={recall:.3f} "
        f"sweep_equal={equal} of {len(enabled)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
