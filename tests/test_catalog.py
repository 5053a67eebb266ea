from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from office_schedule.catalog import load_catalog, seen_start, select_sources
from office_schedule.catalog.catalog import read_catalog_csv
from office_schedule.errors import CatalogError

HEADER = "id,name,family,index_url,params,verify_certificate,needs_include,enabled,note\n"


def test_builtin_catalog_has_every_known_source():
    catalog = load_catalog()
    families = {s.family for s in catalog.values()}
    assert {"tevis", "netappoint", "etermin", "tempus", "leipzig", "termed"} <= families
    assert len(catalog) >= 300 and len(select_sources(catalog)) >= 60
    assert catalog["frankfurt"].base_url == "https://tevis.ekom21.de/fra"
    assert catalog["salzlandkreis"].verify_tls is False
    assert catalog["bonn"].verify_tls is False
    assert catalog["westerwaldkreis"].enabled is False
    assert "suggest" in catalog["westerwaldkreis"].reason
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
    assert ids(include=["frank*,wismar"]) == ["frankfurt", "wismar"]  # wismar: named, disabled
    assert "frankfurt" not in ids(exclude=["fra*"])
    assert "westerwaldkreis" not in ids()
    assert ids(include=["westerwaldkreis"]) == ["westerwaldkreis"]
    assert ids(families=["leipzig"]) == ["potsdam-buergerservice", "potsdam-kfz", "uelzen-kfz"]
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
    assert declared & families <= all_disabled
    for family in all_disabled - declared:  # every row died on its own, no family-wide block
        rows = [s for s in catalog.values() if s.family == family]
        assert all("published dataset" in s.reason for s in rows), family


# -- evidence, seen, reason, robots ---------------------------------------------------------


def _builtin_rows() -> list[dict[str, str]]:
    from office_schedule.catalog.catalog import builtin_catalog_text

    return list(csv.DictReader(io.StringIO(builtin_catalog_text())))


def test_every_builtin_row_has_evidence_and_seen_and_disabled_ones_a_reason():
    rows = _builtin_rows()
    assert len(rows) >= 300
    for row in rows:
        assert row["evidence"].strip() and row["seen"].strip(), row["id"]
        assert seen_start(row["seen"]).year >= 2018, row["id"]
        if row["enabled"] == "no":
            assert row["reason"].strip(), row["id"]
        assert row["robots"] in ("", "allowed-by-operator"), row["id"]


def test_builtin_rules_are_enforced_on_load():
    header = HEADER.strip() + ",evidence,seen,reason\n"
    ok = "x,X,tevis,http://a,base_url=http://a,yes,no,no,,somewhere,2026,gone\n"
    assert read_catalog_csv(header + ok, "cat", builtin=True)[0].reason == "gone"
    for row, missing in (
        ("x,X,tevis,http://a,base_url=http://a,yes,no,no,,somewhere,2026,\n", "reason"),
        ("x,X,tevis,http://a,base_url=http://a,yes,no,yes,,,2026,\n", "evidence"),
        ("x,X,tevis,http://a,base_url=http://a,yes,no,yes,,somewhere,,\n", "seen"),
    ):
        expected = f"cat, line 2 \\(x\\): a built-in row needs {missing}"
        with pytest.raises(CatalogError, match=expected):
            read_catalog_csv(header + row, "cat", builtin=True)
        read_catalog_csv(header + row, "cat")  # a user catalog may omit them


def _last_deliveries(shared: Path) -> dict[str, date]:
    summary = shared / "data" / "office-schedule-data" / "metrics" / "summary.csv"
    with summary.open(encoding="utf-8") as fh:
        return {r["source_id"]: date.fromisoformat(r["max_date"][:10]) for r in csv.DictReader(fh)}


def test_2021_sources_that_stopped_delivering_are_disabled_with_their_last_month(shared_dir):
    last = _last_deliveries(shared_dir)
    end = max(last.values())
    catalog = load_catalog()
    assert set(last) <= set(catalog)
    stopped = 0
    for sid, day in last.items():
        source, month = catalog[sid], f"no data since {day:%Y-%m}"
        if day >= end - timedelta(days=61):
            assert source.enabled, sid  # still delivering at the dataset's end
        elif seen_start(source.seen) > day:  # newer evidence of the same tenant
            assert source.enabled and month in source.note, sid
        else:
            stopped += 1
            assert not source.enabled and f"{month} in the published dataset" in source.reason, sid
    assert stopped >= 180


def test_2021_sources_never_in_the_published_data_say_so(shared_dir):
    last = _last_deliveries(shared_dir)
    for row in _builtin_rows():
        if row["evidence"].startswith("reference sources 2021") and row["id"] not in last:
            if row["needs_include"] == "yes":
                continue  # termed: recorded, never exported
            assert row["enabled"] == "no", row["id"]
            assert "published dataset" in row["reason"], row["id"]


@pytest.mark.parametrize(
    "robots, note, message",
    [
        ("yes", "", "robots must be empty or 'allowed-by-operator', got 'yes'"),
        ("allowed-by-operator", "", "needs a note saying who granted it"),
    ],
)
def test_robots_column_is_checked(tmp_path, robots, note, message):
    path = tmp_path / "robots.csv"
    path.write_text(
        HEADER.strip() + f",robots\nx,X,tevis,,base_url=http://a,yes,no,yes,{note},{robots}\n"
    )
    with pytest.raises(CatalogError, match=message) as info:
        load_catalog([path])
    assert "robots.csv, line 2 (x)" in str(info.value)


def test_robots_allowed_by_operator_with_a_note(tmp_path):
    path = tmp_path / "robots.csv"
    note = "permission by mail from the office on 2026-11-02"
    path.write_text(
        HEADER.strip()
        + f",robots\nx,X,tevis,,base_url=http://a,yes,no,yes,{note},allowed-by-operator\n"
    )
    source = load_catalog([path])["x"]
    assert source.robots == "allowed-by-operator" and source.note == note
    assert source.as_row()["robots"] == "allowed-by-operator"


@pytest.mark.parametrize("seen", ["2021-13", "21-07-01", "2026-02-30", "2026/01/02", "yesterday"])
def test_seen_format_errors_name_file_line_and_id(tmp_path, seen):
    path = tmp_path / "seen.csv"
    path.write_text(
        HEADER.strip() + ",evidence,seen\n"
        "ok,OK,tevis,,base_url=http://a,yes,no,yes,,a page,2026-11\n"
        f"bad-one,Bad,tevis,,base_url=http://a,yes,no,yes,,a page,{seen}\n"
    )
    with pytest.raises(CatalogError, match="seen") as info:
        load_catalog([path])
    assert "seen.csv, line 3 (bad-one)" in str(info.value) and seen in str(info.value)


def test_seen_start_takes_the_first_day_of_a_period():
    assert seen_start("2025") == date(2025, 1, 1)
    assert seen_start("2025-03") == date(2025, 3, 1)
    assert seen_start("2025-03-20") == date(2025, 3, 20)


def test_old_catalog_files_without_the_new_columns_still_load(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text(HEADER + "x,X,tevis,,base_url=http://a,yes,no,no,was a test\n")
    source = load_catalog([old])["x"]
    assert (source.evidence, source.seen, source.reason, source.robots) == ("", "", "", "")
    from office_schedule.cli.scrape import disabled_reason

    assert disabled_reason(source) == "was a test"  # the note stands in for the reason
    assert disabled_reason(replace(source, reason="gone")) == "gone"


def _list(*args: str) -> str:
    from click.testing import CliRunner

    from office_schedule.cli import main

    result = CliRunner().invoke(main, ["list", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_stale_selects_by_the_seen_date(tmp_path):
    from office_schedule.clock import local_now

    today = local_now().date()
    seen = {
        "t-old": (today - timedelta(days=400)).isoformat(),
        "t-fresh": (today - timedelta(days=30)).isoformat(),
        "t-year": str(today.year - 2),
        "t-month": f"{today:%Y-%m}",
        "t-none": "",
    }
    path = tmp_path / "mine.csv"
    path.write_text(
        HEADER.strip()
        + ",evidence,seen\n"
        + "".join(
            f"{sid},{sid},tevis,,base_url=http://a,yes,no,{'no' if sid == 't-old' else 'yes'},,"
            f"a page,{day}\n"
            for sid, day in seen.items()
        )
    )
    out = _list("--catalog", str(path), "--stale", "-i", "t-*", "--format", "csv")
    ids = [r["id"] for r in csv.DictReader(io.StringIO(out))]
    assert ids == ["t-none", "t-old", "t-year"]  # disabled t-old too: --stale implies --all
    fresh = _list("--catalog", str(path), "-i", "t-*", "--format", "csv")
    assert "t-old" not in fresh and "t-fresh" in fresh
    builtin = _list("--stale", "--format", "json")
    assert all(seen_start(r["seen"]) < today - timedelta(days=365) for r in json.loads(builtin))


def test_list_csv_is_a_catalog_again(tmp_path):
    out = _list("--all", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"evidence", "seen", "reason", "robots"} <= set(rows[0])
    path = tmp_path / "listed.csv"
    path.write_text(out, encoding="utf-8")
    again = {s.id: s for s in read_catalog_csv(out, str(path), builtin=True)}
    catalog = load_catalog()
    assert again.keys() == catalog.keys()
    assert all(again[i].as_row() == catalog[i].as_row() for i in catalog)
    assert _list("--catalog", str(path), "--all", "--format", "csv") == out


def test_list_table_shows_seen_and_why_disabled(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        HEADER.strip() + ",evidence,seen,reason\n"
        "t-a,A,tevis,,base_url=http://a,yes,no,no,,a page,2020,gone\n"
    )
    out = _list("--catalog", str(path), "--all", "-i", "t-a")
    assert "seen" in out and "2020" in out and "gone" in out
    data = json.loads(_list("--all", "--format", "json", "-i", "berlin"))
    assert data[0]["reason"].startswith("service.berlin.de's robots.txt") and data[0]["seen"]


def test_an_id_twice_in_one_file_is_an_error_naming_both_lines():
    from office_schedule.catalog.catalog import read_catalog_csv

    text = "id,family,index_url,params\na,tevis,http://x/,base_url=http://x\na,tevis,http://y/,base_url=http://y\n"
    with pytest.raises(CatalogError, match=r"line 3: id 'a' already on line 2"):
        read_catalog_csv(text, "mine.csv")
