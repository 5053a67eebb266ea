"""Helpers shared by the tests of the custom families: simulated and real pages, loopback
scrapes, fuzzing."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.catalog import Source
from office_schedule.errors import ParseError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimWorld
from office_schedule.simulate.pages import SimRequest

from .conftest import FIXTURES, SHARED

FAST = Politeness(min_gap=0, attempts=1, timeout=2)
NOW = datetime(2021, 7, 20, 10, 0, 0)
ANY_PATH = re.compile(r".*")


def fixture(family: str, name: str) -> str:
    return (FIXTURES / family / name).read_text(encoding="utf-8")


def real_page(folder: str, name: str) -> str:
    """A real page from ``../shared/data/real-pages/{folder}/``; skips the test when absent."""
    path = SHARED / "data" / "real-pages" / folder / name
    if not path.is_file():
        pytest.skip(f"real page {folder}/{name} is not present")
    return path.read_text(encoding="utf-8")


def sim_world(family: str, n: int = 3, seed: int = 1, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={family: n}, **kw)


def sim_sources(world: SimWorld) -> list:
    return list(world.sources.values())


def sim_answer(
    server,
    world,
    src,
    method="GET",
    path="/",
    *,
    query=None,
    form=None,
    cookies=None,
    host="127.0.0.1",
    fault=None,
):
    """The simulator's reply to one request (path relative to the source's prefix)."""
    request = SimRequest(
        method=method,
        path=path,
        query=dict(query or {}),
        form=dict(form or {}),
        cookies=dict(cookies or {}),
        headers={"host": host},
    )
    return server.handle(world, src, request, fault)


def sim_text(server, world, src, method="GET", path="/", **kw) -> str:
    return sim_answer(server, world, src, method, path, **kw).body.decode("utf-8")


def serve_sim(httpserver, server, world, src, overrides: dict[str, Response] | None = None):
    """Let ``httpserver`` answer as the simulated ``src``; returns the request log.

    Paths may carry the ``/{source id}`` prefix the simulator writes into its own links.
    Each log entry is ``(path, args, form, cookies)``; ``overrides`` answer given paths.
    """
    log: list[tuple[str, dict, dict, dict]] = []
    prefix = f"/{src.id}"

    def handler(request) -> Response:
        path = (
            request.path.removeprefix(prefix) if request.path.startswith(prefix) else request.path
        )
        log.append((path, dict(request.args), dict(request.form), dict(request.cookies)))
        if overrides and path in overrides:
            return overrides[path]
        reply = sim_answer(
            server,
            world,
            src,
            request.method,
            path,
            query=request.args,
            form=request.form,
            cookies=request.cookies,
            host=request.host,
        )
        return Response(
            reply.body, status=reply.status, content_type=reply.content_type, headers=reply.headers
        )

    httpserver.expect_request(ANY_PATH).respond_with_handler(handler)
    return log


def html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def scrape(module, params: dict[str, str], weeks: int = 4, now: datetime = NOW):
    source = Source(
        id=module.NAME, name=module.NAME, family=module.NAME, index_url="", params=params
    )
    return loop_scrape(module, source, now, weeks, FAST)


def paths(httpserver) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def slot_strings(snapshot) -> dict[str, list[str]]:
    return snapshot.to_truth()


KEYS = [
    "name",
    "id",
    "days",
    "date",
    "num_free",
    "times",
    "loc",
    "loc_name",
    "dates",
    "location_id",
    "eq",
    "error",
    "bookable",
    "closed",
    "centres",
    "available",
]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.just(1.5),
    st.text(max_size=3),
    st.sampled_from(
        [
            "2021-07-22",
            "2021-02-30",
            "08:00",
            "8:00",
            "24:00",
            "2021-07-22 08:00",
            "2021-10-05 10:00:00",
            "2021-10-05T10:00",
            "107",
            "812",
            "",
        ]
    ),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)


def _strings(value) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return set().union(*map(_strings, value)) if value else set()
    if isinstance(value, dict):
        return set(value) | _strings(list(value.values()))
    return set()


def _check(module, raw, rendered) -> None:
    try:
        snapshot = module.parse(raw)
    except ParseError:
        return
    strings = _strings(raw)
    for location in snapshot.locations.values():
        assert isinstance(location.id, str)
        assert list(location.slots) == sorted(set(location.slots))
        for slot in location.slots:
            assert rendered(slot, strings), (slot, raw)


def _day_and_time(slot, strings) -> bool:
    return f"{slot:%Y-%m-%d}" in strings and f"{slot:%H:%M}" in strings


def mostly(*valid):
    """Usually one of ``valid``, sometimes any JSON value."""
    return st.integers(0, 9).flatmap(lambda i: st.sampled_from(valid) if i < 9 else JSON)


def or_junk(strategy):
    """Usually ``strategy``, sometimes any JSON value."""
    return st.integers(0, 3).flatmap(lambda i: strategy if i < 3 else JSON)


DATE = mostly("2021-07-22", "2021-02-30", "2021-07-22 08:00")
TIME = mostly("08:00", "08:20", "8:00", "24:00")
SLOT = mostly("2021-07-22 08:00", "2021-10-05 10:00:00", "2021-10-05T10:00", "2021-13-01 08:00")
ID = mostly("107", "812", "901-3", 812)
NAME = mostly("Bürgeramt Mitte", None)
BOOL = mostly(True, False)


def items(strategy):
    return st.lists(strategy, max_size=3)


def records(**fields):
    return st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=3)


DAYS = records(date=DATE, bookable=BOOL, times=items(TIME))
FUZZ = settings(max_examples=60, deadline=None)


SIM_FAST = Politeness(min_gap=0, attempts=1, timeout=5)


def loop_scrape(module, source, now: datetime, weeks: int = 4, base=SIM_FAST, hosts=None):
    """``module.scrape`` of one source through a real fetcher (per-host ``hosts`` overrides)."""

    async def go():
        async with Fetcher(base, host_overrides=hosts) as fetcher:
            return await module.scrape(source, fetcher.session(), weeks, now)

    return asyncio.run(go())
