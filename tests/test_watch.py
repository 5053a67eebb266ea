"""Watches: each newly free matching slot of the simulator is told once, and only those."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner
from werkzeug.wrappers import Response

from office_schedule.cli import main
from office_schedule.clock import local_now
from office_schedule.model import Location, ParsedSnapshot
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.store import open_store
from office_schedule.watch import Rule, RuleError

from . import stores

SOURCE, OTHER = "sim-tevis-01", "sim-tevis-02"
#: the watch: by source name, a service only location 193 offers, weekday mornings 08-10
WATCH = ("-i", "Simulierte Stadt 01", "--service", "gewerbe an*", "--weekday", "Mon-Fri",
         "--between", "08:00-10:00")  # fmt: skip
LISTED = re.compile(r"^  \w{3} (\d{4}-\d{2}-\d{2})  ([\d: ]+)$")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def flat(result) -> str:
    """The output in one line (rich wraps long lines)."""
    return " ".join(result.output.split())


@pytest.fixture
def hook(httpserver):
    """A json:// Apprise target; ``hook.status`` is what it answers."""

    class Hook:
        def __init__(self):
            self.url = f"json://localhost:{httpserver.port}/hook"
            self.status = 200
            self.received: list[tuple[float, dict]] = []  # (arrival, message)
            self.refused = 0

        @property
        def messages(self) -> list[dict]:
            return [m for _, m in self.received]

    target = Hook()

    def answer(request):
        if target.status != 200:
            target.refused += 1
            return Response("down", status=target.status)
        target.received.append((time.time(), json.loads(request.get_data())))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(answer)
    return target


def listed(body: str) -> set[tuple[str, datetime]]:
    """(location, slot) of every slot a message lists."""
    out, loc = set(), None
    for line in body.splitlines():
        header = re.match(r"^.*\((\w+)\):$", line)
        if header:
            loc = header[1]
        elif match := LISTED.match(line):
            for hhmm in match[2].split():
                out.add((loc, datetime.strptime(f"{match[1]} {hhmm}", "%Y-%m-%d %H:%M")))
    return out


class Sim:
    """A frozen simulated world whose slots the test frees (cancellations) and books."""

    def __init__(self, srv: SimServer, catalog, db):
        self.srv, self.world, self.catalog, self.db = srv, srv.world, catalog, db

    def loc(self, sid: str, loc_id: str):
        return self.world.sources[sid].locations[loc_id]

    def booked(self, sid: str, loc_id: str, n: int, match) -> list[datetime]:
        start = self.world.start + timedelta(hours=1)
        chosen = sorted(s for s in self.loc(sid, loc_id).booked
                        if start < s < start + timedelta(days=14) and match(s))[:n]  # fmt: skip
        assert len(chosen) == n, (sid, loc_id, n)
        return chosen

    def free(self, sid: str, loc_id: str, slots) -> None:
        with self.world.lock:
            self.loc(sid, loc_id).booked.difference_update(slots)

    def book(self, sid: str, loc_id: str, slots) -> None:
        with self.world.lock:
            self.loc(sid, loc_id).booked.update(slots)

    def snapshot(self):
        result = cli("snapshot", "--catalog", self.catalog, "-i", "sim-*", "--db", self.db,
                     "--gap", 0, "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        return result


def morning(s: datetime) -> bool:
    return s.weekday() < 5 and 8 <= s.hour < 10


@pytest.fixture
def sim(tmp_path, db_url):
    world = SimWorld(seed=5, n_sources=2, frozen=True)
    with SimServer(world) as srv:
        yield Sim(srv, srv.write_catalog(tmp_path / "sim.csv"), db_url)


# -- the rules on their own ----------------------------------------------------------------


def test_rules_match_sources_locations_services_and_the_slot_window():
    rule = Rule.from_options(
        ["sim-*,Stadt*"], ["*mitte*"], ["*pass"], date(2026, 3, 2), date(2026, 3, 8),
        ["Mon-Wed", "7"], ["08:00-12:00", "14:00-15:00"],
    )  # fmt: skip
    assert rule.weekdays == (0, 1, 2, 6) and rule.between == ((480, 720), (840, 900))
    assert Rule.from_json(json.loads(json.dumps(rule.to_json()))) == rule
    assert rule.source_matches("sim-x") and rule.source_matches("b1", "STADT Bonn")
    assert not rule.source_matches("berlin", "Berlin")
    assert rule.location_matches("7", "Bürgerbüro Mitte", ["Reisepass", "Personalausweis"])
    assert not rule.location_matches("7", "Bürgerbüro Mitte", ["Personalausweis"])
    assert not rule.location_matches("7", "Nord", ["Reisepass"])
    slots = [datetime(2026, 3, d, h, m) for d, h, m in
             [(2, 8, 0), (2, 11, 55), (2, 12, 0), (3, 14, 30), (4, 7, 59), (5, 9, 0),
              (8, 9, 0), (9, 9, 0), (1, 9, 0)]]  # fmt: skip
    minutes = np.array([(s - datetime(1970, 1, 1)).total_seconds() // 60 for s in slots])
    mask = rule.slot_mask(minutes, after=0)
    # Mon 08:00 and 11:55 yes, 12:00 no (end excluded), Tue 14:30 yes, Wed 07:59 no,
    # Thu no (weekday), Sun 8th yes, Mon 9th after --until-date, Sun 1st before --from-date
    assert mask.tolist() == [True, True, False, True, False, False, True, False, False]
    assert not rule.slot_mask(minutes, after=float(minutes.max())).any()  # past slots
    assert Rule().describe() == "every free slot"
    for bad in (dict(weekdays=["Funday"]), dict(between=["10:00-09:00"]),
                dict(between=["8-9"]), dict(from_date=date(2026, 3, 2),
                                            until_date=date(2026, 3, 1))):  # fmt: skip
        with pytest.raises(RuleError):
            Rule.from_options(**bad)


# -- the commands --------------------------------------------------------------------------


def test_add_list_remove_round_trip(db_url, hook):
    added = cli("watch", "add", "--db", db_url, *WATCH, "--until-date", "2030-01-31",
                "--notify", hook.url, "--notify", "ntfy://secret-token@ntfy.sh/topic",
                "--name", "gewerbe", "--format", "json")  # fmt: skip
    assert added.exit_code == 0, added.output
    first = json.loads(added.output)["id"]
    second = int(re.search(r"watch (\d+) added", cli("watch", "add", "--db", db_url).output)[1])
    rows = json.loads(cli("watch", "list", "--db", db_url, "--format", "json").output)
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0]["name"] == "gewerbe" and rows[0]["rule"]["until_date"] == "2030-01-31"
    assert rows[0]["describe"] == (
        "source Simulierte Stadt 01; service gewerbe an*; … to 2030-01-31; "
        "Mon,Tue,Wed,Thu,Fri; 08:00-10:00"
    )
    assert all("secret-token" not in u for u in rows[0]["notify"])  # URLs carry tokens
    assert rows[1]["describe"] == "every free slot" and rows[1]["notify"] == []
    assert cli("watch", "list", "--db", db_url).exit_code == 0
    assert cli("watch", "remove", "--db", db_url, first).output == f"watch {first} removed\n"
    rows = json.loads(cli("watch", "list", "--db", db_url, "--format", "json").output)
    assert [r["id"] for r in rows] == [second]
    gone = cli("watch", "remove", "--db", db_url, first)
    assert gone.exit_code == 2 and f"no watch {first}" in gone.output


def test_a_broken_notification_url_exits_2_naming_it(tmp_path, hook):
    db = tmp_path / "s.db"
    result = cli("watch", "add", "--db", db, "--notify", hook.url, "--notify", "nonsense://x/y")
    assert result.exit_code == 2
    assert "nonsense://x/" in result.output and "not a notification URL" in result.output
    assert "--notify" in result.output
    assert not db.exists()  # nothing stored
    bad = cli("watch", "add", "--db", db, "--between", "9-10")
    assert bad.exit_code == 2 and "'9-10' is not HH:MM-HH:MM" in bad.output


# -- exactly once, over the simulator ------------------------------------------------------


def test_each_newly_free_matching_slot_is_told_exactly_once(sim, hook):
    assert cli("watch", "add", "--db", sim.db, *WATCH, "--notify", hook.url).exit_code == 0
    sim.snapshot()  # the first snapshot of a source is the baseline
    sim.snapshot()
    assert hook.messages == []

    wanted = sim.booked(SOURCE, "193", 3, morning)
    sim.free(SOURCE, "193", wanted)
    # cancellations the watch does not want: another service, the afternoon, another source
    sim.free(SOURCE, "363", sim.booked(SOURCE, "363", 2, morning))
    sim.free(SOURCE, "193", sim.booked(SOURCE, "193", 2, lambda s: s.hour >= 13))
    sim.free(OTHER, "56", sim.booked(OTHER, "56", 2, morning))
    sim.snapshot()
    (told,) = hook.messages
    assert listed(told["message"]) == {("193", s) for s in wanted}
    assert told["title"] == "office-schedule: 3 free slots at Simulierte Stadt 01"
    assert f"Book: {sim.srv.base_url(SOURCE)}" in told["message"]

    sim.snapshot()  # nothing new: nothing told
    assert len(hook.messages) == 1

    # a slot taken and free again within the next snapshot is not told twice ...
    flicker = wanted[0]
    sim.book(SOURCE, "193", [flicker])
    sim.snapshot()
    sim.free(SOURCE, "193", [flicker])
    sim.snapshot()
    assert len(hook.messages) == 1
    # ... one gone for two snapshots is news again when it comes back
    sim.book(SOURCE, "193", [flicker])
    sim.snapshot()
    sim.snapshot()
    sim.free(SOURCE, "193", [flicker])
    sim.snapshot()
    assert len(hook.messages) == 2
    assert listed(hook.messages[1]["message"]) == {("193", flicker)}

    # a burst of cancellations is one message listing every slot
    burst = sim.booked(SOURCE, "193", 12, morning)
    sim.free(SOURCE, "193", burst)
    sim.snapshot()
    assert len(hook.messages) == 3
    assert listed(hook.messages[2]["message"]) == {("193", s) for s in burst}
    assert (
        "12 newly free slots at Simulierte Stadt 01 (sim-tevis-01)" in hook.messages[2]["message"]
    )
    for message in hook.messages:  # never a slot the watch does not want
        assert all(loc == "193" and morning(s) for loc, s in listed(message["message"]))

    with open_store(sim.db, readonly=True) as store:
        (row,) = store.watches()
        assert (row["delivered"], row["undelivered"]) == (3, 0)
        assert row["remembered"] == 3 + 12
        assert [t for t, _ in stores.dump(store) if t.startswith("watch")] == [
            "watches", "watch_cursors", "watch_announced", "watch_outbox"
        ]  # fmt: skip


def test_a_cursor_moved_by_another_process_wins(any_store):
    """Two processes evaluating one snapshot: compare-and-set lets one of them store it."""
    store = any_store
    now = local_now()
    slot = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    for i in range(2):
        slots = tuple(slot + timedelta(minutes=5 * k) for k in range(i + 1))
        parsed = ParsedSnapshot({"a": Location("a", "A", ("x",), slots=slots)})
        store.save_snapshot("s", now, time.time() + i, raw={"i": i}, parsed=parsed)
    wid = store.add_watch("", Rule().to_json(), [], "2000-01-01 00:00:00", 0.0)
    (first, ts1), (second, ts2) = ((r.id, r.taken_ts) for r in store.snapshots("s"))
    free = store.free_minutes("s", second)
    assert free["a"][:2] == ("A", ["x"]) and len(free["a"][2]) == 2
    found = ("2026-01-01 00:00:00", [("a", 1)], {}, [], ("title", "body"))
    won, message_id = store.record_watch(wid, "s", None, (first, ts1), *found)
    assert won and message_id
    assert store.record_watch(wid, "s", None, (first, ts1), *found) == (False, None)
    assert store.watch_cursor(wid, "s") == (first, ts1)
    assert store.record_watch(wid, "s", first, (second, ts2), *found[:4], None) == (True, None)
    assert store.record_watch(wid, "s", first, (second, ts2), *found) == (False, None)
    assert len(store.watch_messages()) == 1 and store.watch_announced(wid, "s") == {("a", 1): 0}
    # one process at a time sends a message
    assert store.claim_watch_message(message_id, "w1", 60)
    assert not store.claim_watch_message(message_id, "w2", 60)
    store.finish_watch_message(message_id, {0}, False, "not taken", 3600)
    assert store.watch_messages(due=True) == []  # not before its retry time
    assert store.claim_watch_message(message_id, "w2", 60)
    store.finish_watch_message(message_id, {0, 1}, True, None, 0)
    (msg,) = store.watch_messages()
    assert (msg["done"], msg["attempts"], msg["delivered"]) == (1, 2, {0, 1})
    assert store.remove_watch(wid) and store.watch_messages() == []
    assert store.watch_cursor(wid, "s") is None and not store.remove_watch(wid)


def _time_passes(db, seconds: float = 3600) -> None:
    with open_store(db) as store, store.transaction():
        store.db.execute("UPDATE watch_outbox SET next_ts = next_ts - ?", (seconds,))


def test_a_failing_target_is_retried_logged_and_delivered_later(sim, hook):
    assert cli("watch", "add", "--db", sim.db, *WATCH, "--notify", hook.url).exit_code == 0
    sim.snapshot()
    wanted = sim.booked(SOURCE, "193", 2, morning)
    sim.free(SOURCE, "193", wanted)
    hook.status = 500
    result = sim.snapshot()  # the snapshot is stored all the same
    assert "not taken by json://localhost:" in flat(result) and "attempt 1" in flat(result)
    assert hook.refused == 3 and hook.messages == []  # the Notifier's own three tries
    (row,) = json.loads(cli("watch", "list", "--db", sim.db, "--format", "json").output)
    assert row["undelivered"] == 1 and "not taken by json://localhost:" in row["last_error"]
    sim.snapshot()  # before its retry time the message waits
    assert hook.refused == 3
    _time_passes(sim.db)
    assert "attempt 2" in flat(sim.snapshot()) and hook.refused == 6
    failed = cli("watch", "check", "--db", sim.db, "--catalog", sim.catalog)  # cron: at once
    assert failed.exit_code == 1 and "attempt 3" in flat(failed) and hook.refused == 9
    assert "0 messages delivered, 1 undelivered" in flat(failed)
    hook.status = 200
    _time_passes(sim.db)
    sim.snapshot()  # a new process: the undelivered message is still in the store
    (told,) = hook.messages
    assert listed(told["message"]) == {("193", s) for s in wanted}
    checked = cli("watch", "check", "--db", sim.db, "--catalog", sim.catalog)
    assert checked.exit_code == 0, checked.output
    assert "0 messages delivered, 0 undelivered" in flat(checked)
    sim.snapshot()
    assert len(hook.messages) == 1 and hook.refused == 9
    (row,) = json.loads(cli("watch", "list", "--db", sim.db, "--format", "json").output)
    assert (row["delivered"], row["undelivered"]) == (1, 0)


def test_watch_check_for_cron_evaluates_what_others_stored(tmp_path, hook):
    """Snapshots stored without a watcher (another recorder, an import) are checked by cron."""
    db = tmp_path / "s.db"
    day = (local_now() + timedelta(days=2)).replace(hour=9, minute=0, second=0)
    slots = [day + timedelta(minutes=15 * k) for k in range(4)]

    def store_snapshot(free):
        with open_store(db) as store:
            parsed = ParsedSnapshot({"7": Location("7", "Bürgerbüro Mitte", ("Reisepass",),
                                                   slots=tuple(free))})  # fmt: skip
            store.save_snapshot("town", local_now(), time.time(), raw=[str(s) for s in free],
                                parsed=parsed)  # fmt: skip

    store_snapshot(slots[:1])
    add = ("watch", "add", "--db", db, "--location", "*mitte*", "--notify", hook.url)
    assert cli(*add).exit_code == 0
    assert "0 announcements" in flat(cli("watch", "check", "--db", db))
    store_snapshot(slots)
    checked = cli("watch", "check", "--db", db)
    assert checked.exit_code == 0
    assert "3 newly free slots at town" in flat(checked)
    (told,) = hook.messages
    assert listed(told["message"]) == {("7", s) for s in slots[1:]}
    assert "Book: (no booking URL known)" in told["message"]
    again = cli("watch", "check", "--db", db)
    assert "0 announcements, 0 messages delivered, 0 undelivered" in flat(again)
    assert len(hook.messages) == 1


# -- run: restarted, it repeats nothing ----------------------------------------------------


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "office_schedule", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _snapshots(db) -> list:
    with open_store(db, create=False, readonly=True) as store:
        return store.snapshots()


def _wait(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def test_run_tells_once_and_a_restart_repeats_nothing(sim, hook):
    text = sim.catalog.read_text().replace(",15\n", ",0.02\n")  # every 1.2 s
    sim.catalog.write_text(text)
    run = ("run", "--catalog", sim.catalog, "-i", "sim-*", "--db", sim.db, "--gap", 0)
    assert cli("watch", "add", "--db", sim.db, *WATCH, "--notify", hook.url).exit_code == 0
    proc = _spawn(*run)
    try:
        _wait(lambda: len(_snapshots(sim.db)) >= 4, "two snapshots per source")
        wanted = sim.booked(SOURCE, "193", 3, morning)
        sim.free(SOURCE, "193", wanted)
        sim.free(OTHER, "56", sim.booked(OTHER, "56", 2, morning))
        _wait(lambda: len(hook.messages) == 1, "the message")
        seen = len(_snapshots(sim.db))
        _wait(lambda: len(_snapshots(sim.db)) >= seen + 4, "more snapshots")
    finally:
        err = _stop(proc)
    assert "newly free slots at sim-tevis-01" in err
    assert listed(hook.messages[0]["message"]) == {("193", s) for s in wanted}

    proc = _spawn(*run)  # the same slots are still free: nothing is told again
    try:
        seen = len(_snapshots(sim.db))
        _wait(lambda: len(_snapshots(sim.db)) >= seen + 6, "snapshots after the restart")
        assert len(hook.messages) == 1
        later = sim.booked(SOURCE, "193", 1, morning)
        sim.free(SOURCE, "193", later)
        _wait(lambda: len(hook.messages) == 2, "the second message")
        seen = len(_snapshots(sim.db))
        _wait(lambda: len(_snapshots(sim.db)) >= seen + 4, "more snapshots")
    finally:
        _stop(proc)
    assert len(hook.messages) == 2
    assert listed(hook.messages[1]["message"]) == {("193", s) for s in later}

    # latency: from the snapshot being stored to the message arriving at the target
    with open_store(sim.db, readonly=True) as store:
        messages = store.watch_messages()
        taken = {m["id"]: store.snapshot(m["snapshot_id"]).taken_ts for m in messages}
    for (arrived, _), msg in zip(hook.received, messages, strict=True):
        latency = arrived - taken[msg["id"]]
        evaluated = msg["created_ts"] - taken[msg["id"]]
        print(f"latency {latency * 1000:.1f} ms (evaluated after {evaluated * 1000:.1f} ms)")
        assert 0 <= latency < 5
