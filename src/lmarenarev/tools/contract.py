"""The prompt contract (docs/tools.md shows it whole): what the model is told, the exact form it
is asked to answer in, and how calls and results appear in a history.

A call is a block of its own lines:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

and a result comes back in the next user message as

    <tool_result call_id="call_…" name="get_weather">
    …
    </tool_result>

The assistant's turn with calls is always written the same way (`assistant_text`), whether it is
the reply the gateway remembers or the history a client sends back: that is what lets the next
turn continue the same LMArena session (chat/conversation.py hashes the history).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from ..messages import ToolCall, ToolResult
from .spec import ToolChoice, ToolSet

OPEN = "<tool_call>"
CLOSE = "</tool_call>"

_FORM = f"""{OPEN}
{{"name": "<tool name>", "arguments": {{<the arguments: a JSON object>}}}}
{CLOSE}"""

_PARALLEL = {
    True: "- To call several tools at once, write several blocks, one after another.",
    False: "- Call at most one tool per answer.",
}


def arguments_json(arguments: Any) -> str:
    """Arguments as JSON text, the one way every API and the history write them."""
    if isinstance(arguments, str):  # a client's string that was not JSON: kept as it is
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def tool_line(name: str, description: str, parameters: dict[str, Any]) -> str:
    entry = {"name": name, "description": description, "parameters": parameters}
    return json.dumps(entry, ensure_ascii=False)


def instructions(tools: ToolSet) -> str:
    """The system text that offers the tools and asks for the contract's form."""
    lines = "\n".join(tool_line(t.name, t.description, t.parameters) for t in tools.tools)
    return f"""# Tools

You can call tools. These are the tools, one JSON object per line (the name, what it does, \
and the JSON Schema of its arguments):

<tools>
{lines}
</tools>

To call a tool, write a block in exactly this form, starting on a line of its own:

{_FORM}

Rules:
- The block holds one JSON object with "name" and "arguments"; the arguments follow the \
tool's schema. Write valid JSON, no comments.
{_PARALLEL[tools.parallel]}
- You may write a short message before the first block. Stop right after the last block: \
the results come back in the next message, as <tool_result> blocks.
- When you need no tool, answer normally, without any block.
- Write "{OPEN}" only to call a tool."""


def turn_note(choice: ToolChoice) -> str | None:
    """What this turn's message adds for a choice other than `auto` (sent, never remembered:
    the history a client sends next does not carry it)."""
    if choice.mode == "none":
        return "(Answer this message without calling any tool.)"
    if choice.mode == "required":
        return f"(Answer this message by calling at least one tool, in the {OPEN} form.)"
    if choice.mode == "tool":
        return f'(Answer this message by calling the tool "{choice.name}", in the {OPEN} form.)'
    return None


def call_block(call: ToolCall) -> str:
    name = json.dumps(call.name, ensure_ascii=False)
    return f'{OPEN}\n{{"name": {name}, "arguments": {arguments_json(call.arguments)}}}\n{CLOSE}'


def assistant_text(text: str, calls: Sequence[ToolCall]) -> str:
    """An assistant turn as the model sees it in a history, and as the gateway remembers it."""
    if not calls:
        return text
    blocks = "\n".join(call_block(call) for call in calls)
    said = text.strip()
    return f"{said}\n\n{blocks}" if said else blocks


def result_block(result: ToolResult) -> str:
    attributes = f'call_id="{html.escape(result.call_id)}"'
    if result.name:
        attributes += f' name="{html.escape(result.name)}"'
    if result.is_error:
        attributes += ' is_error="true"'
    return f"<tool_result {attributes}>\n{result.content}\n</tool_result>"


def correction(problems: Sequence[str]) -> str:
    """The one corrective message a botched reply gets, in the same session (docs/tools.md)."""
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "Your last answer's tool call could not be used:\n"
        f"{listed}\n"
        f"Answer again with only the corrected {OPEN} block(s), in the form the instructions "
        "give, and nothing else."
    )
