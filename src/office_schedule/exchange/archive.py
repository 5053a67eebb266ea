"""Week archives: reading their CSV members as streams within declared size and ratio
limits, and writing deterministic ones.

Nothing is extracted to disk and no member is held whole: each member is handed out as a
stream, and decompression stops as soon as a limit is passed, naming the member.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from zlib_ng import gzip_ng

from ..errors import OfficeScheduleError

#: the published week 2021-28 is 270 MB of CSV, its largest member 93 MB: 2 GB per member
#: and 8 GB per archive leave room for years of growth and still bound the work a hostile
#: archive can cause
MAX_MEMBER_BYTES = 2 << 30
MAX_ARCHIVE_BYTES = 8 << 30
#: deflate cannot exceed about 1032:1 and the published week compresses 112:1; past
#: ``RATIO_AFTER`` decompressed bytes, more than 1000:1 is a bomb of repeated bytes
MAX_RATIO = 1000
RATIO_AFTER = 64 << 20
#: gzip level of written archives: 6 is 6x faster than the published files' 9 for a
#: third more bytes; readers depend on member names and contents only. zlib-ng writes the
#: same gzip format 2.4x faster than the standard library's zlib, of the same size.
GZIP_LEVEL = 6


class ArchiveError(OfficeScheduleError):
    """An archive that is refused; the message names it and, where known, the member."""


class _Counting:
    """The compressed file, counting the bytes read from it."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.count = raw, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


class _Limited:
    """The decompressed stream: refuses to go past the size and ratio limits."""

    def __init__(self, path: Path, inner: BinaryIO, compressed: _Counting | None):
        self.path, self.inner, self.compressed = path, inner, compressed
        self.total = 0
        self.member = "(tar header)"

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.total

    def seek(self, offset: int, whence: int = 0) -> int:
        """Forward only (tarfile reading members in order skips padding): by reading."""
        target = offset + (self.total if whence == 1 else 0)
        if whence not in (0, 1) or target < self.total:
            raise ArchiveError(f"{self.path}: member {self.member!r}: cannot read backwards")
        while self.total < target:
            if not self.read(min(target - self.total, 1 << 20)):
                break
        return self.total

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.total += len(data)
        if self.total > MAX_ARCHIVE_BYTES:
            raise ArchiveError(
                f"{self.path}: member {self.member!r}: archive decompresses to more than "
                f"{MAX_ARCHIVE_BYTES} bytes (limit)"
            )
        if self.compressed is not None and self.total > RATIO_AFTER:
            ratio = self.total / max(self.compressed.count, 1)
            if ratio > MAX_RATIO:
                raise ArchiveError(
                    f"{self.path}: member {self.member!r}: compression ratio above "
                    f"{MAX_RATIO}:1 after {self.total} bytes (a decompression bomb?)"
                )
        return data


def csv_members(path: Path) -> Iterator[tuple[str, BinaryIO]]:
    """(name, stream) of each CSV member in order; the stream is valid until the next one."""
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            counting = _Counting(raw) if gzipped else None
            # zlib-ng inflates 3-4x faster and, like the standard library, says when a
            # stream is cut off (EOFError) or corrupt (BadGzipFile)
            inner = gzip_ng.GzipNGFile(fileobj=counting, mode="rb") if counting else raw
            limited = _Limited(path, inner, counting)  # type: ignore[arg-type]
            # read as a seekable file that is only ever read forward: tarfile's stream mode
            # copies every byte three more times
            with tarfile.open(fileobj=limited, mode="r:") as archive:  # type: ignore[call-overload]
                for member in archive:
                    name = limited.member = member.name
                    if not member.isfile():
                        if member.isdir():
                            continue
                        raise ArchiveError(f"{path}: member {name!r} is not a regular file")
                    if "/" in name.strip("./") or ".." in name or name.startswith("/"):
                        raise ArchiveError(f"{path}: unsafe member name {name!r}")
                    if not name.endswith(".csv"):
                        raise ArchiveError(f"{path}: unexpected member {name!r} (only SOURCE.csv)")
                    if member.size > MAX_MEMBER_BYTES:
                        raise ArchiveError(
                            f"{path}: member {name!r} is {member.size} bytes, more than the "
                            f"limit of {MAX_MEMBER_BYTES}"
                        )
                    handle = archive.extractfile(member)
                    assert handle is not None
                    yield name, handle
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"{path}: corrupt or truncated archive ({exc})") from None


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    """The GNU tar header ``tarfile`` writes for a regular file (mode 0644, owner root)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info.tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")


def _write_all(out: BinaryIO, parts: tuple[bytes, ...]) -> None:
    for part in parts:
        out.write(part)


def _write_tar(out: BinaryIO, members: Iterable[tuple[str, bytes]], mtime: int) -> None:
    """The tar stream of ``members`` (sorted by name) into ``out``, as ``tarfile`` writes it.

    Each member is compressed in a thread while the next one is made (zlib lets go of the
    GIL): at most two members are held at a time.
    """
    block, record = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
    offset, last = 0, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write_tar_gz") as pool:
        pending = None
        for name, data in members:
            if last is not None and name <= last:
                raise ValueError(f"tar members not sorted by name: {name!r} after {last!r}")
            last = name
            parts = (_tar_header(name, len(data), mtime), data, bytes(-len(data) % block))
            offset += sum(map(len, parts))
            if pending is not None:
                pending.result()
            pending = pool.submit(_write_all, out, parts)
            del data, parts
        if pending is not None:
            pending.result()
    offset += 2 * block
    out.write(bytes(2 * block + -offset % record))


def write_tar_gz(path: Path, members: Iterable[tuple[str, bytes]], mtime: int) -> None:
    """A deterministic ``.tar.gz`` (sorted members, fixed mtime and owner), written atomically.

    A list of members is sorted here; any other iterable must come sorted by name, and is
    consumed one member at a time while the previous one is compressed.
    """
    if isinstance(members, list):
        members = sorted(members)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            with gzip_ng.GzipNGFile(
                filename=path.name.removesuffix(".gz"), mode="wb", fileobj=fh,
                compresslevel=GZIP_LEVEL, mtime=mtime,
            ) as gz:  # fmt: skip
                _write_tar(gz, members, mtime)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
