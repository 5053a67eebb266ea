"""The dashboard in a real browser: Debian's headless Chromium driven by playwright.

Each page loads without console errors and draws its charts with data; changing a filter
redraws the chart with the data of the JSON endpoint; a screenshot of each page is left in
$OFFICE_SCHEDULE_ARTIFACTS (or the test's tmp_path). Without a Chromium binary the tests
skip, naming what is missing; under CI they fail, because CI installs it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import quote

import httpx2
import pytest

from office_schedule.catalog import load_catalog
from office_schedule.serve import create_app

from .test_serve import artifacts, import_real_week, live_server, simulated

CHROMIUM = Path(os.environ.get("OFFICE_SCHEDULE_CHROMIUM") or "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = {
    "overview": "/",
    "source": "/sources/{source}",
    "week": "/week",
    "times": "/times",
    "cities": "/cities",
}
#: per chart on the page: traces, data points, drawn marks (bars, lines, heat map images)
CHARTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    id: el.id,
    traces: el.data.length,
    points: el.data.reduce((n, t) => n + ((t.z || t.y || []).length), 0),
    values: el.data.map(t => t.z || t.y),
    title: el.layout.title.text,
    marks: el.querySelectorAll('.main-svg g.trace path, .main-svg g.hm image').length,
}))"""
TIMES: dict[str, dict[str, float]] = {}


def _require_chromium() -> None:
    if not CHROMIUM.is_file():
        reason = f"no Chromium binary at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sim_site(tmp_path_factory):
    """The dashboard over the simulator's live snapshots (the simulator keeps running)."""
    folder = tmp_path_factory.mktemp("browser-sim")
    with simulated(folder, str(folder / "sim.db")) as sim:
        app = create_app(sim.db, load_catalog([sim.catalog]))
        with live_server(app) as url:
            yield {"name": "sim", "url": url, "source": "sim-tevis-02", "sim": sim}


@pytest.fixture(scope="module")
def real_site(shared_dir, tmp_path_factory):
    """The dashboard over the real week 2021-28 of ../shared."""
    db = import_real_week(shared_dir, str(tmp_path_factory.mktemp("browser-real") / "real.db"))
    with live_server(create_app(db, load_catalog(), warm=True)) as url:
        yield {"name": "real", "url": url, "source": "frankfurt"}


@pytest.fixture(params=["sim", "real"])
def site(request):
    return request.getfixturevalue(f"{request.param}_site")


@pytest.fixture(scope="module")
def context(browser):
    """One browser profile for the module: plotly.js is fetched once, as by a visitor."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(m.text))
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: tab.problems.append(f"failed: {r.url} {r.failure}"))
    yield tab
    tab.close()


def _open(page, url: str) -> list[dict]:
    """Load a page, wait until plotly.js drew every chart; the charts' data."""
    page.goto(url)
    page.wait_for_function(
        "() => { const c = document.querySelectorAll('.js-plotly-plot');"
        " return c.length && Array.from(c).every(el => el.querySelector('.main-svg')); }"
    )
    return page.evaluate(CHARTS_JS)


def _shoot(page, site: dict, name: str, tmp_path: Path) -> Path:
    path = artifacts(tmp_path) / f"dashboard-{site['name']}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_and_draws_its_charts(page, site, name, tmp_path):
    url = site["url"] + PAGES[name].format(source=site["source"])
    t0 = time.perf_counter()
    charts = _open(page, url)
    t1 = time.perf_counter()
    _open(page, url)
    TIMES[f"{site['name']} {name}"] = {"load": t1 - t0, "again": time.perf_counter() - t1}
    assert charts, f"no chart on {url}"
    for chart in charts:
        assert chart["traces"] >= 1 and chart["points"] > 0, chart["id"]
        assert chart["marks"] >= 1, f"{chart['id']} has data but drew nothing"
    assert page.problems == [], page.problems
    assert page.title().endswith("office-schedule")
    _shoot(page, site, name, tmp_path)
    (artifacts(tmp_path) / "dashboard-load-times.json").write_text(json.dumps(TIMES, indent=1))


def test_changing_the_scope_redraws_the_week_chart(page, site, tmp_path):
    before = _open(page, site["url"] + "/week")[0]
    choice = f"source:{site['source']}"
    with page.expect_navigation():
        page.select_option("#scope", choice)
    after = page.evaluate(CHARTS_JS)[0]
    assert after["title"] != before["title"] and site["source"] in after["title"]
    assert f"scope={quote(choice)}" in page.url
    week = page.input_value("#week")
    api = httpx2.get(
        site["url"] + "/api/hourly", params={"week": week, "source": site["source"]}
    ).json()
    assert after["values"] == [api["appointments"], api["cancellations"]]
    assert page.problems == [], page.problems
    _shoot(page, site, "week-filtered", tmp_path)


def test_changing_the_location_redraws_the_calendar(page, site, tmp_path):
    url = site["url"] + f"/sources/{site['source']}"
    before = _open(page, url)[0]
    options = page.eval_on_selector_all("#location option", "os => os.map(o => o.value)")
    location = next(v for v in options[1:] if v)
    with page.expect_navigation():
        page.select_option("#location", location)
    after = page.evaluate(CHARTS_JS)[0]
    assert after["values"] != before["values"] and location in page.url
    slots = httpx2.get(
        site["url"] + f"/api/sources/{site['source']}/slots", params={"location": location}
    ).json()
    assert sum(map(sum, after["values"][0])) == slots["free_slots"]
    assert page.problems == [], page.problems
    _shoot(page, site, "source-location", tmp_path)


def test_the_overview_follows_the_live_recorder(page, sim_site):
    def snapshots() -> int:
        cell = page.locator("#sources tbody tr").first.locator("td").nth(4)
        return int(cell.inner_text())

    _open(page, sim_site["url"] + "/")
    first = snapshots()
    sim_site["sim"].sweep()
    page.reload()
    page.wait_for_selector(".js-plotly-plot .main-svg")
    assert snapshots() == first + 1
    assert page.problems == [], page.problems
