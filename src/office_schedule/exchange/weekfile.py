"""The office-schedule-data week CSV, byte for byte, in both directions.

One CSV per source and ISO week: ``date,source_id,location_id`` then one column per slot
(``YYYY-MM-DD HH:MM:SS``, the union of every slot free at some snapshot of the week, sorted),
one row per snapshot and location, ``1`` where the slot was free, empty otherwise. CRLF
line ends, minimal quoting (no field of the format ever needs quotes), UTF-8 without BOM.

Both directions are vectorised with numpy: a week holds up to a few hundred million cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..errors import OfficeScheduleError

HEADER = ("date", "source_id", "location_id")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_COMMA, _ONE, _CR, _LF = ord(","), ord("1"), ord("\r"), ord("\n")
_TIME_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_SAFE_FIELD = re.compile(r"^[^,\"\r\n]*$")


class WeekFileError(OfficeScheduleError):
    """A week CSV that does not follow the published format (names file and row)."""


@dataclass
class WeekRow:
    date: str
    location_id: str
    free: np.ndarray  # column indices (into ``WeekTable.slots``) of the free slots


@dataclass
class WeekTable:
    source_id: str
    slots: list[str]
    rows: list[WeekRow]


def write_week_csv(
    source_id: str, slots: list[str], rows: Iterable[tuple[str, str, np.ndarray]]
) -> bytes:
    """CSV bytes for rows ``(date, location_id, free column indices into slots)``.

    ``slots`` are the slot columns (sorted strings); rows are written in the given order.
    """
    rows = list(rows)
    for field in (source_id, *(r[1] for r in rows)):
        if not _SAFE_FIELD.match(field):
            raise WeekFileError(f"{source_id}: field {field!r} would need CSV quoting")
    head = ",".join((*HEADER, *slots)).encode() + b"\r\n"
    if not rows:
        return head
    sid = source_id.encode()
    prefixes = [b"%s,%s,%s" % (d.encode(), sid, loc.encode()) for d, loc, _ in rows]
    width = max(map(len, prefixes))
    n = len(slots)
    # one row of bytes per CSV line: prefix (zero-padded), ",1"/"," per slot, CRLF; the zero
    # bytes (padding, not-free cells) are dropped at the end in one pass
    lines = np.zeros((len(rows), width + 2 * n + 2), dtype=np.uint8)
    pre = np.frombuffer(b"".join(p.ljust(width, b"\0") for p in prefixes), dtype=np.uint8)
    lines[:, :width] = pre.reshape(len(rows), width)
    lines[:, width : width + 2 * n : 2] = _COMMA
    lines[:, -2] = _CR
    lines[:, -1] = _LF
    counts = [len(free) for _, _, free in rows]
    if sum(counts):
        r_idx = np.repeat(np.arange(len(rows)), counts)
        c_idx = np.concatenate([np.asarray(free, dtype=np.int64) for _, _, free in rows])
        lines[r_idx, width + 2 * c_idx + 1] = _ONE
    flat = lines.reshape(-1)
    return head + flat[flat != 0].tobytes()


def _lines(data: bytes, name: str) -> np.ndarray:
    """Start offsets of every line (the header's included) and the end sentinel."""
    if not data.endswith(b"\r\n"):
        raise WeekFileError(f"{name}: truncated (last line does not end with CRLF)")
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == _LF) + 1
    return np.concatenate(([0], ends))


def read_week_csv(data: bytes, name: str, chunk_bytes: int = 1 << 24) -> WeekTable:
    """Parse one week CSV; every deviation from the format is a WeekFileError naming the row."""
    starts = _lines(data, name)
    header = data[: starts[1] - 2].decode("utf-8", "replace").split(",")
    if tuple(header[:3]) != HEADER:
        raise WeekFileError(f"{name}, row 1: header must start with {','.join(HEADER)}")
    slots = header[3:]
    for col, slot in enumerate(slots, start=4):
        try:
            if not _TIME_RE.match(slot.encode()):
                raise ValueError
            datetime.strptime(slot, TIME_FORMAT)
        except ValueError:
            raise WeekFileError(
                f"{name}, row 1, column {col}: {slot!r} is not a slot time"
            ) from None
    if slots != sorted(set(slots)):
        raise WeekFileError(f"{name}, row 1: slot columns are not unique and sorted")
    table = WeekTable(source_id="", slots=slots, rows=[])
    buf = np.frombuffer(data, dtype=np.uint8)
    first = 1
    while first < len(starts) - 1:
        last = int(np.searchsorted(starts, starts[first] + chunk_bytes, side="right"))
        last = min(max(last - 1, first + 1), len(starts) - 1)
        _read_chunk(data, buf, starts, first, last, len(slots), name, table)
        first = last
    seen: set[str] = set()
    for number, row in enumerate(table.rows, start=2):
        if row.date not in seen:
            try:
                datetime.strptime(row.date, TIME_FORMAT)
            except ValueError:
                raise WeekFileError(f"{name}, row {number}: bad date {row.date!r}") from None
            seen.add(row.date)
    return table


def _read_chunk(data, buf, starts, first, last, n_slots, name, table) -> None:
    """Rows ``first`` .. ``last - 1`` (0 = header), vectorised over the whole chunk."""
    lo, hi = int(starts[first]), int(starts[last])
    part = buf[lo:hi]
    row_starts = starts[first:last] - lo
    row_ends = starts[first + 1 : last + 1] - lo - 2  # where CRLF starts
    if np.any(part[row_ends] != _CR):
        bad = int(np.flatnonzero(part[row_ends] != _CR)[0])
        raise WeekFileError(f"{name}, row {first + bad + 1}: line does not end with CRLF")
    commas = np.flatnonzero(part == _COMMA)
    per_row = np.diff(np.searchsorted(commas, np.append(row_starts, hi - lo)))
    wrong = np.flatnonzero(per_row != n_slots + 2)
    if len(wrong):
        r = int(wrong[0])
        raise WeekFileError(
            f"{name}, row {first + r + 1}: {per_row[r] + 1} fields, header has {n_slots + 3}"
        )
    first_comma = np.searchsorted(commas, row_starts)
    c1, c2 = commas[first_comma], commas[first_comma + 1]
    c3 = commas[first_comma + 2] if n_slots else row_ends
    ones = np.empty(0, dtype=np.int64)
    one_rows = ones
    if n_slots:
        # the slot cells of a row lie between its third comma and its CRLF
        region = np.zeros(len(part) + 1, dtype=np.int8)
        np.add.at(region, c3 + 1, 1)
        np.add.at(region, row_ends, -1)
        inside = np.cumsum(region[:-1], dtype=np.int8).view(bool)
        is_one = part == _ONE
        bad = inside & ~(is_one | (part == _COMMA))
        bad[1:] |= inside[1:] & is_one[1:] & is_one[:-1]
        if bad.any():
            r = int(np.searchsorted(row_starts, np.flatnonzero(bad)[0], side="right")) - 1
            raise WeekFileError(f"{name}, row {first + r + 1}: cells must be '1' or empty")
        ones = np.flatnonzero(inside & is_one)
        one_rows = np.searchsorted(row_starts, ones, side="right") - 1
        columns = np.searchsorted(commas, ones) - first_comma[one_rows] - 3
        split = np.split(columns, np.searchsorted(one_rows, np.arange(1, len(row_starts))))
    else:
        split = [ones] * len(row_starts)
    for r in range(len(row_starts)):
        where = f"{name}, row {first + r + 1}"
        a = lo + int(row_starts[r])
        date = data[a : lo + int(c1[r])]
        if not _TIME_RE.match(date):
            raise WeekFileError(f"{where}: bad date {date[:40]!r}")
        source_id = data[lo + int(c1[r]) + 1 : lo + int(c2[r])].decode("utf-8", "replace")
        if not table.source_id:
            table.source_id = source_id
        elif source_id != table.source_id:
            raise WeekFileError(f"{where}: source_id {source_id!r}, expected {table.source_id!r}")
        location_id = data[lo + int(c2[r]) + 1 : lo + int(c3[r])].decode("utf-8", "replace")
        if not location_id:
            raise WeekFileError(f"{where}: empty location_id")
        table.rows.append(WeekRow(date.decode(), location_id, split[r]))
