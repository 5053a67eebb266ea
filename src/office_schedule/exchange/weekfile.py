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
from typing import BinaryIO, NoReturn

import numpy as np

from ..errors import OfficeScheduleError

HEADER = ("date", "source_id", "location_id")
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


def by_identity(objects: list) -> tuple[list, list[int]]:
    """The distinct objects of a list by identity, and the index of each item's one (the
    list keeps them alive, so their ids are not reused meanwhile)."""
    ids = list(map(id, objects))
    index = {key: i for i, key in enumerate(dict.fromkeys(ids))}
    first = dict(zip(ids, objects, strict=True))
    return list(map(first.__getitem__, index)), list(map(index.__getitem__, ids))


def _free_columns(states: list, n: int, source_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The column indices of ``states`` concatenated (int64, each state sorted and unique,
    checked to lie within ``n`` slots) and the number of each state's columns."""
    lens = np.fromiter(map(len, states), dtype=np.int64, count=len(states))
    flat = np.concatenate(states, dtype=np.int64, casting="unsafe")
    if len(flat) > 1:
        ends = np.cumsum(lens)
        rising = np.empty(len(flat), dtype=bool)
        rising[0] = True
        np.greater(flat[1:], flat[:-1], out=rising[1:])
        rising[(ends - lens)[lens > 0]] = True  # a state's first column follows anything
        if not rising.all():
            bad = np.unique(np.searchsorted(ends, np.flatnonzero(~rising), side="right"))
            states = list(states)
            for i in bad.tolist():
                states[i] = np.unique(np.asarray(states[i], dtype=np.int64))
            return _free_columns(states, n, source_id)
    if len(flat) and (flat.min() < 0 or flat.max() >= n):
        raise WeekFileError(f"{source_id}: free column index out of range of {n} slots")
    return flat, lens


def _render_cells(flat: np.ndarray, lens: np.ndarray, n: int) -> list[memoryview]:
    """Each state's cells and CRLF, all rendered at once: ``n`` commas with a '1' after the
    comma of each free column (column c_j of a state lands at byte c_j + j + 1)."""
    sizes = lens + (n + 2)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    out = np.full(int(ends[-1]), _COMMA, dtype=np.uint8)
    out[ends - 2] = _CR
    out[ends - 1] = _LF
    if len(flat):
        first = np.cumsum(lens) - lens  # where each state's columns start in ``flat``
        shift = np.repeat(starts - first + 1, lens)
        shift += np.arange(len(flat))
        shift += flat
        out[shift] = _ONE
    view = memoryview(out)
    return [view[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def write_week_states(
    source_id: str,
    slots: list[str],
    dates: list[str],
    locations: list[str],
    states: list,
    state_of: list[int],
) -> bytes:
    """CSV bytes for rows ``(dates[i], locations[i], states[state_of[i]])``, a state being
    free column indices into ``slots``; each state's cells are rendered once."""
    for field in (source_id, *dict.fromkeys(locations)):
        if not _SAFE_FIELD.fullmatch(field):  # match() would let a final "\n" through
            raise WeekFileError(f"{source_id}: field {field!r} would need CSV quoting")
    head = ",".join((*HEADER, *slots)).encode() + b"\r\n"
    if not dates:
        return head
    n = len(slots)
    cells = _render_cells(*_free_columns(states, n, source_id), n)
    sid = b"," + source_id.encode() + b","
    day = {d: d.encode() for d in set(dates)}
    place = {loc: sid + loc.encode() for loc in set(locations)}
    parts: list[bytes | memoryview] = [head] * (3 * len(dates) + 1)
    parts[1::3] = map(day.__getitem__, dates)
    parts[2::3] = map(place.__getitem__, locations)
    parts[3::3] = map(cells.__getitem__, state_of)
    return b"".join(parts)


def write_week_csv(
    source_id: str, slots: list[str], rows: Iterable[tuple[str, str, np.ndarray]]
) -> bytes:
    """CSV bytes for rows ``(date, location_id, free column indices into slots)``.

    ``slots`` are the slot columns (sorted strings); rows are written in the given order.
    Rows passing the same array object share its cells, rendered once.
    """
    rows = list(rows)
    dates, locations, frees = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 3
    del rows
    states, state_of = by_identity(frees)
    return write_week_states(source_id, slots, dates, locations, states, state_of)


#: the header is read before anything else; 16 MB is ~800,000 slot columns
MAX_HEADER_BYTES = 16 << 20
#: room for a row's date, source and location besides its 2 bytes per slot cell
MAX_PREFIX_BYTES = 4096


@dataclass
class WeekBlock:
    """Consecutive rows of a week CSV: ``first_row`` is the CSV row number of the first
    (the header is row 1). Row ``r`` has the free columns ``states[state_of_row[r]]``
    (sorted column indices); a row that repeats its location's previous row of the file
    has that row's very array object, so unchanged rows cost nothing downstream."""

    first_row: int
    dates: list[str]
    seconds: np.ndarray  # of each row's date, since the epoch
    locations: list[str]
    states: list[np.ndarray]
    state_of_row: np.ndarray
    new_rows: np.ndarray  # rows whose state differs from their location's previous row
    first_col: np.ndarray  # per state: its first free column, -1 when none
    last_col: np.ndarray


def _is_time(raw: bytes) -> bool:
    """``YYYY-MM-DD HH:MM:SS`` naming a real time (the check ``_read_dates`` makes at once)."""
    if not _TIME_RE.match(raw):
        return False
    try:
        np.datetime64(raw.decode(), "s")
    except ValueError:
        return False
    return True


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
        self._seconds: dict[bytes, int] = {}
        self._locations: dict[bytes, str] = {}
        # location -> [its last cells, their state's index in a block, that block, state]
        self._last: dict[bytes, list] = {}
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
        try:
            np.array(self.slots, dtype="datetime64[s]")
            ok = all(_TIME_RE.match(slot.encode()) for slot in self.slots)
        except ValueError:
            ok = False
        if not ok:
            for col, slot in enumerate(self.slots, start=4):
                if not _is_time(slot.encode()):
                    raise WeekFileError(f"{name}, row 1, column {col}: {slot!r} is not a slot time")
        if self.slots != sorted(set(self.slots)):
            raise WeekFileError(f"{name}, row 1: slot columns are not unique and sorted")
        self.max_line = 2 * len(self.slots) + MAX_PREFIX_BYTES

    def blocks(self) -> Iterator[WeekBlock]:
        rest, row = [self._rest], 2  # rest: the start of a line not yet ended
        self._rest = b""
        read = max(self.chunk_bytes, self.max_line)
        while True:
            more = self.stream.read(read)
            if not more:
                more, rest = b"".join(rest), []
                if not more:
                    return
                if not more.endswith(b"\n"):
                    raise WeekFileError(
                        f"{self.name}: truncated (last line does not end with CRLF)"
                    )
            cut = more.rfind(b"\n") + 1
            if not cut:
                rest.append(more)
                if sum(map(len, rest)) > self.max_line:
                    raise WeekFileError(f"{self.name}, row {row}: line too long")
                continue
            block = b"".join([*rest, memoryview(more)[:cut]])
            rest = [more[cut:]]
            parsed = self._parse(block, row)
            self.offset += len(block)
            row += len(parsed.dates)
            yield parsed

    def _parse(self, block: bytes, first: int) -> WeekBlock:
        """Rows of ``block`` (whole lines). Only cells unlike the location's previous row of
        the file are parsed, all at once; anything unexpected goes to ``_refuse``."""
        lines = block.split(b"\n")
        lines.pop()  # the block ends with a line end
        # a line without its CR fails in _parse_cells (its cells do not end with one)
        if not self.slots or max(map(len, lines)) > self.max_line + 1:
            return self._parse_each(block, lines, first)
        if not self.source_id:
            source = lines[0].split(b",", 2)[1:2]
            where = f"{self.name}, row {first}"
            self.source_id = _utf8(source[0] if source else b"", where, self.offset)
        sid = self.source_id.encode()
        last, tag = self._last, object()  # tag: a state's index is this block's
        holders: list[list] = []  # of the states the rows use: one-item lists
        state_of_row: list[int] = []
        changed: list[tuple[bytes, list, int]] = []
        try:
            raw_dates, sources, raw_locs, all_cells = zip(
                *[line.split(b",", 3) for line in lines], strict=True
            )
            if set(sources) != {sid}:
                raise ValueError
        except ValueError:  # a line of fewer than four fields, or another source
            self._refuse(block, first)
        for r, (raw_loc, cells) in enumerate(zip(raw_locs, all_cells, strict=True)):
            seen = last.get(raw_loc)
            if seen is None or seen[0] != cells:
                seen = last[raw_loc] = [cells, len(holders), tag, [None]]
                holders.append(seen[3])
                changed.append((cells, seen[3], r))
            elif seen[2] is not tag:
                seen[1], seen[2] = len(holders), tag
                holders.append(seen[3])
            state_of_row.append(seen[1])
        known_dates, known_locs = self._dates, self._locations
        new_dates = set(raw_dates).difference(known_dates)
        if new_dates and not self._read_dates(new_dates):
            self._refuse(block, first)
        for raw in set(raw_locs).difference(known_locs):
            try:
                if not raw:
                    raise ValueError
                known_locs[raw] = raw.decode("utf-8")
            except ValueError:
                self._refuse(block, first)
        if not self._parse_cells(changed):
            self._refuse(block, first)
        states = [h[0] for h in holders]
        return WeekBlock(
            first_row=first,
            dates=list(map(known_dates.__getitem__, raw_dates)),
            seconds=np.fromiter(map(self._seconds.__getitem__, raw_dates), np.int64),
            locations=list(map(known_locs.__getitem__, raw_locs)),
            states=states,
            state_of_row=np.array(state_of_row, dtype=np.int64),
            new_rows=np.array([r for _, _, r in changed], dtype=np.int64),
            first_col=np.fromiter((s[0] if len(s) else -1 for s in states), np.int64),
            last_col=np.fromiter((s[-1] if len(s) else -1 for s in states), np.int64),
        )

    def _parse_each(self, block: bytes, lines: list[bytes], first: int) -> WeekBlock:
        """``_parse`` row by row (no slot columns, or a block that will be refused)."""
        error = self._first_error(block, first)
        if error is not None:
            raise error
        if self.slots:  # only a line too long leads here, and _first_error names it
            self._refuse(block, first)
        sid = self.source_id.encode() if self.source_id else None
        dates, seconds, locations = [], [], []
        for line in lines:
            date, source, raw_loc = line[:-1].split(b",")
            if sid is None:
                self.source_id, sid = source.decode(), source
            if date not in self._dates:
                self._read_dates({date})
            dates.append(self._dates[date])
            seconds.append(self._seconds[date])
            locations.append(self._locations.setdefault(raw_loc, raw_loc.decode()))
        none = np.empty(0, dtype=np.int64)
        return WeekBlock(
            first, dates, np.array(seconds, dtype=np.int64), locations, [none],
            np.zeros(len(lines), dtype=np.int64), np.arange(len(lines)), np.array([-1]),
            np.array([-1]),
        )  # fmt: skip

    def _refuse(self, block: bytes, first: int) -> NoReturn:
        raise self._first_error(block, first) or WeekFileError(
            f"{self.name}, rows {first}..: not understood"
        )

    def _first_error(self, block: bytes, first: int) -> WeekFileError | None:
        """The error of the first bad row of ``block`` (checked as the format says)."""
        name, n_slots = self.name, len(self.slots)
        lines = block.split(b"\n")
        lines.pop()
        for r, line in enumerate(lines):
            if line[-1:] != b"\r":
                return WeekFileError(f"{name}, row {first + r}: line does not end with CRLF")
        for r, line in enumerate(lines):
            if len(line) - 1 > self.max_line:
                return WeekFileError(f"{name}, row {first + r}: line too long")
        for r, line in enumerate(lines):
            if line.count(b",") != n_slots + 2:
                return WeekFileError(
                    f"{name}, row {first + r}: {line.count(b',') + 1} fields, header has "
                    f"{n_slots + 3}"
                )
        for r, line in enumerate(lines):
            cells = line[:-1].split(b",", 3)[3:]
            if cells and (cells[0].translate(None, b",1") or b"11" in cells[0]):
                return WeekFileError(f"{name}, row {first + r}: cells must be '1' or empty")
        offset = self.offset
        for r, line in enumerate(lines):
            where = f"{name}, row {first + r}"
            date, source, raw_loc = line[:-1].split(b",", 3)[:3]
            if date not in self._dates and not _is_time(date):
                shown = date.decode() if _TIME_RE.match(date) else date[:40]
                return WeekFileError(f"{where}: bad date {shown!r}")
            at = offset + len(date) + 1
            try:
                if not self.source_id:
                    self.source_id = _utf8(source, where, at)
                elif source != self.source_id.encode():
                    got = _utf8(source, where, at)
                    expected = self.source_id
                    return WeekFileError(f"{where}: source_id {got!r}, expected {expected!r}")
                if not raw_loc:
                    return WeekFileError(f"{where}: empty location_id")
                _utf8(raw_loc, where, at + len(source) + 1)
            except WeekFileError as exc:
                return exc
            offset += len(line) + 1
        return None

    def _read_dates(self, new: set[bytes]) -> bool:
        """Check and convert dates first seen; False if one is not a date."""
        if not all(_TIME_RE.match(date) for date in new):
            return False
        raw = list(new)
        texts = [d.decode() for d in raw]
        try:
            stamps = np.array(texts, dtype="datetime64[s]").astype(np.int64).tolist()
        except ValueError:
            return False
        self._dates.update(zip(raw, texts, strict=True))
        self._seconds.update(zip(raw, stamps, strict=True))
        return True

    def _parse_cells(self, changed: list[tuple[bytes, list, int]]) -> bool:
        """Fill each holder with the free columns of its cells (``c1,...,cn\\r``); False if
        a row's cells are not ``1`` or empty, one per slot column."""
        if not changed:
            return True
        n_slots = len(self.slots)
        joined = b"".join([c for c, _, _ in changed])
        # only ',', '1' and one CR per row, at its end
        if joined.translate(None, b",1\r") or joined.count(b"\r") != len(changed):
            return False
        lengths = np.fromiter((len(c) for c, _, _ in changed), np.int64, len(changed))
        ends = np.cumsum(lengths) - 1
        buf = np.frombuffer(joined, dtype=np.uint8)
        if np.any(buf[ends] != _CR):
            return False
        ones = np.flatnonzero(buf == _ONE)
        starts = ends - lengths + 1
        ones_per_row = ends - starts - (n_slots - 1)  # if each has n_slots - 1 commas
        if np.any(ones_per_row < 0) or ones_per_row.sum() != len(ones):
            return False
        row_of_one = np.repeat(np.arange(len(ends)), ones_per_row)
        if len(ones) and (np.any(ones < starts[row_of_one]) or np.any(ones >= ends[row_of_one])):
            return False
        if np.any(np.diff(ones) == 1):
            return False
        before = np.cumsum(ones_per_row) - ones_per_row  # ones in earlier rows
        columns = ones - starts[row_of_one] - (np.arange(len(ones)) - before[row_of_one])
        bounds = np.cumsum(ones_per_row).tolist()
        for (_, holder, _), a, b in zip(changed, [0, *bounds], bounds, strict=False):
            holder[0] = columns[a:b]
        return True


def read_week_csv(data: bytes, name: str, chunk_bytes: int = 1 << 22) -> WeekTable:
    """Parse one week CSV held in memory; see ``WeekReader`` for the streaming reader."""
    reader = WeekReader(io.BytesIO(data), name, chunk_bytes)
    table = WeekTable(source_id="", slots=reader.slots, rows=[])
    for block in reader.blocks():
        states, index = block.states, block.state_of_row.tolist()
        table.rows.extend(
            WeekRow(d, loc, states[i])
            for d, loc, i in zip(block.dates, block.locations, index, strict=True)
        )
    table.source_id = reader.source_id
    return table
