"""OpenAI's Responses API (`/v1/responses`) judged by the official `openai` client: text,
the stream's event types, reasoning summaries, a function call continued with
`previous_response_id` (or with the whole input sent again, as Codex does) in one LMArena
session, stored responses (GET, DELETE), and clear 400s."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import tool_call_text
from testkit.support import wait_until_async

from .conftest import Arena, StartGateway

pytestmark = pytest.mark.usefixtures("worker")

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def arena_calls(arena: Arena) -> list[tuple[str, str | None]]:
    return [(r.kind, r.session_id) for r in arena.fake.requests if r.kind in ("create", "post")]


def one_session(arena: Arena, turns: int) -> None:
    calls = arena_calls(arena)
    assert [kind for kind, _ in calls] == ["create"] + ["post"] * (turns - 1), calls
    assert len({session for _, session in calls}) == 1, calls


async def test_a_text_answer(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="fake-gpt", input="hello there",
                                             instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_") and response.model == "fake-gpt"
    assert response.output_text == "Echo: Be brief.\n\nhello there"
    assert response.usage is not None and response.usage.output_tokens > 0


async def test_the_stream_sends_the_responses_event_types(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="a streamed answer", record_chars=3, delay=0.01))
    stream = await client.responses.create(model="fake-gpt", input="x", stream=True)
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") > 2
    for kind in ("response.output_item.added", "response.content_part.added",
                 "response.output_text.done", "response.output_item.done"):
        assert kind in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "a streamed answer"
    assert events[-1].response.output_text == "a streamed answer"  # type: ignore[union-attr]


async def test_reasoning_comes_as_a_summary(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="fake-thinker", input="why?", stream=True)
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert "response.reasoning_summary_text.delta" in kinds
    final = events[-1].response  # type: ignore[union-attr]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert "why?" in final.output[0].summary[0].text


@pytest.mark.parametrize("stream", [False, True])
async def test_a_function_call_continued_with_previous_response_id(
    client: openai.AsyncOpenAI, arena: Arena, stream: bool
) -> None:
    arena.fake.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
                       Reply(text="Sunny in Paris."))

    async def ask(**kwargs: Any) -> Any:
        if not stream:
            return await client.responses.create(model="fake-gpt", tools=[WEATHER], **kwargs)
        events = [e async for e in await client.responses.create(
            model="fake-gpt", tools=[WEATHER], stream=True, **kwargs)]
        if stream:
            kinds = [e.type for e in events]
            assert ("response.function_call_arguments.delta" in kinds) == (
                "previous_response_id" not in kwargs)
        return events[-1].response

    first = await ask(input="What is the weather in Paris?")
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.arguments == '{"city": "Paris"}'
    assert call.call_id.startswith("call_")
    second = await ask(previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "Sunny in Paris."
    one_session(arena, 2)


async def test_the_whole_input_sent_again_also_continues_the_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    """What Codex does (store false): each turn sends every item so far."""
    arena.fake.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Rome"}, before="Ok.")),
                       Reply(text="Rome is sunny."))
    question = [{"role": "user", "content": "Weather in Rome?"}]
    first = await client.responses.create(model="fake-gpt", tools=[WEATHER], input=question,
                                          store=False)
    replay = [item.model_dump(exclude_none=True) for item in first.output]
    (call,) = [item for item in first.output if item.type == "function_call"]
    second = await client.responses.create(model="fake-gpt", tools=[WEATHER], store=False, input=[
        *question, *replay,
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "Rome is sunny."
    one_session(arena, 2)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(first.id)  # store false: not kept


async def test_stored_responses_can_be_read_and_deleted(client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="fake-gpt", input="keep me")
    again = await client.responses.retrieve(response.id)
    assert again.output_text == response.output_text and again.id == response.id
    await client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError, match="not found"):
        await client.responses.create(model="fake-gpt", input="x",
                                      previous_response_id=response.id)


async def test_a_stored_response_is_read_back_from_the_file(
    start_gateway: StartGateway, arena: Arena
) -> None:
    """Beyond the few kept in memory (conversation_cache_size), stored responses come from the
    SQLite file."""
    gateway = start_gateway(conversation_cache_size=1, retry_timeout_seconds=5)
    async with gateway.worker(arena):
        client = gateway.client()
        first = await client.responses.create(model="fake-gpt", input="persist me")
        writer = gateway.gateway.monitoring.writer
        await wait_until_async(lambda: writer.pending == 0 and writer.written > 0, 10, "a write")
        await client.responses.create(model="fake-gpt", input="push it out of memory")
        again = await client.responses.retrieve(first.id)
    assert again.output_text == "Echo: persist me"


async def test_built_in_tools_are_a_clear_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="cannot be emulated"):
        await client.responses.create(model="fake-gpt", input="x",
                                      tools=[{"type": "web_search"}])


async def test_a_stream_that_fails_after_it_started_ends_with_response_failed(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="a long answer that will be cut", record_chars=2,
                             cut_after_bytes=120))
    stream = await client.responses.create(model="fake-gpt", input="x", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"  # type: ignore[union-attr]
    assert events[-1].response.error is not None  # type: ignore[union-attr]
    assert "response.output_text.delta" in [event.type for event in events]


async def test_max_output_tokens_is_applied_by_the_gateway(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="one two three four five six seven eight nine ten"))
    response = await client.responses.create(model="fake-gpt", input="count",
                                             max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text.startswith("one two") and "four" not in response.output_text
