"""End to end: sweeps against the simulated tevis servers, checked against /__truth__."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import httpx2
import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.simulate import SimServer, SimWorld


@pytest.fixture(scope="module")
def frozen_sim(tmp_path_factory):
    world = SimWorld(seed=7, n_sources=4, frozen=True)
    faults = {"sim-tevis-03": "500"}
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2"), faults=faults) as srv:
        catalog = tmp_path_factory.mktemp("sim") / "sim.csv"
        srv.write_catalog(catalog)
        yield srv, catalog


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


def test_sweep_equals_truth_and_failures_are_stored(frozen_sim, db_url):
    srv, catalog = frozen_sim
    db = db_url
    result = cli("snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", 0)
    assert result.exit_code == 0, result.output
    assert "3 stored, 1 failed" in result.output
    truth = httpx2.get(f"{srv.urls[0]}/__truth__", params={"weeks": 4}).json()
    for source_id in ("sim-tevis-01", "sim-tevis-02", "sim-tevis-04"):
        shown = cli("show", source_id, "--db", db, "--format", "json")
        assert json.loads(shown.output) == truth[source_id]
        assert sum(map(len, truth[source_id].values())) > 0
    status = json.loads(cli("status", "--db", db, "--format", "json").output)
    by_id = {row["source_id"]: row for row in status}
    assert by_id["sim-tevis-03"]["errors"] == 1
    assert "HTTP 500" in by_id["sim-tevis-03"]["last_error"]
    assert by_id["sim-tevis-01"]["changed"] == 1
    # a second sweep of a frozen world is "unchanged" and keeps the same state
    cli("snapshot", "--catalog", catalog, "--db", db, "-i", "sim-tevis-01", "--gap", 0)
    status = {
        r["source_id"]: r for r in json.loads(cli("status", "--db", db, "--format", "json").output)
    }
    assert status["sim-tevis-01"]["unchanged"] == 1
    table = cli("show", "sim-tevis-01", "--db", db)
    assert "unchanged" in table.output and "free slots" in table.output
    assert cli("status", "--db", db).exit_code == 0


@pytest.mark.parametrize(
    "mode, message",
    [
        ("down", "RemoteProtocolError"),
        ("garbage", "tevis: unrecognised page"),
        ("truncated", "suggest page is cut off"),  # sim-tevis-02 speaks today's flow
        ("dberror", "tevis error page: Es ist ein Datenbank-Fehler aufgetreten"),
        ("expired", "the site lost the session (Kein gültiger Mandant gefunden. (0))"),
        ("slow", "Timeout"),
    ],
)
def test_each_fault_is_a_stored_error_while_others_succeed(tmp_path, mode, message):
    world = SimWorld(seed=3, n_sources=2, frozen=True)
    with SimServer(world, faults={"sim-tevis-02": mode}) as srv:
        srv.slow_seconds = 3
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        db = tmp_path / "s.db"
        args = ["snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", 0]
        result = cli(*args, "--timeout", 1)
        assert result.exit_code == 0, result.output
        status = {
            r["source_id"]: r
            for r in json.loads(cli("status", "--db", db, "--format", "json").output)
        }
        assert status["sim-tevis-01"]["changed"] == 1 and status["sim-tevis-01"]["errors"] == 0
        assert status["sim-tevis-02"]["errors"] == 1
        assert message in status["sim-tevis-02"]["last_error"]
        assert status["sim-tevis-02"]["last_error_url"].startswith("http://127.0.0.1")


def test_server_down_entirely(tmp_path):
    world = SimWorld(seed=3, n_sources=1, frozen=True)
    with SimServer(world) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
    db = tmp_path / "s.db"  # the server is gone now: connection refused
    result = cli("snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", 0)
    assert result.exit_code == 1  # every source failed (the failure is still stored)
    (row,) = json.loads(cli("status", "--db", db, "--format", "json").output)
    assert "ConnectError" in row["last_error"]


def _spawn(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "office_schedule", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def _count(db, status=None):
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        sql = "SELECT count(*) FROM snapshots" + (f" WHERE status = '{status}'" if status else "")
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_mid_sweep_keeps_every_completed_snapshot(tmp_path):
    world = SimWorld(seed=11, n_sources=8, frozen=True)
    with SimServer(world, latency=0.03) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        db = tmp_path / "crash.db"
        proc = _spawn("snapshot", "--catalog", catalog, "--db", db, "-i", "sim-*", "--per-host", 1)
        deadline = time.monotonic() + 60
        while _count(db) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        seen = _count(db)
        proc.kill()
        proc.wait()
    assert seen >= 2
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] >= seen
    conn.close()
    status = json.loads(cli("status", "--db", db, "--format", "json").output)
    assert sum(r["snapshots"] for r in status) >= seen
    for row in status:
        assert cli("show", row["source_id"], "--db", db, "--format", "json").exit_code == 0


def test_run_keeps_sweeping_and_stops_cleanly_on_sigterm(tmp_path):
    world = SimWorld(seed=5, n_sources=2, speed=60)
    with SimServer(world) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        text = catalog.read_text().replace(",15\n", ",0.02\n")  # every 1.2 s
        catalog.write_text(text)
        db = tmp_path / "run.db"
        proc = _spawn("run", "--catalog", catalog, "--db", db, "-i", "sim-*", "--gap", 0)
        deadline = time.monotonic() + 60
        while _count(db) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        # a second run on the same store is refused while the first holds the lock
        second = _spawn("run", "--catalog", catalog, "--db", db, "-i", "sim-*")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2 and b"locked by another" in err
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"stopped after" in err
    assert _count(db) >= 6 and _count(db, "error") == 0
    per_source = json.loads(cli("status", "--db", db, "--format", "json").output)
    assert all(r["snapshots"] >= 2 for r in per_source)
    assert not os.path.exists(str(db) + ".lock") or _lock_free(db)


def _lock_free(db) -> bool:
    import fcntl

    with open(str(db) + ".lock") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
