"""The shared client against real loopback servers (pytest-httpserver), never mocks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from werkzeug import Response

from office_schedule.errors import BlockedError, ScrapeError
from office_schedule.fetch import Fetcher, Politeness

FAST = Politeness(min_gap=0, attempts=3, backoff_base=0.01, timeout=2)


def run(coro):
    return asyncio.run(coro)


async def _get(fetcher: Fetcher, url: str, **kw):
    async with fetcher:
        session = fetcher.session()
        response = await session.get(url, **kw)
        return response, session


def test_user_agent_is_honest(httpserver):
    httpserver.expect_request("/").respond_with_data("hi")
    run(_get(Fetcher(FAST), httpserver.url_for("/")))
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"].startswith("office-schedule/")


def test_retries_5xx_then_succeeds(httpserver):
    calls = []

    def handler(request):
        calls.append(1)
        return Response("busy", status=503) if len(calls) < 3 else Response("ok")

    httpserver.expect_request("/").respond_with_handler(handler)
    response, session = run(_get(Fetcher(FAST), httpserver.url_for("/")))
    assert response.text == "ok" and len(calls) == 3 and session.requests == 1


def test_final_5xx_is_a_scrape_error_naming_the_url(httpserver):
    httpserver.expect_request("/x").respond_with_data("down", status=500)
    with pytest.raises(ScrapeError, match="HTTP 500") as info:
        run(_get(Fetcher(FAST), httpserver.url_for("/x")))
    assert info.value.url.endswith("/x")
    response, _ = run(_get(Fetcher(FAST), httpserver.url_for("/x"), allow_error_status=True))
    assert response.status_code == 500


def test_429_honours_retry_after(httpserver):
    calls = []

    def handler(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    httpserver.expect_request("/").respond_with_handler(handler)
    response, _ = run(_get(Fetcher(FAST), httpserver.url_for("/")))
    assert response.text == "ok"
    assert calls[1] - calls[0] >= 0.95


def test_403_is_blocked(httpserver):
    httpserver.expect_request("/").respond_with_data("captcha", status=403)
    with pytest.raises(BlockedError, match="403"):
        run(_get(Fetcher(FAST), httpserver.url_for("/")))


def test_connection_refused_after_retries():
    with pytest.raises(ScrapeError, match="ConnectError.*after 3 attempts"):
        run(_get(Fetcher(FAST), "http://127.0.0.1:9/"))


def test_timeout(httpserver):
    def handler(request):
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/").respond_with_handler(handler)
    p = Politeness(min_gap=0, attempts=1, timeout=0.3)
    with pytest.raises(ScrapeError, match="Timeout"):
        run(_get(Fetcher(p), httpserver.url_for("/")))


def test_sessions_keep_their_own_cookies_across_redirects(httpserver):
    httpserver.expect_request("/login").respond_with_response(
        Response("", status=302, headers={"Location": "/home", "Set-Cookie": "sid=abc; Path=/"})
    )
    httpserver.expect_request("/home").respond_with_handler(
        lambda r: Response(r.cookies.get("sid", "none"))
    )

    async def go():
        async with Fetcher(FAST) as fetcher:
            a, b = fetcher.session(), fetcher.session()
            first = (await a.get(httpserver.url_for("/login"))).text
            again = (await a.get(httpserver.url_for("/home"))).text
            other = (await b.get(httpserver.url_for("/home"))).text
            a.clear_cookies()
            cleared = (await a.get(httpserver.url_for("/home"))).text
            return first, again, other, cleared

    assert run(go()) == ("abc", "abc", "none", "none")


def test_per_host_concurrency_and_gap(httpserver):
    active, peak, lock = [0], [0], threading.Lock()

    def handler(request):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return Response("ok")

    httpserver.expect_request("/").respond_with_handler(handler)
    p = Politeness(per_host_concurrency=2, min_gap=0.05, attempts=1)

    async def go():
        async with Fetcher(p) as fetcher:
            started = time.monotonic()
            await asyncio.gather(
                *(fetcher.session().get(httpserver.url_for("/")) for _ in range(8))
            )
            return time.monotonic() - started, fetcher.requests_per_host()

    elapsed, per_host = run(go())
    assert peak[0] <= 2
    # 8 requests over 2 lanes, each lane busy (50 ms + 50 ms gap) per request: >= 0.35 s
    assert elapsed >= 0.35
    assert sum(per_host.values()) == 8
