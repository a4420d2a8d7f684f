"""Cancellation edge cases found by the soak (bench/soak.py): no lost slot, no stuck queue."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from testkit.fakes.arena import Reply
from testkit.support import wait_until

from .conftest import Arena, StartGateway

BODY = {"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], "stream": True}


async def test_a_retried_stream_that_fails_keeps_its_http_status(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(rate_limit_max_wait_seconds=0.05, keepalive_interval_seconds=3)
    arena.fake.enqueue(*[Reply.rate_limited(retry_after=0)] * 3)
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=BODY)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.timeout(300)  # ≈ 90 s on a 2-core machine: near the 120 s default
async def test_streams_abandoned_while_waiting_for_a_tab_leave_nothing_behind(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(retry_timeout_seconds=30, keepalive_interval_seconds=0.05)

    async def give_up() -> None:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=0.3) as http:
            try:
                async with http.stream("POST", "/v1/chat/completions", json=BODY) as response:
                    async for _ in response.aiter_bytes():
                        pass
            except httpx.TimeoutException:
                pass

    for _ in range(3):  # cancel again and again while requests wait in the queue
        await asyncio.gather(*(give_up() for _ in range(8)))
    wait_until(lambda: gateway.gateway.sizes()["waiting"] == 0, 10, "the queue to empty")
    async with gateway.worker(arena):
        reply = await asyncio.wait_for(gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "after"}]), 10)
    assert reply.choices[0].message.content == "Echo: after"
    assert gateway.gateway.sizes()["jobs"] == 0
