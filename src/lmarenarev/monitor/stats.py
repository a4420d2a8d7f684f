"""The dashboard's numbers from the request log's rows: pure functions, tested with tables.

Latency is a request's whole duration, over completed ("ok") requests; the error rate is errors
over all requests (cancelled ones count as requests, not as errors).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple


class StatRow(NamedTuple):
    """What `store.queries.stats_rows` selects, in its order."""

    model: str
    status: str
    duration_ms: float
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    retries: int


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    ok: int
    errors: int
    cancelled: int
    success_rate: float | None
    error_rate: float | None
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    retries: int


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of `values` (need not be sorted); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(rows: Iterable[StatRow]) -> Summary:
    rows = list(rows)
    latencies = [row.duration_ms for row in rows if row.status == "ok"]
    first_tokens = [row.ttft_ms for row in rows if row.status == "ok" and row.ttft_ms is not None]
    errors = sum(1 for row in rows if row.status == "error")
    total = len(rows)
    return Summary(
        requests=total,
        ok=len(latencies),
        errors=errors,
        cancelled=sum(1 for row in rows if row.status == "cancelled"),
        success_rate=len(latencies) / total if total else None,
        error_rate=errors / total if total else None,
        avg_ms=sum(latencies) / len(latencies) if latencies else None,
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
        ttft_p50_ms=percentile(first_tokens, 0.5),
        ttft_p95_ms=percentile(first_tokens, 0.95),
        prompt_tokens=sum(row.prompt_tokens or 0 for row in rows),
        completion_tokens=sum(row.completion_tokens or 0 for row in rows),
        retries=sum(row.retries for row in rows),
    )


def per_model(rows: Iterable[StatRow]) -> list[tuple[str, Summary]]:
    """Each model's summary, the most requested first."""
    by_model: dict[str, list[StatRow]] = defaultdict(list)
    for row in rows:
        by_model[row.model].append(row)
    summaries = [(model, summarize(model_rows)) for model, model_rows in by_model.items()]
    return sorted(summaries, key=lambda item: (-item[1].requests, item[0]))
