"""Anthropic's Messages API (`/v1/messages`) judged by the official `anthropic` SDK: text,
streaming with Anthropic's event sequence, thinking, a tool round trip in one LMArena session,
errors in Anthropic's envelope, `x-api-key`, count_tokens and the model list."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import botched_tool_call_text, tool_call_text

from .conftest import Arena, RunningGateway, StartGateway

pytestmark = pytest.mark.usefixtures("worker")

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
QUESTION: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]


def sdk(gateway: RunningGateway, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gateway.url, api_key=kwargs.pop("api_key", "any"),
                                    max_retries=0, **kwargs)


def arena_calls(arena: Arena) -> list[tuple[str, str | None]]:
    return [(r.kind, r.session_id) for r in arena.fake.requests if r.kind in ("create", "post")]


async def test_a_message_is_answered_in_anthropics_shape(gateway: RunningGateway) -> None:
    message = await sdk(gateway).messages.create(
        model="fake-gpt", max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == "fake-gpt"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Echo: Be brief.\n\nhello there"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_a_stream_follows_anthropics_event_sequence(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="streamed answer text", record_chars=4, delay=0.01))
    events: list[str] = []
    async with sdk(gateway).messages.stream(
        model="fake-gpt", max_tokens=100, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        async for event in stream:
            events.append(event.type)
        final = await stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("content_block_start") == 1 and "message_delta" in events
    assert events.count("text") > 2  # the text came in pieces
    assert final.content[0].text == "streamed answer text"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


async def test_reasoning_comes_as_a_thinking_block(gateway: RunningGateway) -> None:
    async with sdk(gateway).messages.stream(
        model="fake-thinker", max_tokens=100, messages=[{"role": "user", "content": "why?"}]
    ) as stream:
        final = await stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "text"]
    assert "why?" in final.content[0].thinking  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_round_trip_stays_in_one_session(
    gateway: RunningGateway, arena: Arena, stream: bool
) -> None:
    arena.fake.enqueue(
        Reply(text=tool_call_text("get_weather", {"city": "Paris"}, before="Let me look.")),
        Reply(text="Sunny in Paris."),
    )
    client = sdk(gateway)

    async def ask(messages: list[Any]) -> anthropic.types.Message:
        if not stream:
            return await client.messages.create(model="fake-gpt", max_tokens=200,
                                                tools=[WEATHER], messages=messages)
        async with client.messages.stream(model="fake-gpt", max_tokens=200, tools=[WEATHER],
                                          messages=messages) as live:
            return await live.get_final_message()

    first = await ask(QUESTION)
    assert first.stop_reason == "tool_use"
    text, use = first.content
    assert text.type == "text" and text.text.strip() == "Let me look."
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    assert use.id.startswith("toolu_")
    history = [*QUESTION, {"role": "assistant", "content": [b.model_dump() for b in first.content]},
               {"role": "user", "content": [
                   {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 °C"}]}]
    second = await ask(history)
    assert second.content[0].text == "Sunny in Paris."  # type: ignore[union-attr]
    assert second.stop_reason == "end_turn"
    calls = arena_calls(arena)
    assert [kind for kind, _ in calls] == ["create", "post"] and len({s for _, s in calls}) == 1
    sent = arena.fake.requests[-1].body["userMessage"]["content"]
    assert sent.startswith(f'<tool_result call_id="{use.id}" name="get_weather">')


async def test_a_botched_call_is_corrected_once(gateway: RunningGateway, arena: Arena) -> None:
    arena.fake.enqueue(
        Reply(text=botched_tool_call_text("get_weather", {"city": "Paris"}, "no_name")),
        Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
    )
    message = await sdk(gateway).messages.create(
        model="fake-gpt", max_tokens=200, tools=[WEATHER], messages=QUESTION)
    assert [block.type for block in message.content] == ["tool_use"]
    assert [kind for kind, _ in arena_calls(arena)] == ["create", "post"]


async def test_tool_choice_any_and_disabled_parallel_calls_reach_the_prompt(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Oslo"})))
    await sdk(gateway).messages.create(
        model="fake-gpt", max_tokens=200, tools=[WEATHER], messages=QUESTION,
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    prompt = arena.fake.requests[-1].body["userMessage"]["content"]
    assert "at most one tool per answer" in prompt and "calling at least one tool" in prompt


async def test_errors_come_in_anthropics_envelope(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    with pytest.raises(anthropic.NotFoundError) as missing:
        await client.messages.create(model="no-such-model", max_tokens=10, messages=QUESTION)
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    async with gateway.http() as http:  # the SDK would not send it without max_tokens
        answer = await http.post("/v1/messages", json={"model": "fake-gpt", "messages": QUESTION})
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer.json()["error"]["message"]
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    with pytest.raises(anthropic.BadRequestError, match="cannot be emulated"):
        await client.messages.create(model="fake-gpt", max_tokens=10, messages=QUESTION,
                                     tools=[server_tool])  # type: ignore[list-item]


async def test_x_api_key_is_accepted_and_checked(start_gateway: StartGateway, arena: Arena) -> None:
    gateway = start_gateway(api_key="sk-right", retry_timeout_seconds=5)
    async with gateway.worker(arena):
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await sdk(gateway, api_key="sk-wrong").messages.create(
                model="fake-gpt", max_tokens=10, messages=QUESTION)
        assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        message = await sdk(gateway, api_key="sk-right").messages.create(
            model="fake-gpt", max_tokens=10, messages=QUESTION)
        assert message.content


async def test_count_tokens_and_the_model_list(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    small = await client.messages.count_tokens(model="fake-gpt", messages=QUESTION)
    with_tools = await client.messages.count_tokens(model="fake-gpt", messages=QUESTION,
                                                    tools=[WEATHER])
    assert 0 < small.input_tokens < with_tools.input_tokens
    models = await client.models.list()
    ids = [model.id async for model in models]
    assert "fake-gpt" in ids
    async with gateway.http() as http:
        openai_shape = (await http.get("/v1/models")).json()
    assert openai_shape["object"] == "list"


async def test_a_stream_that_fails_after_it_started_ends_with_an_error_event(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="a long answer that will be cut", record_chars=2,
                             cut_after_bytes=120))
    events: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as failed:
        async with sdk(gateway).messages.stream(
            model="fake-gpt", max_tokens=100, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            async for event in stream:
                events.append(event.type)
    assert events[0] == "message_start" and "text" in events
    assert "message_stop" not in events
    assert failed.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequences_and_max_tokens_are_applied_by_the_gateway(
    gateway: RunningGateway, arena: Arena, stream: bool
) -> None:
    client = sdk(gateway)

    async def ask(**kwargs: Any) -> anthropic.types.Message:
        question: list[Any] = [{"role": "user", "content": "count"}]
        if not stream:
            return await client.messages.create(model="fake-gpt", messages=question, **kwargs)
        async with client.messages.stream(model="fake-gpt", messages=question,
                                          **kwargs) as live:
            return await live.get_final_message()

    arena.fake.enqueue(Reply(text="one two three STOP four five", record_chars=3))
    stopped = await ask(max_tokens=100, stop_sequences=["NEVER", "STOP"])
    assert stopped.content[0].text == "one two three "  # type: ignore[union-attr]
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "STOP")
    arena.fake.enqueue(Reply(text="one two three four five six seven eight nine ten"))
    cut = await ask(max_tokens=3)
    assert cut.stop_reason == "max_tokens" and cut.stop_sequence is None
    text = cut.content[0].text  # type: ignore[union-attr]
    assert text.startswith("one two") and "four" not in text  # three tokens, counted offline
    assert cut.usage.output_tokens == 3
