"""The dashboard's new figures through the real app: the time series behind its charts, the
failure reasons per model, download and cache figures, the plain /docs page."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway

ASK = {"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]}


async def get_json(gateway: RunningGateway, path: str, **params: Any) -> Any:
    async with gateway.http() as http:
        answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def logged(gateway: RunningGateway, count: int) -> None:
    deadline = time.monotonic() + 10
    while (await get_json(gateway, "/api/monitor/logs/requests"))["total"] < count:
        assert time.monotonic() < deadline, "the request log is behind"
        await asyncio.sleep(0.02)


async def test_the_time_series_counts_this_minutes_requests_errors_and_tokens(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    for _ in range(3):
        await client.chat.completions.create(**ASK)
    arena.fake.enqueue(Reply.unauthorized())
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(**ASK)
    await logged(gateway, 4)
    series = await get_json(gateway, "/api/monitor/timeseries", minutes=60)
    assert (series["window_minutes"], series["bucket_seconds"]) == (60, 60)
    points = series["points"]
    assert len(points) == 60 and points[-1]["start"] <= time.time() < points[-1]["start"] + 60
    now = points[-1] if points[-1]["requests"] else points[-2]  # a minute may have just begun
    assert (now["requests"], now["errors"]) == (4, 1)
    assert 0 < now["ttft_p50_ms"] <= now["p50_ms"] <= now["p95_ms"]
    assert now["prompt_tokens"] > 0 and now["completion_tokens"] > 0
    assert sum(p["requests"] for p in points) == 4
    day = await get_json(gateway, "/api/monitor/timeseries", minutes=1440)
    assert day["bucket_seconds"] == 720 and len(day["points"]) == 120
    async with gateway.http() as http:
        assert (await http.get("/api/monitor/timeseries", params={"minutes": 0})).status_code == 400


async def test_each_model_lists_why_its_requests_failed(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.unauthorized(), Reply.unauthorized(), Reply.too_large())
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(**ASK)
    await client.chat.completions.create(**{**ASK, "model": "fake-claude"})
    await logged(gateway, 4)
    models = {m["model"]: m for m in (await get_json(gateway, "/api/monitor/stats"))["models"]}
    assert models["fake-gpt"]["error_kinds"] == [
        {"kind": "lmarena_login_required", "count": 2},
        {"kind": "attachment_too_large", "count": 1},
    ]
    assert models["fake-claude"]["error_kinds"] == []


async def test_performance_has_download_and_cache_figures(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI
) -> None:
    for _ in range(2):  # the same image twice: downloaded once, then from the cache
        await client.images.generate(model="fake-painter", prompt="x", response_format="b64_json")
    performance = await get_json(gateway, "/api/monitor/performance")
    downloads, cache = performance["downloads"], performance["image_cache"]
    settings = gateway.gateway.settings
    assert downloads["max_concurrent"] == settings.max_concurrent_downloads
    assert downloads["completed"] >= 1 and downloads["failed"] == 0 and downloads["bytes"] > 0
    assert downloads["active"] == 0 and downloads["available"] == downloads["max_concurrent"]
    assert downloads["slowest_ms"] >= downloads["avg_ms"] > 0
    assert cache["entries"] == downloads["completed"] and cache["bytes"] > 0
    assert cache["max_entries"] == settings.memory_management.image_cache_max_size
    assert cache["hits"] + cache["misses"] == 2


async def test_docs_is_a_plain_page_of_every_operation(gateway: RunningGateway) -> None:
    async with gateway.http() as http:
        page = await http.get("/docs")
        redoc = await http.get("/redoc")
    assert page.status_code == 200 and redoc.status_code == 404
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    for operation in ("/v1/chat/completions", "/api/monitor/timeseries", "/openapi.json"):
        assert operation in page.text
