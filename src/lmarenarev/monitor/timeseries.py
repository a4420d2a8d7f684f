"""The dashboard's charts from the request log: requests, errors, latency and first-token
percentiles and tokens per time bucket (pure, tested with tables).

A bucket covers `[start, start + bucket_seconds)`; every bucket of the window is present, an
empty one with zero counts and no percentiles (the chart shows a gap). Latency and first token
are over completed ("ok") requests, like the totals (stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from .stats import percentile

MAX_POINTS = 120  # per chart: enough to read, few enough to draw on any screen
MIN_BUCKET_SECONDS = 60.0


class SeriesRow(NamedTuple):
    """What `store.queries.series_rows` selects, in its order."""

    started_at: float
    status: str
    duration_ms: float
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass
class Bucket:
    start: float
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    durations: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)


class Point(NamedTuple):
    start: float
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int


def bucket_seconds(window_seconds: float) -> float:
    """A whole number of minutes giving at most MAX_POINTS buckets (a minute at least)."""
    minutes = math.ceil(window_seconds / MAX_POINTS / MIN_BUCKET_SECONDS)
    return max(1, minutes) * MIN_BUCKET_SECONDS


def window_start(now: float, window_seconds: float, step: float) -> float:
    """The first bucket's start: aligned to `step`, so the buckets of two reads line up."""
    return math.floor((now - window_seconds) / step) * step + step


def timeseries(rows: Iterable[SeriesRow], *, start: float, end: float, step: float) -> list[Point]:
    """One point per bucket from `start` (aligned) to the bucket holding `end`."""
    count = max(1, math.floor((end - start) / step) + 1)
    buckets = [Bucket(start + i * step) for i in range(count)]
    for row in rows:
        index = math.floor((row.started_at - start) / step)
        if not 0 <= index < count:
            continue
        bucket = buckets[index]
        bucket.requests += 1
        bucket.errors += row.status == "error"
        bucket.prompt_tokens += row.prompt_tokens or 0
        bucket.completion_tokens += row.completion_tokens or 0
        if row.status == "ok":
            bucket.durations.append(row.duration_ms)
            if row.ttft_ms is not None:
                bucket.first_tokens.append(row.ttft_ms)
    return [_point(bucket) for bucket in buckets]


def _point(bucket: Bucket) -> Point:
    return Point(
        start=bucket.start,
        requests=bucket.requests,
        errors=bucket.errors,
        p50_ms=percentile(bucket.durations, 0.5),
        p95_ms=percentile(bucket.durations, 0.95),
        ttft_p50_ms=percentile(bucket.first_tokens, 0.5),
        ttft_p95_ms=percentile(bucket.first_tokens, 0.95),
        prompt_tokens=bucket.prompt_tokens,
        completion_tokens=bucket.completion_tokens,
    )
