"""Cut replies (issue 27): LMArena's body ends cleanly after some text but without its finish
record (`ad:`). The client must not take the part for the whole answer: a stream ends with an
`upstream_truncated` error frame after the partial text, a non-stream request gets a 502; the
request log keeps the partial text (with `log_bodies`) and /metrics counts every cut reply."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from testkit.fakes.arena import Reply

from .conftest import Arena, RunningGateway, StartGateway
from .test_monitor import logged, samples

RECORD_CHARS = 8
WHOLE = "".join(f"word{i:03} " for i in range(50))  # 50 records of 8 characters
CUT = WHOLE[: 20 * RECORD_CHARS]  # the fake ends the body after 20 of them, cleanly
QUICK_RETRIES = {"empty_response_retry.base_delay_ms": 10, "empty_response_retry.max_delay_ms": 10}


def cut_reply() -> Reply:
    return Reply(text=CUT, record_chars=RECORD_CHARS, finish=None)


def ask(text: str) -> dict[str, Any]:
    return {"model": "fake-gpt", "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def gateway(start_gateway: StartGateway) -> RunningGateway:
    return start_gateway(log_bodies=True, **QUICK_RETRIES)


async def truncated_count(gateway: RunningGateway) -> float:
    async with gateway.http() as http:
        metrics = (await http.get("/metrics")).text
    return samples(metrics)("lmarenarev_truncated_replies_total", {"model": "fake-gpt"})


async def test_a_cut_stream_ends_with_an_upstream_truncated_error_after_its_text_not_stop(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(cut_reply())
    received, finish_reasons = "", []
    async with gateway.worker(arena):
        stream = await gateway.client().chat.completions.create(**ask("tell"), stream=True)
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                if chunk.choices:
                    received += chunk.choices[0].delta.content or ""
                    finish_reasons.append(chunk.choices[0].finish_reason)
    assert received == CUT and len(CUT) < len(WHOLE)
    assert caught.value.code == "upstream_truncated" and "cut off" in caught.value.message
    assert "stop" not in finish_reasons
    (row,) = await logged(gateway)
    assert (row["status"], row["error_kind"], row["upstream_kind"]) == (
        "error", "upstream_truncated", "truncated"
    )
    assert await truncated_count(gateway) == 1


async def test_a_cut_reply_without_stream_is_a_502_and_the_log_keeps_the_partial_text(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(cut_reply())
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=ask("tell"))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_truncated" and error["type"] == "upstream_error"
    assert "choices" not in response.json()
    (row,) = await logged(gateway)
    assert (row["status"], row["http_status"], row["error_kind"]) == (
        "error", 502, "upstream_truncated"
    )
    assert row["finish_reason"] is None and row["has_bodies"] is True
    async with gateway.http() as http:
        detail = (await http.get(f"/api/request/{row['id']}")).json()
    assert detail["bodies"]["reply"] == CUT
    assert await truncated_count(gateway) == 1


async def test_a_reply_cut_before_any_text_is_retried_like_an_empty_one(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="", finish=None))  # af: and a heartbeat, then the end
    async with gateway.worker(arena):
        completion = await gateway.client().chat.completions.create(**ask("again"))
    assert completion.choices[0].message.content == "Echo: again"
    assert completion.choices[0].finish_reason == "stop"
    (row,) = await logged(gateway)
    assert (row["status"], row["attempts"], row["retry_kinds"]) == ("ok", 2, {"truncated": 1})
    assert await truncated_count(gateway) == 1


async def test_when_lmarena_stops_sending_finish_records_every_reply_fails_and_is_counted(
    start_gateway: StartGateway, arena: Arena
) -> None:
    """The drift signal: a format change that drops `ad:` shows at once in /metrics."""
    gateway = start_gateway(**{"empty_response_retry.enabled": False})
    arena.fake.enqueue(*[Reply(finish=None)] * 3)
    async with gateway.worker(arena):
        client = gateway.client()
        for text in ("one", "two", "three"):
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(**ask(text))
            assert caught.value.status_code == 502
    assert await truncated_count(gateway) == 3
    async with gateway.http() as http:
        metrics = samples((await http.get("/metrics")).text)
    labels = {"model": "fake-gpt", "status": "error", "error_kind": "upstream_truncated"}
    assert metrics("lmarenarev_requests_total", labels) == 3
