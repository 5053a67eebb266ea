"""Politeness proven where it matters: at the (simulated) servers, over real loopback HTTP.

Each host records when every request arrived and was answered (``SimServer.timeline``);
the assertions read that record, never the client's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx2
import pytest

from office_schedule.families import resolve_politeness
from office_schedule.fetch import Fetcher
from office_schedule.fetch.client import HostLane
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS
from office_schedule.simulate.server import family_hosts
from office_schedule.store import SQLiteStore
from office_schedule.sweep import run_sweep

JITTER = 0.010  # clock and scheduling noise between the client's timers and the server's
#: the declared gaps, scaled so that a sweep of every family fits the test's time budget
#: (BerlinWeb's 3 s and SmartCJM's 5 s would take minutes); bench/pace.py checks them unscaled
GAP_SCALE = 0.1


def sweep(srv: SimServer, tmp_path: Path, scale: float = 1.0, weeks: int = 1, name: str = "p"):
    """One ``run_sweep`` of the server's sources with the politeness the CLI would use."""
    sources = srv.sources()
    base, per_host = resolve_politeness(sources)
    scaled = {h: dataclasses.replace(p, min_gap=p.min_gap * scale) for h, p in per_host.items()}
    base = dataclasses.replace(base, min_gap=base.min_gap * scale)

    async def go(store: SQLiteStore):
        async with Fetcher(base, host_overrides=scaled) as fetcher:
            return await run_sweep(sources, store, fetcher, weeks)

    with SQLiteStore(tmp_path / f"{name}.db") as store:
        results = asyncio.run(go(store))
    return results, base, scaled


def host_spans(srv: SimServer, host: str, since: float = 0.0) -> list[tuple[float, float]]:
    return sorted((a, b) for h, a, b in list(srv.timeline) if h == host and a >= since)


def test_every_family_keeps_its_lanes_and_gaps_at_the_server(tmp_path):
    world = SimWorld(seed=5, families={f: 2 for f in FAMILY_SERVERS}, frozen=True)
    assignment = family_hosts(world)
    family_of = {host: world.sources[sid].family for sid, host in assignment.items()}
    # a little latency, so that requests a lane lets through together really overlap
    with SimServer(world, hosts=tuple(family_of), assignment=assignment, latency=0.02) as srv:
        results, base, per_host = sweep(srv, tmp_path, scale=GAP_SCALE)
        assert not [r.error for r in results if r.error]
        seen_overlap = False
        for host, family in family_of.items():
            wanted = per_host.get(host, base)
            most, pause = srv.pace(host)
            assert len(host_spans(srv, host)) >= 2, family
            assert most <= wanted.per_host_concurrency, (family, most)
            seen_overlap |= most > 1
            if wanted.per_host_concurrency == 1:
                assert pause is not None and pause >= wanted.min_gap - JITTER, (family, pause)
        assert seen_overlap  # else the lanes were never put to the test


def one_source(family: str, **kw) -> tuple[SimWorld, str]:
    world = SimWorld(seed=3, families={family: 1}, frozen=True, **kw)
    (sid,) = world.sources
    return world, sid


@pytest.mark.parametrize("value", ["2", "date+2"], ids=["seconds", "http-date"])
def test_retry_after_is_waited_out_exactly_then_retried(tmp_path, value):
    world, sid = one_source("impfthueringen")
    with SimServer(world) as srv:
        srv.set_retry_after(sid, value)
        srv.set_fault(sid, "429", requests=1)
        (result,) = sweep(srv, tmp_path)[0]
        assert result.status == "ok", result.error
        (first, second, *_) = host_spans(srv, "127.0.0.1")
        waited = second[0] - first[1]  # the 429's answer -> the next request's arrival
        assert 2.0 <= waited < 2.0 + 1.5, waited
        assert sid not in srv.faults  # the storm is spent, the source answers normally


def test_long_retry_after_fails_the_source_at_once(tmp_path):
    world, sid = one_source("impfthueringen")
    with SimServer(world) as srv:
        srv.set_fault(sid, "429")  # the default Retry-After: 3600
        started = time.monotonic()
        (result,) = sweep(srv, tmp_path)[0]
        assert time.monotonic() - started < 2.0
        assert result.status == "error"
        assert result.error.startswith("BlockedError: HTTP 429")
        assert "wait 3600 s (Retry-After), longer than the 120 s we wait" in result.error
        assert len(srv.requests_for(sid)) == 1  # not retried


def test_403_fails_without_retry(tmp_path):
    world, sid = one_source("impfthueringen")
    with SimServer(world) as srv:
        srv.set_fault(sid, "403")
        (result,) = sweep(srv, tmp_path)[0]
        assert result.status == "error" and "HTTP 403" in result.error
        assert len(srv.requests_for(sid)) == 1


def test_storm_on_one_host_leaves_the_other_host_at_its_pace(tmp_path):
    world = SimWorld(seed=4, families={"netappoint": 2}, frozen=True)
    a_sid, b_sid = world.sources
    hosts = ("127.0.0.1", "127.0.0.2")
    with SimServer(world, hosts=hosts, assignment={a_sid: hosts[0], b_sid: hosts[1]}) as srv:
        sweep(srv, tmp_path, name="baseline")
        base_b = host_spans(srv, hosts[1])
        mark = time.monotonic()
        srv.set_retry_after(a_sid, "2")
        srv.set_fault(a_sid, "429", requests=2)  # two 429s: A rests 2 s, twice
        results = {r.source_id: r for r in sweep(srv, tmp_path, name="storm")[0]}
        storm_a, storm_b = host_spans(srv, hosts[0], mark), host_spans(srv, hosts[1], mark)
    assert results[a_sid].status == "ok" and results[b_sid].status == "ok"
    assert storm_a[1][0] - storm_a[0][1] >= 2.0 and storm_a[2][0] - storm_a[1][1] >= 2.0
    assert len(storm_b) == len(base_b)

    def offsets(spans):
        return [a - spans[0][0] for a, _ in spans]

    # B's requests come at the same moments after its first one, storm on A or not
    for before, during in zip(offsets(base_b), offsets(storm_b), strict=True):
        assert abs(during - before) < 0.25 + 0.1 * before, (before, during)
    assert storm_b[-1][1] < storm_a[-1][0] - 1.0  # B was done while A still rested


def test_fault_endpoint_sets_a_storm_and_its_retry_after():
    world, sid = one_source("tevis")
    with SimServer(world) as srv, httpx2.Client() as client:
        base = srv.urls[0]
        query = {"source": sid, "mode": "429", "requests": "1", "retry_after": "date+2"}
        assert client.get(f"{base}/__fault__", params=query).status_code == 200
        first = client.get(srv.base_url(sid) + "/")
        second = client.get(srv.base_url(sid) + "/")
        bad = client.get(f"{base}/__fault__", params={**query, "retry_after": "soon"})
    assert first.status_code == 429 and "GMT" in first.headers["Retry-After"]
    assert second.status_code != 429
    assert bad.status_code == 400 and "neither seconds nor an HTTP-date" in bad.text


def test_a_request_cancelled_while_its_host_rests_gives_its_lane_back():
    async def go():
        lane = HostLane(1, 0.0)
        lane.pause(30)  # e.g. a Retry-After; the source is then abandoned (timeout)
        waiting = asyncio.create_task(lane.acquire())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        lane.paused_until = 0.0
        await asyncio.wait_for(lane.acquire(), timeout=1)  # the one lane is free again

    asyncio.run(go())
