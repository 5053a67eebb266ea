"""Published office-schedule-data metrics: the real week, a real slice, carried state."""

from __future__ import annotations

import csv
import io
import random
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from office_schedule.analysis import published_metrics, write_metrics_week
from office_schedule.exchange import import_paths
from office_schedule.store import SQLiteStore, open_store

from .weekslices import METRICS_SOURCES

SPANS = [f"{n}{u}" for u in "hdw" for n in range(5)]


def _cells(files: dict[str, bytes]) -> dict[tuple[str, str, str], str]:
    out = {}
    for name, data in files.items():
        rows = list(csv.reader(io.StringIO(data.decode())))
        for row in rows[1:]:
            for key, value in zip(rows[0][1:], row[1:], strict=True):
                if value != "":
                    out[(name.removesuffix(".csv"), row[0], key)] = value
    return out


def test_real_week_2021_28_is_byte_identical(shared_dir: Path, tmp_path: Path, db_url) -> None:
    base = shared_dir / "data" / "office-schedule-data"
    raw = base / "raw" / "2021" / "2021-28.tar.gz"
    published = base / "metrics" / "2021" / "2021-28.tar.gz"
    with open_store(db_url) as store:
        import_paths(store, [raw])
        path, _ = write_metrics_week(store, tmp_path, store.source_ids(), 2021, 28)
    assert path == tmp_path / "metrics" / "2021" / "2021-28.tar.gz"
    with tarfile.open(published) as ref, tarfile.open(path) as ours:
        expected = {m.name: ref.extractfile(m).read() for m in ref.getmembers()}
        got = {m.name: ours.extractfile(m).read() for m in ours.getmembers()}
    assert sorted(got) == sorted(expected) and len(got) == 49
    for name, data in expected.items():
        assert got[name] == data, name


def test_real_slice_matches_published_cells(tmp_path: Path, real_metrics_slice) -> None:
    """Monday of 2021-28 (the dataset's first day, empty state) of two sources, cut from
    ../shared; expected cells are the published 2021-28 metrics cut to these columns and
    buckets."""
    raw, expected = real_metrics_slice
    with SQLiteStore(tmp_path / "x.db") as store:
        import_paths(store, [raw])
        files, carry = published_metrics(store, list(METRICS_SOURCES), 2021, 28)
    assert len(expected) == 49 * 96 * 4  # every file, bucket and location of the day
    assert _cells(files) == expected
    assert sum(int(v) for (f, _, _), v in expected.items() if f == "appointments") > 0
    assert set(carry) == set(METRICS_SOURCES)


# --- slow pure-Python oracle of the reference rules (docs/protocols/metrics.md) ---


def _relations(bucket: datetime, slot: datetime) -> list[str]:
    hours = (slot.replace(minute=0, second=0) - bucket.replace(minute=0)).days * 24 + (
        slot.replace(minute=0, second=0) - bucket.replace(minute=0)
    ).seconds // 3600
    days = (slot.date() - bucket.date()).days
    monday = bucket.date() - timedelta(days=bucket.weekday())
    weeks = (slot.date() - timedelta(days=slot.weekday()) - monday).days // 7
    return [f"{n}{u}" for n, u in ((hours, "h"), (days, "d"), (weeks, "w")) if 0 <= n <= 4]


def _oracle_week(tables: dict[str, tuple[list[str], list[list[str]]]], stash: dict) -> dict:
    free, appointed, prev_b = (
        stash.setdefault("f", {}),
        stash.setdefault("a", {}),
        stash.setdefault("b", {}),
    )
    prev_rows: dict[str, list[bool]] = {}
    cells: dict[tuple[str, str, str], int] = {}
    for source in sorted(tables):
        slots, rows = tables[source]
        for row in rows:
            t = datetime.fromisoformat(row[0])
            b = t.replace(minute=t.minute // 15 * 15, second=0)
            key = f"{source}/{row[2]}"
            count = key in prev_b and (b - prev_b[key]) < timedelta(minutes=16)
            prev_b[key] = b
            fr, ap = free.setdefault(key, set()), appointed.setdefault(key, set())
            flags = [bool(v) for v in row[3:]]
            out = {"appointments": 0, "cancellations": 0, "free_dates": sum(flags)}
            tally: dict[str, int] = {}
            for slot, on in zip(slots, flags, strict=True):
                st = datetime.fromisoformat(slot)
                if on:
                    for rel in _relations(b, st):
                        out[f"free_dates_{rel}"] = out.get(f"free_dates_{rel}", 0) + 1
                    fr.add(slot)
                    if slot in ap:
                        ap.remove(slot)
                        out["cancellations"] += count
                elif slot in fr:
                    edge = len(fr) > 1 and slot in (min(fr), max(fr))
                    if count and not edge:
                        out["appointments"] += 1
                        tally = {r: tally.get(r, 0) + 1 for r in _relations(b, st)}
                    fr.remove(slot)
                    ap.add(slot)
            old = prev_rows.get(key)
            out["changed"] = int(bool(old) and old != flags)
            prev_rows[key] = flags
            for s in SPANS:
                out.setdefault(f"free_dates_{s}", 0)
                out[f"appointments_{s}"] = out[f"cancellations_{s}"] = tally.get(s, 0)
            stamp = b.strftime("%Y-%m-%d %H:%M:%S")
            for name, value in out.items():
                cells[(name, stamp, key)] = cells.get((name, stamp, key), 0) + int(value)
    return {k: str(v) for k, v in cells.items()}


def _synthetic(seed: int) -> list[dict[str, tuple[list[str], list[list[str]]]]]:
    """Two weeks (Sunday evening of 2021-28, Monday morning of 2021-29) of two sources."""
    rng = random.Random(seed)
    weeks = [datetime(2021, 7, 18, 21, 0), datetime(2021, 7, 19, 0, 0)]
    slot_times = [datetime(2021, 7, 18, 22) + timedelta(minutes=30 * i) for i in range(150)]
    state = {(s, loc): {x for x in slot_times if rng.random() < 0.4} for s in "ab" for loc in "xy"}
    out = []
    for start in weeks:
        rows: dict[str, list[tuple[str, str, set]]] = {"a": [], "b": []}
        t = start
        while t < start + timedelta(hours=3):
            for (source, loc), free in state.items():
                if rng.random() < 0.15:
                    continue  # missed snapshot
                for slot in list(free):
                    if rng.random() < 0.1:
                        free.discard(slot)
                for slot in slot_times:
                    if rng.random() < 0.03:
                        free.add(slot)
                stamp = t + timedelta(seconds=rng.randrange(0, 240))
                rows[source].append((stamp.strftime("%Y-%m-%d %H:%M:%S"), loc, set(free)))
                if rng.random() < 0.05:  # a second snapshot in the same bucket
                    later = (stamp + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
                    rows[source].append((later, loc, set(free)))
            t += timedelta(minutes=15 * rng.choice([1, 1, 1, 1, 2]))
        if start == weeks[0]:
            for free in state.values():  # slots that vanish between the weeks (stale)
                for slot in sorted(free)[::3]:
                    free.discard(slot)
        week = {}
        for source, items in rows.items():
            items.sort(key=lambda r: (r[0], r[1]))
            cols = sorted({x for _, _, f in items for x in f})
            slots = [c.strftime("%Y-%m-%d %H:%M:%S") for c in cols]
            body = [[d, source, loc, *("1" if c in f else "" for c in cols)] for d, loc, f in items]
            week[source] = (slots, body)
        out.append(week)
    return out


def _write(folder: Path, week: dict) -> Path:
    folder.mkdir(parents=True)
    for source, (slots, body) in week.items():
        with open(folder / f"{source}.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(["date", "source_id", "location_id", *slots])
            writer.writerows(body)
    return folder


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_carry_over_between_weeks_matches_oracle(tmp_path: Path, seed: int) -> None:
    first, second = _synthetic(seed)
    stash: dict = {}
    want1, want2 = _oracle_week(first, stash), _oracle_week(second, stash)
    with SQLiteStore(tmp_path / "x.db") as store:
        import_paths(store, [_write(tmp_path / "w1", first), _write(tmp_path / "w2", second)])
        files1, carry = published_metrics(store, ["a", "b"], 2021, 28)
        files2, _ = published_metrics(store, ["a", "b"], 2021, 29, carry)
        empty2, _ = published_metrics(store, ["a", "b"], 2021, 29)
    assert _cells(files1) == want1
    assert _cells(files2) == want2
    assert _cells(empty2) != want2  # the carried state matters for this data


def test_columns_follow_the_scan_of_buckets_in_row_order(tmp_path: Path) -> None:
    """A key whose first row lies in a bucket no earlier source had (a row listed late, out
    of time order) takes its column where the bucket-by-bucket scan in ROW order meets it:
    published 2021-29 has ``impfthueringen/196`` before ``friedrichsdorf/52`` for this."""

    def row(stamp: str, source: str, loc: str) -> list[str]:
        return [f"2021-07-19 {stamp}", source, loc, "1"]

    slot = ["2021-07-26 09:00:00"]
    week = {
        "a": (slot, [row("00:01:00", "a", "p"), row("00:31:00", "a", "p")]),
        "b": (
            slot,
            [row("00:16:00", "b", "x"), row("00:31:00", "b", "x"), row("00:31:00", "b", "y")],
        ),
    }
    with SQLiteStore(tmp_path / "x.db") as store:
        import_paths(store, [_write(tmp_path / "2021-29", week)])
        files, _ = published_metrics(store, ["a", "b"], 2021, 29)
    lines = files["changed.csv"].decode().splitlines()
    assert lines[0] == "date,a/p,b/x,b/y"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "2021-07-19 00:00:00",
        "2021-07-19 00:30:00",
        "2021-07-19 00:15:00",  # first made by source b, after a's buckets
    ]
