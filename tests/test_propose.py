"""``Family.propose`` and ``Family.confirms`` (for ``discover``): real pages, the simulator's
booking pages round-trip to their catalog rows, other pages are not confirmed."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest

from office_schedule.catalog import Source, load_catalog
from office_schedule.errors import CatalogError
from office_schedule.families import FAMILIES, readable_families, validate_source
from office_schedule.families.smartcjm.client import same_port
from office_schedule.families.zms.protocol import DEFAULT_BASE_URL as ZMS_DEFAULT
from office_schedule.simulate import SimServer, SimWorld
from office_schedule.simulate.families import FAMILY_SERVERS

from .familytools import real_page

#: parameters of the simulated catalog that no booking page shows: the simulator's own
#: knobs (request_delay, smartcjm's mode), termed's list of simulated practices (the API
#: root names none), flexappoint's departments (not on the page)
NOT_ON_PAGE = {
    "*": {"request_delay"},
    "smartcjm": {"mode"},
    "termed": {"doc_ids"},
    "flexappoint": {"departments"},
}
#: families whose simulated booking page carries no marker taken from a real page
NO_PAGE_MARKER = {"etermin", "flexappoint", "termed", "impftermin"}


def hidden(family: str) -> set[str]:
    return NOT_ON_PAGE["*"] | NOT_ON_PAGE.get(family, set())


def fetch(url: str) -> str:
    """One GET as ``discover`` does it; the redirects are followed (a simulated SmartCJM
    load balancer injects ``:8443`` into them, which its scraper strips as well)."""
    for _ in range(5):
        reply = httpx2.get(url, timeout=5)
        if not reply.is_redirect:
            return reply.text
        url = same_port(url, str(reply.next_request.url))
    raise AssertionError(f"too many redirects from {url}")


def spellings(url: str) -> list[str]:
    """Other spellings of a booking link: trailing ``/``, a tracking parameter, ``#/``."""
    split = urlsplit(url)
    out = []
    if "." not in split.path.rsplit("/", 1)[-1] and not split.path.endswith("/"):
        out.append(urlunsplit(split._replace(path=split.path + "/")))
    query = f"{split.query}&utm_source=x" if split.query else "utm_source=x"
    out.append(urlunsplit(split._replace(query=query)))
    if not split.fragment:
        out.append(url + "#/")
    return out


@pytest.fixture(scope="module")
def sim():
    """Every simulated family, three sources each, and each source's booking page."""
    world = SimWorld(seed=5, families=dict.fromkeys(FAMILY_SERVERS, 3), frozen=True)
    with SimServer(world) as srv:
        sources = srv.sources()
        yield [(s, fetch(s.index_url)) for s in sources]


def test_every_readable_family_proposes():
    assert [n for n in readable_families() if FAMILIES[n].propose is None] == []
    for name in ("dtms", "terminland", "timeacle"):
        assert FAMILIES[name].propose is None


def test_simulated_booking_pages_round_trip(sim):
    for source, body in sim:
        family = FAMILIES[source.family]
        index_url, params = family.propose(source.index_url, body)
        want = {k: v for k, v in source.params.items() if k not in hidden(source.family)}
        if source.family == "netappoint" and source.params.get("company"):
            want.pop("extra", None)  # cur_cause is a tenant choice the bare link lacks
        assert (index_url, params) == (source.index_url, want), source.id
        for url in spellings(source.index_url):
            assert family.propose(url, body)[1] == want, url


def test_simulated_booking_pages_are_confirmed(sim):
    checked = set()
    for source, body in sim:
        if source.family not in NO_PAGE_MARKER:
            assert FAMILIES[source.family].confirms(source.index_url, body), source.id
            checked.add(source.family)
    assert checked == set(FAMILY_SERVERS) - NO_PAGE_MARKER


def test_proposed_rows_are_valid_sources(sim):
    for source, body in sim:
        index_url, params = FAMILIES[source.family].propose(source.index_url, body)
        row = Source(
            id=source.id, name=source.name, family=source.family, index_url=index_url, params=params
        )
        if source.family == "flexappoint":
            with pytest.raises(CatalogError, match="departments"):
                validate_source(row)  # the lead disables such rows until a person fills them
        else:
            validate_source(row)


def test_deep_links_carry_what_the_index_url_lacks(sim):
    for source, body in sim:
        family = FAMILIES[source.family]
        if (
            source.family == "netappoint"
            and "company" in source.params
            and "extra" in source.params
        ):
            deep = f"{source.index_url}&{source.params['extra']}&step=1"
            assert family.propose(deep, body) == (source.index_url, source.params)
        if source.family == "termed":
            doc = source.params["doc_ids"].split(",")[0]
            url = f"{source.index_url}/v2/public/doc/{doc}"
            assert family.propose(url, body)[1] == {**source.params, "doc_ids": doc}
        if source.family == "smartcjm":
            url = source.index_url.replace("/?uid=", "/search_result?search_mode=earliest&uid=")
            assert family.propose(url, body)[1]["mode"] == "earliest"


def test_other_families_pages_are_not_confirmed(sim):
    for source, body in sim:
        for name, family in FAMILIES.items():
            if name != source.family:
                assert not family.confirms(source.index_url, body), (name, source.id)


MUNICIPAL_PAGE = """<!DOCTYPE html><html lang="de"><head><title>Termine - Stadt Beispiel</title>
</head><body><h1>Online-Termine</h1><ul>
<li><a href="https://nuernberg.termine-reservieren.de/select2?md=8">Kfz (TEVIS)</a></li>
<li><a href="https://tempus-termine.com/termine/index.php?anlagennr=91">Bürgerbüro</a></li>
<li><a href="https://stuttgart.konsentas.de/form/1/">Bürgerbüros</a></li>
<li><a href="https://www.lra-aoe.de/qmaticwebbooking/#/">Landratsamt</a></li>
<li><iframe src="https://termine.bonn.de/m/dlz/extern/calendar/?uid=b91bb67b-0000-4000-8000-000000000000"></iframe></li>
<li><a href="https://service.berlin.de/terminvereinbarung/">Berlin</a> netappoint, eTermin</li>
</ul></body></html>"""


def test_an_unrelated_page_is_confirmed_by_no_family():
    url = "https://www.stadt-beispiel.de/rathaus/termine.html"
    assert [n for n, f in FAMILIES.items() if f.confirms(url, MUNICIPAL_PAGE)] == []


@pytest.mark.parametrize(
    ("family", "url"),
    [
        ("konsentas", "https://stuttgart.konsentas.de/"),
        ("tempus", "https://tempus-termine.com/termine/index.php?anwendung=1"),
        ("smartcjm", "https://termine.bonn.de/m/dlz/extern/calendar/"),
        ("smartcjm", "https://termine.bonn.de/termine/"),
        ("etermin", "https://www.etermin.net/"),
        ("qmatic", "https://www.lra-aoe.de/termine/"),
        ("cleverq", "https://cqm.cleverq.de/public/"),
    ],
)
def test_a_missing_required_id_names_the_url(family, url):
    with pytest.raises(CatalogError) as caught:
        FAMILIES[family].propose(url, MUNICIPAL_PAGE)
    assert url in str(caught.value)


def test_not_a_url_is_a_catalog_error():
    with pytest.raises(CatalogError, match="not an absolute"):
        FAMILIES["tevis"].propose("select2?md=8", "")


# --------------------------------------------------------------------------- real pages

#: (family, folder, file, the URL it answered, params it must give)
REAL = [
    (
        "tevis",
        "tevis",
        "nuernberg_2026-02_start_page.html",
        "https://nuernberg.termine-reservieren.de/",
        {"base_url": "https://nuernberg.termine-reservieren.de"},
    ),
    (
        "tevis",
        "tevis",
        "aachen-abh-schritt2-select2.html",
        "https://termine.staedteregion-aachen.de/auslaenderamt/select2?md=1",
        {"base_url": "https://termine.staedteregion-aachen.de/auslaenderamt"},
    ),
    (
        "smartcjm",
        "smartcjm",
        "leipzig_with_slots.html",
        "https://terminvereinbarung.leipzig.de/m/leipzig-ba/extern/calendar/"
        "?uid=b76cab25-49bd-44e3-950d-aab715881ea7&utm_source=leipzig.de",
        {
            "base_url": "https://terminvereinbarung.leipzig.de/m/leipzig-ba/extern/calendar",
            "uid": "b76cab25-49bd-44e3-950d-aab715881ea7",
        },
    ),
    (  # a link without the uid: the page's own form names it
        "smartcjm",
        "smartcjm",
        "leipzig_no_slots.html",
        "https://terminvereinbarung.leipzig.de/m/leipzig-ba/extern/calendar",
        {
            "base_url": "https://terminvereinbarung.leipzig.de/m/leipzig-ba/extern/calendar",
            "uid": "b76cab25-49bd-44e3-950d-aab715881ea7",
        },
    ),
    (
        "berlin",
        "berlin",
        "Day.html",
        "https://service.berlin.de/terminvereinbarung/termin/day/",
        {"base_url": "https://service.berlin.de"},
    ),
    (
        "berlin",
        "berlin",
        "jesusvalera_2022_calendar_day_selection.html",
        "https://service.berlin.de/terminvereinbarung/termin/day/",
        {"base_url": "https://service.berlin.de"},
    ),
    (
        "impftermin",
        "impftermin",
        "the-mod_2021-05_impfzentren.json",
        "https://www.impfterminservice.de/assets/static/impfzentren.json",
        {"base_url": "https://www.impfterminservice.de"},
    ),
    ("netappoint", "netappoint", "muenchen_abh_2023-10_calendar_fragment.html", None, None),
]


def body_matches(family: str, body: str) -> bool:
    return any(re.search(p, body, re.IGNORECASE) for p in FAMILIES[family].page_fingerprints)


@pytest.mark.parametrize(("family", "folder", "name", "url", "params"), REAL)
def test_real_pages_are_confirmed_and_proposed(family, folder, name, url, params):
    body = real_page(folder, name)
    assert body_matches(family, body)
    assert [n for n in FAMILIES if n != family and body_matches(n, body)] == []
    if url is not None:
        assert FAMILIES[family].propose(url, body)[1] == params


@pytest.mark.parametrize(
    "name",
    [
        "aachen-abh-schritt3-location.html",
        "aachen-abh-suggest-available-2025-10-03.html",
        "muelheim-abh-select2-2026-07-21.html",
        "muelheim-abh-suggest-2026-07-22T12-33.html",
    ],
)
def test_every_real_tevis_page_is_confirmed(name):
    assert body_matches("tevis", real_page("tevis", name))


def test_real_munich_api_answer_gives_service_office_and_api():
    entry = json.loads(
        real_page("zms-munich", "muenchen_2025-03-20_backend_offices-and-services_logged.json")
    )
    body = json.dumps(entry["responseData"])
    assert body_matches("zms", body)
    _, params = FAMILIES["zms"].propose(entry["url"], body)
    assert params == {
        "service_id": "10339027",
        "office_ids": "10187259",
        "base_url": "https://www48.muenchen.de/buergeransicht/api/backend",
    }


def test_real_munich_deep_links():
    zms = FAMILIES["zms"]
    deep = "https://stadt.muenchen.de/buergerservice/terminvereinbarung.html#/services/10295182"
    assert zms.confirms(deep, "")
    assert zms.propose(deep, "") == (deep, {"service_id": "10295182"})
    with_office = deep + "/locations/10187259?utm_source=x"
    assert zms.propose(with_office, "")[1] == {"service_id": "10295182", "office_ids": "10187259"}
    # the page without a service: the row is proposed without one, for a person to fill in
    assert zms.propose(deep.split("#")[0], "") == (deep.split("#")[0], {})


@pytest.mark.parametrize(
    ("family", "url", "params"),
    [
        ("etermin", "https://www.etermin.net/LRA-DEG-Termin/?utm_source=x",
         {"et_url": "LRA-DEG-Termin"}),
        ("tempus",
         "https://tempus-termine.com/termine/index.php?anlagennr=13&anlagentoken=Uq9dpZv7"
         "&anwendung=1&infotext=buergerbuero&sna=T0123&page=tagesauswahl",
         {"base_url": "https://tempus-termine.com/termine/index.php", "anlagennr": "13",
          "anlagentoken": "Uq9dpZv7", "extra": "anwendung=1&infotext=buergerbuero"}),
        ("tempus", "https://example.de/termine/?anr=107&anwendung=2&standortrowid=5",
         {"base_url": "https://example.de/termine/index.php", "anlagennr": "107",
          "extra": "anwendung=2"}),
        ("konsentas", "https://stuttgart.konsentas.de/form/7/?signup_new=1#/",
         {"base_url": "https://stuttgart.konsentas.de", "signupform_id": "7"}),
        ("qmatic", "https://onlinetermin.mtk.org/qmaticwebbooking/#/preselect/branch/6e23",
         {"base_url": "https://onlinetermin.mtk.org/qmaticwebbooking"}),
        ("netappoint",
         "https://terminvergabe.bochum.de/index.php?company=bochumbb&cur_cause=10&step=1",
         {"base_url": "https://terminvergabe.bochum.de", "company": "bochumbb",
          "extra": "cur_cause=10"}),
        ("leipzig", "https://egov.potsdam.de/tnv/bgr;jsessionid=AB12?START_OFFICE=kfz",
         {"base_url": "https://egov.potsdam.de/tnv/?START_OFFICE=kfz"}),
        ("leipzig", "https://kfz-termin.landkreis-uelzen.de?START_OFFICE=KFZZUL&utm_source=x",
         {"base_url": "https://kfz-termin.landkreis-uelzen.de/?START_OFFICE=KFZZUL"}),
        ("impfthueringen", "https://www.impfen-thueringen.de/terminvergabe/index.php",
         {"base_url": "https://www.impfen-thueringen.de/terminvergabe"}),
        ("termed", "https://www.termed.de/", {"base_url": "https://www.termed.de"}),
        ("cleverq",
         "https://cqm.cleverq.de/public/appointments/zulassung_alzenau/index.html?utm_source=x",
         {}),
    ],
)  # fmt: skip
def test_real_booking_links(family, url, params):
    assert FAMILIES[family].matches(url)
    assert FAMILIES[family].propose(url, "")[1] == params


#: catalog parameters a person chose (politeness groups, a subset of services, …)
CHOSEN = {"mp_group", "mp_max", "request_delay", "services", "zip_code", "choices", "branches"}
CHOSEN |= {"office_ids", "leistungsmerkmale", "max_doc_id"}
#: rows whose link is spelled unlike their base (a trailing /, an embedding page)
SPELLED_APART = {"fulda", "leipzig"}


def test_the_real_catalog_rows_follow_from_their_links():
    """Every row of the shipped catalog is proposed from its ``index_url`` alone, up to
    what a person chose, the netappoint extras the links lack, flexappoint's departments
    and zms's API root (the scraper's default)."""
    checked = 0
    for source in load_catalog().values():
        family = FAMILIES[source.family]
        if family.propose is None or source.id in SPELLED_APART:
            continue
        index_url, params = family.propose(source.index_url, "")
        want = {k: v for k, v in source.params.items() if k not in CHOSEN}
        if source.family == "netappoint":
            want.pop("extra", None)
        if source.family == "flexappoint":
            want.pop("departments", None)
        if source.family == "zms" and want.get("base_url") == ZMS_DEFAULT:
            del want["base_url"]
        got = {k: v for k, v in params.items() if k not in CHOSEN}
        assert (index_url, got) == (source.index_url, want), source.id
        checked += 1
    assert checked > 250
