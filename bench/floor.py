"""The physical floor of reading a published week: decompress every member, split it into lines.

Measured with the standard library only (``tarfile`` over ``gzip``, ``bytes.split``), in the
same run as the step it is the floor of, so a ratio to it says how far a step is from merely
reading the week. Imported by the other bench scripts (they run from this folder).
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path


def floor_seconds(archive: Path, repeat: int = 3) -> float:
    """Fastest of ``repeat`` runs of: gunzip the archive, read each member, split its lines."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        lines = 0
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile():
                    lines += len(tar.extractfile(member).read().split(b"\n"))
        best = min(best, time.perf_counter() - start)
        assert lines > 0, f"{archive}: no lines"
    return best
