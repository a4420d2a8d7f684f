"""The dashboard's charts from the request log: buckets of requests, errors, percentiles and
tokens (monitor/timeseries.py), checked with tables."""

from __future__ import annotations

import pytest

from lmarenarev.monitor.timeseries import (
    Point,
    SeriesRow,
    bucket_seconds,
    timeseries,
    window_start,
)

T0 = 1_800_000_000.0  # a whole minute


def req(at: float, status: str = "ok", ms: float = 1000.0, ttft: float | None = 200.0,
        tokens: tuple[int | None, int | None] = (10, 20)) -> SeriesRow:
    return SeriesRow(T0 + at, status, ms, ttft, *tokens)


@pytest.mark.parametrize(
    ("window_minutes", "step"),
    [(60, 60.0), (120, 60.0), (121, 120.0), (360, 180.0), (1440, 720.0), (10080, 5040.0)],
)
def test_buckets_are_whole_minutes_and_at_most_120(window_minutes: int, step: float) -> None:
    assert bucket_seconds(window_minutes * 60) == step
    assert window_minutes * 60 / step <= 120


def test_each_bucket_counts_its_requests_errors_and_tokens() -> None:
    rows = [
        req(5), req(30, "error", ttft=None, tokens=(4, None)), req(59, "cancelled"),
        req(60, ms=3000, ttft=900), req(119, tokens=(None, None)),
    ]
    points = timeseries(rows, start=T0, end=T0 + 179, step=60)
    assert [(p.start - T0, p.requests, p.errors) for p in points] == [
        (0, 3, 1), (60, 2, 0), (120, 0, 0)
    ]
    assert [(p.prompt_tokens, p.completion_tokens) for p in points] == [(24, 40), (10, 20), (0, 0)]


def test_percentiles_are_over_completed_requests_and_empty_buckets_have_none() -> None:
    rows = [req(1, ms=ms, ttft=ms / 10) for ms in (100, 200, 300, 400)]
    rows.append(req(2, "error", ms=99_999, ttft=99_999))  # a failure's time is not latency
    first, empty = timeseries(rows, start=T0, end=T0 + 60, step=60)
    assert first == Point(T0, 5, 1, 200, 400, 20, 40, 50, 100)
    assert (empty.requests, empty.p50_ms, empty.ttft_p95_ms) == (0, None, None)


def test_rows_outside_the_window_are_left_out() -> None:
    points = timeseries([req(-1), req(60), req(30)], start=T0, end=T0 + 59, step=60)
    assert [p.requests for p in points] == [1]


def test_the_window_starts_on_a_bucket_boundary_and_ends_with_now() -> None:
    now = T0 + 3600 + 42.5
    start = window_start(now, 3600, 60)
    assert start % 60 == 0 and now - 3600 < start <= now - 3600 + 60
    points = timeseries([], start=start, end=now, step=60)
    assert len(points) == 60 and points[-1].start <= now < points[-1].start + 60
