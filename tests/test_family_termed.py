"""termed: page readers, parse and scrape end to end over loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from office_schedule.errors import ParseError, ScrapeError
from office_schedule.families import termed

from .familytools import (
    ANY_PATH,
    FUZZ,
    ID,
    SLOT,
    _check,
    fixture,
    items,
    or_junk,
    paths,
    records,
    scrape,
)

# ============================================================================ termed


def test_termed_readers_and_parse():
    doc_901 = json.loads(fixture("termed", "doc_901.json"))
    doc_812 = json.loads(fixture("termed", "doc_812.json"))
    assert termed.is_listed_practice(doc_901) and termed.is_listed_practice(doc_812)
    assert not termed.is_listed_practice(json.loads(fixture("termed", "doc_test.json")))
    assert not termed.is_listed_practice(json.loads(fixture("termed", "doc_empty.json")))
    assert not termed.is_listed_practice({**doc_812, "praxis": "Testpraxis"})
    assert termed.is_listed_practice({**doc_812, "praxis": "Testzentrum Mitte"})
    assert termed.calendars(doc_901) == [("901-3", "/3"), ("901-4", "/4"), ("901-5", "/5")]
    assert termed.calendars(doc_812) == [("812", "")]
    events = json.loads(fixture("termed", "events_812.json"))
    assert termed.event_starts(events) == ["2021-10-04 09:00:00", "2021-10-04 08:30:00"]
    with pytest.raises(ValueError):
        termed.event_starts({"error": "not found"})
    snapshot = termed.parse(json.loads(fixture("termed", "raw.json")))
    assert snapshot.to_truth() == {
        "812": ["2021-10-04 08:30:00", "2021-10-04 09:00:00"],
        "901-3": ["2021-10-05 10:00:00", "2021-10-05 10:15:00"],
        "901-4": ["2021-10-05 10:00:00", "2021-10-05 10:15:00"],
    }
    with pytest.raises(ParseError, match="refers to no earlier"):
        termed.parse([{"location_id": "1", "dates": {"eq": "2"}}])


class TermedApi:
    """Practices by id, open events by practice and reason; anything else is a 404."""

    def __init__(self, docs: dict[int, str], events: dict[str, str | int]):
        self.docs = docs
        self.events = events
        self.windows: set[tuple[int, int]] = set()

    def __call__(self, request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["v2", "public", "doc"]:
            return Response("not found", status=404)
        if len(parts) == 4:
            name = self.docs.get(int(parts[3]))
            if name is None:
                return Response('{"error": "not found"}', status=404)
            return Response(fixture("termed", name), content_type="application/json")
        assert parts[4:7] == ["events", "open", "10"], parts
        self.windows.add((int(parts[7]), int(parts[8])))
        key = "-".join([parts[3], *parts[9:]])
        answer = self.events.get(key, 404)
        if isinstance(answer, int):
            return Response("<html><title>Fehler</title></html>", status=answer)
        return Response(fixture("termed", answer), content_type="application/json")


def test_termed_scrape_with_doc_ids_records_failing_calendars(httpserver):
    api = TermedApi(
        {901: "doc_901.json", 812: "doc_812.json"},
        {
            "901-3": "events_901_3.json",
            "901-4": "events_901_4.json",
            "901-5": 500,
            "812": "events_812.json",
        },
    )
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    raw = scrape(termed, {"api_url": httpserver.url_for("/"), "doc_ids": "901, 812,77"}, weeks=2)
    start = int(datetime(2021, 7, 20, 8, 0, tzinfo=UTC).timestamp())
    assert api.windows == {(start, start + 14 * 86400)}
    by_id = {entry["location_id"]: entry for entry in raw}
    assert list(by_id) == ["77", "901-3", "901-4", "901-5", "812"]
    assert "no practice" in by_id["77"]["error"]
    assert "HTTP 500" in by_id["901-5"]["error"]
    assert by_id["901-4"]["dates"] == {"eq": "901-3"}
    truth = termed.parse(raw).to_truth()
    assert sorted(truth) == ["812", "901-3", "901-4"]
    assert truth["901-4"] == ["2021-10-05 10:00:00", "2021-10-05 10:15:00"]


def test_termed_every_calendar_failing_fails_the_source(httpserver):
    api = TermedApi({812: "doc_812.json"}, {"812": 503})
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    with pytest.raises(ScrapeError, match="every calendar failed"):
        scrape(termed, {"api_url": httpserver.url_for("/"), "doc_ids": "812"})


def test_termed_discovery_runs_once_per_process(httpserver):
    termed._DISCOVERED.clear()
    termed._PROBED.clear()
    api = TermedApi(
        {2: "doc_812.json", 3: "doc_test.json", 4: "doc_empty.json"}, {"812": "events_812.json"}
    )
    httpserver.expect_request(ANY_PATH).respond_with_handler(api)
    params = {"api_url": httpserver.url_for("/"), "max_doc_id": "6"}
    try:
        first = scrape(termed, params)
        probes = [p for p in paths(httpserver) if "/events/" not in p]
        assert sorted(probes) == [f"/v2/public/doc/{n}" for n in range(7)]
        second = scrape(termed, params)
    finally:
        termed._DISCOVERED.clear()
        termed._PROBED.clear()
    assert (
        first
        == second
        == [{"location_id": "812", "dates": ["2021-10-04 09:00:00", "2021-10-04 08:30:00"]}]
    )
    assert len([p for p in paths(httpserver) if "/events/" not in p]) == 7


@FUZZ
@given(or_junk(records(location_id=ID, dates=items(SLOT) | st.fixed_dictionaries({"eq": ID}))))
def test_termed_parse_never_invents_slots(raw):
    _check(
        termed,
        raw,
        lambda s, strings: any(x.startswith(f"{s:%Y-%m-%d %H:%M}") for x in strings),
    )
