"""Soak: the real ``office-schedule run`` against the simulator, with faults, for minutes.

The simulator runs in this process (every family on its own loopback host); the recorder
is the real CLI in a subprocess with a catalog whose ``interval_minutes`` is
``--interval`` seconds. Scaling, said plainly: one turn of ``--interval`` wall seconds
stands for 15 simulated minutes (the world runs at ``--speed`` = 900 / interval), so the
default 4 minutes cover 48 turns per source (12 simulated hours); a week at 15 min (672
turns) is ``--minutes 56``. Turns are not shorter because the recorder's back-offs
(1-2.5 s after a hang-up or a 500) and Retry-After waits are real seconds: a 0.4 s turn
would skip turns under every fault. The recorder runs with ``--gap 0`` (the lanes stay
the families'); the simulator's ``slow`` answers take 50 ms, its ``429`` storms are two
answers with ``Retry-After: 1``.

Faults at random (seeded): ``down``, ``500``, ``garbage`` (families that have it),
``slow`` and ``429``, each on one source for about one turn, one spell per turn.
"A full disk" is real for the recorder: its RLIMIT_FSIZE is set to 0 (``prlimit``) for
``--full-disk`` seconds in the middle of the run, so every write to a file fails as on a
full disk (EFBIG; CPython ignores SIGXFSZ), then it is lifted. A minute of it is not the
default: the recorder keeps only the newest unstored snapshot per source, so a full
minute drops ~11 turns per source by design.

Checks: ``PRAGMA integrity_check`` is ok; per source the stored snapshots (ok, unchanged,
error, disallowed) match the turns its schedule had in the run (the same spread offset
``run`` uses), tolerance one per source; every source stored a snapshot after the full
disk; the recorder's RSS (``/proc/PID/status`` VmRSS, after the first two turns and at the
end) grew by at most ``--max-growth-mb``. Last line:
``soak_ok=yes lost=0 rss_growth_mb=X`` (or ``soak_ok=no ...`` with the reasons).

    python bench/soak.py [--minutes 4] [--interval 5] [--full-disk 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS, fault_modes
from office_schedule.simulate.server import family_hosts
from office_schedule.sweep import spread_offset

SOAK_FAULTS = ("down", "500", "garbage", "slow", "429")


def rss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def write_catalog(srv: SimServer, path: Path, interval_s: float) -> list[str]:
    rows = srv.catalog_rows()
    for row in rows:
        row["interval_minutes"] = f"{interval_s / 60:.6f}"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [row["id"] for row in rows]


class Faults(threading.Thread):
    """One random fault spell per turn on one source, lifted after about a turn."""

    def __init__(self, srv: SimServer, interval: float, seed: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.srv, self.interval, self.stop = srv, interval, stop
        self.rng = random.Random(seed)
        self.spells: Counter[str] = Counter()

    def run(self) -> None:
        sids = sorted(self.srv.world.sources)
        while not self.stop.wait(self.interval * self.rng.uniform(0.2, 0.7)):
            sid = self.rng.choice(sids)
            family = self.srv.world.sources[sid].family
            mode = self.rng.choice([m for m in SOAK_FAULTS if m in fault_modes(family)])
            self.srv.set_fault(sid, mode)
            self.spells[mode] += 1
            if self.stop.wait(self.interval * self.rng.uniform(0.8, 1.3)):
                break
            self.srv.set_fault(sid, None)


def expected_turns(sid: str, interval: float, start: float, stop: float) -> int:
    first = start + spread_offset(sid, interval)
    return 0 if stop < first else int((stop - first) // interval) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="wall minutes of recording")
    parser.add_argument("--interval", type=float, default=5.0, help="wall seconds per turn")
    parser.add_argument("--speed", type=float, help="simulated s per s (default 900/interval)")
    parser.add_argument("--sources", type=int, default=1, help="simulated sources per family")
    parser.add_argument("--family", action="append", help="only these families")
    parser.add_argument("--full-disk", type=float, default=3.0, help="seconds of full disk")
    parser.add_argument("--max-growth-mb", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep store and log in this folder")
    args = parser.parse_args()
    interval = args.interval
    speed = args.speed or 900.0 / interval
    families = args.family or list(FAMILY_SERVERS)
    world = SimWorld(seed=args.seed, families={f: args.sources for f in families}, speed=speed)
    assignment = family_hosts(world)
    hosts = tuple(dict.fromkeys(assignment.values()))
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimServer(world, hosts=hosts, assignment=assignment) as srv,
    ):
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db, log_path = folder / "soak.db", folder / "run.log"
        db.unlink(missing_ok=True)
        srv.slow_seconds, srv.retry_after, srv.storm_requests = 0.05, "1", 2
        sids = write_catalog(srv, folder / "catalog.csv", interval)
        cmd = [sys.executable, "-m", "office_schedule", "run", "--catalog",
               str(folder / "catalog.csv"), "--db", str(db), "--gap", "0", "-w", "2"]  # fmt: skip
        for sid in sids:  # named: families off by default run too
            cmd += ["-i", sid]
        report = run_recorder(cmd, srv, args, interval, log_path)
        print(f"{len(sids)} sources, {len(hosts)} hosts, turn {interval:g} s wall = "
              f"{interval * speed / 60:g} simulated min, speed {speed:g}")  # fmt: skip
        return check(db, sids, interval, report)


def run_recorder(cmd, srv: SimServer, args, interval: float, log_path: Path) -> dict:
    """Start the recorder, inject faults and the full disk, sample RSS, stop it."""
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    started = threading.Event()
    marks: dict[str, float] = {}

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "Ctrl-C or SIGTERM stops" in line and not started.is_set():
                marks["start"] = time.time()
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not started.wait(60):
        proc.kill()
        return {"failed": "the recorder did not start", "lines": lines}
    stop = threading.Event()
    faults = Faults(srv, interval, args.seed, stop)
    faults.start()
    run_s = args.minutes * 60
    end = marks["start"] + run_s
    samples: list[float] = []
    disk_at = marks["start"] + run_s / 2
    while (now := time.time()) < end and proc.poll() is None:
        if "disk_full" not in marks and now >= disk_at and args.full_disk > 0:
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, hard))
            marks["disk_full"] = time.time()
            time.sleep(args.full_disk)
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
            marks["disk_free"] = time.time()
        if now - marks["start"] >= 2 * interval:
            if (rss := rss_mb(proc.pid)) is not None:
                samples.append(rss)
        time.sleep(min(1.0, max(0.0, end - time.time())))
    stop.set()
    marks["stop"] = time.time()
    exited_early = proc.poll()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "killed after 120 s"
    reader.join(timeout=5)
    log_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"marks": marks, "rss": samples, "rc": rc, "exited_early": exited_early,
            "lines": lines, "spells": faults.spells, "max_growth": args.max_growth_mb}  # fmt: skip


def check(db: Path, sids: list[str], interval: float, report: dict) -> int:
    reasons: list[str] = []
    if "failed" in report:
        print("\n".join(report["lines"][-20:]))
        print(f"soak_ok=no lost=? rss_growth_mb=? reason={report['failed']!r}")
        return 1
    marks, lines = report["marks"], report["lines"]
    if report["exited_early"] is not None:
        reasons.append(f"the recorder exited early (rc {report['exited_early']})")
    if report["rc"] != 0:
        reasons.append(f"the recorder ended with {report['rc']}")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        reasons.append(f"integrity_check: {integrity}")
    counts: dict[str, Counter[str]] = {sid: Counter() for sid in sids}
    for sid, status, n in conn.execute(
        "SELECT source_id, status, count(*) FROM snapshots GROUP BY source_id, status"
    ):
        counts.setdefault(sid, Counter())[status] = n
    after_disk = dict(
        conn.execute(
            "SELECT source_id, count(*) FROM snapshots WHERE taken_ts > ? GROUP BY source_id",
            (marks.get("disk_free", 0.0),),
        ).fetchall()
    )
    conn.close()
    lost = extra = short = 0
    print(f"{'source':24s}{'expected':>9s}{'stored':>7s}{'ok':>5s}{'same':>5s}{'error':>6s}")
    for sid in sids:
        want = expected_turns(sid, interval, marks["start"], marks["stop"])
        got = sum(counts[sid].values())
        short += max(0, want - got)
        lost += max(0, want - got - 1)
        extra += max(0, got - want - 1)
        c = counts[sid]
        print(f"{sid:24s}{want:9d}{got:7d}{c['ok']:5d}{c['unchanged']:5d}{c['error']:6d}")
        if "disk_free" in marks and not after_disk.get(sid):
            reasons.append(f"{sid} stored nothing after the full disk")
    if lost:
        reasons.append(f"{lost} snapshots lost beyond the tolerance of one per source")
    if extra:
        reasons.append(f"{extra} snapshots more than scheduled (catch-up bursts?)")
    said = Counter()
    for line in lines:
        for key in ("skipping this turn", "STORE WRITE FAILED", "store takes writes again",
                    "dropped", "replaced", "could not be stored", "Traceback"):  # fmt: skip
            said[key] += key in line
    if said["Traceback"]:
        reasons.append("the recorder printed a traceback")
    rss = report["rss"]
    growth = rss[-1] - rss[0] if len(rss) >= 2 else float("nan")
    if not growth <= report["max_growth"]:
        reasons.append(f"RSS grew {growth:.1f} MB (limit {report['max_growth']:g})")
    spells = ", ".join(f"{m} {n}" for m, n in sorted(report["spells"].items()))
    print(f"fault spells: {spells}; within tolerance {short - lost} missing")
    print("recorder said: " + ", ".join(f"{k!r} x{n}" for k, n in said.items() if n))
    if "disk_full" in marks:
        print(f"full disk {marks['disk_free'] - marks['disk_full']:.1f} s")
    if rss:
        print(f"RSS {rss[0]:.1f} MB after two turns, {rss[-1]:.1f} MB at the end, "
              f"peak {max(rss):.1f} MB ({len(rss)} samples)")  # fmt: skip
    ok = "no" if reasons else "yes"
    tail = f" reason={'; '.join(reasons)!r}" if reasons else ""
    print(f"soak_ok={ok} lost={lost} rss_growth_mb={growth:.1f}{tail}")
    return 1 if reasons else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
