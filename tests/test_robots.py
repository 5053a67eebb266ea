"""robots.txt: read once a day per origin, obeyed before every request, kept in the store."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from office_schedule.cli import main
from office_schedule.errors import DisallowedError, ScrapeError
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.fetch.robots import RobotsCache, matching_rule
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.store import open_store

FAST = Politeness(min_gap=0, attempts=1, timeout=2)
RULES = (
    "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\nAllow: /private/ok\n"
)


def test_the_rule_shown_is_the_one_that_covers_the_path():
    assert matching_rule(RULES, "/private/x") == "Disallow: /private/"
    body = "User-agent: *\nDisallow: /a\nDisallow: /a/b*c$\n"
    assert matching_rule(body, "/a/b/xc") == "Disallow: /a/b*c$"


def _fetch(fetcher: Fetcher, *urls):
    async def go():
        session = fetcher.session()
        out = []
        for url in urls:
            try:
                out.append((await session.get(url)).status_code)
            except ScrapeError as exc:
                out.append(exc)
        return out

    return asyncio.run(go())


def test_disallowed_paths_are_never_requested_and_robots_is_read_once(httpserver, tmp_path):
    httpserver.expect_request("/robots.txt").respond_with_data(RULES, content_type="text/plain")
    httpserver.expect_request("/public").respond_with_data("yes")
    httpserver.expect_request("/private/ok").respond_with_data("yes")
    with open_store(tmp_path / "s.db") as store:
        fetcher = Fetcher(FAST, robots=RobotsCache(store))
        got = _fetch(
            fetcher, *(httpserver.url_for(p) for p in ("/public", "/private/x", "/private/ok"))
        )
        assert got[0] == 200 and got[2] == 200
        assert isinstance(got[1], DisallowedError) and got[1].line == "Disallow: /private/"
        paths = [req.path for req, _ in httpserver.log]
        assert paths == ["/robots.txt", "/public", "/private/ok"]
        # a second process within the day reads the stored copy, not the host
        _fetch(Fetcher(FAST, robots=RobotsCache(store)), httpserver.url_for("/public"))
        assert [req.path for req, _ in httpserver.log].count("/robots.txt") == 1
        # a day later it is read again
        later = RobotsCache(store, clock=lambda: __import__("time").time() + 86401)
        _fetch(Fetcher(FAST, robots=later), httpserver.url_for("/public"))
        assert [req.path for req, _ in httpserver.log].count("/robots.txt") == 2


def test_no_robots_txt_means_no_rules_and_a_failing_one_means_wait(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("gone", status=404)
    httpserver.expect_request("/x").respond_with_data("yes")
    assert _fetch(Fetcher(FAST, robots=RobotsCache()), httpserver.url_for("/x")) == [200]
    httpserver.clear()
    httpserver.expect_request("/robots.txt").respond_with_data("oops", status=503)
    (error,) = _fetch(Fetcher(FAST, robots=RobotsCache()), httpserver.url_for("/x"))
    assert isinstance(error, ScrapeError) and "RFC 9309" in str(error)
    assert "/x" not in [req.path for req, _ in httpserver.log]


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("override", [False, True])
def test_a_disallowed_source_is_stored_as_disallowed_unless_the_operator_allowed_it(
    tmp_path, override
):
    world = SimWorld(seed=2, families={"tempus": 2}, frozen=True)
    with SimServer(world) as srv:
        srv.disallow("sim-tempus-02")
        catalog = srv.write_catalog(tmp_path / "sim.csv")
        if override:
            extra = tmp_path / "allow.csv"
            extra.write_text(
                "id,family,index_url,params,robots,note\n"
                + _row_for(srv, "sim-tempus-02")
                + ",allowed-by-operator,granted by e-mail of 2026-11-30\n"
            )
            args = ("--catalog", catalog, "--catalog", extra)
        else:
            args = ("--catalog", catalog)
        db = tmp_path / "s.db"
        assert _cli("snapshot", *args, "-i", "sim-*", "--db", db, "--gap", 0, "-q").exit_code == 0
        asked = srv.requests_for("sim-tempus-02")
        rows = {
            r["source_id"]: r
            for r in json.loads(_cli("status", "--db", db, "--format", "json").output)
        }
    if override:
        assert asked and rows["sim-tempus-02"]["health"] == "ok"
    else:
        assert asked == []  # measured at the server: not one request
        assert rows["sim-tempus-02"]["health"] == "disallowed"
        assert "Disallow: /sim-tempus-02" in rows["sim-tempus-02"]["health_detail"]
        assert rows["sim-tempus-01"]["health"] == "ok"


def _row_for(srv, sid) -> str:
    (source,) = [s for s in srv.sources() if s.id == sid]
    params = ";".join(f"{k}={v}" for k, v in source.params.items())
    return f"{sid},{source.family},{source.index_url},{params}"
