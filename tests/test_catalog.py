from __future__ import annotations

import pytest

from office_schedule.catalog import load_catalog, select_sources
from office_schedule.errors import CatalogError

HEADER = "id,name,family,index_url,params,verify_certificate,needs_include,enabled,note\n"


def test_builtin_catalog_has_every_known_source():
    catalog = load_catalog()
    families = {s.family for s in catalog.values()}
    assert {"tevis", "netappoint", "etermin", "tempus", "leipzig", "termed"} <= families
    assert len(catalog) >= 240 and len(select_sources(catalog)) >= 200
    assert catalog["frankfurt"].base_url == "https://tevis.ekom21.de/fra"
    assert catalog["salzlandkreis"].verify_tls is False
    assert catalog["bonn"].verify_tls is False
    assert catalog["westerwaldkreis"].enabled is False
    assert "suggest" in catalog["westerwaldkreis"].note  # the reason it is disabled
    assert catalog["termed"].needs_include and catalog["berlin"].enabled is False
    assert catalog["impfthueringen"].interval_minutes == 1
    assert catalog["frankfurt"].interval_minutes == 15


def test_selection_by_wildcards_family_and_flags(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text(
        HEADER + "frankfurt,Stadt Frankfurt (test),tevis,http://127.0.0.1:1/fra,"
        "base_url=http://127.0.0.1:1/fra,no,no,yes,\n"
        "secret,Hidden Office,tevis,,base_url=http://127.0.0.1:1/s,yes,yes,yes,\n"
    )
    catalog = load_catalog([extra])
    assert catalog["frankfurt"].base_url == "http://127.0.0.1:1/fra"  # override
    assert catalog["frankfurt"].index_url == "http://127.0.0.1:1/fra"
    ids = lambda **kw: [s.id for s in select_sources(catalog, **kw)]  # noqa: E731
    assert "secret" not in ids()
    assert ids(include=["secret"]) == ["secret"]
    assert ids(include=["Stadt Frankfurt (*"]) == ["frankfurt"]
    assert ids(include=["frank*,wismar"]) == ["frankenthal", "frankfurt", "frankfurtba", "wismar"]
    assert "frankfurt" not in ids(exclude=["fra*"])
    assert "westerwaldkreis" not in ids()
    assert ids(include=["westerwaldkreis"]) == ["westerwaldkreis"]
    assert ids(families=["leipzig"]) == ["leipzig"]
    assert "termed" not in ids() and "termed" in ids(families=["termed"])


@pytest.mark.parametrize(
    "row, message",
    [
        ("x,X,nosuch,http://a,base_url=http://a,yes,no,yes,", "unknown family 'nosuch'"),
        ("x,X,tevis,http://a,,yes,no,yes,", "lacks parameter"),
        ("x,X,tevis,http://a,base_url,yes,no,yes,", "is not key=value"),
        ("x,X,tevis,http://a,base_url=http://a,maybe,no,yes,", "yes/no"),
        (",X,tevis,http://a,base_url=http://a,yes,no,yes,", "empty id"),
    ],
)
def test_bad_catalog_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(CatalogError, match=message) as info:
        load_catalog([path])
    assert "bad.csv, line 2" in str(info.value)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        load_catalog([tmp_path / "nope.csv"])


def test_family_politeness_applies_to_the_hosts_of_that_family():
    from office_schedule.families import resolve_politeness

    catalog = load_catalog()
    base, overrides = resolve_politeness(catalog.values())
    assert (base.per_host_concurrency, base.min_gap, base.attempts) == (2, 0.25, 3)
    berlin = overrides["service.berlin.de"]
    assert berlin.per_host_concurrency == 1 and berlin.min_gap >= 3 and berlin.attempts == 1
    assert overrides["tempus-termine.com"].per_host_concurrency == 3
    assert "tevis.ekom21.de" not in overrides  # the defaults already fit
    base, fixed = resolve_politeness(catalog.values(), {"min_gap": 0.5})
    assert base.min_gap == fixed["service.berlin.de"].min_gap == 0.5  # an explicit --gap wins


def test_a_source_request_delay_raises_its_hosts_gap():
    from office_schedule.families import resolve_politeness
    from office_schedule.model import Source

    slow = Source("b", "B", "berlin", "https://x.de", {"request_delay": "7"})
    plain = Source("i", "I", "impftermin", "https://y.de", {})
    _, hosts = resolve_politeness([slow, plain])
    assert hosts["x.de"].min_gap == 7 and hosts["y.de"].min_gap == 0.7


def test_simulated_disabled_families_mirror_the_catalog():
    from office_schedule.families import FAMILIES

    catalog = load_catalog()
    families = {s.family for s in catalog.values()}
    all_disabled = {
        f for f in families if not any(s.enabled for s in catalog.values() if s.family == f)
    }
    declared = {name for name, f in FAMILIES.items() if f.disabled_by_default or f.refusal}
    assert all_disabled == declared & families
