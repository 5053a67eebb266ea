"""The static report on a week slice: drawn by our own code, and cut from the real week."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

from office_schedule.catalog import load_catalog
from office_schedule.exchange import import_paths
from office_schedule.report import write_report
from office_schedule.store import SQLiteStore


def test_report_files_html_and_determinism(tmp_path, week_slice):
    with SQLiteStore(tmp_path / "x.db") as store:
        list(import_paths(store, [week_slice]))
        sources = store.source_ids()
        catalog = load_catalog()
        index = write_report(store, catalog, sources, tmp_path / "a")
        again = write_report(store, catalog, sources, tmp_path / "b")
    assert index == tmp_path / "a" / "index.html"
    page = index.read_text(encoding="utf-8")
    charts = sorted((tmp_path / "a" / "charts").iterdir())
    pngs = [p for p in charts if p.suffix == ".png"]
    svgs = [p for p in charts if p.suffix == ".svg"]
    # one hourly chart per source and per city, lead time per city and overall, two hours
    assert len(pngs) == len(svgs) >= len(sources) + 4
    assert {f"source-{s}.png" for s in sources} <= {p.name for p in pngs}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for svg in svgs:
        assert ET.fromstring(svg.read_bytes()).tag.endswith("svg")
        assert svg.read_bytes() == (tmp_path / "b" / "charts" / svg.name).read_bytes()
    linked = set(re.findall(r'(?:src|href)="charts/([^"]+)"', page))
    assert {p.name for p in charts} == linked
    assert "Summary per city" in page and "Summary per source" in page
    assert "<table>" in page and "<th>appointments</th>" in page and ">Jena<" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script" not in page
    assert page == again.read_text(encoding="utf-8")


def test_sources_without_data_in_the_range_get_no_chart(tmp_path, synthetic_slice):
    """metadata.json names many sources; only those with snapshots in the range are drawn."""
    with SQLiteStore(tmp_path / "x.db") as store:
        list(import_paths(store, [synthetic_slice]))
        store.merge_metadata({"ghost": {"name": "Stadt Ghost", "locations": {}}})
        sources = [*store.source_ids(), "ghost"]
        write_report(store, load_catalog(), sources, tmp_path / "all")
        write_report(store, load_catalog(), sources, tmp_path / "none", "2022-01-01", "2022-01-08")
    names = {p.name for p in (tmp_path / "all" / "charts").iterdir()}
    assert "source-jena.png" in names and not any("ghost" in n for n in names)
    assert not any(n.startswith("source-") for n in os.listdir(tmp_path / "none" / "charts"))


def test_progress_callback_sees_every_chart_once(tmp_path, synthetic_slice):
    calls = []
    with SQLiteStore(tmp_path / "x.db") as store:
        list(import_paths(store, [synthetic_slice]))
        write_report(
            store,
            load_catalog(),
            store.source_ids(),
            tmp_path / "r",
            progress=lambda *a: calls.append(a),
        )
    read = [c[1:] for c in calls if c[0] == "read"]
    assert read == [(0, 3, ""), (1, 3, "events"), (2, 3, "insights per source"),
                    (3, 3, "insights per city")]  # fmt: skip
    drawn = [c[1:] for c in calls if c[0] == "charts"]
    pngs = sorted(p.stem for p in (tmp_path / "r" / "charts").glob("*.png"))
    total = len(pngs)
    assert drawn[0] == (0, total, "")
    assert [d for d, _, _ in drawn[1:]] == list(range(1, total + 1))
    assert {t for _, t, _ in drawn} == {total}
    names = [name for _, _, name in drawn[1:]]
    assert sorted(names) == pngs  # every chart once
    assert {c[0] for c in calls} == {"read", "charts"}


def test_report_cli_progress_bar_on_stderr_only(tmp_path, synthetic_slice, monkeypatch):
    from click.testing import CliRunner

    from office_schedule.cli import main

    db = str(tmp_path / "x.db")
    runner = CliRunner()
    assert runner.invoke(main, ["import", "--db", db, str(synthetic_slice)]).exit_code == 0

    def report(*extra: str):
        result = runner.invoke(main, ["report", "--db", db, "--out", str(tmp_path / "o"), *extra])
        assert result.exit_code == 0, result.output
        return result.stdout, result.stderr

    plain = report()  # stderr is no terminal here: no bar
    assert plain[1] == "" and plain[0] == f"wrote {tmp_path / 'o' / 'index.html'}\n"
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    out, err = report()
    assert out == plain[0]
    assert "reading" in err and "charts" in err
    charts = len(list((tmp_path / "o" / "charts").glob("*.png")))
    assert f"{charts}/{charts}" in err and "3/3" in err
    assert report("-q") == plain
