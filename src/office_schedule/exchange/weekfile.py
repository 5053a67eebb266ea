"""The office-schedule-data week CSV, byte for byte, in both directions.

One CSV per source and ISO week: ``date,source_id,location_id`` then one column per slot
(``YYYY-MM-DD HH:MM:SS``, the union of every slot free at some snapshot of the week, sorted),
one row per snapshot and location, ``1`` where the slot was free, empty otherwise. CRLF
line ends, minimal quoting (no field of the format ever needs quotes), UTF-8 without
BOM (other bytes are refused, never replaced).

Both directions are vectorised with numpy: a week holds up to a few hundred million cells.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

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


#: the header is read before anything else; 16 MB is ~800,000 slot columns
MAX_HEADER_BYTES = 16 << 20
#: room for a row's date, source and location besides its 2 bytes per slot cell
MAX_PREFIX_BYTES = 4096


@dataclass
class WeekBlock:
    """Consecutive rows of a week CSV: ``first_row`` is the CSV row number of the first
    (the header is row 1); ``free[row, column]`` is True where the cell is ``1``."""

    first_row: int
    dates: list[str]
    locations: list[str]
    free: np.ndarray


def _utf8(raw: bytes, where: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WeekFileError(
            f"{where}: not UTF-8 (byte {raw[exc.start : exc.start + 1]!r} at byte offset "
            f"{offset + exc.start} of the file)"
        ) from None


class WeekReader:
    """Reads a week CSV from a binary stream block by block, never all of it at once.

    ``slots`` (the header's slot columns) is known after construction; ``blocks()`` yields
    ``WeekBlock``s of about ``chunk_bytes`` each; ``source_id`` is that of the first row.
    """

    def __init__(self, stream: BinaryIO, name: str, chunk_bytes: int = 1 << 22):
        self.stream, self.name, self.chunk_bytes = stream, name, chunk_bytes
        self.source_id = ""
        self._dates: dict[bytes, str] = {}
        self._locations: dict[bytes, str] = {}
        head = b""
        while b"\n" not in head:
            more = stream.read(1 << 16)
            if not more:
                raise WeekFileError(f"{name}: truncated (last line does not end with CRLF)")
            head += more
            if len(head) > MAX_HEADER_BYTES and b"\n" not in head:
                raise WeekFileError(f"{name}, row 1: header longer than {MAX_HEADER_BYTES} bytes")
        cut = head.index(b"\n") + 1
        self._rest, self.offset = head[cut:], cut
        if head[cut - 2 : cut] != b"\r\n":
            raise WeekFileError(f"{name}, row 1: line does not end with CRLF")
        header = _utf8(head[: cut - 2], f"{name}, row 1", 0).split(",")
        if tuple(header[:3]) != HEADER:
            raise WeekFileError(f"{name}, row 1: header must start with {','.join(HEADER)}")
        self.slots = header[3:]
        for col, slot in enumerate(self.slots, start=4):
            try:
                if not _TIME_RE.match(slot.encode()):
                    raise ValueError
                datetime.strptime(slot, TIME_FORMAT)
            except ValueError:
                raise WeekFileError(
                    f"{name}, row 1, column {col}: {slot!r} is not a slot time"
                ) from None
        if self.slots != sorted(set(self.slots)):
            raise WeekFileError(f"{name}, row 1: slot columns are not unique and sorted")
        self.max_line = 2 * len(self.slots) + MAX_PREFIX_BYTES

    def blocks(self) -> Iterator[WeekBlock]:
        buf, row, eof = self._rest, 2, False
        self._rest = b""
        read = max(self.chunk_bytes, self.max_line)
        while not eof:
            more = self.stream.read(read)
            eof = not more
            buf += more
            cut = buf.rfind(b"\n") + 1
            if eof and cut != len(buf):
                raise WeekFileError(f"{self.name}: truncated (last line does not end with CRLF)")
            if not cut:
                if len(buf) > self.max_line:
                    raise WeekFileError(f"{self.name}, row {row}: line too long")
                continue
            block, buf = buf[:cut], buf[cut:]
            parsed = self._parse(block, row)
            self.offset += len(block)
            row += len(parsed.dates)
            yield parsed

    def _parse(self, block: bytes, first: int) -> WeekBlock:
        """Rows of ``block`` (whole lines), vectorised over the block."""
        name, n_slots = self.name, len(self.slots)
        part = np.frombuffer(block, dtype=np.uint8)
        row_starts = np.concatenate(([0], np.flatnonzero(part == _LF)[:-1] + 1))
        row_ends = np.append(row_starts[1:], len(part)) - 2  # where CRLF starts
        if np.any(part[row_ends] != _CR):
            bad = int(np.flatnonzero(part[row_ends] != _CR)[0])
            raise WeekFileError(f"{name}, row {first + bad}: line does not end with CRLF")
        if np.any(row_ends - row_starts > self.max_line):
            bad = int(np.flatnonzero(row_ends - row_starts > self.max_line)[0])
            raise WeekFileError(f"{name}, row {first + bad}: line too long")
        commas = np.flatnonzero(part == _COMMA)
        per_row = np.diff(np.searchsorted(commas, np.append(row_starts, len(part))))
        wrong = np.flatnonzero(per_row != n_slots + 2)
        if len(wrong):
            r = int(wrong[0])
            raise WeekFileError(
                f"{name}, row {first + r}: {per_row[r] + 1} fields, header has {n_slots + 3}"
            )
        # every row has exactly n_slots + 2 commas now: one row of the matrix per row
        grid = commas.reshape(len(row_starts), n_slots + 2)
        c1, c2 = grid[:, 0], grid[:, 1]
        c3 = grid[:, 2] if n_slots else row_ends
        free = np.zeros((len(row_starts), n_slots), dtype=bool)
        if n_slots:
            # a cell starts after its comma and ends at the next comma (or the CRLF): it
            # is empty, or the one byte '1'
            starts = grid[:, 2:] + 1
            length = np.empty_like(starts)
            np.subtract(grid[:, 3:], starts[:, :-1], out=length[:, :-1])
            np.subtract(row_ends, starts[:, -1], out=length[:, -1])
            free = part[starts] == _ONE
            bad = (length > 1) | ((length == 1) & ~free)
            if bad.any():
                r = int(np.flatnonzero(bad.any(axis=1))[0])
                raise WeekFileError(f"{name}, row {first + r}: cells must be '1' or empty")
            free &= length == 1
            del starts, length, bad
        dates: list[str] = []
        locations: list[str] = []
        sid = self.source_id.encode() if self.source_id else None
        known_dates, known_locs = self._dates, self._locations
        for r, (a, b, c, d) in enumerate(
            zip(row_starts.tolist(), c1.tolist(), c2.tolist(), c3.tolist(), strict=True)
        ):
            date = block[a:b]
            text = known_dates.get(date)
            if text is None:
                where = f"{name}, row {first + r}"
                if not _TIME_RE.match(date):
                    raise WeekFileError(f"{where}: bad date {date[:40]!r}")
                try:
                    datetime.strptime(date.decode(), TIME_FORMAT)
                except ValueError:
                    raise WeekFileError(f"{where}: bad date {date.decode()!r}") from None
                text = known_dates[date] = date.decode()
            source = block[b + 1 : c]
            if sid is None:
                self.source_id = _utf8(source, f"{name}, row {first + r}", self.offset + b + 1)
                sid = source
            elif source != sid:
                where = f"{name}, row {first + r}"
                got = _utf8(source, where, self.offset + b + 1)
                raise WeekFileError(f"{where}: source_id {got!r}, expected {self.source_id!r}")
            raw_loc = block[c + 1 : d]
            loc = known_locs.get(raw_loc)
            if loc is None:
                where = f"{name}, row {first + r}"
                if not raw_loc:
                    raise WeekFileError(f"{where}: empty location_id")
                loc = known_locs[raw_loc] = _utf8(raw_loc, where, self.offset + c + 1)
            dates.append(text)
            locations.append(loc)
        return WeekBlock(first, dates, locations, free)


def read_week_csv(data: bytes, name: str, chunk_bytes: int = 1 << 22) -> WeekTable:
    """Parse one week CSV held in memory; see ``WeekReader`` for the streaming reader."""
    reader = WeekReader(io.BytesIO(data), name, chunk_bytes)
    table = WeekTable(source_id="", slots=reader.slots, rows=[])
    for block in reader.blocks():
        n = len(block.dates)
        ones_row, ones_col = np.nonzero(block.free)
        split = np.split(ones_col, np.searchsorted(ones_row, np.arange(1, n)))
        table.rows.extend(
            WeekRow(d, loc, free)
            for d, loc, free in zip(block.dates, block.locations, split, strict=True)
        )
    table.source_id = reader.source_id
    return table
