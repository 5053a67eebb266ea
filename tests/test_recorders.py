"""Several recorders on one PostgreSQL store share the hosts and survive one being killed.

Measured at the fake servers: no host ever has two requests in flight (each recorder sends
one at a time per host, ``--per-host 1``, so any overlap would be two recorders at once).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import StoreError
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.store import open_store

from . import stores

HOSTS = tuple(f"127.0.0.{i}" for i in range(1, 7))
INTERVAL_MIN = 0.15  # 9 s
LEASE = 3.0


def _spawn(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "office_schedule", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _holders(url) -> dict[str, str]:
    try:
        with open_store(url, readonly=True) as s:
            return {lease["host"]: lease["worker"] for lease in s.leases()}
    except StoreError:  # not created yet
        return {}


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}")


def _overlaps(timeline) -> list:
    bad = []
    for host in {h for h, _, _ in timeline}:
        spans = sorted((a, b) for h, a, b in timeline if h == host)
        bad += [(host, p, n) for p, n in zip(spans, spans[1:], strict=False) if n[0] < p[1]]
    return bad


def test_two_recorders_share_hosts_and_one_takes_over_when_the_other_is_killed(tmp_path):
    url = stores.new_pg_url()
    world = SimWorld(seed=21, n_sources=12, speed=60)
    procs: list[subprocess.Popen] = []
    try:
        with SimServer(world, hosts=HOSTS, latency=0.01) as srv:
            takeover_s, end, killed = _record(srv, url, procs, tmp_path)
            timeline = list(srv.timeline)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"takeover_s={takeover_s:.2f} requests={len(timeline)}")  # for the closing note (-s)
    # dead recorder: expiry (<= lease) plus one renewal period of the survivor (lease / 3)
    assert takeover_s <= LEASE * 4 / 3 + 1.0, takeover_s
    assert _overlaps(timeline) == []
    interval = INTERVAL_MIN * 60
    with open_store(url, readonly=True) as s:
        assert s.leases() == []  # the survivor gave its hosts up on SIGTERM
        for sid in world.sources:
            snaps = s.snapshots(sid)
            times = [r.taken_ts for r in snaps]
            slowest = max(r.duration or 0 for r in snaps)
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            seen = [(round(r.taken_ts - end, 1), r.status, r.duration) for r in snaps]
            assert times, sid
            # never stored twice: no two snapshots of a source within half an interval
            assert min(gaps, default=interval) >= interval / 2, (sid, seen)
            # never dropped: one interval, a takeover and a slow scrape at most
            assert max(gaps, default=0) <= interval + takeover_s + slowest + 1.0, (sid, seen)
            # recorded after the takeover, by the survivor
            assert end - times[-1] <= interval + slowest + 1.0, (sid, seen)
    assert killed.returncode == -signal.SIGKILL


def _record(srv, url: str, procs: list, tmp_path) -> tuple[float, float, subprocess.Popen]:
    """Two recorders; one is killed; returns (takeover seconds, end time, the killed one)."""
    catalog = srv.write_catalog(tmp_path / "sim.csv")
    catalog.write_text(catalog.read_text().replace(",15\n", f",{INTERVAL_MIN}\n"))
    args = ("run", "--catalog", catalog, "--db", url, "-i", "sim-*", "--per-host", 1,
            "--gap", 0.02, "--weeks", 1, "--lease", LEASE)  # fmt: skip
    procs.append(_spawn(*args))
    _wait(lambda: len(_holders(url)) == len(HOSTS), 30, "the first recorder holds all hosts")
    procs.append(_spawn(*args))
    # the first gives idle hosts above its fair share up, the second takes them
    shared = _wait(
        lambda: (h := _holders(url)) and len(h) == len(HOSTS) and len(set(h.values())) == 2
        and all(list(h.values()).count(w) == len(HOSTS) // 2 for w in h.values()) and h,
        30, "both recorders hold half the hosts",
    )  # fmt: skip
    time.sleep(10)  # both record, every source at least once more
    victim = next(iter(shared.values()))
    mine = [h for h, w in shared.items() if w == victim]
    killed = next(p for p in procs if p.pid == int(victim.split(":")[1]))
    survivor = next(p for p in procs if p is not killed)
    killed.send_signal(signal.SIGKILL)  # mid-sweep: some scrape of it is always running
    killed.wait()
    killed_at = time.monotonic()
    taken = _wait(
        lambda: (h := _holders(url)) and all(h.get(x) not in (None, victim) for x in mine) and h,
        LEASE * 3, "the survivor took the dead recorder's hosts over",
    )  # fmt: skip
    takeover_s = time.monotonic() - killed_at
    assert len(set(taken.values())) == 1 and len(taken) == len(HOSTS)
    status = CliRunner().invoke(main, ["status", "--db", url, "--leases", "--format", "json"])
    assert status.exit_code == 0, status.output
    assert {r["host"] for r in json.loads(status.output)} == set(HOSTS)
    time.sleep(12)
    end = time.time()
    survivor.send_signal(signal.SIGTERM)
    _, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err.decode()
    return takeover_s, end, killed
