"""Identifier generation (protocol §1.12): UUIDv7 for the modern flow, v4 for legacy messages."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(now_ms: int | None = None) -> str:
    """48-bit Unix-ms timestamp, version 7, RFC 4122 variant, 74 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return _dashed(f"{value:032x}")


def uuid4() -> str:
    return str(uuid.uuid4())


def random_hex() -> str:
    """128 random bits as 32 hex digits: a completion's or a job's id (one call on each
    request's path, where `uuid.uuid4().hex` also built a UUID object)."""
    return os.urandom(16).hex()


def _dashed(digits: str) -> str:
    """32 hex digits in the 8-4-4-4-12 form of `str(uuid.UUID(...))`."""
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
