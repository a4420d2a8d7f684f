"""Finding tool calls in a reply (tools/detect.py, tools/blocks.py): the contract's form, the
tolerated variants, the botched ones, look-alikes that stay text, and any chunking of a reply
giving the same text and calls as the whole reply."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lmarenarev.messages import ToolCall
from lmarenarev.tools.contract import assistant_text, call_block
from lmarenarev.tools.detect import CallDetector, find_calls
from lmarenarev.tools.spec import Tool, ToolChoice, ToolSet

WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
ANYTHING = Tool("note", "Keeps a note", {})
TOOLS = ToolSet((WEATHER, ANYTHING))


def block(name: str, arguments: Any) -> str:
    return call_block(ToolCall(name, arguments))


def test_a_call_in_the_contracts_form_is_found_and_the_text_before_it_kept() -> None:
    reply = f"Let me look.\n{block('get_weather', {'city': 'Paris'})}"
    text, verdict = find_calls(reply, TOOLS)
    assert text == "Let me look.\n"
    assert verdict.calls == (ToolCall("get_weather", {"city": "Paris"}),)
    assert not verdict.botched


def test_text_after_the_last_call_is_not_part_of_the_answer() -> None:
    reply = block("note", {"text": "x"}) + "\nThe note says: (imagined result)"
    text, verdict = find_calls(reply, TOOLS)
    assert text == "" and verdict.calls == (ToolCall("note", {"text": "x"}),)


def test_several_blocks_are_several_calls_unless_parallel_calls_are_off() -> None:
    reply = block("note", {"a": 1}) + "\n" + block("get_weather", {"city": "Oslo"})
    assert len(find_calls(reply, TOOLS)[1].calls) == 2
    single = ToolSet(TOOLS.tools, parallel=False)
    assert find_calls(reply, single)[1].calls == (ToolCall("note", {"a": 1}),)


def test_code_fences_around_or_inside_the_block_are_tolerated() -> None:
    outer = '```xml\n<tool_call>\n{"name": "note", "arguments": {}}\n</tool_call>\n```\n'
    inner = '<tool_call>\n```json\n{"name": "note", "arguments": {}}\n```\n</tool_call>'
    for reply in (outer, inner):
        text, verdict = find_calls("Sure.\n" + reply, TOOLS)
        assert text == "Sure.\n" and verdict.calls == (ToolCall("note", {}),), reply


def test_small_json_mistakes_are_repaired() -> None:
    replies = [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome",},}\n</tool_call>',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"\n</tool_call>',
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}',  # no close marker
        '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}',
        '<tool_call>\n{"tool": "get_weather", "parameters": {"city": "Rome"}}\n</tool_call>',
        '<tool_call>\n{"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Ro\nme"}}\n</tool_call>',
    ]
    for reply in replies:
        _, verdict = find_calls(reply, TOOLS)
        assert len(verdict.calls) == 1 and verdict.calls[0].name == "get_weather", reply
        assert verdict.calls[0].arguments["city"].replace("\n", "") == "Rome"


def test_strings_holding_braces_and_markers_do_not_end_the_json() -> None:
    arguments = {"text": 'a } ] " </tool_call> {', "n": [1, {"b": "}"}]}
    _, verdict = find_calls(block("note", arguments) + "\n", TOOLS)
    assert verdict.calls == (ToolCall("note", arguments),)


def test_botched_calls_say_what_is_wrong_and_keep_the_text_as_written() -> None:
    cases = {
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": \'Rome\'}}\n</tool_call>':
            "not valid",
        block("get_wether", {"city": "Rome"}): "there is no tool 'get_wether'",
        block("get_weather", {"town": "Rome"}): "'city' is a required property",
        block("get_weather", {"city": "Rome", "days": "two"}): "at days",
        '<tool_call>\n{"arguments": {}}\n</tool_call>': 'no "name"',
        '<tool_call>\n{"name": "note", "arguments": [1]}\n</tool_call>': "JSON object",
    }
    for reply, problem in cases.items():
        text, verdict = find_calls("Checking.\n" + reply, TOOLS)
        assert text == "Checking.\n" and verdict.calls == ()
        assert verdict.botched and problem in verdict.problems[0], (reply, verdict.problems)
        assert verdict.held == reply


def test_marker_look_alikes_stay_text() -> None:
    replies = [
        "To call a tool, write `<tool_call>` and JSON.",
        'In prose: <tool_call>{"name": "note"} is the form.',
        "<tool_call> is the marker the contract uses.\nNothing else.",
        "```\n<tool_call>\nnot json\n```",
        "<tool_call",
        "<tool_call>",
    ]
    for reply in replies:
        assert find_calls(reply, TOOLS) == (reply, find_calls("", TOOLS)[1]), reply


def test_a_required_call_that_did_not_come_is_a_problem() -> None:
    required = ToolSet(TOOLS.tools, ToolChoice("required"))
    assert find_calls("No tools today.", required)[1].problems
    named = ToolSet(TOOLS.tools, ToolChoice("tool", "get_weather"))
    assert "must call 'get_weather'" in find_calls(block("note", {}), named)[1].problems[0]
    assert find_calls(block("get_weather", {"city": "a"}), named)[1].calls


def test_text_is_held_back_only_while_a_line_could_start_a_call() -> None:
    detector = CallDetector(TOOLS)
    assert detector.feed("Hello <tool") == "Hello <tool"  # not at a line start
    assert detector.feed("_call> there\n") == "_call> there\n"
    assert detector.feed("<tool_") == ""
    assert detector.feed("call>") == ""
    assert detector.feed(" (that was the marker)\n") == "<tool_call> (that was the marker)\n"
    assert detector.feed("```") == ""
    assert detector.feed("python\nprint()\n") == "```python\nprint()\n"
    assert detector.feed('<tool_call>\n{"na') == ""
    assert detector.feed('me": "note", "arguments": {}}\n</tool_call>') == ""
    rest, verdict = detector.close()
    assert rest == "" and verdict.calls == (ToolCall("note", {}),)


# --- properties ---------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)
_arguments = st.dictionaries(st.text(max_size=6), _json_values, max_size=3)
_noise = st.text(alphabet="ab <>_{}`\"\n:tolcal/", max_size=30)
_look_alikes = st.sampled_from(["<tool_call>", "`<tool_call>`", "<tool_call", "```", "```json\n",
                                "</tool_call>", "{", "\n<tool_call> x\n", "\n```\n<tool_call>\n"])
_blocks = st.builds(lambda arguments: block("note", arguments), _arguments)
_botched = st.sampled_from(['\n<tool_call>\n{"name": "nope"}\n', '\n<tool_call>\n{"name": ',
                            "\n<tool_call>\n{'name': 'note'}\n</tool_call>\n"])
_replies = st.lists(st.one_of(_noise, _look_alikes, _blocks.map(lambda b: f"\n{b}\n"), _botched),
                    max_size=6).map("".join)


def chunked(text: str, cuts: list[int]) -> tuple[str, Any]:
    detector = CallDetector(TOOLS)
    bounds = sorted({0, len(text), *(cut % (len(text) + 1) for cut in cuts)})
    said = "".join(detector.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    rest, verdict = detector.close()
    return said + rest, verdict


@settings(max_examples=400, deadline=None)
@given(_replies, st.lists(st.integers(min_value=0), max_size=12))
def test_any_chunking_of_a_reply_gives_the_same_text_and_calls(reply: str, cuts: list[int]) -> None:
    assert chunked(reply, cuts) == find_calls(reply, TOOLS)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc <>_{}`\"\n:tolcal/", max_size=40))
def test_text_without_a_marker_at_a_line_start_before_json_is_all_text(reply: str) -> None:
    lines = reply.split("\n")
    if any(line.lstrip(" \t\r`json").startswith("<tool_call>") for line in lines):
        return
    text, verdict = find_calls(reply, TOOLS)
    assert text == reply and verdict.calls == () and verdict.held == ""


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="Hello world.\n", max_size=30), st.lists(_arguments, min_size=1,
                                                                  max_size=3))
def test_a_remembered_turn_reads_back_as_the_same_calls(text: str, arguments: list[Any]) -> None:
    calls = tuple(ToolCall("note", item) for item in arguments)
    said, verdict = find_calls(assistant_text(text, calls), TOOLS)
    assert verdict.calls == calls and not verdict.botched
    assert said.strip() == text.strip()
    assert json.loads(json.dumps([c.arguments for c in verdict.calls])) == arguments
