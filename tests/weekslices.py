"""Week data for the exchange and analysis tests: slices of ../shared cut at test time, and a
synthetic week drawn by our own code.

Nothing of the published dataset lives in the repository. The real slices are cut in memory
from ``raw/2021/2021-28.tar.gz`` and ``metrics/2021/2021-28.tar.gz`` under ``../shared`` with
plain byte operations (not with the code under test); the synthetic week is drawn from a
seeded RNG and written with the standard library in the published format (see
``docs/protocols`` and ``exchange/weekfile.py``), so plain clones still test the formats.
"""

from __future__ import annotations

import csv
import io
import json
import random
import tarfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

WEEK = "2021-28"
FAMILIES = {"bonn": "netappoint", "ilmkreis": "tevis", "jena": "tevis"}
FAMILIES["impfthueringen"] = "impfthueringen"
#: the exchange slice: the first rows from Tuesday 08:00 on of four sources of the real week
SLICE_START = "2021-07-13 08:00:00"
SLICE_ROWS = {"bonn": 12, "ilmkreis": 8, "impfthueringen": 90, "jena": 32}
#: the metrics slice: Monday (the dataset's first day, so empty state) of two sources
METRICS_DAY = "2021-07-12"
METRICS_SOURCES = ("kreisgermersheimkfz", "leipzigstandesamt")
TIME = "%Y-%m-%d %H:%M:%S"


def dataset(shared: Path) -> Path:
    return shared / "data" / "office-schedule-data"


# --- cutting the real week (plain bytes: the format never quotes a field) ---


def _canonical(header: bytes, rows: list[bytes]) -> bytes:
    """Header and rows with only the slot columns free in some row, as the exporter writes."""
    split = [r.split(b",") for r in rows]
    head = header.split(b",")
    keep = [0, 1, 2] + [c for c in range(3, len(head)) if any(r[c] == b"1" for r in split)]
    lines = [b",".join(fields[c] for c in keep) for fields in [head, *split]]
    return b"".join(line + b"\r\n" for line in lines)


def _rows(fh: Iterable[bytes], start: str, count: int | None, end: str | None) -> bytes:
    """The canonical CSV of the rows dated from ``start`` (before ``end``), at most ``count``."""
    lines: Iterator[bytes] = (line.removesuffix(b"\r\n") for line in fh)
    header = next(lines)
    chosen: list[bytes] = []
    lo, hi = start.encode(), end.encode() if end else None
    for line in lines:
        stamp = line[:19]
        if hi is not None and stamp >= hi:
            break  # rows are in time order
        if stamp >= lo:
            chosen.append(line)
            if count is not None and len(chosen) == count:
                break
    return _canonical(header, chosen)


@cache
def real_cuts(raw_week: Path) -> dict[str, bytes]:
    """{source_id: CSV} of the exchange slice and the metrics slice, in one pass over the tar."""
    day_end = (datetime.fromisoformat(METRICS_DAY) + timedelta(days=1)).strftime(TIME)
    wanted = {sid: (SLICE_START, n, None) for sid, n in SLICE_ROWS.items()}
    wanted |= {sid: (f"{METRICS_DAY} 00:00:00", None, day_end) for sid in METRICS_SOURCES}
    out = {}
    with tarfile.open(raw_week, "r|gz") as tar:
        for member in tar:
            sid = member.name.removesuffix(".csv")
            if sid in wanted:
                out[sid] = _rows(tar.extractfile(member), *wanted[sid])
                if len(out) == len(wanted):
                    break
    assert sorted(out) == sorted(wanted), f"{raw_week}: missing {set(wanted) - set(out)}"
    return out


def real_metadata(metadata: Path, sources: Iterable[str]) -> bytes:
    """The published metadata.json cut to ``sources`` (its own layout: indent 2, ASCII)."""
    meta = json.loads(metadata.read_text(encoding="utf-8"))
    return json.dumps({s: meta[s] for s in sorted(sources)}, indent=2).encode()


def real_metrics_cells(metrics_week: Path) -> dict[tuple[str, str, str], str]:
    """Non-empty cells ``(file, bucket, source/location)`` of the published metrics of
    ``METRICS_SOURCES`` on ``METRICS_DAY``."""
    prefixes = tuple(f"{s}/" for s in METRICS_SOURCES)
    cells = {}
    with tarfile.open(metrics_week, "r:gz") as tar:
        for member in tar:
            rows = csv.reader(io.StringIO(tar.extractfile(member).read().decode()))
            header = next(rows)
            keys = [(i, k) for i, k in enumerate(header) if k.startswith(prefixes)]
            for row in rows:
                if row[0].startswith(METRICS_DAY):
                    for i, key in keys:
                        if row[i] != "":
                            cells[(member.name.removesuffix(".csv"), row[0], key)] = row[i]
    return cells


def write_folder(folder: Path, files: dict[str, bytes], meta: bytes | None = None) -> Path:
    """A folder of ``SOURCE.csv`` (+ ``metadata.json``), importable like a week archive."""
    folder.mkdir(parents=True, exist_ok=True)
    for sid, data in files.items():
        (folder / f"{sid}.csv").write_bytes(data)
    if meta is not None:
        (folder / "metadata.json").write_bytes(meta)
    return folder


# --- the synthetic week ---

#: source -> (location ids, snapshots, minutes between snapshots); ilmkreis never has a free
#: slot (a header without slot columns), impfthueringen is exported in 15-minute buckets
SHAPE = {
    "bonn": (["amt-nord", "amt-sued", "amt-west"], 4, 15),
    "ilmkreis": (["401"], 8, 15),
    "impfthueringen": ([str(n) for n in range(1, 12)], 3, 15),
    "jena": (["301", "302", "303", "304"], 8, 15),
}


def _draw_source(rng: random.Random, sid: str) -> list[tuple[str, str, set[str]]]:
    locations, snapshots, step = SHAPE[sid]
    grid = [
        (datetime(2021, 7, day, 8) + timedelta(minutes=10 * i)).strftime(TIME)
        for day in (13, 14, 15, 16, 19, 20, 21)
        for i in range(36)
    ]
    free = {loc: set() if sid == "ilmkreis" else set(rng.sample(grid, 40)) for loc in locations}
    rows = []
    for n in range(snapshots):
        t = datetime(2021, 7, 13, 8) + timedelta(minutes=step * n)
        if sid != "impfthueringen":
            t += timedelta(seconds=rng.randrange(5, 60))
        for loc in locations:
            slots = free[loc]
            if slots:
                for slot in rng.sample(sorted(slots), 3):  # booked
                    slots.discard(slot)
                slots.add(rng.choice(grid))  # cancelled or newly opened
            rows.append((t.strftime(TIME), loc, set(slots)))
    return sorted(rows)


def synthetic_week(seed: int = 28) -> dict[str, bytes]:
    """{source_id: CSV} of a drawn week 2021-28 in the published format."""
    rng = random.Random(seed)
    out = {}
    for sid in sorted(SHAPE):
        rows = _draw_source(rng, sid)
        slots = sorted(set().union(*(free for _, _, free in rows)))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(["date", "source_id", "location_id", *slots])
        for date, loc, free in rows:
            writer.writerow([date, sid, loc, *("1" if s in free else "" for s in slots)])
        out[sid] = buf.getvalue().encode()
    return out


def synthetic_metadata(catalog: dict) -> bytes:
    """metadata.json of the synthetic week: source fields from our catalog, drawn locations
    (one unnamed, one non-ASCII, one that never appears in the week)."""
    meta = {}
    for sid in sorted(SHAPE):
        src = catalog[sid]
        scraper = FAMILIES[sid] if FAMILIES[sid] in ("tevis", "netappoint") else "custom"
        locations = {}
        for i, loc in enumerate(sorted([*SHAPE[sid][0], "900"])):
            name = None if i == 1 else f"Bürgerbüro {loc}"
            services = [] if i == 2 else [f"Dienstleistung {c}" for c in "BA"[: 1 + i % 2]]
            locations[loc] = {"name": name, "services": sorted(services)}
        meta[sid] = {"name": src.name, "scraper": scraper, "url": src.index_url}
        meta[sid]["locations"] = locations
    return json.dumps(meta, indent=2).encode()


# --- reading a slice back in tests (plain bytes again) ---


def csv_rows(data: bytes) -> list[list[str]]:
    return [line.split(",") for line in data.decode().split("\r\n")[:-1]]


def slice_files(folder: Path) -> dict[str, bytes]:
    return {p.name.removesuffix(".csv"): p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def row_count(folder: Path) -> int:
    return sum(len(csv_rows(data)) - 1 for data in slice_files(folder).values())


def tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (member name -> bytes) as a gzip tar archive at ``path``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def members(path: Path) -> dict[str, bytes]:
    """{member name: bytes} of a tar archive."""
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def assert_exports_the_published_week(store, out: Path, raw: Path) -> None:
    """Export every known source of ``store`` to ``out``: the CSV members of week 2021-28
    and metadata.json are byte for byte the published ones under ``raw``."""
    from office_schedule.exchange import export_weeks

    sources = {sid: None for sid in store.source_metadata()}
    sources.update({sid: None for sid in store.source_ids()})
    sources["impfthueringen"] = "impfthueringen"
    export_weeks(store, out, sources)
    published = members(raw / "2021" / "2021-28.tar.gz")
    ours = members(out / "raw" / "2021" / "2021-28.tar.gz")
    assert sorted(ours) == sorted(published)
    for name in published:
        assert ours[name] == published[name], name
    assert (out / "raw" / "metadata.json").read_bytes() == (raw / "metadata.json").read_bytes()
