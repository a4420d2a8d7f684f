"""Cancellation edge cases found by the soak (bench/soak.py): no lost slot, no stuck queue."""

from __future__ import annotations

import asyncio

import httpx

from lmarenarev.store import queries
from lmarenarev.store.db import db_path, open_for_reading
from lmarenarev.store.records import RequestRow
from testkit.fakes.arena import Reply
from testkit.support import wait_until, wait_until_async

from .conftest import Arena, RunningGateway, StartGateway

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


async def test_streams_abandoned_while_waiting_for_a_tab_leave_nothing_behind(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(retry_timeout_seconds=30, keepalive_interval_seconds=0.05)
    async with gateway.worker(arena):  # a tab came and went: streams wait for it, with keep-alives
        pass
    observer = gateway.gateway.monitoring.observer

    async def give_up(http: httpx.AsyncClient) -> None:
        """Wait in the queue until the first keep-alive, then hang up."""
        async with http.stream("POST", "/v1/chat/completions", json=BODY) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith(": keep-alive"):
                    return
        raise AssertionError("the stream ended before it was abandoned")

    for _ in range(3):  # abandon again and again while requests wait in the queue
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            await asyncio.wait_for(asyncio.gather(*(give_up(http) for _ in range(8))), 10)
        # every stream left the queue and the active requests: none waits out its 30 s
        wait_until(lambda: gateway.gateway.sizes()["waiting"] == 0, 5, "the queue to empty")
        wait_until(lambda: not observer.active, 5, "the requests to end")
    rows = await logged(gateway, 24)
    assert {(row["status"], row["http_status"]) for row in rows} == {("cancelled", 499)}
    async with gateway.worker(arena):
        reply = await asyncio.wait_for(gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "after"}]), 10)
    assert reply.choices[0].message.content == "Echo: after"
    assert gateway.gateway.sizes()["jobs"] == 0


async def logged(gateway: RunningGateway, count: int) -> list[RequestRow]:
    """The request log's rows once it holds `count` of them."""
    store = gateway.gateway.monitoring
    await wait_until_async(lambda: store.writer.written >= count, 5, f"{count} rows written")
    conn = open_for_reading(db_path(gateway.gateway.home))
    assert conn is not None
    try:
        return queries.list_requests(conn, queries.RequestFilter(), limit=count + 10)
    finally:
        conn.close()
