"""Chat completions through the gateway, a fake worker and the fake LMArena."""

from __future__ import annotations

import asyncio
import base64
import json

import openai
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway

pytestmark = pytest.mark.usefixtures("worker")


async def test_non_stream_reply(client: openai.AsyncOpenAI, arena: Arena) -> None:
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.choices[0].message.content == "Echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake-gpt" and completion.id.startswith("chatcmpl-")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    (request,) = [r for r in arena.fake.requests if r.kind == "create"]
    assert request.body["userMessage"]["content"] == "hello there"


async def test_stream_chunks_carry_ids_role_finish_and_usage(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    # Records 20 ms apart reach the worker one by one (records that arrive together are joined
    # into one delta: tests/unit/test_stream.py).
    arena.fake.enqueue(Reply(delay=0.02))
    stream = await client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "stream me a fairly long answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert len({c.id for c in chunks}) == 1 and all(c.model == "fake-gpt" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream me a fairly long answer please"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 3  # streamed, not delivered at once
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0


@pytest.mark.parametrize(
    ("upstream", "expected"), [("length", "length"), ("content-filter", "content_filter")]
)
async def test_finish_reasons_are_mapped(
    client: openai.AsyncOpenAI, arena: Arena, upstream: str, expected: str
) -> None:
    arena.fake.enqueue(Reply(text="cut short", finish=upstream))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].finish_reason == expected


async def test_reasoning_as_reasoning_content(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="fake-thinker", messages=[{"role": "user", "content": "why?"}]
    )
    message = completion.choices[0].message
    assert message.content == "Echo: why?"
    assert "why?" in (getattr(message, "reasoning_content", None) or "")


async def test_reasoning_in_think_tags(start_gateway, arena: Arena) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway(reasoning_output_mode="think_tag")
    async with gateway.worker(arena):
        stream = await gateway.client().chat.completions.create(
            model="fake-thinker", messages=[{"role": "user", "content": "why?"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.startswith("<think>") and "</think>\n\nEcho: why?" in text


async def test_image_records_become_markdown_images(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    completion = await client.chat.completions.create(
        model="fake-painter", messages=[{"role": "user", "content": "a cat"}]
    )
    content = completion.choices[0].message.content or ""
    assert "![image](" in content and "/__fake/images/" in content
    (request,) = [r for r in arena.fake.requests if r.kind == "create"]
    assert request.body["modality"] == "image"


async def test_search_citations_become_a_sources_list(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(
        Reply(
            text="found it",
            citations=[
                ("https://a.example/x", "A"),
                ("https://a.example/x", "dup"),
                ("https://b.example/", "B"),
            ],
        )
    )
    completion = await client.chat.completions.create(
        model="fake-searcher", messages=[{"role": "user", "content": "search"}]
    )
    content = completion.choices[0].message.content or ""
    assert content.startswith("found it")
    assert "**Sources:**\n1. [A](https://a.example/x)\n2. [B](https://b.example/)" in content


async def test_attachments_reach_lmarena(client: openai.AsyncOpenAI, arena: Arena) -> None:
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    await client.chat.completions.create(
        model="fake-gpt",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": png}},
                    {"type": "image_url", "image_url": {"url": png}},
                ],
            }
        ],
    )
    (request,) = [r for r in arena.fake.requests if r.kind == "create"]
    attachments = request.body["userMessage"]["experimental_attachments"]
    assert [a["contentType"] for a in attachments] == ["image/png", "image/png"]
    # uploaded through the tab (attachment_upload: "arena"), once: the same bytes twice
    assert list(arena.fake.uploads.values()) == [b"\x89PNG\r\n\x1a\n"]
    assert attachments[0]["url"] == attachments[1]["url"] and "/r2/" in attachments[0]["url"]


async def test_three_turns_stay_in_one_lmarena_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    messages: list[dict[str, str]] = [{"role": "system", "content": "be brief"}]
    for turn in ("one", "two", "three"):
        messages.append({"role": "user", "content": turn})
        completion = await client.chat.completions.create(model="fake-gpt", messages=messages)  # type: ignore[arg-type]
        reply = completion.choices[0].message.content or ""
        assert reply.endswith(turn)
        messages.append({"role": "assistant", "content": reply})
    kinds = [r.kind for r in arena.fake.requests if r.kind in ("create", "post", "retry")]
    assert kinds == ["create", "post", "post"]
    (session,) = arena.fake.sessions.values()
    assert [t.user_text for t in session.turns] == ["be brief\n\none", "two", "three"]


async def test_a_regenerate_uses_the_retry_route(client: openai.AsyncOpenAI, arena: Arena) -> None:
    messages = [{"role": "user", "content": "again?"}]
    first = await client.chat.completions.create(model="fake-gpt", messages=messages)  # type: ignore[arg-type]
    second = await client.chat.completions.create(model="fake-gpt", messages=messages)  # type: ignore[arg-type]
    assert first.choices[0].message.content == "Echo: again?"
    assert second.choices[0].message.content == "Echo (retry 1): again?"
    assert [r.kind for r in arena.fake.requests if r.kind != "page"] == ["create", "retry"]


async def test_an_edited_history_starts_a_new_session_with_the_history_folded(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    await client.chat.completions.create(
        model="fake-gpt",
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "made up"},
            {"role": "user", "content": "and?"},
        ],
    )
    (request,) = [r for r in arena.fake.requests if r.kind == "create"]
    assert request.body["userMessage"]["content"] == "User: hi\n\nAssistant: made up\n\nUser: and?"


async def test_six_concurrent_streams_each_get_their_own_reply(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.defaults.delay = 0.005

    def prompt(i: int) -> str:
        return " ".join([f"question number {i}"] * 5)

    async def ask(i: int) -> str:
        stream = await client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": prompt(i)}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    replies = await asyncio.gather(*(ask(i) for i in range(6)))
    assert replies == [f"Echo: {prompt(i)}" for i in range(6)]
    assert arena.fake.max_concurrent_streams > 1


async def test_a_failure_after_the_response_started_is_an_error_frame_then_done(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(
        Reply(
            text="this reply will be cut in the middle",
            cut_after_bytes=140,
            chunk_size=20,
            heartbeats=0,
        )
    )
    async with (
        gateway.http() as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "fake-gpt",
                "messages": [{"role": "user", "content": "x"}],
                "stream": True,
            },
        ) as response,
    ):
        assert response.status_code == 200
        frames = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    error = json.loads(frames[-2])["error"]
    assert error["type"] and error["message"]
    content = "".join(
        json.loads(f)["choices"][0]["delta"].get("content") or ""
        for f in frames[:-2]
        if json.loads(f).get("choices")
    )
    assert "error" not in content.lower()


async def test_a_cut_before_any_text_is_retried_invisibly(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.cut(5))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "still fine"}]
    )
    assert completion.choices[0].message.content == "Echo: still fine"


async def test_upstream_errors_keep_their_status_before_the_stream_starts(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.unauthorized())
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert "log in" in str(caught.value)


async def test_a_worker_on_the_long_poll_transport_serves_requests(
    start_gateway,
    arena: Arena,  # type: ignore[no-untyped-def]
) -> None:
    gateway = start_gateway()
    async with gateway.worker(arena, transport="poll"):
        completion = await gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "via poll"}]
        )
    assert completion.choices[0].message.content == "Echo: via poll"


async def test_the_recaptcha_site_key_is_discovered_from_the_page(
    start_gateway,
    arena: Arena,  # type: ignore[no-untyped-def]
) -> None:
    arena.fake.site_key = "6LfAKEsiteKEYdiscoveredFromThePage00000"
    gateway = start_gateway()
    async with gateway.worker(arena) as worker:
        completion = await gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}]
        )
    assert completion.choices[0].message.content == "Echo: x"
    (job,) = worker.jobs_seen
    assert job["recaptcha"]["site_key"] == "6LfAKEsiteKEYdiscoveredFromThePage00000"
    assert job["recaptcha"]["action"] == "chat_submit"


async def test_work_is_spread_over_the_least_loaded_tabs(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    arena.fake.defaults.delay = 0.01
    async with gateway.worker(arena) as second:
        client = gateway.client()
        await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="fake-gpt", messages=[{"role": "user", "content": f"q{i} " * 10}]
                )
                for i in range(4)
            )
        )
    assert len(worker.jobs_seen) == 2 and len(second.jobs_seen) == 2


async def test_records_that_arrive_together_are_one_delta_reasoning_as_text(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    # The whole body in one write: ten reasoning records, then ten text records.
    arena.fake.enqueue(Reply(reasoning="r" * 40, text="t" * 40, record_chars=4,
                             chunk_size=1 << 16, heartbeats=0))
    stream = await client.chat.completions.create(
        model="fake-thinker", messages=[{"role": "user", "content": "why?"}], stream=True
    )
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    reasoning = [d.reasoning_content for d in deltas if getattr(d, "reasoning_content", None)]
    content = [d.content for d in deltas if d.content]
    assert "".join(reasoning) == "r" * 40 and "".join(content) == "t" * 40
    assert len(reasoning) < 10 and len(content) < 10  # not a chunk per record
