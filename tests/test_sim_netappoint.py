"""The simulated netappoint family: the real scraper against the fake server over loopback,
classic and WEB_APPOINT tenants alike, and the fake's markup against the real fragment."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from office_schedule.errors import ScrapeError
from office_schedule.families import check_empty, netappoint
from office_schedule.families.netappoint import protocol as p
from office_schedule.fetch import Fetcher, Politeness
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate import netappoint_ajax_server as aj
from office_schedule.simulate import netappoint_server as ns

WEEKS = 4
HOSTS = ("127.0.0.1", "127.0.0.2")
REAL = "data/real-pages/netappoint/muenchen_abh_2023-10_calendar_fragment.html"


def scrape(source, now: datetime, weeks: int = WEEKS):
    async def go():
        fetcher = Fetcher(Politeness(min_gap=0, attempts=1, timeout=5))
        try:
            session = fetcher.session()
            return await netappoint.scrape(source, session, weeks, now), session.requests
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def world(seed: int, **kw) -> SimWorld:
    kw.setdefault("frozen", True)
    return SimWorld(seed=seed, families={"netappoint": 3}, **kw)


def expected_requests(w: SimWorld, src, weeks: int = WEEKS) -> int:
    """Classic (protocol 2.2): 1 + per category (POST [+ chooser] + the bookable days of
    today's month view + every later day through today+7W); WEB_APPOINT: 1 + one POST per
    service of the form."""
    if src.variant == "ajax":
        return 1 + len(aj.casetypes(src))
    now = w.now()
    last = now.date() + timedelta(days=7 * weeks)
    total = 1
    for loc in src.locations.values():
        total += 1 + ns.tenant(src).chooser
        bookable = ns._bookable_month(w, src, loc.id, now)
        if bookable and bookable[0] <= last:
            month_end = (now.date().replace(day=1) + timedelta(days=32)).replace(day=1)
            total += sum(1 for d in bookable if d <= last) + max(0, (last - month_end).days + 1)
    return total


# late on the last Friday of a month only Saturday openings are bookable in the month view,
# so most classic locations report nothing (protocol 2.2 limitation); February walks into
# March; WEB_APPOINT tenants show five months at once
STARTS = [None, None, datetime(2021, 7, 30, 17, 0), datetime(2021, 2, 26, 9, 0)]


@pytest.mark.parametrize(("seed", "start"), zip([1, 2, 3, 7], STARTS, strict=True))
def test_scrape_equals_truth(seed, start):
    w = world(seed, start=start)
    with SimServer(w, hosts=HOSTS) as srv:
        total, variants = 0, set()
        for source in srv.sources():
            src = w.sources[source.id]
            raw, requests = scrape(source, w.now())
            got = check_empty(netappoint.parse(raw)).to_truth()
            assert got == w.truth(weeks=WEEKS)[source.id], source.id
            names = [e["location"] for e in raw]
            if src.variant == "ajax":  # in the order the services' answers list them
                names.sort(key=[loc.name for loc in src.locations.values()].index)
            assert names == [loc.name for loc in src.locations.values()]
            assert requests == expected_requests(w, src)
            assert len(srv.requests_for(source.id)) == requests
            total += sum(len(v) for v in got.values())
            variants.add(src.variant)
        assert total > 0 and variants == {"classic", "ajax"}


def test_variants_are_covered_across_seeds():
    seen = set()
    for seed in range(12):
        for src in world(seed).sources.values():
            seen.add(("variant", src.variant))
            if src.variant == "classic":
                ten = ns.tenant(src)
                seen |= {("chooser", ten.chooser), ("selects", ten.selects), ("extra", ten.extra)}
    assert {("chooser", True), ("chooser", False), ("selects", True), ("selects", False)} <= seen
    assert {("extra", e) for e in ns.EXTRAS} <= seen
    assert {("variant", "classic"), ("variant", "ajax")} <= seen


def classic_and_ajax(srv: SimServer, w: SimWorld):
    by_variant = {}
    for source in srv.sources():
        by_variant.setdefault(w.sources[source.id].variant, source)
    return by_variant["classic"], by_variant["ajax"]


def test_classic_page_shapes_and_session_rules():
    w = world(5)
    with SimServer(w, hosts=HOSTS) as srv:
        source, _ = classic_and_ajax(srv, w)
        src = w.sources[source.id]
        params = {"company": source.params["company"]}
        params.update(netappoint.extra_params(source.params.get("extra", "")))
        with httpx2.Client() as client:
            index = netappoint.read_page(
                client.get(f"{source.base_url}/index.php", params=params).text
            )
            page = index.details["index"]
            assert page.action.startswith(f"/{source.id}/netappoint/index.php?company=")
            assert [c.name for c in page.categories] == [loc.name for loc in src.locations.values()]
            # without the tenant's extra parameter (if any) there is no form
            if source.params.get("extra"):
                no_extra = {"company": params["company"]}
                bare = client.get(f"{source.base_url}/index.php", params=no_extra)
                with pytest.raises(ScrapeError, match="unrecognised page"):
                    netappoint.read_page(bare.text)
            origin = source.base_url.split(f"/{source.id}")[0]
            cat = page.categories[0]
            form = {c: "0" for c in cat.cases} | {cat.cases[0]: "1", "sentcasetypes": "Weiter"}
            answer = netappoint.read_page(client.post(origin + page.action, data=form).text)
            if answer.page == "offices":
                answer = netappoint.read_page(client.get(origin + answer.details["link"]).text)
            assert answer.reader == "netappoint.classic-calendar"
            if answer.page == "days":
                link = answer.details["links"][0]
                day_url = netappoint.day_url(origin + link, netappoint.link_date(link))
                # with the selection still in the session: the day chooser again
                assert netappoint.read_page(client.get(day_url).text).page == "days"
                client.cookies.clear()
                fresh = netappoint.read_page(client.get(day_url).text, day_url)
                assert fresh.page == "times" and fresh.slots
            # nothing chosen, or two locations at once: "no slots" messages
            none = netappoint.read_page(
                client.post(origin + page.action, data={"sentcasetypes": "W"}).text
            )
            assert none.marker == ns.NO_SERVICE
            if len(page.categories) > 1:
                both = {c.cases[0]: "1" for c in page.categories[:2]} | {"sentcasetypes": "W"}
                answer = netappoint.read_page(client.post(origin + page.action, data=both).text)
                assert answer.marker == p.NO_SLOTS_AFTER_SELECTION[0]


def test_web_appoint_page_shapes_and_session_rules():
    w = world(5)
    with SimServer(w, hosts=HOSTS) as srv:
        _, source = classic_and_ajax(srv, w)
        src = w.sources[source.id]
        url = f"{source.base_url}/index.php"
        params = netappoint.extra_params(source.params["extra"])
        with httpx2.Client() as client:
            first = client.get(url, params=params)
            assert p.COOKIE in first.cookies
            form = netappoint.read_page(first.text).details["form"]
            assert list(form.casetypes) == list(aj.casetypes(src))
            name = form.casetypes[0]
            data = form.hidden | {f"CASETYPES[{name}]": "1"}
            answer = netappoint.read_page(client.post(url, params=params, data=data).text)
            assert answer.reader == "netappoint.web-appoint-answer"
            assert {o.id for o in answer.offices} == {
                aj.web_id(src, src.locations[lid]) for lid in aj.casetypes(src)[name]
            }
            # nothing chosen: the form again; a wrong token or no session: expired
            empty = client.post(url, params=params, data=form.hidden)
            assert netappoint.read_page(empty.text).reader == "netappoint.web-appoint-form"
            wrong = form.hidden | {"FRM_CASETYPES_token": "x", f"CASETYPES[{name}]": "1"}
            assert (
                netappoint.read_page(client.post(url, params=params, data=wrong).text).page
                == "error-page"
            )
            client.cookies.clear()
            again = client.post(url, params=params, data=data)
            assert netappoint.read_page(again.text).page == "error-page"
            # the form needs the tenant's loc=
            other = client.get(url, params={"loc": "XYZ"})
            with pytest.raises(ScrapeError, match="unrecognised page"):
                netappoint.read_page(other.text)


def _shape(html: str) -> list[tuple]:
    """Tags with their attributes and the non-blank texts, in document order."""
    out: list[tuple] = []
    for node in HTMLParser(html).body.traverse(include_text=True):
        if node.tag == "-text":
            text = " ".join((node.text_content or "").split())
            if text:
                out.append(("text", text))
        else:
            out.append((node.tag, tuple(sorted((node.attributes or {}).items()))))
    return out


def test_simulated_calendar_has_the_real_fragments_markup(shared_dir):
    """The fake's #locationContent for that office and month equals the real one."""
    real = (shared_dir / REAL).read_text(encoding="utf-8")
    loc_id = "d988f171668043062a198d92af324503"
    days = {date(2023, 10, 1) + timedelta(days=i): [] for i in range(160)}
    sim = aj.location_content([(loc_id, "Ausländerbehörde München", days)], date(2023, 10, 16))
    assert _shape(sim) == _shape(real)
    assert netappoint.read_page(sim).as_json() == netappoint.read_page(real).as_json()


@pytest.mark.parametrize(
    ("mode", "match"),
    [("expired", "netappoint session expired"), ("garbage", "unrecognised page")],
)
def test_page_faults(mode, match):
    w = world(4)
    for variant in ("classic", "ajax"):
        faulty = next(sid for sid, src in w.sources.items() if src.variant == variant)
        with SimServer(w, hosts=HOSTS, faults={faulty: mode}) as srv:
            by_id = {s.id: s for s in srv.sources()}
            with pytest.raises(ScrapeError, match=match) as info:
                scrape(by_id[faulty], w.now())
            assert info.value.url and f"/{faulty}/" in info.value.url
            # the other sources are unaffected
            for other, source in by_id.items():
                if other != faulty:
                    raw, _ = scrape(source, w.now())
                    assert netappoint.parse(raw).to_truth() == w.truth(weeks=WEEKS)[other]


def test_running_world_scrapes_without_errors():
    w = world(6, frozen=False, speed=600)
    with SimServer(w, hosts=HOSTS) as srv:
        for source in srv.sources():
            raw, _ = scrape(source, w.now())
            snap = check_empty(netappoint.parse(raw))
            assert set(snap.to_truth()) == set(w.truth(weeks=WEEKS)[source.id])


def test_truth_days_and_location_ids():
    now = datetime(2021, 7, 31, 10, 0)
    days = ns.truth_days(now, 4)
    assert days[0] == now.date() and days[-1] == now.date() + timedelta(days=28)
    assert len(days) == 29
    for src in world(8).sources.values():
        for loc in src.locations.values():
            entry = {"location": loc.name, "dates": []}
            if src.variant == "ajax":
                entry["id"] = aj.web_id(src, loc)
            assert ns.location_id(src, loc) == netappoint.parse([entry]).locations.popitem()[0]
