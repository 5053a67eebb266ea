"""The simulator: seeded office model, ground truth, TEVIS pages on loopback, fault modes."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from office_schedule.catalog.catalog import read_catalog_csv
from office_schedule.simulate import SimServer, SimWorld, serve
from office_schedule.simulate.model import FLICKER_TICK_MINUTES, fmt

START = datetime(2021, 7, 12, 9, 0)  # a Monday morning
WEEKS = 4


def world(**kw) -> SimWorld:
    kw.setdefault("start", START)
    kw.setdefault("speed", 0.0)
    return SimWorld(**kw)


def mini_scrape(client: httpx2.Client, base: str, now: datetime, weeks: int = WEEKS):
    """Follow protocol section 1.2 (the 2021 flow) literally; ({location: slots}, requests)."""
    requests = 0

    def get(url: str) -> httpx2.Response:
        nonlocal requests
        requests += 1
        return client.get(url)

    start = HTMLParser(get(f"{base}/").text)
    mds = {}
    for a in start.css("a"):
        href = a.attributes.get("href") or ""
        if href.startswith("select2?md="):
            mds[href[11:]] = a.text(strip=True)
    found: dict[str, set[str]] = {}
    for md in mds:
        tree = HTMLParser(get(f"{base}/select2?md={md}").text)
        records = []
        forms = tree.css("form.cnc-form")
        if forms:
            for form in forms:
                item = form.css_first("input.cnc-item")
                mdt = form.css_first('input[name="mdt"]').attributes["value"]
                records.append((mdt, item))
        else:
            mdt = tree.css_first('input[name="mdt"]').attributes["value"]
            records = [(mdt, item) for item in tree.css("input.cnc-item")]
        work: dict[str, tuple[str, str]] = {}
        for mdt, item in records:
            cals = item.attributes.get("data-tevis-calendars") or ""
            cals = cals or item.attributes.get("data-tevis-calendar") or ""
            if cals:
                for cal in cals.split("|"):
                    work.setdefault(cal, (mdt, item.attributes["name"]))
            else:
                work[f"mdt-{mdt}"] = (mdt, item.attributes["name"])
        for key, (mdt, cnc) in work.items():
            page = get(f"{base}/calendar?mdt={mdt}&select_cnc=1&{cnc}=1").text
            cal = key
            if key.startswith("mdt-"):
                script = page.split("window.tevis = window.tevis || {", 1)[1]
                script = script.split("$(document).ready(", 1)[0]
                cal = script.split("calendar:", 1)[1].split(",", 1)[0].strip()
            for i in range(weeks):
                iso = (now + timedelta(days=7 * i)).isocalendar()
                week = f"{iso.year}{iso.week:02d}"
                data = get(
                    f"{base}/caldiv?cal={cal}&cnc=0&cncdata=&week={week}&json=1&offset=1"
                ).json()
                slots = found.setdefault(cal, set())
                for day, valid in zip(data["days"], data["valid"], strict=False):
                    for minutes in valid:
                        m = int(minutes)
                        slots.add(f"{day[:4]}-{day[4:6]}-{day[6:]} {m // 60:02d}:{m % 60:02d}:00")
    return {k: sorted(v) for k, v in found.items()}, requests


@pytest.fixture(scope="module")
def served():
    w = world(seed=11, n_sources=8, frozen=True)
    with SimServer(w, hosts=("127.0.0.1", "127.0.0.2")) as srv:
        yield w, srv


def test_same_seed_same_world_and_different_seed_differs():
    a, b = world(seed=5, frozen=True), world(seed=5, frozen=True)
    assert a.truth() == b.truth()
    assert [s.name for s in a.sources.values()] == [
        "Simulierte Stadt 01",
        "Simulierte Stadt 02",
        "Simulierte Stadt 03",
    ]
    assert list(a.sources) == ["sim-tevis-01", "sim-tevis-02", "sim-tevis-03"]
    assert world(seed=6, frozen=True).truth() != a.truth()


def test_state_does_not_depend_on_how_time_is_advanced():
    one, many = world(seed=2), world(seed=2)
    one.advance_to(START + timedelta(days=2))
    t = START
    while t < START + timedelta(days=2):
        t += timedelta(minutes=37)
        many.advance_to(min(t, START + timedelta(days=2)))
    assert one.log == many.log and one.log
    assert one.truth() == many.truth()


def test_frozen_world_never_changes():
    w = world(seed=3, frozen=True, speed=1000.0, flicker=0.3)
    before = w.truth()
    w.advance_to(START + timedelta(days=5))
    time.sleep(0.05)
    assert w.now() == START
    assert w.truth() == before
    assert w.log == []


def test_structure_is_realistic():
    w = world(seed=4, n_sources=12, frozen=True)
    lengths = Counter()
    for src in w.sources.values():
        assert 1 <= len(src.departments) <= 3 and 1 <= len(src.locations) <= 4
        for loc in src.locations.values():
            lengths[loc.slot_minutes] += 1
            assert loc.slot_minutes in (5, 10, 15, 20, 30)
            assert 6 not in loc.hours  # Sunday closed
            assert loc.weekly_capacity() > 0
    assert lengths.most_common(1)[0][0] == 5
    layouts = {s.layout for s in w.sources.values()}
    assert layouts == {"form", "flat"}
    # near slots partly booked, far ones less
    truth = w.truth(weeks=1)
    free_near = sum(len(v) for s in truth.values() for v in s.values())
    cap_near = sum(
        len(loc.grid(START.date() + timedelta(days=d)))
        for s in w.sources.values()
        for loc in s.locations.values()
        for d in range(1, 5)
    )
    assert 0.2 < 1 - free_near / cap_near < 0.8


def test_pages_match_truth_and_request_counts(served):
    w, srv = served
    truth = w.truth(weeks=WEEKS)
    seen_layouts, hidden = set(), 0
    with httpx2.Client(timeout=5) as client:
        for sid, src in w.sources.items():
            if src.variant != "classic":  # today's flow: tests/test_sim_tevis.py
                continue
            seen_layouts.add(src.layout)
            hidden += sum(1 for d in src.departments for s in d.services if s.hidden_calendar)
            before = len(srv.requests_for(sid))
            scraped, n = mini_scrape(client, srv.base_url(sid), w.now())
            assert scraped == truth[sid], sid
            assert len(srv.requests_for(sid)) - before == n
            # 1 + M + sum over md of calendar entries x (1 + W)
            entries = 0
            for dep in src.departments:
                cals = {c for s in dep.services for c in s.calendars}
                pseudo = any(not s.calendars for s in dep.services)
                entries += len(cals) + pseudo
            assert n == 1 + len(src.departments) + entries * (1 + WEEKS)
    assert seen_layouts == {"form", "flat"} and hidden > 0


def test_pages_are_utf8_german_and_set_a_session_cookie(served):
    w, srv = served
    src = next(iter(w.sources.values()))
    svc = src.departments[0].services[0]
    base = srv.base_url(src.id)
    r = httpx2.get(f"{base}/")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta charset="utf-8">' in r.text and src.departments[0].title in r.text
    r = httpx2.get(f"{base}/calendar?mdt={src.departments[0].mdt}&select_cnc=1&{svc.cnc}=1")
    assert "TEVISSESSID" in r.cookies
    assert f"calendar: {svc.target}," in r.text and "$(document).ready(" in r.text
    r = httpx2.get(f"{base}/caldiv?cal={svc.target}&cnc=0&cncdata=&week=202129&json=1&offset=1")
    data = r.json()
    assert r.headers["content-type"].startswith("application/json")
    assert data["days"][0] == "20210719" and len(data["days"]) == len(data["valid"])
    assert data["html"].startswith('<table class="caldiv">')
    assert all(v == [] or isinstance(v, dict) for v in data["valid"])


def test_truth_and_log_endpoints(served):
    w, srv = served
    n = len(srv.request_log)
    for url in srv.urls:
        assert httpx2.get(f"{url}/__truth__?weeks=2").json() == w.truth(weeks=2)
        assert httpx2.get(f"{url}/__log__").json() == []
    assert len(srv.request_log) == n  # ground-truth requests are not logged
    # a source answers only on its own host
    sid = "sim-tevis-02"
    other = next(u for u in srv.urls if srv.assignment[sid] not in u)
    assert httpx2.get(f"{other}/{sid}/").status_code == 404


def test_bookings_take_free_slots_and_are_logged():
    w = world(seed=8)
    before, released_after = w.truth(), w.horizon(START).isoformat()
    w.advance_to(START + timedelta(days=1))
    after = w.truth()
    now = fmt(w.now())
    booked = [e for e in w.log if e["event"] == "booked"]
    assert len(booked) > 50
    last_event = {}
    for e in w.log:
        last_event[(e["source_id"], e["location_id"], e["slot"])] = e["event"]
    for sid, locs in before.items():
        for lid, slots in locs.items():
            now_free = set(after[sid][lid])
            for slot in slots:
                if slot > now and slot not in now_free:
                    assert last_event.get((sid, lid, slot)) == "booked"
            for slot in now_free:  # nothing appears except released or cancelled slots
                assert (
                    slot in slots
                    or last_event.get((sid, lid, slot)) == "cancelled"
                    or slot[:10] > released_after
                )
    for (sid, lid, slot), event in last_event.items():
        if event == "booked" and slot > now:
            assert slot not in after[sid][lid]
    assert sum(map(len, (v for s in after.values() for v in s.values()))) < sum(
        map(len, (v for s in before.values() for v in s.values()))
    )


def test_cancellations_free_slots_again():
    w = world(seed=9)
    w.advance_to(START + timedelta(days=10))
    truth, now = w.truth(), fmt(w.now())
    last = {}
    for e in w.log:
        last[(e["source_id"], e["location_id"], e["slot"])] = e
    cancelled = [e for e in last.values() if e["event"] == "cancelled" and e["slot"] > now]
    assert cancelled
    for e in cancelled:
        assert e["slot"] in truth[e["source_id"]][e["location_id"]]
        assert e["time"] < e["slot"]


def test_flicker_hides_slots_for_one_update_only():
    clean, noisy = world(seed=10), world(seed=10, flicker=0.2)
    t = START + timedelta(minutes=1)
    prev_a = prev_b = None
    for step in range(3):
        at = t + timedelta(minutes=FLICKER_TICK_MINUTES * step)
        clean.advance_to(at)
        noisy.advance_to(at)
        a, b = clean.truth(), noisy.truth()
        total = hidden = 0
        for sid in a:
            for lid in a[sid]:
                assert set(b[sid][lid]) <= set(a[sid][lid])
                total += len(a[sid][lid])
                hidden += len(a[sid][lid]) - len(b[sid][lid])
        assert 0.08 < hidden / total < 0.3
        if prev_a and prev_b:
            for sid in a:
                for lid in a[sid]:
                    gone_before = set(prev_a[sid][lid]) - set(prev_b[sid][lid])
                    assert not (gone_before & set(a[sid][lid])) - set(b[sid][lid])
        prev_a, prev_b = a, b
    assert clean.log == noisy.log  # publication noise is not booking


def test_realistic_rates_over_a_week():
    w = world(seed=12, n_sources=4)
    w.advance_to(START + timedelta(days=7))
    booked = [e for e in w.log if e["event"] == "booked"]
    by_hour = Counter(int(e["time"][11:13]) for e in booked)
    day = sum(by_hour[h] for h in range(7, 16)) / 9
    evening = sum(by_hour[h] for h in range(18, 24)) / 6
    night = sum(by_hour[h] for h in range(0, 6)) / 6
    assert day > 1.5 * evening > 1.5 * night
    by_weekday = Counter(datetime.fromisoformat(e["time"]).weekday() for e in booked)
    assert by_weekday[5] + by_weekday[6] < 0.7 * (by_weekday[1] + by_weekday[3])
    lead = Counter(
        (datetime.fromisoformat(e["slot"]) - datetime.fromisoformat(e["time"])).days for e in booked
    )
    one_two_weeks = sum(n for d, n in lead.items() if 3 <= d <= 20)
    assert one_two_weeks > 0.6 * len(booked)
    assert lead[0] + lead[1] > 0
    cancelled = sum(1 for e in w.log if e["event"] == "cancelled")
    assert 0 < cancelled < 0.15 * len(booked)
    assert all(e["time"] < e["slot"] for e in w.log)


def test_catalog_file(tmp_path, served):
    w, srv = served
    path = srv.write_catalog(tmp_path / "sim.csv")
    sources = read_catalog_csv(path.read_text(encoding="utf-8"), str(path))
    assert [s.id for s in sources] == list(w.sources)
    for s in sources:
        assert s.family == "tevis" and s.enabled and s.verify_tls and not s.needs_include
        assert s.index_url == s.base_url == srv.base_url(s.id)
        assert s.note == "simulated" and s.interval_minutes == 15
    assert {s.host for s in sources} == {"127.0.0.1", "127.0.0.2"}
    assert path.read_text(encoding="utf-8").splitlines()[0].endswith(",interval_minutes")


@pytest.fixture(scope="module")
def faulty():
    modes = ["down", "500", "slow", "garbage", "truncated", "dberror"]
    w = world(seed=13, n_sources=len(modes) + 1, frozen=True)
    faults = {f"sim-tevis-{i + 1:02d}": m for i, m in enumerate(modes)}
    with SimServer(w, faults=faults) as srv:
        yield w, srv, {m: srv.base_url(s) for s, m in faults.items()}


def _caldiv(w: SimWorld, base: str) -> str:
    src = w.sources[base.rsplit("/", 1)[1]]
    cal = next(iter(src.locations))
    return f"{base}/caldiv?cal={cal}&cnc=0&cncdata=&week=202128&json=1&offset=1"


def test_fault_down(faulty):
    _, _, base = faulty
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(f"{base['down']}/", timeout=2)


def test_fault_500(faulty):
    w, _, base = faulty
    assert httpx2.get(f"{base['500']}/").status_code == 500
    assert httpx2.get(_caldiv(w, base["500"])).status_code == 500


def test_fault_slow(faulty):
    _, srv, base = faulty
    assert srv.slow_seconds == 30
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(f"{base['slow']}/", timeout=0.3)


def test_fault_garbage_and_dberror(faulty):
    _, _, base = faulty
    r = httpx2.get(f"{base['garbage']}/")
    assert r.status_code == 200 and "select2?md=" not in r.text and "<a" in r.text
    r = httpx2.get(f"{base['dberror']}/")
    assert r.status_code == 200 and "Es ist ein Datenbank-Fehler aufgetreten" in r.text


def test_fault_truncated(faulty):
    w, _, base = faulty
    assert "select2?md=" in httpx2.get(f"{base['truncated']}/").text
    r = httpx2.get(_caldiv(w, base["truncated"]))
    assert r.status_code == 200 and r.text.startswith('{"year"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    healthy = w.sources["sim-tevis-07"]
    assert httpx2.get(_caldiv(w, f"{base['truncated'].rsplit('/', 1)[0]}/{healthy.id}")).json()


def test_latency_and_request_log():
    w = world(seed=14, n_sources=1, frozen=True)
    with SimServer(w, latency=0.2) as srv:
        t0 = time.monotonic()
        with httpx2.Client() as client:
            client.get(f"{srv.base_url('sim-tevis-01')}/")
            client.get(f"{srv.base_url('sim-tevis-01')}/select2?md=1")
        assert time.monotonic() - t0 >= 0.4
        assert srv.request_log == [
            ("127.0.0.1", "/sim-tevis-01/"),
            ("127.0.0.1", "/sim-tevis-01/select2?md=1"),
        ]


def test_serve_blocks_until_stopped(tmp_path):
    stop, lines = threading.Event(), []
    out = tmp_path / "catalog.csv"
    kwargs = dict(port=0, catalog_out=out, seed=1, speed=1.0, frozen=True, n_sources=2)
    thread = threading.Thread(
        target=serve,
        kwargs=dict(
            kwargs, hosts=("127.0.0.1",), latency=0.0, faults=None, stop=stop, echo=lines.append
        ),
    )
    thread.start()
    for _ in range(100):
        if out.exists() and len(lines) > 2:
            break
        time.sleep(0.02)
    sources = read_catalog_csv(out.read_text(encoding="utf-8"), str(out))
    assert httpx2.get(f"{sources[0].base_url}/").status_code == 200
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and lines[-1] == "simulator stopped"


def test_serve_gives_each_family_its_own_address(tmp_path):
    """Real systems live on their own hosts: one politeness lane per family, not one for all."""
    stop, lines = threading.Event(), []
    out = tmp_path / "catalog.csv"
    thread = threading.Thread(
        target=serve,
        kwargs=dict(
            catalog_out=out,
            frozen=True,
            families={"tevis": 2, "zms": 1, "qmatic": 1},
            stop=stop,
            echo=lines.append,
        ),  # fmt: skip
    )
    thread.start()
    try:
        for _ in range(200):
            if out.exists() and any("serving" in line for line in lines):
                break
            time.sleep(0.02)
        sources = read_catalog_csv(out.read_text(encoding="utf-8"), str(out))
        hosts = {}
        for source in sources:
            hosts.setdefault(source.family, set()).add(source.host)
        assert {f: len(h) for f, h in hosts.items()} == {"tevis": 1, "zms": 1, "qmatic": 1}
        assert len(set().union(*hosts.values())) == 3
    finally:
        stop.set()
        thread.join(timeout=5)
