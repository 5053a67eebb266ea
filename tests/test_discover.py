"""discover against simulated municipal websites: what it proposes, what it never asks."""

from __future__ import annotations

import csv
import json

import httpx2
import pytest
from click.testing import CliRunner

from office_schedule.catalog.catalog import read_catalog_csv
from office_schedule.cli import main
from office_schedule.discover import read_sites
from office_schedule.discover.crawler import links_of
from office_schedule.errors import CatalogError
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.municipalities import (
    EXTERNAL,
    HOST_ONLY_FAMILIES,
    SiteServer,
    build_sites,
    town_bookings,
)
from office_schedule.simulate.server import family_hosts

N_SITES = 12


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def towns(tmp_path_factory):
    # the vendor-host families are tested by their URLs below
    families = {f: 1 for f in FAMILY_SERVERS if f not in HOST_ONLY_FAMILIES}
    world = SimWorld(seed=11, families=families, frozen=True)
    assignment = family_hosts(world)
    hosts = tuple(dict.fromkeys(assignment.values()))
    with SimServer(world, hosts=hosts, assignment=assignment) as srv:
        with SiteServer(build_sites(town_bookings(srv.sources()), N_SITES, seed=3)) as web:
            tmp = tmp_path_factory.mktemp("discover")
            sites = web.write_sites(tmp / "sites.csv")
            out = tmp / "rows.csv"
            result = cli("discover", sites, "--out", out)
            assert result.exit_code == 0, result.output
            pace = {host: srv.pace(host) for host in srv.hosts}  # before any sweep
            yield srv, web, out, result.output, tmp, pace


def _rows(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_proposed_rows_have_precision_and_recall_of_at_least_095(towns):
    srv, web, out, _, _, _ = towns
    truth = httpx2.get(f"{web.urls[0]}__sites__").json()
    catalog = {s.id: s.index_url for s in srv.sources()}
    wanted = {(b["family"], catalog[b["source_id"]]) for rows in truth.values() for b in rows
              if b.get("robots") != "disallowed"}  # fmt: skip
    proposed = {(r["family"], r["index_url"]) for r in _rows(out)}
    found = proposed & wanted
    precision, recall = len(found) / len(proposed), len(found) / len(wanted)
    assert precision >= 0.95 and recall >= 0.95, (
        sorted(proposed - wanted),
        sorted(wanted - proposed),
    )
    # every row is a valid catalog row whose evidence is the page that links it
    sources = read_catalog_csv(out.read_text(), str(out))
    assert all(s.evidence.startswith("discover: http://127.0.2.") for s in sources)
    assert all(s.seen for s in sources)


def test_the_sweep_of_the_proposed_catalog_equals_the_truth(towns):
    srv, _, out, _, tmp, _ = towns
    rows = _rows(out)
    by_url = {s.index_url: s.id for s in srv.sources()}
    enabled = [r for r in rows if r["enabled"] == "yes"]
    assert len(enabled) >= 0.8 * len(rows)
    db = tmp / "s.db"
    ids = ",".join(r["id"] for r in enabled)
    result = cli("snapshot", "--catalog", out, "-i", ids, "--db", db, "--gap", "0", "-q")
    assert result.exit_code == 0, result.output
    truth = httpx2.get(f"{srv.urls[0]}/__truth__", params={"weeks": 4}).json()
    for row in enabled:
        shown = cli("show", row["id"], "--db", db, "--format", "json")
        assert shown.exit_code == 0, (row["id"], shown.output)
        assert json.loads(shown.output) == truth[by_url[row["index_url"]]], row["id"]


def test_no_request_reaches_what_robots_txt_or_the_site_rules_forbid(towns):
    _, web, _, _, _, _ = towns
    for site in web.sites:
        asked = web.requests_to(site.host)
        if site.kind == "robots":
            assert asked == ["/robots.txt"], asked
        assert not [p for p in asked if p.startswith("/intern/")], (site.host, asked)
        assert not [p for p in asked if p.endswith(".pdf")]
    for host in EXTERNAL:
        assert web.requests_to(host) == []


def test_the_summary_names_every_site_and_the_ones_that_could_not_be_read(towns):
    _, web, _, output, _, _ = towns
    assert "discover:" in output and "pages read" in output
    blocked = [s for s in web.sites if s.kind == "robots"]
    assert blocked and all(f"{web.url(s)}: could not be read" in output for s in blocked)


def test_booking_hosts_saw_one_request_at_a_time_a_second_apart(towns):
    *_, pace = towns
    for host, (most, gap) in pace.items():
        assert most <= 1, host
        assert gap is None or gap >= 0.95, (host, gap)


def test_links_come_from_anchors_frames_forms_and_scripts():
    html = """<a href="/a">A</a><iframe src="https://x.example/b"></iframe>
    <form action="c"></form><script>var u = "https://y.example/d?e=1";</script>
    <a href="mailto:x@y">m</a><a href="#top">t</a>"""
    got = [u for u, _ in links_of(html, "https://site.example/dir/")]
    assert got == ["https://site.example/a", "https://x.example/b",
                   "https://site.example/dir/c", "https://y.example/d?e=1"]  # fmt: skip


@pytest.mark.parametrize(
    "url, family",
    [
        ("https://www.etermin.net/stadtmusterhausen", "etermin"),
        ("https://termine.flexappoint.de/musterhausen/#/", "flexappoint"),
        ("https://www.impfterminservice.de/impftermine", "impftermin"),
        ("https://service.berlin.de/terminvereinbarung/", "berlin"),
    ],
)
def test_vendor_hosts_are_candidates_by_their_url_alone(url, family):
    from office_schedule.discover.crawler import family_of_url

    assert family_of_url(url).name == family


def test_sites_arguments_are_urls_or_csv_files(tmp_path):
    listing = tmp_path / "sites.csv"
    listing.write_text("name,url\nStadt A,https://a.example/\n,https://b.example/x\n")
    sites = read_sites(["https://www.c.example/", str(listing)])
    assert [(s.name, s.url) for s in sites] == [
        ("c.example", "https://www.c.example/"),
        ("Stadt A", "https://a.example/"),
        ("b.example", "https://b.example/x"),
    ]
    listing.write_text("name,url\nX,ftp://x\n")
    with pytest.raises(CatalogError, match="line 2"):
        read_sites([str(listing)])
    with pytest.raises(CatalogError, match="neither an http"):
        read_sites([str(tmp_path / "missing.csv")])


def test_a_system_whose_page_lacks_a_required_id_gets_no_row_but_a_reason():
    from datetime import date

    from office_schedule.discover.crawler import Candidate, SiteResult
    from office_schedule.discover.rows import proposed_rows

    site = SiteResult("Stadt Flexhausen", "https://flexhausen.example/")
    url = "https://termine.flexappoint.de/flexhausen/#/"
    found = Candidate(url, "https://flexhausen.example/termin", "flexappoint", url, {})
    ok = Candidate(
        "https://www.tempus-termine.com/termine/index.php?anlagennr=7",
        "https://flexhausen.example/termin",
        "tempus",
        "https://www.tempus-termine.com/termine/index.php?anlagennr=7",
        {"base_url": "https://www.tempus-termine.com/termine/index.php", "anlagennr": "7"},
    )
    site.candidates = [found, ok]
    rows = proposed_rows([site], date(2026, 12, 1))
    assert [r["id"] for r in rows] == ["flexhausen-tempus"]
    assert rows[0]["evidence"] == "discover: https://flexhausen.example/termin"
    assert rows[0]["seen"] == "2026-12-01" and rows[0]["enabled"] == "yes"
    assert "departments" in found.problem


def test_an_embedded_page_of_another_site_is_a_candidate_whatever_its_words():
    html = '<iframe src="https://widgets.example/form/1/" title="Kfz"></iframe>'
    ((url, text),) = links_of(html, "https://town.example/")
    assert url == "https://widgets.example/form/1/"
    from office_schedule.discover.crawler import BOOKING_WORDS

    assert BOOKING_WORDS.search(text)
