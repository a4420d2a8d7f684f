"""Identifier helpers for the fake LMArena (protocol doc §1.12).

Modern clients send UUIDv7 ids (48-bit Unix-ms timestamp, version nibble 7, RFC variant); the
legacy userscript sends `crypto.randomUUID()` (v4).
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string, as the bridges generate them (§1.12)."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def uuid4() -> str:
    return str(uuid.uuid4())


def uuid_version(value: object) -> int | None:
    """The version of a canonical (hyphenated, lowercase-insensitive) UUID string, else None."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if str(parsed) != value.lower() or parsed.variant != uuid.RFC_4122:
        return None
    return parsed.version


def is_uuid(value: object, *, v7_only: bool = False) -> bool:
    version = uuid_version(value)
    if version is None:
        return False
    return version == 7 or not v7_only
