"""Pages that change rarely are kept for a day and reused: fewer requests, the same slots."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from office_schedule.fetch import Fetcher, Politeness
from office_schedule.fetch.daily import DailyPages, page_key
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.store import SQLiteStore
from office_schedule.sweep import run_sweep

FAST = Politeness(min_gap=0, attempts=1, timeout=5)
WEEKS = 4
#: families whose scrapers keep pages (catalogues, service and office lists)
REUSING = {"tevis": 4, "zms": 2, "etermin": 2, "qmatic": 2, "cleverq": 2, "netappoint": 2}


def stored(store, source_ids) -> dict[str, dict[str, list[str]]]:
    """source -> location -> stored slots, as strings."""
    out = {}
    for sid in source_ids:
        state = store.latest_state(sid)
        assert state is not None, f"{sid} stored no state"
        out[sid] = {
            lid: [s.strftime("%Y-%m-%d %H:%M:%S") for s in loc.slots]
            for lid, loc in state[2].locations.items()
        }
    return out


def names(store, source_id) -> dict[str, str | None]:
    return {lid: loc.name for lid, loc in store.latest_state(source_id)[2].locations.items()}


def at_sim(srv, source_ids) -> dict[str, int]:
    return {sid: len(srv.requests_for(sid)) for sid in source_ids}


class Sweeps:
    """Sweeps of one fetcher (as ``run`` keeps it) into a fresh store each."""

    def __init__(self, srv, tmp_path, **fetcher_kw):
        self.srv, self.tmp_path, self.fetcher_kw = srv, tmp_path, fetcher_kw
        self.n = 0

    async def __aenter__(self):
        self.fetcher = Fetcher(FAST, **self.fetcher_kw)
        return self

    async def __aexit__(self, *exc):
        await self.fetcher.aclose()

    async def sweep(self, only=None):
        self.n += 1
        sources = [s for s in self.srv.sources() if only is None or s.id in only]
        store = SQLiteStore(self.tmp_path / f"sweep{self.n}.db")
        before = at_sim(self.srv, [s.id for s in sources])
        results = await run_sweep(sources, store, self.fetcher, weeks=WEEKS)
        after = at_sim(self.srv, [s.id for s in sources])
        by_id = {r.source_id: r for r in results}
        for s in sources:
            assert by_id[s.id].status == "ok", (s.id, by_id[s.id].error)
            # what the session counted is what reached the server
            assert by_id[s.id].requests == after[s.id] - before[s.id], s.id
        return store, {sid: after[sid] - before[sid] for sid in after}


def test_second_snapshot_reuses_pages_and_stores_identical_slots(tmp_path):
    world = SimWorld(seed=4, families=REUSING, frozen=True)
    with SimServer(world, hosts=("127.0.0.1", "127.0.0.2")) as srv:

        async def go():
            async with Sweeps(srv, tmp_path) as sweeps:
                first, one = await sweeps.sweep()
                second, two = await sweeps.sweep()
                return first, one, second, two, sweeps.fetcher.daily.hits

        first, one, second, two, hits = asyncio.run(go())
        ids = list(one)
        assert hits > 0
        assert stored(first, ids) == stored(second, ids) == world.truth(weeks=WEEKS)
        for family in REUSING:
            mine = [sid for sid in ids if world.sources[sid].family == family]
            assert sum(two[s] for s in mine) < sum(one[s] for s in mine), family
        assert all(two[s] <= one[s] for s in ids)


def test_a_removed_office_is_noticed_and_the_snapshot_taken_again(tmp_path):
    """zms: the kept catalogue names an office the availability call refuses now."""
    world = SimWorld(seed=2, families={"zms": 3}, frozen=True)
    with SimServer(world) as srv:
        sid = next(s for s, src in world.sources.items() if len(src.locations) > 1)
        gone = next(iter(world.sources[sid].locations))

        async def go():
            async with Sweeps(srv, tmp_path) as sweeps:
                _, one = await sweeps.sweep(only={sid})
                world.remove_location(sid, gone)
                store, two = await sweeps.sweep(only={sid})
                changes = sweeps.fetcher.daily.changes
                _, three = await sweeps.sweep(only={sid})
                return store, two, three, changes

        store, two, three, changes = asyncio.run(go())
        truth = world.truth(weeks=WEEKS)[sid]
        assert stored(store, [sid])[sid] == truth
        assert not any(gone in lid for lid in truth)
        # the failed try with the kept catalogue, then everything afresh (the catalogue too);
        # the next snapshot reuses the new catalogue
        assert two[sid] == 1 + 1 + three[sid]
        assert changes == 1  # the refetched catalogue differs from the kept one: logged


def test_a_renamed_office_is_noticed(tmp_path):
    """tevis today: the suggest page names the office otherwise than the kept chooser."""
    world = SimWorld(seed=5, families={"tevis": 6}, frozen=True)
    with SimServer(world) as srv:
        sid, lid = next(
            (s, next(iter(src.locations)))
            for s, src in world.sources.items()
            if src.variant == "today" and len(src.locations) > 1
        )

        async def go():
            async with Sweeps(srv, tmp_path) as sweeps:
                first, _ = await sweeps.sweep(only={sid})
                world.rename_location(sid, lid, "Bürgerbüro Umbenannt")
                store, _ = await sweeps.sweep(only={sid})
                return first, store

        first, store = asyncio.run(go())
        assert names(first, sid)[lid] != "Bürgerbüro Umbenannt"
        assert names(store, sid)[lid] == "Bürgerbüro Umbenannt"
        assert stored(store, [sid])[sid] == world.truth(weeks=WEEKS)[sid]


def test_kept_pages_expire_after_the_configured_age(tmp_path):
    world = SimWorld(seed=3, families={"etermin": 2, "qmatic": 1}, frozen=True)
    clock = [1_000_000.0]
    with SimServer(world) as srv:

        async def go():
            async with Sweeps(srv, tmp_path, reuse_seconds=3600) as sweeps:
                sweeps.fetcher.daily.clock = lambda: clock[0]
                _, one = await sweeps.sweep()
                clock[0] += 3599
                _, two = await sweeps.sweep()
                clock[0] += 2  # the pages of the first sweep are older than an hour now
                _, three = await sweeps.sweep()
                return one, two, three

        one, two, three = asyncio.run(go())
        assert sum(two.values()) < sum(one.values())
        assert three == one


def test_reuse_can_be_turned_off(tmp_path):
    world = SimWorld(seed=3, families={"zms": 2}, frozen=True)
    with SimServer(world) as srv:

        async def go():
            async with Sweeps(srv, tmp_path, reuse_seconds=0) as sweeps:
                return (await sweeps.sweep())[1], (await sweeps.sweep())[1]

        one, two = asyncio.run(go())
        assert one == two


def test_no_reuse_across_sources(tmp_path):
    """Two tenants of one host: the second source's first snapshot fetches everything."""
    world = SimWorld(seed=6, families={"qmatic": 2}, frozen=True)
    with SimServer(world) as srv:
        a, b = sorted(world.sources)

        async def go():
            async with Sweeps(srv, tmp_path) as sweeps:
                _, first_a = await sweeps.sweep(only={a})
                _, first_b = await sweeps.sweep(only={b})
                _, again_b = await sweeps.sweep(only={b})
                return first_a, first_b, again_b, sweeps.fetcher.daily

        first_a, first_b, again_b, daily = asyncio.run(go())
        assert again_b[b] < first_b[b]
        assert daily.kept(a) > 0 and daily.kept(b) > 0
    # the keys of the store itself: one source's page is never another's
    pages = DailyPages()
    answer = httpx2.Response(200, content=b"[]", request=httpx2.Request("GET", "http://h/x"))
    pages.put(page_key("sim-a", "GET", "http://h/x"), answer)
    assert pages.get(page_key("sim-b", "GET", "http://h/x")) is None
    assert pages.get(page_key("sim-a", "GET", "http://h/x")).content == b"[]"


@pytest.mark.parametrize("status", [404, 410, 500])
def test_error_answers_are_never_kept(status):
    pages = DailyPages()
    key = page_key("sim-a", "GET", "http://h/x", params={"b": 2, "a": 1})
    assert key == page_key("sim-a", "get", "http://h/x", params={"a": "1", "b": "2"})
    request = httpx2.Request("GET", "http://h/x")
    pages.put(key, httpx2.Response(status, content=b"gone", request=request))
    assert pages.get(key) is None and pages.kept("sim-a") == 0


def test_only_failures_a_stale_page_may_cause_are_taken_again():
    from office_schedule.errors import BlockedError, ParseError, ScrapeError
    from office_schedule.fetch.daily import StaleReuse
    from office_schedule.sweep import _may_be_stale

    assert _may_be_stale(StaleReuse("office renamed"))
    assert _may_be_stale(ScrapeError("zms: the API says 'x' (HTTP 400)"))
    assert _may_be_stale(ParseError("unknown service id 12"))
    assert not _may_be_stale(ScrapeError("HTTP 503 Service Unavailable"))
    assert not _may_be_stale(ScrapeError("ConnectError: refused (after 3 attempts)"))
    assert not _may_be_stale(BlockedError("HTTP 429 Too Many Requests"))
    assert not _may_be_stale(TimeoutError())
