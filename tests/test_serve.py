"""The web dashboard over HTTP: JSON endpoints against the store and the analysis functions,
pages, errors, the root path, the ``serve`` command, and page times on the real week."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx2
import polars as pl
import pytest
from click.testing import CliRunner

from office_schedule.analysis import insights, store_events
from office_schedule.catalog import load_catalog
from office_schedule.cli import main
from office_schedule.exchange import import_paths
from office_schedule.serve import create_app
from office_schedule.serve.app import PLOTLY_URL
from office_schedule.serve.cache import Memo
from office_schedule.serve.data import parse_week, week_of
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.store import open_store

from . import stores

PAGES = ("/", "/week", "/times", "/cities")
WARM_LIMIT = 1.0  # seconds: every page on the real week, once computed


def artifacts(tmp_path: Path) -> Path:
    """Where tests leave screenshots and timings: $OFFICE_SCHEDULE_ARTIFACTS or tmp_path."""
    folder = Path(os.environ.get("OFFICE_SCHEDULE_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def client(db: str, catalog=None, root_path: str = "", **kw) -> Iterator[httpx2.Client]:
    """An HTTP client of the dashboard served by a real uvicorn on a free port."""
    app = create_app(db, load_catalog(catalog or ()), **kw)
    with live_server(app, root_path) as url, httpx2.Client(base_url=url, timeout=60) as c:
        c.dashboard = app.state.dashboard
        yield c


# -- data: the simulator's live snapshots, the real week -------------------------------------


@dataclass
class Sim:
    db: str
    catalog: Path
    server: SimServer

    def sweep(self) -> None:
        """One ``snapshot`` of every simulated source (in a thread of its own: the caller may
        run an event loop, as playwright's sync API does)."""
        args = ["snapshot", "--catalog", self.catalog, "--db", self.db, "-i", "sim-*", "--gap", 0]
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(
                CliRunner().invoke, main, [str(a) for a in args], catch_exceptions=False
            ).result()
        assert result.exit_code == 0, result.output


@contextmanager
def simulated(folder: Path, db: str, sweeps: int = 5) -> Iterator[Sim]:
    """A moving simulated world (two simulated hours a second) recorded ``sweeps`` times."""
    world = SimWorld(seed=7, n_sources=3, speed=7200)
    with SimServer(world) as srv:
        sim = Sim(db, srv.write_catalog(folder / "sim.csv"), srv)
        for _ in range(sweeps):
            sim.sweep()
        yield sim


def import_real_week(shared: Path, db: str) -> str:
    raw = shared / "data" / "office-schedule-data" / "raw"
    with open_store(db) as store:
        list(import_paths(store, [raw / "2021" / "2021-28.tar.gz", raw / "metadata.json"]))
    return db


@contextmanager
def live_server(app, root_path: str = "") -> Iterator[str]:
    """A real uvicorn server on a free loopback port; yields its base URL."""
    import uvicorn

    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (else Nagle
    # and delayed ACKs add 40 ms to every keep-alive response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", root_path=root_path))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module", params=stores.BACKENDS)
def sim(request, tmp_path_factory):
    if request.param == "postgresql":
        stores.pg_server()
    folder = tmp_path_factory.mktemp("sim")
    with simulated(folder, stores.db_for(request.param, folder)) as data:
        yield data


# -- JSON ------------------------------------------------------------------------------------


def test_json_endpoints_match_the_store_and_the_analysis(sim):
    with client(sim.db, [sim.catalog]) as c, open_store(sim.db, readonly=True) as store:
        overview = c.get("/api/sources").json()
        ids = store.source_ids()
        assert [s["source_id"] for s in overview["sources"]] == ids == [
            "sim-tevis-01", "sim-tevis-02", "sim-tevis-03",
        ]  # fmt: skip
        assert overview["health_counts"] == {"ok": 3}
        for row in overview["sources"]:
            taken_at, status, parsed = store.latest_state(row["source_id"])
            assert row["latest"]["taken_at"] == taken_at
            assert row["latest"]["free_slots"] == parsed.slot_count > 0
            assert row["name"].startswith("Simulierte Stadt") and row["family"] == "tevis"
            assert row["snapshots"] == 5 and row["errors"] == 0

        sid = ids[1]
        _, _, parsed = store.latest_state(sid)
        loc = sorted(parsed.locations)[0]
        slots = c.get(f"/api/sources/{sid}/slots", params={"location": loc}).json()
        shown = [f"{d['date']} {t}" for d in slots["days"] for t in d["times"]]
        assert shown == [s.strftime("%Y-%m-%d %H:%M") for s in parsed.locations[loc].slots]
        every = c.get(f"/api/sources/{sid}/slots").json()
        assert every["free_slots"] == parsed.slot_count
        assert {x["id"] for x in every["locations"]} == set(parsed.locations)

        weeks = c.get("/api/weeks").json()["weeks"]
        week = weeks[-1]["week"]
        assert week == week_of(store.status_summary()[0]["last_snapshot"][:10])
        start, end = parse_week(week)
        ev = store_events(store, ids, start, end)
        booked = ev.filter(pl.col("event") == "booked")
        assert booked.height > 0  # the simulated citizens booked between the sweeps
        hourly = c.get("/api/hourly", params={"week": week}).json()
        assert hourly["totals"] == {
            "appointments": booked.height,
            "cancellations": ev.filter(pl.col("event") == "cancelled").height,
        }
        assert sum(hourly["appointments"]) == booked.height
        assert len(hourly["hours"]) == len(hourly["appointments"]) > 0
        one = c.get("/api/hourly", params={"source": sid}).json()
        assert one["totals"]["appointments"] == booked.filter(pl.col("source_id") == sid).height
        lead = c.get("/api/lead-time", params={"source": sid}).json()
        assert sum(lead["appointments"]) == one["totals"]["appointments"]
        assert lead["summary"]["source"] == sid
        tod = c.get("/api/time-of-day").json()
        assert sum(tod["slot_hour"]["appointments"]) == booked.height
        assert sum(tod["booking_hour"]["appointments"]) == booked.height

        table = insights(store, load_catalog([sim.catalog]), ids, start, end, "city")["summary"]
        cities = c.get("/api/cities", params={"week": week}).json()["cities"]
        assert {r["city"]: r["appointments"] for r in cities} == dict(
            table.select("city", "appointments").iter_rows()
        )
        index = c.get("/api").json()["endpoints"]
        assert {e["path"].split("?")[0] for e in index} >= {"/api/sources", "/api/cities"}


def test_pages_render_charts_from_assets_the_app_serves(sim):
    sid = "sim-tevis-02"
    with client(sim.db, [sim.catalog]) as c:
        pages = [*PAGES, f"/sources/{sid}", f"/week?scope=source:{sid}", "/times?scope=city:x"]
        for path in pages[:-1]:
            page = c.get(path)
            assert page.status_code == 200, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert 'class="plotly-graph-div"' in page.text and "Plotly.newPlot" in page.text
            assert PLOTLY_URL in page.text
            # nothing loads from elsewhere: no internet at test time nor behind a firewall
            assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text), path
        assert c.get(pages[-1]).status_code == 404
        js = c.get(PLOTLY_URL)
        assert js.status_code == 200 and b"plotly" in js.content[:2000].lower()
        assert "immutable" in js.headers["cache-control"]
        assert c.get("/static/style.css").status_code == 200
        assert c.get("/", headers={"accept-encoding": "gzip"}).headers["content-encoding"] == "gzip"


def test_a_new_snapshot_shows_at_once(sim):
    with client(sim.db, [sim.catalog]) as c:
        before = {s["source_id"]: s["snapshots"] for s in c.get("/api/sources").json()["sources"]}
        hourly = c.get("/api/hourly").json()
        cached = len(c.dashboard.memo)
        sim.sweep()
        after = c.get("/api/sources").json()
        assert {s["source_id"]: s["snapshots"] - 1 for s in after["sources"]} == before
        again = c.get("/api/hourly").json()
        assert again["totals"]["appointments"] >= hourly["totals"]["appointments"]
        page = c.get("/").text
        assert after["as_of"] in page
        assert len(c.dashboard.memo) == cached  # the new versions replaced the old ones


def test_errors_are_clear_pages_and_json(sim):
    with client(sim.db, [sim.catalog]) as c:
        cases = [
            ("/sources/nope", 404, "no source 'nope'"),
            ("/api/sources/nope/slots", 404, "no source 'nope'"),
            ("/api/sources/sim-tevis-01/slots?location=zz", 404, "no location 'zz'"),
            ("/api/hourly?week=2021-28", 400, "week must look like 2021-W28"),
            ("/week?week=2001-W01", 404, "no snapshots in week 2001-W01"),
            ("/api/hourly?week=2001-W01", 404, "no snapshots in week 2001-W01"),
            ("/api/lead-time?source=a&city=b", 400, "not both"),
            ("/times?scope=city:Atlantis", 404, "no source in city 'Atlantis'"),
        ]
        for path, status, text in cases:
            r = c.get(path)
            assert r.status_code == status, path
            if "/api" in path:
                assert text in r.json()["error"]
            else:
                assert text in r.text.replace("&#39;", "'") and "<!doctype html>" in r.text


def test_an_empty_store_and_a_missing_one(tmp_path, backend):
    db = stores.db_for(backend, tmp_path)
    open_store(db).close()
    with client(db) as c:
        assert "no snapshots yet" in c.get("/").text
        assert c.get("/api/sources").json()["sources"] == []
        assert c.get("/api/weeks").json() == {"weeks": []}
        assert c.get("/api/hourly").status_code == 404
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 2 and "no store at" in result.output


def test_a_failing_source_shows_its_error(tmp_path):
    world = SimWorld(seed=3, n_sources=2, frozen=True)
    with SimServer(world, faults={"sim-tevis-02": "500"}) as srv:
        sim = Sim(str(tmp_path / "s.db"), srv.write_catalog(tmp_path / "sim.csv"), srv)
        sim.sweep()
    with client(sim.db, [sim.catalog]) as c:
        rows = {r["source_id"]: r for r in c.get("/api/sources").json()["sources"]}
        bad = rows["sim-tevis-02"]
        assert bad["latest"] is None and bad["errors"] == 1 and "HTTP 500" in bad["last_error"]
        assert rows["sim-tevis-01"]["latest"]["free_slots"] > 0
        assert "HTTP 500" in c.get("/").text
        page = c.get("/sources/sim-tevis-02")
        assert page.status_code == 200 and "No good snapshot yet" in page.text
        assert c.get("/api/sources/sim-tevis-02/slots").json()["days"] == []


def test_behind_a_proxy_every_link_has_the_root_path(sim):
    with client(sim.db, [sim.catalog], root_path="/dash") as c:
        page = c.get("/week").text
        links = re.findall(r'(?:src|href|action)="(/[^"]*)"', page)
        assert links and all(link.startswith("/dash/") for link in links), links
        assert f"/dash{PLOTLY_URL}" in links
        paths = [e["path"] for e in c.get("/api").json()["endpoints"]]
        assert all(p.startswith("/dash/api/") for p in paths)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_runs_uvicorn_and_stops_on_sigterm(sim):
    port = _free_port()
    args = ["serve", "--db", sim.db, "--catalog", sim.catalog, "--port", port]
    args += ["--root-path", "dash/"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "office_schedule", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                index = httpx2.get(f"http://127.0.0.1:{port}/api", timeout=5)
                break
            except httpx2.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        assert index.json()["endpoints"][0]["path"] == "/dash/api/sources"
        page = httpx2.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "sim-tevis-01" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly, then ends by the signal it caught, as a process should
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    assert "Application shutdown complete" in err.decode()
    assert f"on http://127.0.0.1:{port}/dash/" in err.decode()
    assert "password" not in err.decode()


# -- the real week ---------------------------------------------------------------------------

REAL_PAGES = (
    "/",
    "/sources/frankfurt",
    "/sources/frankfurt?location=108",
    "/week",
    "/week?scope=city:Bonn",
    "/week?scope=source:impfthueringen",
    "/times",
    "/times?scope=source:bonn",
    "/times?scope=city:Dresden",
    "/cities",
    "/api/sources",
    "/api/hourly?source=kassel",
    "/api/cities",
)


def test_real_week_every_page_under_a_second(shared_dir, backend, tmp_path):
    db = import_real_week(shared_dir, stores.db_for(backend, tmp_path))
    times: dict[str, dict[str, float]] = {}
    with client(db) as c:
        for path in REAL_PAGES:  # the first request of a page computes what it shows
            t0 = time.perf_counter()
            r = c.get(path)
            times[path] = {"cold": time.perf_counter() - t0}
            assert r.status_code == 200, (path, r.text[:300])
        for path in REAL_PAGES:
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                assert c.get(path).status_code == 200
                runs.append(time.perf_counter() - t0)
            times[path]["warm"] = max(runs)
        overview = c.get("/api/sources").json()
        cities = c.get("/api/cities").json()
        hourly = c.get("/api/hourly").json()
    warmup = _time_warmup(db)
    report = {"backend": backend, "warm_up_seconds": warmup, "pages": times}
    (artifacts(tmp_path) / f"serve-times-{backend}.json").write_text(json.dumps(report, indent=1))
    print(f"\n{backend}: warm-up {warmup:.2f} s")
    for path, t in times.items():
        print(f"  {path:40} cold {t['cold'] * 1000:6.0f} ms  warm {t['warm'] * 1000:5.0f} ms")
    assert len(overview["sources"]) == 36
    assert {s["health"] for s in overview["sources"]} == {"imported"}
    assert cities["week"] == hourly["week"] == "2021-W28"
    assert sum(r["appointments"] for r in cities["cities"]) == hourly["totals"]["appointments"]
    assert hourly["hours"][0] == "2021-07-12 00:00:00" and len(hourly["hours"]) == 168
    slow = {p: t["warm"] for p, t in times.items() if t["warm"] >= WARM_LIMIT}
    assert not slow, f"pages slower than {WARM_LIMIT} s once computed: {slow}"


def _time_warmup(db: str) -> float:
    """Seconds ``serve`` spends filling the cache at start-up (in the background)."""
    from office_schedule.serve.data import Dashboard

    board = Dashboard(load_catalog())
    t0 = time.perf_counter()
    with open_store(db, create=False, readonly=True) as store:
        board.warm(store)
    return time.perf_counter() - t0


def test_memo_keeps_the_newest_version_and_computes_each_once():
    memo = Memo()
    calls = []

    def slow(value):
        def compute():
            calls.append(value)
            time.sleep(0.05)
            return value

        return compute

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: memo.get(("week", "W1"), 1, slow("a")), range(8)))
    assert got == ["a"] * 8 and calls == ["a"]
    assert memo.get(("week", "W1"), 2, slow("b")) == "b" and len(memo) == 1
    assert memo.get(("week", "W1"), 2, slow("c")) == "b"
    with pytest.raises(ZeroDivisionError):
        memo.get(("x",), 1, lambda: 1 / 0)
    assert memo.get(("x",), 1, lambda: 5) == 5  # a failure is not kept


def test_week_helpers():
    assert parse_week("2021-W28") == ("2021-07-12", "2021-07-19")
    assert week_of("2021-07-18") == "2021-W28" and week_of(date(2021, 1, 3).isoformat()) == (
        "2020-W53"
    )
    with pytest.raises(ValueError):
        parse_week("2021-W54")
