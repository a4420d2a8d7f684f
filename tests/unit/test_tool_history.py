"""The history rewritten for LMArena (tools/history.py, tools/contract.py) and each API's
request read into entries (chat/inputs.py, chat/anthropic_input.py, chat/responses_input.py)."""

from __future__ import annotations

from typing import Any

import pytest

from lmarenarev.chat.anthropic_input import anthropic_input
from lmarenarev.chat.inputs import chat_input
from lmarenarev.chat.responses_input import responses_input
from lmarenarev.errors import InvalidRequest
from lmarenarev.messages import Entry, Message, ToolCall, ToolResult
from lmarenarev.openai_schema import ChatCompletionRequest
from lmarenarev.tools.contract import assistant_text, instructions, turn_note
from lmarenarev.tools.history import rewrite
from lmarenarev.tools.spec import Tool, ToolChoice, ToolSet
from lmarenarev.wire.anthropic import MessagesRequest
from lmarenarev.wire.responses import ResponsesRequest

TOOLS = ToolSet((Tool("get_weather", "The weather", {"type": "object"}),))
CALL = ToolCall("get_weather", {"city": "Paris"}, "call_1")


def test_instructions_show_the_tools_and_the_exact_form() -> None:
    text = instructions(TOOLS)
    assert '{"name": "get_weather", "description": "The weather", "parameters": {"type": ' in text
    form = '<tool_call>\n{"name": "<tool name>", "arguments": {<the arguments: a JSON object>}}'
    assert form + "\n</tool_call>" in text
    assert "several blocks" in text
    assert "at most one tool" in instructions(ToolSet(TOOLS.tools, parallel=False))


def test_turn_notes_say_what_the_choice_asks() -> None:
    assert turn_note(ToolChoice("auto")) is None
    assert "without calling" in (turn_note(ToolChoice("none")) or "")
    assert "at least one tool" in (turn_note(ToolChoice("required")) or "")
    assert '"get_weather"' in (turn_note(ToolChoice("tool", "get_weather")) or "")


def test_an_assistant_turn_with_calls_is_its_text_then_one_block_per_call() -> None:
    text = assistant_text("  Let me check.\n", [CALL, ToolCall("get_weather", {"city": "Oslo"})])
    assert text == (
        'Let me check.\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
        "</tool_call>"
    )
    assert assistant_text("plain", []) == "plain"


def test_the_rewritten_history_puts_the_instructions_after_the_system_messages() -> None:
    entries = [
        Entry("system", "Be brief."),
        Entry("user", "Weather?"),
        Entry("assistant", "", calls=(CALL,)),
        Entry("tool", result=ToolResult("call_1", "sunny")),
        Entry("tool", result=ToolResult("call_2", "cold", "get_weather", is_error=True)),
        Entry("user", "And tomorrow?"),
    ]
    messages = rewrite(entries, TOOLS)
    assert [m.role for m in messages] == ["system", "system", "user", "assistant", "user"]
    assert messages[1].text == instructions(TOOLS)
    assert messages[3].text == assistant_text("", [CALL])
    assert messages[4].text == (
        '<tool_result call_id="call_1" name="get_weather">\nsunny\n</tool_result>\n\n'
        '<tool_result call_id="call_2" name="get_weather" is_error="true">\ncold\n'
        "</tool_result>\n\nAnd tomorrow?"
    )


def test_without_tools_calls_and_results_are_still_written_out() -> None:
    messages = rewrite([Entry("user", "a"), Entry("assistant", "b", calls=(CALL,)),
                        Entry("tool", result=ToolResult("call_1", "c"))])
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert "<tool_call>" in messages[1].text and "<tool_result" in messages[2].text


def test_user_messages_without_results_stay_apart() -> None:
    assert rewrite([Entry("user", "a"), Entry("user", "b")]) == [Message("user", "a"),
                                                                Message("user", "b")]


def test_chat_completions_tool_messages_and_calls_become_entries() -> None:
    request = ChatCompletionRequest.model_validate({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    })
    chat = chat_input(request, strip_history_reasoning=True)
    assert chat.entries[1] == Entry("assistant", "", calls=(CALL,))
    assert chat.entries[2] == Entry("tool", result=ToolResult("call_1", "sunny"))
    assert chat.tools is not None and chat.tools.choice == ToolChoice("required")
    assert not chat.tools.parallel


@pytest.mark.parametrize(("tools", "problem"), [
    ([{"type": "custom", "name": "x"}], "only function tools"),
    ([{"type": "function", "function": {"name": "a"}}] * 2, "two tools are named 'a'"),
    ([{"type": "function", "function": {"description": "no name"}}], "needs a name"),
])
def test_tools_that_cannot_be_emulated_are_refused(tools: list[Any], problem: str) -> None:
    request = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools})
    with pytest.raises(InvalidRequest, match=problem):
        chat_input(request, strip_history_reasoning=True)


def test_anthropic_blocks_become_entries() -> None:
    request = MessagesRequest.model_validate({
        "model": "m", "max_tokens": 10,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "system", "content": "a note"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather",
                 "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1",
                 "content": [{"type": "text", "text": "sunny"}]},
                {"type": "text", "text": "Thanks"}]},
        ],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    })
    chat = anthropic_input(request, strip_history_reasoning=True)
    assert chat.entries == [
        Entry("system", "Be brief."),
        Entry("user", "Weather?\n\n<system>\na note\n</system>"),
        Entry("assistant", "Checking.", calls=(CALL,)),
        Entry("tool", result=ToolResult("call_1", "sunny")),
        Entry("user", "Thanks"),
    ]
    assert chat.tools == ToolSet((Tool("get_weather", "", {"type": "object"}),),
                                 ToolChoice("tool", "get_weather"), parallel=False)


def test_responses_items_become_entries_with_calls_joined_to_their_turn() -> None:
    request = ResponsesRequest.model_validate({
        "model": "m", "instructions": "Be brief.", "input": "unused",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {}}],
    })
    items = [
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    chat = responses_input(request, items, strip_history_reasoning=True)
    assert chat.entries == [
        Entry("system", "Be brief."),
        Entry("system", "Rules."),
        Entry("user", "Weather?"),
        Entry("assistant", "Checking.", calls=(CALL,)),
        Entry("tool", result=ToolResult("call_1", "sunny")),
    ]
    with pytest.raises(InvalidRequest, match="built-in tool 'file_search'"):
        responses_input(request.model_copy(update={"tools": [{"type": "file_search"}]}), items,
                        strip_history_reasoning=True)


def test_what_the_agent_apis_cannot_honour_is_named_for_the_metrics() -> None:
    messages = MessagesRequest.model_validate({
        "model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.2, "thinking": {"type": "adaptive"}, "context_management": {},
        "something_new": 1,
    })
    assert messages.ignored_parameters() == [
        "temperature", "thinking", "context_management", "other"]
    responses = ResponsesRequest.model_validate({
        "model": "m", "input": "x", "reasoning": {"effort": "low"}, "store": False,
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
    })
    assert responses.ignored_parameters() == ["reasoning", "text"]
    plain = ResponsesRequest.model_validate({"model": "m", "input": "x",
                                             "text": {"format": {"type": "text"}}})
    assert plain.ignored_parameters() == []
