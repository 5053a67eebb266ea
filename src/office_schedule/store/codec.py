"""Compact encodings of raw payloads and slot sets."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import datetime, timedelta
from typing import Any

import numpy as np

EPOCH = datetime(1970, 1, 1)


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_hash(payload: Any) -> str:
    return hashlib.blake2b(canonical_json(payload), digest_size=16).hexdigest()


def compress_payload(payload: Any) -> bytes:
    return zlib.compress(canonical_json(payload), 6)


def decompress_payload(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def slot_minutes(slots: tuple[datetime, ...] | list[datetime]) -> np.ndarray:
    """Slots as sorted unique minutes since 1970 (naive local time), uint32."""
    return np.array(sorted({int((s - EPOCH).total_seconds() // 60) for s in slots}), dtype="<u4")


def minutes_to_slots(minutes: np.ndarray) -> tuple[datetime, ...]:
    return tuple(EPOCH + timedelta(minutes=int(m)) for m in minutes)


def minutes_digest(minutes: np.ndarray) -> str:
    return hashlib.blake2b(np.asarray(minutes, dtype="<u4").tobytes(), digest_size=16).hexdigest()


def encode_minutes(minutes: np.ndarray) -> bytes:
    """Sorted minutes, delta-encoded (small numbers compress well), zlib-compressed."""
    m = np.asarray(minutes, dtype="<u4")
    deltas = np.diff(m, prepend=np.uint32(0)).astype("<u4")
    return zlib.compress(deltas.tobytes(), 6)


def decode_minutes(blob: bytes | None) -> np.ndarray:
    if not blob:
        return np.empty(0, dtype="<u4")
    deltas = np.frombuffer(zlib.decompress(blob), dtype="<u4")
    return np.cumsum(deltas, dtype=np.uint64).astype("<u4")


def encode_slots(slots: tuple[datetime, ...] | list[datetime]) -> bytes:
    return encode_minutes(slot_minutes(slots))


def decode_slots(blob: bytes | None) -> tuple[datetime, ...]:
    return minutes_to_slots(decode_minutes(blob))
