"""impfthueringen: page readers, parse and scrape end to end over loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from office_schedule.errors import ScrapeError
from office_schedule.families import impfthueringen

from .familytools import (
    FUZZ,
    ID,
    NAME,
    SLOT,
    _check,
    fixture,
    html,
    items,
    or_junk,
    records,
    scrape,
)

# ============================================================================ impfthueringen


def test_impfthueringen_readers_and_parse():
    assert impfthueringen.centres(fixture("impfthueringen", "index.html")) == [
        ("107", "IZ Erfurt | Impfstoff: BioNTech"),
        ("110", "IST Eisenberg (barrierefrei) | Nachmittag | Impfstoff: BioNTech"),
        ("121", "IZ Jena | Impfstoff: Moderna"),
    ]
    assert impfthueringen.centres("<html><body>Wartung</body></html>") is None
    assert impfthueringen.offered_dates(fixture("impfthueringen", "func_107.html")) == [
        ["2021-07-13 08:30", "2021-08-10 08:30"],
        ["2021-07-14 08:33", "2021-08-11 08:33"],
        ["2021-07-15 11:06", ""],
    ]
    assert impfthueringen.offered_dates(fixture("impfthueringen", "func_empty.html")) == []
    snapshot = impfthueringen.parse(json.loads(fixture("impfthueringen", "raw.json")))
    assert snapshot.to_truth() == {
        "107": ["2021-07-13 08:30:00", "2021-07-14 08:33:00"],
        "121": [],
    }
    assert snapshot.locations["121"].name == "IZ Jena | Impfstoff: Moderna"


def test_impfthueringen_scrape_end_to_end(httpserver):
    answers = {"107": "func_107.html", "110": "func_110.html", "121": "func_empty.html"}
    seen = []

    def func(request):
        assert request.form["typ"] == "1" and request.form["pos"] == "0"
        seen.append((request.form["ort"], request.form["timestamp"]))
        return html(fixture("impfthueringen", answers[request.form["ort"]]))

    httpserver.expect_request("/tv/index.php").respond_with_data(
        fixture("impfthueringen", "index.html"), content_type="text/html"
    )
    httpserver.expect_request("/tv/func.php", method="POST").respond_with_handler(func)
    raw = scrape(impfthueringen, {"base_url": httpserver.url_for("/tv")})
    # 2021-07-20 10:00 in Berlin (CEST, UTC+2) = 08:00 UTC
    expected_ms = str(int(datetime(2021, 7, 20, 8, 0, tzinfo=UTC).timestamp() * 1000))
    assert seen == [("107", expected_ms), ("110", expected_ms), ("121", expected_ms)]
    assert raw[1] == {
        "loc": "110",
        "loc_name": "IST Eisenberg (barrierefrei) | Nachmittag | Impfstoff: BioNTech",
        "dates": [["2021-07-14 14:00", "2021-08-04 14:00"]],
    }
    assert raw[2]["dates"] == []
    assert impfthueringen.parse(raw).slot_count == 4


def test_impfthueringen_missing_centre_list_is_a_scrape_error(httpserver):
    httpserver.expect_request("/tv/index.php").respond_with_data("<html>Wartung</html>")
    with pytest.raises(ScrapeError, match="no centre list"):
        scrape(impfthueringen, {"base_url": httpserver.url_for("/tv")})


@FUZZ
@given(or_junk(records(loc=ID, loc_name=NAME, dates=items(st.tuples(SLOT, NAME).map(list)))))
def test_impfthueringen_parse_never_invents_slots(raw):
    _check(impfthueringen, raw, lambda s, strings: f"{s:%Y-%m-%d %H:%M}" in strings)
