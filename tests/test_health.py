"""Source health: each fault of the simulator reaches its state, and is told exactly once."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from office_schedule.analysis.health import Thresholds, assess
from office_schedule.cli import main
from office_schedule.simulate import SimServer, SimWorld

FAULTS = {
    "sim-qmatic-01": ("empty", "degraded"),
    "sim-qmatic-02": ("changed", "changed"),
    "sim-qmatic-03": ("500", "failing"),
    "sim-qmatic-04": ("throttle", "blocked"),
}
DISALLOWED = "sim-qmatic-05"
FAST = ("--gap", "0", "--failing-after", "0", "--degraded-after", "0")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _snap(i, status="ok", slots=5, locations=2, error_class=None, message=None):
    return {
        "taken_at": f"2026-12-01 10:{i:02d}:00", "taken_ts": 60.0 * i, "status": status,
        "n_locations": locations, "n_slots": slots, "error_class": error_class,
        "error_message": message, "error_url": None,
    }  # fmt: skip


def test_rules_on_their_own():
    good = [_snap(i) for i in range(6)]
    now = Thresholds(failing_after=0, degraded_after=0)
    assert assess("s", good, now).state == "ok"
    assert assess("s", good, now).since == good[0]["taken_at"]
    zero = assess("s", [*good, _snap(6, slots=0)], now)
    assert (zero.state, zero.since) == ("degraded", _snap(6)["taken_at"])
    # a fully booked office that never had slots in the window is not degraded
    assert assess("s", [_snap(i, slots=0) for i in range(6)], now).state == "ok"
    # one error is not yet "failing" under the default hour, four in an hour are
    error = _snap(6, "error", None, None, "ScrapeError", "HTTP 500")
    assert assess("s", [*good, error], Thresholds()).state == "ok"
    errors = [_snap(6 + 20 * i, "error", None, None, "ScrapeError", "x") for i in range(4)]
    assert assess("s", [*good, *errors], Thresholds()).state == "failing"
    blocked = _snap(6, "error", None, None, "BlockedError", "HTTP 429")
    assert assess("s", [*good, blocked], Thresholds()).state == "blocked"
    page = _snap(6, "error", None, None, "PageError", "unrecognised page")
    assert assess("s", [*good, page], now).state == "changed"
    # a read after failures is a recovery, even with zero slots
    recovered = assess("s", [*good, error, _snap(7, slots=0)], Thresholds())
    assert recovered.state == "ok"
    fewer = [_snap(i, locations=10) for i in range(6)] + [_snap(6, locations=3)]
    assert assess("s", fewer, now).state == "degraded"
    assert assess("s", [], now).state == "unknown"


@pytest.fixture
def hook(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return f"json://{httpserver.host}:{httpserver.port}/hook", httpserver


def _messages(httpserver) -> list[dict]:
    return [json.loads(req.get_data()) for req, _ in httpserver.log if req.path == "/hook"]


def test_every_fault_reaches_its_state_within_two_sweeps_and_is_told_once(tmp_path, hook):
    url, receiver = hook
    world = SimWorld(seed=5, families={"qmatic": 5}, frozen=True)
    with SimServer(world) as srv:
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        db = tmp_path / "s.db"
        sweep = ("snapshot", "--catalog", catalog, "-i", "sim-*", "--db", db, "-q", *FAST)
        sweep = (*sweep, "--notify", url)
        assert cli(*sweep).exit_code == 0
        status = json.loads(cli("status", "--db", db, "--format", "json").output)
        assert {r["health"] for r in status} == {"ok"}
        assert _messages(receiver) == []  # new sources that work are no news
        assert cli("health", "--db", db).exit_code == 0

        for sid, (mode, _) in FAULTS.items():
            srv.set_fault(sid, mode)
        srv.disallow(DISALLOWED)
        _a_day_passes(db)  # robots.txt is read once a day
        before = len(srv.requests_for(DISALLOWED))
        result = cli(*sweep)
        assert result.exit_code == 0
        assert len(srv.requests_for(DISALLOWED)) == before  # robots.txt kept us out
        rows = {r["source_id"]: r for r in json.loads(
            cli("status", "--db", db, "--format", "json", *FAST[2:]).output)}  # fmt: skip
        for sid, (_, state) in FAULTS.items():
            assert rows[sid]["health"] == state, (sid, rows[sid])
        assert rows[DISALLOWED]["health"] == "disallowed"
        assert f"/{DISALLOWED}/" in rows[DISALLOWED]["health_detail"]
        problems = json.loads(
            cli("status", "--db", db, "--problems", "--format", "json", *FAST[2:]).output
        )
        assert len(problems) == 5
        checked = cli("health", "--db", db, *FAST[2:])
        assert checked.exit_code == 1 and "5 not ok" in checked.output
        assert (
            cli("health", "--db", db, "-i", "sim-qmatic-01", "--degraded-after", "1d").exit_code
            == 0
        )

        told = _messages(receiver)
        assert len(told) == 5
        assert {m["title"].split()[1] for m in told} == {*FAULTS, DISALLOWED}
        assert all("was ok" in m["title"] for m in told)

        # the same faults again: no new message
        assert cli(*sweep).exit_code == 0
        assert len(_messages(receiver)) == 5

        # the faults end: one message per recovery, and none for the source still disallowed
        for sid in FAULTS:
            srv.set_fault(sid, None)
        assert cli(*sweep).exit_code == 0
        told = _messages(receiver)[5:]
        assert sorted(m["title"].split()[1] for m in told) == sorted(FAULTS)
        assert all(m["title"].endswith(f"is ok (was {FAULTS[m['title'].split()[1]][1]})")
                   for m in told)  # fmt: skip


def _a_day_passes(db) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE robots SET fetched_ts = fetched_ts - 86400")


def test_a_broken_notification_url_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        main, ["snapshot", "--db", str(tmp_path / "s.db"), "--notify", "nonsense://x"]
    )
    assert result.exit_code == 2
    assert "not a notification URL" in result.output
