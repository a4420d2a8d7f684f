"""The dashboard's figures besides the request table: the time series its charts draw
(`/api/monitor/timeseries`) and `/api/monitor/performance` (state sizes, the store's writer,
the image downloads and cache, the event loop). Admin paths, like the rest of /api/monitor."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..gateway import Gateway
from ..monitor import timeseries as series
from ..monitor.schema import (
    DownloadInfo,
    ImageCacheInfo,
    Performance,
    SeriesPoint,
    SeriesQuery,
    StoreInfo,
    TimeSeries,
)
from ..store import queries

router = APIRouter(tags=["monitor"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@router.get("/api/monitor/timeseries", response_model=TimeSeries)
async def monitor_timeseries(
    request: Request, query: Annotated[SeriesQuery, Query()]
) -> TimeSeries:
    """Requests, errors, latency and first-token percentiles and tokens per bucket (a minute,
    or more for long windows: at most 120 buckets), oldest first."""
    window = query.minutes * 60
    step = series.bucket_seconds(window)
    now = time.time()
    start = series.window_start(now, window, step)

    def read(conn: sqlite3.Connection) -> list[Any]:
        return queries.series_rows(conn, start)

    nothing: list[Any] = []
    rows = await _gateway(request).monitoring.read(read, nothing)
    points = series.timeseries(
        (series.SeriesRow(*row) for row in rows), start=start, end=now, step=step
    )
    return TimeSeries(
        window_minutes=query.minutes,
        bucket_seconds=step,
        points=[SeriesPoint.model_validate(point._asdict()) for point in points],
    )


@router.get("/api/monitor/performance", response_model=Performance)
async def monitor_performance(request: Request) -> Performance:
    gateway = _gateway(request)
    writer, settings = gateway.monitoring.writer, gateway.settings
    before = time.perf_counter()
    await asyncio.sleep(0)
    lag_ms = (time.perf_counter() - before) * 1000
    size = await asyncio.to_thread(_file_size, writer.path)
    store = StoreInfo(
        path=str(writer.path),
        size_bytes=size,
        written=writer.written,
        pending=writer.pending,
        dropped=writer.dropped,
        failed=writer.failed,
        error=writer.error,
        log_bodies=settings.log_bodies,
        retention_days=settings.log_retention_days,
        max_rows=settings.log_max_rows,
    )
    return Performance(
        state=gateway.sizes(),
        store=store,
        downloads=_downloads(gateway),
        image_cache=_image_cache(gateway),
        event_loop_lag_ms=lag_ms,
    )


def _downloads(gateway: Gateway) -> DownloadInfo:
    downloader = gateway.media.downloader
    counts = downloader.counts
    return DownloadInfo(
        max_concurrent=downloader.max_concurrent,
        active=downloader.active,
        available=max(0, downloader.max_concurrent - downloader.active),
        completed=counts.completed,
        failed=counts.failed,
        retries=counts.retries,
        bytes=counts.bytes,
        avg_ms=counts.total_ms / counts.completed if counts.completed else None,
        slowest_ms=counts.slowest_ms,
    )


def _image_cache(gateway: Gateway) -> ImageCacheInfo:
    cache = gateway.media.images.cache
    return ImageCacheInfo(
        entries=len(cache),
        max_entries=cache.max_entries,
        bytes=cache.bytes,
        max_bytes=cache.max_bytes,
        ttl_seconds=cache.ttl,
        hits=cache.hits,
        misses=cache.misses,
        evicted=cache.evicted,
    )


def _file_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += path.with_name(path.name + suffix).stat().st_size
    return total
