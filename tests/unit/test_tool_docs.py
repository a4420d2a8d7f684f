"""docs/tools.md shows the texts the gateway sends, word for word: the tools' instructions,
the notes of each tool choice, a call and a result in the history, the corrective message."""

from __future__ import annotations

from pathlib import Path

from lmarenarev.messages import ToolCall, ToolResult
from lmarenarev.tools.contract import (
    assistant_text,
    correction,
    instructions,
    result_block,
    turn_note,
)
from lmarenarev.tools.spec import Tool, ToolChoice, ToolSet

DOC = (Path(__file__).resolve().parents[2] / "docs" / "tools.md").read_text("utf-8")
WEATHER = Tool(
    "get_weather",
    "The current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_the_instructions_are_the_ones_documented() -> None:
    assert f"```\n{instructions(ToolSet((WEATHER,)))}\n```" in DOC
    single = instructions(ToolSet((WEATHER,), parallel=False)).split("\n")
    assert f"rule reads `{single[-4]}`" in DOC


def test_the_notes_calls_results_and_correction_are_the_ones_documented() -> None:
    for choice in (ToolChoice("none"), ToolChoice("required"), ToolChoice("tool", WEATHER.name)):
        assert f"`{turn_note(choice)}`" in DOC
    call = ToolCall("get_weather", {"city": "Paris"})
    assert f"```\n{assistant_text('Let me check.', [call])}\n```" in DOC
    result = ToolResult("call_8f2c41d0a9b3e5f6c7d8e9a0", '{"temperature": 21, "sky": "clear"}',
                        "get_weather")
    assert f"```\n{result_block(result)}\n```" in DOC
    problem = "the arguments of 'get_weather' do not fit its schema: 'city' is a required property"
    assert f"```\n{correction([problem])}\n```" in DOC
