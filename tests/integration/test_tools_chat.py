"""Tool calling on /v1/chat/completions (docs/tools.md): the official `openai` client and
LangChain through the gateway, the fake worker and the fake LMArena, whose replies hold calls
in the contract's form (testkit/fakes/arena_tools.py)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import botched_tool_call_text, tool_call_text, tool_calls_text

from .conftest import Arena, RunningGateway, StartGateway

pytestmark = pytest.mark.usefixtures("worker")

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def arena_kinds(arena: Arena) -> list[tuple[str, str | None]]:
    return [(r.kind, r.session_id) for r in arena.fake.requests if r.kind in
            ("create", "post", "retry", "legacy")]


def one_session(arena: Arena, turns: int) -> None:
    """The loop was one LMArena session: created once, then continued."""
    kinds = arena_kinds(arena)
    assert [kind for kind, _ in kinds] == ["create"] + ["post"] * (turns - 1), kinds
    assert len({session for _, session in kinds}) == 1, kinds


async def test_a_tool_round_trip_stays_in_one_lmarena_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(
        Reply(text=tool_call_text("get_weather", {"city": "Paris"}, before="Let me check.")),
        Reply(text="It is sunny in Paris."),
    )
    first = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"} and call.id.startswith("call_")
    assert (choice.message.content or "").strip() == "Let me check."
    prompt = arena.fake.requests[-1].body["userMessage"]["content"]
    assert "<tool_call>" in prompt and '"name": "get_weather"' in prompt  # the contract went out

    history = [*QUESTION, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}]
    second = await client.chat.completions.create(
        model="fake-gpt", messages=history, tools=[WEATHER]
    )
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].finish_reason == "stop"
    one_session(arena, 2)
    sent = arena.fake.requests[-1].body["userMessage"]["content"]
    assert sent.startswith(f'<tool_result call_id="{call.id}" name="get_weather">')
    assert '{"sky": "sunny"}' in sent


async def test_streamed_calls_arrive_as_tool_call_deltas_after_the_text(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    text = tool_calls_text([("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})],
                           before="Checking both cities.")
    arena.fake.enqueue(Reply(text=text, record_chars=3))
    stream = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER], stream=True
    )
    chunks = [chunk async for chunk in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.strip() == "Checking both cities."
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert [d.index for d in deltas] == [0, 1]
    assert [json.loads(d.function.arguments)["city"] for d in deltas if d.function] == [
        "Paris", "Oslo"]
    assert all(d.id and d.id.startswith("call_") for d in deltas)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_without_a_call_the_reply_is_text(client: openai.AsyncOpenAI, arena: Arena) -> None:
    arena.fake.enqueue(Reply(text="To call a tool I would write `<tool_call>`; no need here."))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER]
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content == (
        "To call a tool I would write `<tool_call>`; no need here.")


async def test_a_botched_call_gets_one_corrective_turn_in_the_same_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(
        Reply(text=botched_tool_call_text("get_weather", {"city": "Paris"}, before="Sure.")),
        Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
    )
    stream = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER], stream=True
    )
    chunks = [chunk async for chunk in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert content.strip() == "Sure."
    assert [d.function.name for d in deltas if d.function] == ["get_weather"]
    one_session(arena, 2)
    correction = arena.fake.requests[-1].body["userMessage"]["content"]
    assert "could not be used" in correction and "not valid" in correction


async def test_a_call_botched_twice_is_delivered_as_the_text_it_was(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    botched = botched_tool_call_text("get_weather", {"city": "Paris"}, "unknown_tool")
    arena.fake.enqueue(Reply(text=botched), Reply(text=botched))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER]
    )
    assert completion.choices[0].message.content == botched
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"


async def test_tool_choice_none_leaves_calls_as_text_and_says_so(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    text = tool_call_text("get_weather", {"city": "Paris"})
    arena.fake.enqueue(Reply(text=text))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER], tool_choice="none"
    )
    assert completion.choices[0].message.content == text
    assert "without calling any tool" in arena.fake.requests[-1].body["userMessage"]["content"]


async def test_a_named_tool_choice_is_asked_for(client: openai.AsyncOpenAI, arena: Arena) -> None:
    arena.fake.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Rome"})))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=QUESTION, tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert completion.choices[0].message.tool_calls
    assert 'calling the tool "get_weather"' in arena.fake.requests[-1].body["userMessage"][
        "content"]


async def test_tool_choice_naming_an_unknown_tool_is_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="not among the tools"):
        await client.chat.completions.create(
            model="fake-gpt", messages=QUESTION, tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )


async def test_the_legacy_flow_sends_the_tool_turn_with_the_whole_history(
    start_gateway: StartGateway, arena: Arena
) -> None:
    session, message = arena.fake.seed_session("fake-gpt")
    gateway: RunningGateway = start_gateway(
        arena_flow="legacy", session_id=session, message_id=message, retry_timeout_seconds=5)
    arena.fake.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
                       Reply(text="Sunny."))
    async with gateway.worker(arena):
        client = gateway.client()
        first = await client.chat.completions.create(
            model="fake-gpt", messages=QUESTION, tools=[WEATHER])
        (call,) = first.choices[0].message.tool_calls or []
        history = [*QUESTION, first.choices[0].message.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
        second = await client.chat.completions.create(
            model="fake-gpt", messages=history, tools=[WEATHER])
    assert second.choices[0].message.content == "Sunny."
    sent = arena.fake.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "<tool_call>" in sent[2]["content"] and "<tool_result" in sent[3]["content"]


async def test_a_langchain_agent_loop_stays_in_one_session(
    gateway: RunningGateway, arena: Arena
) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    arena.fake.enqueue(
        Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
        Reply(text="It is sunny in Paris."),
    )
    model = ChatOpenAI(model="fake-gpt", base_url=f"{gateway.url}/v1", api_key="any",
                       max_retries=0).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
    for _ in range(3):
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = get_weather.invoke(call["args"])
            messages.append(ToolMessage(result, tool_call_id=call["id"]))
    assert messages[-1].content == "It is sunny in Paris."
    assert isinstance(messages[2], ToolMessage) and messages[2].content == "sunny in Paris"
    one_session(arena, 2)


async def test_a_corrective_turn_that_fails_leaves_the_reply_as_written(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    botched = botched_tool_call_text("get_weather", {"city": "Paris"}, "json", before="Sure.")
    for stream in (False, True):
        arena.fake.enqueue(Reply(text=botched), Reply.unauthorized())
        question = [{"role": "user", "content": f"What is the weather? ({stream})"}]
        if stream:
            chunks = [c async for c in await client.chat.completions.create(
                model="fake-gpt", messages=question, tools=[WEATHER], stream=True)]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = chunks[-1].choices[0].finish_reason
        else:
            completion = await client.chat.completions.create(
                model="fake-gpt", messages=question, tools=[WEATHER])
            text = completion.choices[0].message.content or ""
            finish = completion.choices[0].finish_reason
        assert (text, finish) == (botched, "stop")
