"""An upstream 5xx before any output gets one more try on another tab when one is free,
counted like the other retries; with no other free tab it is answered at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway, StartGateway

CHAT = {"model": "fake-gpt", "messages": [{"role": "user", "content": "again?"}]}


def chat_jobs(worker: FakeWorker) -> int:
    return len([frame for frame in worker.jobs_seen if "/stream/" in frame["url"]])


async def logged(gateway: RunningGateway, timeout: float = 10.0) -> dict[str, Any]:
    """The newest row of the request log (written by its own task: polled until it is there)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with gateway.http() as http:
        while True:
            rows = (await http.get("/api/monitor/logs/requests")).json()["requests"]
            if rows:
                return dict(rows[0])
            assert asyncio.get_running_loop().time() < deadline, "no row in the request log"
            await asyncio.sleep(0.02)


async def test_a_5xx_before_any_output_is_tried_once_more_on_another_tab(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway()
    arena.fake.enqueue(Reply.server_error(500))
    async with gateway.worker(arena) as one, gateway.worker(arena) as two:
        async with gateway.http() as http:
            response = await http.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Echo: again?"
        assert sorted([chat_jobs(one), chat_jobs(two)]) == [1, 1]  # the second on the other tab
    row = await logged(gateway)
    assert (row["status"], row["attempts"], row["retry_kinds"]) == ("ok", 2, {"server_error": 1})
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'lmarenarev_retries_total{kind="server_error"} 1.0' in metrics


async def test_a_5xx_with_no_other_free_tab_is_answered_at_once(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway()
    arena.fake.enqueue(Reply.server_error(502))
    async with gateway.worker(arena) as only, gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=CHAT)
        assert chat_jobs(only) == 1
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert (await logged(gateway))["retry_kinds"] == {}


async def test_a_second_5xx_on_the_other_tab_is_final(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway()
    arena.fake.enqueue(Reply.server_error(500), Reply.server_error(503))
    async with gateway.worker(arena) as one, gateway.worker(arena) as two:
        async with gateway.http() as http:
            response = await http.post("/v1/chat/completions", json=CHAT)
        assert chat_jobs(one) + chat_jobs(two) == 2
    assert response.status_code == 502 and "503" in response.json()["error"]["message"]
