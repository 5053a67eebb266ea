"""Compact encodings of raw payloads and slot sets."""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from array import array
from datetime import datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1)


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_hash(payload: Any) -> str:
    return hashlib.blake2b(canonical_json(payload), digest_size=16).hexdigest()


def compress_payload(payload: Any) -> bytes:
    return zlib.compress(canonical_json(payload), 6)


def decompress_payload(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def encode_slots(slots: tuple[datetime, ...] | list[datetime]) -> bytes:
    """Sorted unique slots as little-endian uint32 minutes since 1970, zlib-compressed."""
    minutes = array("I", sorted({int((s - EPOCH).total_seconds() // 60) for s in slots}))
    if sys.byteorder != "little":
        minutes.byteswap()
    return zlib.compress(minutes.tobytes(), 6)


def decode_slots(blob: bytes | None) -> tuple[datetime, ...]:
    if not blob:
        return ()
    minutes = array("I")
    minutes.frombytes(zlib.decompress(blob))
    if sys.byteorder != "little":
        minutes.byteswap()
    return tuple(EPOCH + timedelta(minutes=m) for m in minutes)
