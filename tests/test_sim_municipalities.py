"""Simulated municipal websites, runtime faults ``empty``/``changed`` and robots.txt."""

from __future__ import annotations

import asyncio
import csv
import re
import threading
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx2
import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import FAMILIES, check_empty
from office_schedule.fetch import Fetcher
from office_schedule.simulate import SimServer, SimWorld, serve
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.municipalities import EXTERNAL, SiteServer, build_sites
from office_schedule.sweep import snapshot_source

from .familytools import loop_scrape

AGENT = "office-schedule-test"
VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr"}
MIXED = {"tevis": 2, "zms": 2, "etermin": 2, "netappoint": 1, "tempus": 1}


class _Page(HTMLParser):
    """Links, iframes and tag balance of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.frames: list[str] = []
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.errors: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs) -> None:
        self.seen.add(tag)
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        if tag == "iframe" and values.get("src"):
            self.frames.append(values["src"])
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def towns():
    world = SimWorld(seed=2, families=MIXED, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        bookings = [(s.family, s.index_url, s.id) for s in srv.sources()]
        sites = build_sites(bookings, 8, seed=5)
        with SiteServer(sites, port=int(urlsplit(srv.urls[0]).port)) as site_srv:
            srv.internal["__sites__"] = lambda _query: site_srv.truth()
            yield srv, site_srv, bookings


def crawl(site_url: str, booking_hosts: set[str], budget: int = 60):
    """A polite breadth-first crawl: robots.txt honoured, same host only, HTML only; every
    link or iframe to a booking host is opened once. Returns (candidates -> status, pages)."""
    host = urlsplit(site_url).netloc
    robots = RobotFileParser(urljoin(site_url, "/robots.txt"))
    with httpx2.Client(timeout=5) as client:
        answer = client.get(urljoin(site_url, "/robots.txt"))
        robots.parse(answer.text.splitlines() if answer.status_code == 200 else [])
        queue, seen, pages, found = deque([site_url]), {site_url}, {}, {}
        while queue and len(pages) < budget:
            url = queue.popleft()
            if not robots.can_fetch(AGENT, url):
                continue
            reply = client.get(url)
            pages[url] = reply.status_code
            if not reply.headers["content-type"].startswith("text/html"):
                continue
            page = parse(reply.text)
            for ref in page.links + page.frames:
                target = urljoin(url, ref).split("#", 1)[0]
                where = urlsplit(target)
                if where.scheme not in ("http", "https"):
                    continue
                if where.netloc in booking_hosts:
                    found.setdefault(urljoin(url, ref), None)
                elif where.netloc == host and target not in seen:
                    seen.add(target)
                    queue.append(target)
        for candidate in found:
            found[candidate] = client.get(candidate).status_code
    return found, pages


# -- the sites -----------------------------------------------------------------------------
def test_sites_are_deterministic_and_have_every_special_kind(towns):
    _, _, bookings = towns
    again = build_sites(bookings, 8, seed=5)
    other = build_sites(bookings, 8, seed=6)
    site_srv = towns[1]
    assert [(s.name, s.kind, s.bookings) for s in site_srv.sites] == [
        (s.name, s.kind, s.bookings) for s in again
    ]
    assert [s.name for s in other] != [s.name for s in again]
    kinds = sorted(s.kind for s in site_srv.sites)
    assert kinds == ["dead", "none", "plain", "plain", "plain", "plain", "robots", "two"]
    assert len({s.host for s in site_srv.sites}) == 8
    assert all(re.fullmatch(r"(Stadt|Gemeinde|Landkreis|Markt) \w+", s.name) for s in again)
    two = next(s for s in again if s.kind == "two")
    assert len({b.family for b in two.bookings}) == 2
    assert build_sites(bookings, 2, seed=5)[0].kind == "plain"  # too few for special sites


def test_every_page_is_valid_html_and_pdfs_are_pdfs(towns):
    _, site_srv, _ = towns
    with httpx2.Client(timeout=5) as client:
        for site in site_srv.sites:
            for path, reply in site_srv._pages[site.host].items():
                got = client.get(site_srv.base(site) + path)
                assert got.status_code == 200, path
                if path.endswith(".pdf"):
                    assert got.headers["content-type"] == "application/pdf"
                    assert got.content.startswith(b"%PDF-")
                    continue
                if not got.headers["content-type"].startswith("text/html"):
                    continue
                page = parse(got.text)
                assert page.doctype and not page.errors and not page.open, (path, page.errors)
                assert {"html", "head", "title", "nav", "main", "footer"} <= page.seen
                assert '<html lang="de">' in got.text and got.content == reply.body
            missing = client.get(site_srv.base(site) + "/gibt-es-nicht.html")
            assert missing.status_code == 404 and "Seite nicht gefunden" in missing.text


def test_a_polite_crawler_finds_exactly_the_truth(towns):
    srv, site_srv, bookings = towns
    booking_hosts = {urlsplit(u).netloc for u in srv.urls}
    truth = httpx2.get(site_srv.urls[0] + "__sites__").json()
    assert truth == httpx2.get(srv.urls[1] + "/__sites__").json()  # booking hosts answer too
    listed = [row["source_id"] for rows in truth.values() for row in rows]
    assert sorted(listed) == sorted(b[2] for b in bookings)  # every booking exactly once
    for site in site_srv.sites:
        url = site_srv.url(site)
        before = len(site_srv.requests_to(site.host))  # other tests fetch pages directly
        found, pages = crawl(url, booking_hosts)
        requested = site_srv.requests_to(site.host)[before:]
        if site.kind == "robots":
            assert {row.get("robots") for row in truth[url]} == {"disallowed"}
            assert found == {} and pages == {}
            assert requested == ["/robots.txt"]
            continue
        assert all(row.get("robots") is None for row in truth[url])
        assert set(pages.values()) == {200}, pages  # every same-site link resolves
        live = {u for u, status in found.items() if status == 200}
        assert live == {row["url"] for row in truth[url]}, site
        dead = {u for u, status in found.items() if status == 404}
        assert dead == set(site.dead_links)
        if site.kind == "dead":
            assert dead and truth[url] == []
        if site.kind == "none":
            assert found == {} and truth[url] == []
        assert not [p for p in requested if p.startswith("/intern")]
        assert any(p.endswith("?print=1") for p in requested)  # duplicates are there to skip
    for host in EXTERNAL:
        assert site_srv.requests_to(host) == []


def clicks(base: str, target: str) -> int | None:
    """Fewest clicks from the home page to ``target`` (robots.txt not asked: every page)."""
    home = base + "/"
    depth, queue = {home: 0}, deque([home])
    with httpx2.Client(timeout=5) as client:
        while queue:
            url = queue.popleft()
            if urlsplit(url).path == target:
                return depth[url]
            reply = client.get(url)
            if not reply.headers["content-type"].startswith("text/html"):
                continue
            for ref in parse(reply.text).links:
                nxt = urljoin(url, ref).split("#", 1)[0].split("?", 1)[0]
                if urlsplit(nxt).netloc == urlsplit(base).netloc and nxt not in depth:
                    depth[nxt] = depth[url] + 1
                    queue.append(nxt)
    return None


def test_booking_pages_are_one_to_three_clicks_deep(towns):
    _, site_srv, bookings = towns
    for site in site_srv.sites:
        if site.termin_path:
            assert clicks(site_srv.base(site), site.termin_path) == site.depth, site.name
        else:
            assert site.kind == "none"
    many = build_sites(bookings * 5, 40, seed=1)
    assert {s.depth for s in many} == {1, 2, 3}
    assert {s.link_style for s in many} == {"root", "relative", "absolute"}
    assert {style for s in many for style in s.styles} == {"link", "button", "iframe", "schemeless"}


def test_head_requests_and_folders_without_slash(towns):
    _, site_srv, _ = towns
    base = site_srv.base(site_srv.sites[0])
    pdf = httpx2.head(base + "/downloads/formular.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == b"" and int(pdf.headers["content-length"]) > 0
    moved = httpx2.get(base + "/buergerservice")
    assert moved.status_code == 301 and moved.headers["location"] == "/buergerservice/"


def test_robots_texts_of_the_sites(towns):
    _, site_srv, _ = towns
    for site in site_srv.sites:
        text = httpx2.get(site_srv.base(site) + "/robots.txt")
        assert text.headers["content-type"].startswith("text/plain")
        robots = RobotFileParser()
        robots.parse(text.text.splitlines())
        base = site_srv.base(site)
        assert not robots.can_fetch(AGENT, base + "/intern/")
        assert robots.can_fetch(AGENT, base + "/") == (site.kind != "robots")
        if site.kind == "robots":
            assert text.text == "User-agent: *\nDisallow: /\n"


def test_the_dead_link_looks_like_a_booking_system_and_answers_404(towns):
    srv, site_srv, bookings = towns
    (dead,) = [s for s in site_srv.sites if s.kind == "dead"]
    (url,) = dead.dead_links
    ids = {b[2] for b in bookings}
    dead_id = urlsplit(url).path.split("/")[1]
    assert dead_id not in ids and re.fullmatch(r"sim-[a-z]+-\d\d", dead_id)
    assert httpx2.get(url).status_code == 404
    assert url not in {row["url"] for rows in site_srv.truth().values() for row in rows}


def test_write_sites_csv(towns, tmp_path):
    _, site_srv, _ = towns
    rows = list(csv.DictReader(site_srv.write_sites(tmp_path / "s.csv").open(encoding="utf-8")))
    assert [r["name"] for r in rows] == [s.name for s in site_srv.sites]
    assert [r["url"] for r in rows] == site_srv.urls


# -- runtime faults ------------------------------------------------------------------------
def slots(world: SimWorld, sid: str) -> int:
    return sum(map(len, world.truth(weeks=4)[sid].values()))


def scrape(source, world):
    family = FAMILIES[source.family]
    return check_empty(family.parse(loop_scrape(family, source, world.now())), source.family)


def offered(parsed) -> int:
    """Free slots, or for impftermin (it tells only whether) the centres that have some."""
    yes = sum("termineVorhanden=true" in (loc.empty or "") for loc in parsed.locations.values())
    return parsed.slot_count + yes


@pytest.mark.parametrize("family", list(FAMILY_SERVERS))
def test_empty_serves_the_familys_own_nothing_free_answer(family):
    world = SimWorld(seed=3, families={family: 2}, frozen=True)
    sid, other = list(world.sources)
    with SimServer(world) as srv:
        source = next(s for s in srv.sources() if s.id == sid)
        before = scrape(source, world)
        assert offered(before) > 0 and before.slot_count == slots(world, sid)
        srv.set_fault(sid, "empty")
        assert slots(world, sid) == 0
        assert offered(scrape(next(s for s in srv.sources() if s.id == other), world)) > 0
        parsed = scrape(source, world)
        assert offered(parsed) == 0
        assert parsed.empty or all(loc.empty for loc in parsed.locations.values())
        srv.set_fault(sid, None)
        assert offered(scrape(source, world)) == offered(before)


def test_empty_is_stored_as_zero_slots_with_the_marker(store):
    world = SimWorld(seed=3, families={"tevis": 1}, frozen=True)
    (sid,) = world.sources
    with SimServer(world) as srv:
        assert httpx2.get(f"{srv.urls[0]}/__fault__?source={sid}&mode=empty").json() == {
            "source": sid,
            "mode": "empty",
        }
        assert httpx2.get(f"{srv.urls[0]}/__truth__").json()[sid] == {
            lid: [] for lid in world.truth()[sid]
        }
        (source,) = srv.sources()

        async def go():
            async with Fetcher() as fetcher:
                return await snapshot_source(source, fetcher, store, 2)

        result = asyncio.run(go())
    assert result.error is None and result.slots == 0
    (record,) = store.snapshots(sid)
    assert record.status == "ok"
    parsed = FAMILIES["tevis"].parse(store.raw_payload(record.id))
    assert parsed.locations and all(loc.empty for loc in parsed.locations.values())


@pytest.mark.parametrize("family", ["tevis", "etermin", "tempus", "smartcjm", "zms", "qmatic"])
def test_changed_portal_is_an_error_never_zero_slots(family):
    world = SimWorld(seed=3, families={family: 1}, frozen=True)
    (sid,) = world.sources
    with SimServer(world) as srv:
        (source,) = srv.sources()
        base = srv.urls[0]
        assert httpx2.get(f"{base}/__fault__", params={"source": sid, "mode": "changed"}).is_success
        page = httpx2.get(source.index_url)
        assert page.status_code == 200 and "Neues Terminportal" in page.text
        with pytest.raises((ScrapeError, ParseError)):
            scrape(source, world)
        assert httpx2.get(f"{base}/__fault__", params={"source": sid, "mode": ""}).is_success
        assert srv.faults == {} and scrape(source, world).slot_count == slots(world, sid)


def test_set_fault_is_validated():
    world = SimWorld(seed=3, families={"tevis": 1, "etermin": 1}, frozen=True)
    with SimServer(world) as srv:
        with pytest.raises(ValueError, match="unknown source"):
            srv.set_fault("sim-nope-01", "empty")
        with pytest.raises(ValueError, match="not simulated for sim-etermin-01"):
            srv.set_fault("sim-etermin-01", "dberror")  # a tevis page fault
        bad = httpx2.get(f"{srv.urls[0]}/__fault__?source=sim-tevis-01&mode=melted")
        assert bad.status_code == 400 and "melted" in bad.json()["error"]
        srv.set_fault("sim-tevis-01", "dberror")
        assert srv.faults == {"sim-tevis-01": "dberror"}
    with pytest.raises(ValueError, match="unknown source"):
        SimServer(world, faults={"sim-nope-01": "changed"})


# -- robots.txt on the booking hosts -------------------------------------------------------
def test_simserver_serves_robots_and_disallow_adds_a_source():
    world = SimWorld(seed=3, families={"tevis": 2}, frozen=True)
    text = "User-agent: Googlebot\nDisallow: /x/\n\nUser-agent: *\nCrawl-delay: 1\n"
    hosts = ("127.0.0.1", "127.0.0.2")
    assignment = {"sim-tevis-01": "127.0.0.1", "sim-tevis-02": "127.0.0.1"}
    with SimServer(world, hosts=hosts, robots={"127.0.0.1": text}, assignment=assignment) as srv:
        first, second = srv.urls
        got = httpx2.get(first + "/robots.txt")
        assert got.text == text and got.headers["content-type"].startswith("text/plain")
        assert httpx2.get(second + "/robots.txt").status_code == 404
        assert ("127.0.0.1", "/robots.txt") in srv.request_log
        assert ("127.0.0.2", "/robots.txt") in srv.request_log
        srv.disallow("sim-tevis-01")
        robots = RobotFileParser()
        robots.parse(httpx2.get(first + "/robots.txt").text.splitlines())
        assert not robots.can_fetch(AGENT, srv.base_url("sim-tevis-01"))
        assert not robots.can_fetch(AGENT, srv.base_url("sim-tevis-01") + "/caldiv")
        assert robots.can_fetch(AGENT, srv.base_url("sim-tevis-02"))
        assert not robots.can_fetch("Googlebot", first + "/x/")
        assert srv.robots["127.0.0.1"].count("User-agent: *") == 1
    shared = "User-agent: *\nUser-agent: bingbot\nDisallow: /privat/\n"
    with SimServer(world, robots={"127.0.0.1": shared}) as srv:
        srv.disallow("sim-tevis-02")
        text = srv.disallow("sim-tevis-02")  # twice: the rules are there once
        assert text.count("Disallow: /sim-tevis-02/") == 1
        robots = RobotFileParser()
        robots.parse(text.splitlines())
        for agent in (AGENT, "bingbot"):
            assert not robots.can_fetch(agent, "http://h/privat/")
            assert not robots.can_fetch(agent, "http://h/sim-tevis-02/caldiv")
            assert robots.can_fetch(agent, "http://h/sim-tevis-01/caldiv")
    with SimServer(world) as srv:
        assert srv.disallow("sim-tevis-02").startswith("User-agent: *\nDisallow: /sim-tevis-02/")


# -- serve() and the command line -----------------------------------------------------------
def test_serve_runs_sites_next_to_the_booking_systems(tmp_path):
    said: list[str] = []
    stop = threading.Event()
    out = tmp_path / "sites.csv"
    kw = {"municipalities": 5, "sites_out": out, "disallow": ["sim-tevis-02"], "stop": stop}
    thread = threading.Thread(
        target=serve,
        kwargs={"frozen": True, "families": {"tevis": 2}, "seed": 4, "echo": said.append, **kw},
        daemon=True,
    )
    thread.start()
    try:
        for _ in range(100):
            if any("municipal sites" in line for line in said):
                break
            stop.wait(0.1)
        (booking,) = [line.split()[1] for line in said if line.strip().startswith("serving")]
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert len(rows) == 5 and all(r["url"].startswith("http://127.0.2.") for r in rows)
        assert urlsplit(rows[0]["url"]).port == urlsplit(booking).port
        truth = httpx2.get(booking + "/__sites__").json()
        assert sorted(truth) == sorted(r["url"] for r in rows)
        assert "Disallow: /sim-tevis-02/" in httpx2.get(booking + "/robots.txt").text
    finally:
        stop.set()
        thread.join(timeout=10)
    assert said[-1] == "simulator stopped"


def test_cli_rejects_bad_options():
    runner = CliRunner()
    bad = runner.invoke(main, ["simulate", "serve", "--family", "tevis", "--disallow", "sim-x-01"])
    assert bad.exit_code == 2 and "unknown source(s): sim-x-01" in bad.output
    too_many = runner.invoke(main, ["simulate", "serve", "--municipalities", "300"])
    assert too_many.exit_code == 2 and "--municipalities" in too_many.output
    helped = runner.invoke(main, ["simulate", "serve", "--help"])
    for option in ("--municipalities", "--sites-out", "--disallow", "changed", "/__fault__"):
        assert option in helped.output
