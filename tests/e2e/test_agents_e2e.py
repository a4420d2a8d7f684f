"""Agents end to end: `lmarenarev serve`, the real userscript in Chromium on the fake LMArena,
and the official clients of the three APIs with tools: the `openai` SDK on chat completions
and on the Responses API, the `anthropic` SDK on the Messages API, and a LangChain
tool-calling agent loop. Each tool loop stays in one LMArena session."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import botched_tool_call_text, tool_call_text

from .conftest import Arena, GatewayProcess, OpenTab

pytestmark = pytest.mark.e2e

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
# The gateway process (and its conversation store) serves every test of the session while the
# fake LMArena forgets its sessions between tests: each test asks its own question, so none
# looks like a regenerate of another's.
QUESTION = "What is the weather in Paris? ({})"


def one_session(arena: Arena, turns: int) -> None:
    calls = [(r.kind, r.session_id) for r in arena.fake.requests if r.kind in ("create", "post")]
    assert [kind for kind, _ in calls] == ["create"] + ["post"] * (turns - 1), calls
    assert len({session for _, session in calls}) == 1, calls


def script(arena: Arena, *replies: Reply) -> None:
    arena.fake.enqueue(*replies)


def test_chat_completions_tool_round_trip_streamed(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    script(arena, Reply(text=tool_call_text("get_weather", {"city": "Paris"}, before="Looking."),
                        record_chars=5),
           Reply(text="Sunny in Paris."))
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather",
                                                          "parameters": PARAMETERS}}]
    client = gateway.client()
    question = QUESTION.format("chat")
    chunks = list(client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": question}], tools=tools,
        stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    (call,) = deltas
    assert call.function is not None and call.function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    history: list[Any] = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": text, "tool_calls": [{
            "id": call.id, "type": "function",
            "function": {"name": "get_weather", "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    answer = client.chat.completions.create(model="fake-gpt", messages=history, tools=tools)
    assert answer.choices[0].message.content == "Sunny in Paris."
    one_session(arena, 2)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_tool_round_trip(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, stream: bool
) -> None:
    open_tab()
    script(arena, Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
           Reply(text="Sunny in Paris."))
    client = anthropic.Anthropic(base_url=gateway.url, api_key="any", max_retries=0, timeout=60)
    tools: list[Any] = [{"name": "get_weather", "description": "Weather",
                         "input_schema": PARAMETERS}]

    def ask(messages: list[Any]) -> anthropic.types.Message:
        if not stream:
            return client.messages.create(model="fake-gpt", max_tokens=100, tools=tools,
                                          messages=messages)
        with client.messages.stream(model="fake-gpt", max_tokens=100, tools=tools,
                                    messages=messages) as live:
            return live.get_final_message()

    question: list[Any] = [{"role": "user", "content": QUESTION.format(f"messages {stream}")}]
    first = ask(question)
    assert first.stop_reason == "tool_use"
    (use,) = [block for block in first.content if block.type == "tool_use"]
    assert use.input == {"city": "Paris"}
    second = ask([*question,
                  {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                "content": "sunny"}]}])
    assert second.content[0].text == "Sunny in Paris."  # type: ignore[union-attr]
    assert second.stop_reason == "end_turn"
    one_session(arena, 2)


def test_anthropic_sdk_streams_text_and_thinking(
    gateway: GatewayProcess, open_tab: OpenTab
) -> None:
    open_tab()
    client = anthropic.Anthropic(base_url=gateway.url, api_key="any", max_retries=0, timeout=60)
    with client.messages.stream(model="fake-thinker", max_tokens=100,
                                messages=[{"role": "user", "content": "why?"}]) as live:
        kinds = [event.type for event in live]
        final = live.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[1].text == "Echo: why?"  # type: ignore[union-attr]


def test_responses_api_function_call_then_previous_response_id(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    script(arena, Reply(text=botched_tool_call_text("get_weather", {"city": "Paris"})),
           Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
           Reply(text="Sunny in Paris."))
    client = gateway.client()
    tools: list[Any] = [{"type": "function", "name": "get_weather", "parameters": PARAMETERS}]
    events = list(client.responses.create(model="fake-gpt", input=QUESTION.format("responses"),
                                          tools=tools, stream=True))
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    first = events[-1].response  # type: ignore[union-attr]
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Paris"}  # corrected once, same session
    second = client.responses.create(
        model="fake-gpt", tools=tools, previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "Sunny in Paris."
    one_session(arena, 3)  # the question, the correction, the tool's result
    assert client.responses.retrieve(second.id).output_text == "Sunny in Paris."


def test_a_langchain_agent_loop(gateway: GatewayProcess, open_tab: OpenTab, arena: Arena) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    open_tab()
    script(arena, Reply(text=tool_call_text("get_weather", {"city": "Paris"})),
           Reply(text="It is sunny in Paris."))
    model = ChatOpenAI(model="fake-gpt", base_url=f"{gateway.url}/v1", api_key="any",
                       max_retries=0).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage(QUESTION.format("langchain"))]
    for _ in range(3):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        messages += [ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
                     for call in reply.tool_calls]
    assert messages[-1].content == "It is sunny in Paris."
    one_session(arena, 2)


def test_anthropic_stop_sequences_end_the_reply_through_the_browser(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    script(arena, Reply(text="alpha beta STOP gamma", record_chars=4))
    client = anthropic.Anthropic(base_url=gateway.url, api_key="any", max_retries=0, timeout=60)
    with client.messages.stream(model="fake-gpt", max_tokens=100, stop_sequences=["STOP"],
                                messages=[{"role": "user", "content": "letters"}]) as live:
        final = live.get_final_message()
    assert final.content[0].text == "alpha beta "  # type: ignore[union-attr]
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")
