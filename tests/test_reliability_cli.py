"""Reliability of the CLI: store failures, locks, offline sweeps, read-only stores, input
validation and the README's simulator check (issue 13)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from office_schedule.cli import dumps, main
from office_schedule.clock import local_from_ts
from office_schedule.errors import StoreError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld, serve
from office_schedule.store import SQLiteStore, open_store, schema
from office_schedule.sweep import DEFAULT_WEEKS, run_forever, run_plan, run_sweep, spread_offset

from .conftest import ROOT

SRC = str(ROOT / "src")


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


def flat(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def count(db, status=None) -> int:
    conn = sqlite3.connect(db)
    try:
        sql = "SELECT count(*) FROM snapshots" + (" WHERE status = ?" if status else "")
        return conn.execute(sql, (status,) if status else ()).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tevis_sim(tmp_path_factory):
    world = SimWorld(seed=13, families={"tevis": 6}, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        catalog = srv.write_catalog(tmp_path_factory.mktemp("sim") / "sim.csv")
        yield srv, catalog


@pytest.fixture(scope="module")
def recorded(tevis_sim, tmp_path_factory):
    """A folder holding one store with two sweeps of the tevis simulator."""
    _, catalog = tevis_sim
    folder = tmp_path_factory.mktemp("recorded")
    for _ in range(2):
        result = cli(
            "snapshot",
            "--catalog",
            catalog,
            "--db",
            folder / "s.db",
            "-i",
            "sim-*",
            "--gap",
            0,
            "-q",
        )
        assert result.exit_code == 0, result.output
    (folder / "s.db.lock").unlink()
    return folder / "s.db"


# -- 1. store failures -----------------------------------------------------------------------


def _full_store(path) -> SQLiteStore:
    """A real store whose file may not grow: SQLite answers "database or disk is full"."""
    store = SQLiteStore(path)
    store.conn.execute("VACUUM")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    return store


def test_a_full_store_is_a_store_error_naming_the_file(tmp_path):
    store = _full_store(tmp_path / "full.db")
    saved = 0
    with pytest.raises(schema.StoreWriteError, match=r"full\.db: database or disk is full"):
        for _ in range(200):
            now = time.time()
            store.save_snapshot(
                "x",
                local_from_ts(now),
                now,
                raw={"pad": os.urandom(3000).hex()},
                error=("E", "m", None),
            )
            saved += 1
    assert saved >= 1
    assert count(tmp_path / "full.db") == saved  # the failed write left nothing behind
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_snapshot_stops_cleanly_when_the_disk_is_full(tevis_sim, tmp_path, monkeypatch):
    _, catalog = tevis_sim
    db = tmp_path / "full.db"
    import office_schedule.cli.scrape as scrape_cli

    monkeypatch.setattr(scrape_cli, "open_store", lambda path: _full_store(path))
    result = cli(
        "snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", 0, "--per-host", 1
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "the sweep stopped: cannot write to store" in flat(result)
    assert "database or disk is full" in flat(result)
    said = re.search(
        r"6 sources: (\d+) stored .* (\d+) scraped but not stored .* (\d+) not started",
        flat(result),
    )
    assert said, result.output
    stored, unstored, skipped = map(int, said.groups())
    assert unstored >= 1 and skipped >= 1 and stored + unstored + skipped == 6
    assert count(db) == stored
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_run_sweep_starts_nothing_after_a_failed_write(tevis_sim, tmp_path):
    srv, _ = tevis_sim
    store = SQLiteStore(tmp_path / "s.db")
    store.conn.execute("CREATE TABLE pad (x BLOB)")
    results = []

    def fill(result):  # the disk fills up, to its last byte, after the first snapshot
        results.append(result)
        if len(results) == 1:
            pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
            store.conn.execute(f"PRAGMA max_page_count = {pages}")
            for size in (4096, 512, 64, 8, 1):
                try:
                    while True:
                        store.conn.execute("INSERT INTO pad VALUES (?)", (b"x" * size,))
                except sqlite3.OperationalError:
                    pass

    async def go():
        async with Fetcher(Politeness(min_gap=0, per_host_concurrency=1)) as fetcher:
            return await run_sweep(srv.sources(), store, fetcher, on_result=fill)

    asyncio.run(go())
    statuses = [r.status for r in results]
    assert statuses[0] == "ok" and "skipped" in statuses
    unstored = [r for r in results if r.status == "unstored"]
    assert unstored and all("disk is full" in r.store_error for r in unstored)
    assert all(r.pending is not None for r in unstored)
    assert len(store.snapshots()) == sum(s in ("ok", "unchanged", "error") for s in statuses)
    store.close()


def test_run_keeps_its_schedule_and_stores_kept_snapshots_later(tmp_path):
    world = SimWorld(seed=5, families={"tevis": 2}, speed=60)
    db = tmp_path / "run.db"
    with SimServer(world) as srv:
        sources = [replace(s, interval_minutes=0.01) for s in srv.sources()]  # every 0.6 s
        store = SQLiteStore(db)
        store.conn.execute("PRAGMA busy_timeout = 50")
        blocker = sqlite3.connect(db, isolation_level=None)
        results, notices = [], []

        async def until(check, seconds=30.0):
            deadline = time.monotonic() + seconds
            while not check():
                assert time.monotonic() < deadline, notices
                await asyncio.sleep(0.05)

        async def go():
            stop = asyncio.Event()
            async with Fetcher(Politeness(min_gap=0)) as fetcher:
                task = asyncio.create_task(
                    run_forever(
                        sources,
                        store,
                        fetcher,
                        stop,
                        on_result=results.append,
                        notice=notices.append,
                        retry_base=0.2,
                    )
                )
                await until(lambda: len(results) >= 2)
                blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                blocked_at = time.time()
                await until(lambda: sum("FAILED again" in n for n in notices) >= 2)
                before = blocker.execute("SELECT count(*) FROM snapshots").fetchone()[0]
                blocker.execute("ROLLBACK")
                freed_at = time.time()
                await until(lambda: any("takes writes again" in n for n in notices))
                stop.set()
                return await task, blocked_at, freed_at, before

        stored, blocked_at, freed_at, before = asyncio.run(go())
        store.close()
        blocker.close()
    assert any(
        n.startswith("STORE WRITE FAILED for") and "database is locked" in n for n in notices
    )
    kept = [int(m[1]) for n in notices if (m := re.search(r"(\d+) snapshots kept", n))]
    assert kept and max(kept) <= len(sources)  # the newest per source, no more
    assert count(db) == stored and count(db) > before
    conn = sqlite3.connect(db)
    late = conn.execute(
        "SELECT count(*) FROM snapshots WHERE taken_ts > ? AND taken_ts < ?", (blocked_at, freed_at)
    ).fetchone()[0]
    assert late >= 1  # scraped while the store was locked, stored afterwards
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# -- 2. locks on the real file -------------------------------------------------------------


def test_lock_is_taken_on_the_real_file_and_names_its_holder(tevis_sim, tmp_path):
    _, catalog = tevis_sim
    real = tmp_path / "data" / "s.db"
    real.parent.mkdir()
    SQLiteStore(real).close()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    code = (
        "import sys; from office_schedule.store import SQLiteStore; "
        "s = SQLiteStore(sys.argv[1]); s.acquire_lock(); print('locked', flush=True); "
        "sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(real)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with SQLiteStore(link) as other, pytest.raises(StoreError) as info:
            other.acquire_lock()
        text = str(info.value)
        assert f"store {real.resolve()} is locked by another office-schedule process" in text
        assert re.search(
            rf"pid {holder.pid} on host {re.escape(socket.gethostname())} "
            r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
            text,
        ), text
        result = cli("snapshot", "--catalog", catalog, "--db", link, "-i", "sim-*", "-q")
        assert result.exit_code == 2 and f"pid {holder.pid}" in flat(result)
        assert count(real) == 0
    finally:
        holder.communicate(b"", timeout=30)
    with SQLiteStore(link) as free:
        free.acquire_lock()


# -- 3. offline and all-failed sweeps ------------------------------------------------------


def _dead_catalog(tmp_path) -> Path:
    """A catalog of simulated sources on two loopback hosts nobody listens on any more."""
    world = SimWorld(seed=2, families={"tevis": 3, "zms": 3})
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        return srv.write_catalog(tmp_path / "dead.csv")


def test_snapshot_with_every_host_refusing_says_no_network_and_exits_1(tmp_path):
    catalog = _dead_catalog(tmp_path)
    result = cli("snapshot", "--catalog", catalog, "--db", tmp_path / "d.db", "-i", "sim-*", "-q")
    assert result.exit_code == 1, result.output
    assert "no network? 2 of 2 hosts unreachable: 127.0.0.1, 127.0.0.2" in flat(result)
    assert "every source failed (6 of 6)" in flat(result)
    assert count(tmp_path / "d.db", "error") == 6


def test_unresolvable_hosts_are_reported_early(tmp_path):
    text = _dead_catalog(tmp_path).read_text()
    text = re.sub(r"http://127\.0\.0\.(\d):\d+", r"http://h\1.nonexistent.invalid", text)
    catalog = tmp_path / "invalid.csv"
    catalog.write_text(text)
    result = cli("snapshot", "--catalog", catalog, "--db", tmp_path / "i.db", "-i", "sim-*", "-q")
    assert result.exit_code == 1
    assert "no network? 2 of 2 hosts unreachable: h1.nonexistent.invalid" in flat(result)
    # early: the warning comes with the first answer of each host, not after the sweep
    from office_schedule.catalog import load_catalog, select_sources

    sources = select_sources(load_catalog([catalog]), ["sim-*"], [], [])
    seen, said_after = [], []

    async def go():
        async with Fetcher(Politeness(min_gap=0, attempts=1)) as fetcher:
            await run_sweep(
                sources,
                SQLiteStore(tmp_path / "j.db"),
                fetcher,
                on_result=seen.append,
                notice=lambda text: said_after.append((len(seen), text)),
            )

    asyncio.run(go())
    assert len(said_after) == 1 and said_after[0][0] <= 2 < len(sources)


def test_a_working_sweep_says_nothing_of_the_network(tevis_sim, tmp_path):
    _, catalog = tevis_sim
    result = cli(
        "snapshot",
        "--catalog",
        catalog,
        "--db",
        tmp_path / "ok.db",
        "-i",
        "sim-*",
        "--gap",
        0,
        "-q",
    )
    assert result.exit_code == 0 and "no network" not in result.output


def test_run_prints_its_plan(tevis_sim, tmp_path):
    srv, catalog = tevis_sim
    sources = srv.sources()
    lines = run_plan(sources, time.time())
    assert lines[0] == "plan: 6 sources on 2 hosts (6 every 15 min)"
    first = {
        h: min(spread_offset(s.id, 900) for s in sources if s.host == h)
        for h in ("127.0.0.1", "127.0.0.2")
    }
    for host, offset in first.items():
        assert any(
            line.strip().startswith(f"{host}: 3 sources, first snapshot at")
            and f"(in {offset:.0f} s)" in line
            for line in lines
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from office_schedule.cli import main; main()",
            "run",
            "--catalog",
            str(catalog),
            "--db",
            str(tmp_path / "r.db"),
            "-i",
            "sim-*",
        ],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        head = [proc.stderr.readline().decode() for _ in range(4)]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert head[0].startswith("plan: 6 sources on 2 hosts (6 every 15 min)"), head
    assert "first snapshot at" in head[1] and "running 6 sources into" in head[3]
    assert proc.returncode == 0 and b"stopped after" in err


# -- read-only stores ----------------------------------------------------------------------


@contextmanager
def read_only(path: Path):
    """Make a file or folder read-only even for root (chattr +i), else by its mode."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        # as root chmod changes nothing; without chattr the read-only URI test below remains
        pytest.skip(f"root cannot make {path} read-only here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


READERS = [
    ("status", "--format", "json"),
    ("health",),
    ("show", "sim-tevis-01", "--format", "json"),
    ("insights", "--format", "json"),
    ("events", "--format", "json"),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_open_the_store_read_only(recorded, tmp_path):
    before = _digest(recorded)
    store = open_store(recorded, create=False, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly|query_only"):
        store.conn.execute("DELETE FROM snapshots")
    store.close()
    for args in READERS:
        assert cli(*args, "--db", recorded).exit_code in (0, 1), args
    assert cli("export", "--db", recorded, "--out", tmp_path / "x", "--incomplete").exit_code == 0
    assert _digest(recorded) == before


def test_readers_work_on_a_read_only_folder(recorded, tmp_path, tevis_sim):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "s.db"
    db.write_bytes(recorded.read_bytes())  # no -wal/-shm beside it
    with read_only(folder):
        for args in READERS:
            result = cli(*args, "--db", db)
            assert result.exit_code in (0, 1) and "Traceback" not in result.output, args
        shown = json.loads(cli("show", "sim-tevis-02", "--db", db, "--format", "json").output)
        assert sum(map(len, shown.values())) > 0
        writer = cli("snapshot", "--catalog", tevis_sim[1], "--db", db, "-i", "sim-*", "-q")
        assert writer.exit_code == 2 and f"cannot open store {db}" in writer.output


def test_a_read_only_file_fails_writers_with_a_message(recorded, tmp_path, tevis_sim):
    _, catalog = tevis_sim
    db = tmp_path / "s.db"
    db.write_bytes(recorded.read_bytes())
    with read_only(db):
        assert cli("status", "--db", db).exit_code == 0
        result = cli("snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "-q")
        assert result.exit_code == 2, result.output
        assert f"cannot write to store {db}: attempt to write a readonly database" in flat(result)
        assert "Traceback" not in result.output
    assert count(db) == count(recorded)


def _store_at_version(path: Path, version: int) -> None:
    from office_schedule.store.db import SQLiteDB

    conn = sqlite3.connect(path, isolation_level=None)
    for number in range(min(version, schema.SCHEMA_VERSION)):
        schema.run_migration(SQLiteDB(conn, str(path)), schema.MIGRATIONS[number])
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def test_an_older_store_opened_read_only_asks_for_an_upgrade(tmp_path):
    db = tmp_path / "old.db"
    _store_at_version(db, 2)
    result = cli("status", "--db", db)
    assert result.exit_code == 2
    assert "schema version 2, older than this office-schedule" in flat(result)
    assert "run any writing command to upgrade" in flat(result)
    SQLiteStore(db).close()  # a writer migrates
    assert cli("status", "--db", db).exit_code == 0


def test_a_newer_store_is_refused_with_a_message(tmp_path, tevis_sim):
    db = tmp_path / "new.db"
    _store_at_version(db, schema.SCHEMA_VERSION + 1)
    want = (
        f"store {db} has schema version {schema.SCHEMA_VERSION + 1}, newer than this "
        f"office-schedule ({schema.SCHEMA_VERSION}): upgrade office-schedule"
    )
    for args in (("status",), ("snapshot", "--catalog", tevis_sim[1], "-i", "sim-*", "-q")):
        result = cli(*args, "--db", db)
        assert result.exit_code == 2 and want in flat(result), args


# -- 4. input validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("snapshot", "-w", "-1"),
        ("snapshot", "-w", "0"),
        ("snapshot", "--timeout", "0"),
        ("snapshot", "--gap", "-1"),
        ("snapshot", "--per-host", "0"),
        ("run", "-w", "-1"),
        ("simulate", "serve", "--port", "70000"),
        ("simulate", "serve", "--port", "-1"),
        ("simulate", "serve", "--speed", "0"),
        ("simulate", "serve", "--latency", "-0.5"),
        ("simulate", "serve", "--flicker", "1.5"),
    ],
)
def test_out_of_range_options_are_usage_errors(args, tmp_path):
    db = tmp_path / "x.db"
    extra = [] if args[0] == "simulate" else ["--db", str(db), "-i", "frankfurt"]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert "is not in the range" in result.output
    assert not db.exists()


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            [
                "simulate",
                "serve",
                "--port",
                str(port),
                "--family",
                "tevis",
                "--catalog-out",
                str(tmp_path / "c.csv"),
            ],
        )
    assert result.exit_code == 1
    assert result.output.strip() == f"error: port {port} on 127.0.0.1 is in use"


def test_json_never_holds_nan(recorded):
    assert dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": (float("-inf"),)}) == (
        '{"a": null, "b": [null, 1.5], "c": [null]}'
    )

    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    out = cli("insights", "--db", recorded, "--format", "json")
    assert out.exit_code == 0
    tables = json.loads(out.output, parse_constant=refuse)
    # nothing was booked in a frozen world: the cancellation rate is 0/0, shown as null
    assert tables["weekly"] and all(r["cancellation_rate"] is None for r in tables["weekly"])
    for args in (("status", "--format", "json"), ("health", "--format", "json")):
        json.loads(cli(*args, "--db", recorded).output, parse_constant=refuse)


# -- 5. the README's simulator check -------------------------------------------------------


def _readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it offline with the simulator", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_simulator_check_works_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OFFICE_SCHEDULE_DB", raising=False)
    serve_line, *commands = _readme_block()
    args = shlex.split(serve_line.rstrip("&"))
    assert args[:3] == ["office-schedule", "simulate", "serve"], serve_line
    assert args[3:] == ["--port", "8800", "--sources", "2", "--frozen", "--catalog-out", "sim.csv"]
    port = _free_port()
    from office_schedule.simulate.families import FAMILY_SERVERS

    stop = threading.Event()
    server = threading.Thread(
        target=serve,
        kwargs=dict(
            port=port,
            catalog_out="sim.csv",
            n_sources=2,
            frozen=True,
            families={f: 2 for f in FAMILY_SERVERS},
            stop=stop,
            echo=lambda _t: None,
        ),
    )
    server.start()
    try:
        deadline = time.monotonic() + 30
        while not Path("sim.csv").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        truth = None
        for line in commands:
            words = shlex.split(line.split("#", 1)[0])
            if words[0] == "curl":
                url = words[-1].replace(":8800", f":{port}")
                truth = httpx2.get(f"http://{url}").json()
                continue
            assert words[0] == "office-schedule", line
            result = cli(*words[1:])
            assert result.exit_code == 0, (line, result.output)
    finally:
        stop.set()
        server.join(timeout=30)
    assert truth is not None
    stored = json.loads(cli("status", "--format", "json").output)
    assert len(stored) >= 10 and all(r["errors"] == 0 for r in stored)
    differ = []
    for row in stored:
        shown = json.loads(cli("show", row["source_id"], "--format", "json").output)
        if shown != truth[row["source_id"]]:
            differ.append(row["source_id"])
    assert differ == [], f"{len(differ)} of {len(stored)} sources differ"
    assert DEFAULT_WEEKS == 4  # the README names "?weeks=4" nowhere: the defaults agree


def test_a_scrape_with_implausible_slot_times_is_stored_as_an_error_naming_the_url(tmp_path):
    """A site whose calendar is two years behind (a broken clock): its slots are refused."""
    from datetime import timedelta

    from office_schedule.clock import local_now
    from office_schedule.simulate import SimServer, SimWorld

    behind = local_now() - timedelta(days=2 * 365)
    world = SimWorld(seed=4, families={"tempus": 1}, frozen=True, start=behind)
    with SimServer(world) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        db = tmp_path / "s.db"
        result = CliRunner().invoke(
            main,
            ["snapshot", "--catalog", str(catalog), "-i", "sim-*", "--db", str(db), "-q",
             "--gap", "0"],
        )  # fmt: skip
    assert result.exit_code == 1, result.output  # every source failed
    with SQLiteStore(db) as store:
        (row,) = store.conn.execute(
            "SELECT status, error_class, error_message, error_url FROM snapshots"
        ).fetchall()
    assert row[:2] == ("error", "ImplausibleTime")
    assert "sim-tempus-01" in (row[3] or "") and row[2]
