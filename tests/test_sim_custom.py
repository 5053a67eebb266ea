"""The simulated custom families: the real scrapers against fake servers with known truth."""

from __future__ import annotations

from datetime import datetime

import pytest

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.families import (
    berlin,
    check_empty,
    impftermin,
    impfthueringen,
    leipzig,
    termed,
)
from office_schedule.simulate import SimServer, SimWorld

from .familytools import loop_scrape

MODULES = {
    "leipzig": leipzig,
    "impfthueringen": impfthueringen,
    "termed": termed,
    "berlin": berlin,
    "impftermin": impftermin,
}


HOSTS = ("127.0.0.1", "127.0.0.2")
WEEKS = 4
SEEDS = (1, 2)
#: a month end, so that calendars spanning months are exercised
START = datetime(2021, 7, 26, 9, 30)


def scrape_all(family: str, seed: int, scrape_weeks: int = WEEKS, **world_kw):
    """(world, {source id: (truth of WEEKS weeks, scraped truth)}) for one frozen world."""
    world_kw.setdefault("frozen", True)
    world = SimWorld(seed=seed, families={family: 3}, **world_kw)
    out = {}
    with SimServer(world, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw = loop_scrape(MODULES[family], source, world.now(), scrape_weeks)
            got = check_empty(MODULES[family].parse(raw), family).to_truth()
            out[source.id] = (world.truth(weeks=WEEKS)[source.id], got)
    return world, out


def assert_matches(family: str, seed: int, start: datetime | None = None, weeks: int = WEEKS):
    _, results = scrape_all(family, seed, weeks, start=start)
    assert len(results) == 3
    n_slots = 0
    for sid, (truth, got) in results.items():
        assert got == truth, sid
        n_slots += sum(len(v) for v in got.values())
    return n_slots


@pytest.mark.parametrize("family", ["leipzig", "impfthueringen", "termed", "berlin"])
@pytest.mark.parametrize("seed", SEEDS)
def test_scrape_equals_truth(family, seed):
    # leipzig and impfthueringen ignore the look-ahead: a one-week scrape shows the same
    weeks = 1 if seed == 2 and family in ("leipzig", "impfthueringen") else WEEKS
    assert assert_matches(family, seed, weeks=weeks) > 0


@pytest.mark.parametrize("family", ["termed", "berlin"])
def test_scrape_equals_truth_across_a_month_end(family):
    assert assert_matches(family, 5, start=START) > 0


@pytest.mark.parametrize("family", ["leipzig", "impfthueringen", "termed", "impftermin"])
def test_every_location_without_slots_carries_the_sites_marker(family):
    world = SimWorld(seed=3, families={family: 3}, frozen=True)
    empties = 0
    with SimServer(world, hosts=HOSTS) as srv:
        for source in srv.sources():
            parsed = check_empty(
                MODULES[family].parse(loop_scrape(MODULES[family], source, world.now()))
            )
            for loc in parsed.locations.values():
                assert loc.url, (source.id, loc.id)
                empties += not loc.slots
    assert family != "impftermin" or empties


def test_impftermin_centres_without_slots():
    _, results = scrape_all("impftermin", 1)
    for truth, got in results.values():
        assert got == truth and truth and all(v == [] for v in truth.values())


def test_impfthueringen_offers_one_slot_per_day_for_three_days():
    _, results = scrape_all("impfthueringen", 4)
    for truth, _ in results.values():
        for slots in truth.values():
            days = [s[:10] for s in slots]
            assert len(days) == len(set(days)) <= 3


def test_termed_uses_plain_and_reason_calendars():
    from office_schedule.simulate import termed_server

    ids = set()
    for seed in range(6):
        for src in SimWorld(seed=seed, families={"termed": 3}, frozen=True).sources.values():
            ids.update(termed_server.location_id(src, loc) for loc in src.locations.values())
    assert any("-" in i for i in ids) and any("-" not in i for i in ids)


def fault_error(family: str, mode: str):
    world = SimWorld(seed=1, families={family: 1}, frozen=True)
    (sid,) = world.sources
    with SimServer(world, hosts=HOSTS, faults={sid: mode}) as srv:
        (source,) = srv.sources()
        with pytest.raises(ScrapeError) as info:
            loop_scrape(MODULES[family], source, world.now())
    return info.value


@pytest.mark.parametrize(
    ("family", "mode", "blocked", "message"),
    [
        ("leipzig", "maintenance", False, "expected page OFFICESELECT, found error-page (Das"),
        ("impfthueringen", "garbage", False, "no centre list"),
        ("termed", "garbage", False, "every calendar failed"),
        ("berlin", "captcha", True, "captcha"),
        ("berlin", "throttle", True, "HTTP 429"),
        ("berlin", "throttle200", True, "Zu viele Zugriffe"),
        ("impftermin", "botwall", True, "bot protection, needs a browser"),
    ],
)
def test_page_faults(family, mode, blocked, message):
    error = fault_error(family, mode)
    assert isinstance(error, BlockedError) == blocked
    assert message in str(error)


@pytest.mark.parametrize("family", list(MODULES))
def test_running_world_scrapes_without_errors(family):
    world = SimWorld(seed=7, families={family: 2}, speed=600)
    with SimServer(world, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw = loop_scrape(MODULES[family], source, world.now())
            assert MODULES[family].parse(raw).locations
