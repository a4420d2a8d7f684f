"""Reply texts a model writes when it calls tools under lmarenarev's prompt contract
(docs/tools.md), and the ways models botch them: for scripting the fake LMArena in agent tests.

    arena.enqueue(Reply(text=tool_call_text("get_weather", {"city": "Paris"}, before="Sure.")),
                  Reply(text="It is sunny in Paris."))

The form is written out here as the contract documents it (not taken from the gateway's code),
so a test that uses it checks the gateway against its documentation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

OPEN, CLOSE = "<tool_call>", "</tool_call>"

Botch = Literal["json", "unknown_tool", "no_name", "unclosed"]


def call_block(name: str, arguments: Mapping[str, Any]) -> str:
    payload = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"{OPEN}\n{payload}\n{CLOSE}"


def tool_call_text(name: str, arguments: Mapping[str, Any], *, before: str = "",
                   after: str = "") -> str:
    """One call in the contract's form, with optional text before it (and after it, which the
    gateway drops: models tend to imagine the tool's result there)."""
    return tool_calls_text([(name, arguments)], before=before, after=after)


def tool_calls_text(calls: Sequence[tuple[str, Mapping[str, Any]]], *, before: str = "",
                    after: str = "") -> str:
    """Several calls, one block after another (parallel tool calls)."""
    blocks = "\n".join(call_block(name, arguments) for name, arguments in calls)
    text = f"{before}\n{blocks}" if before else blocks
    return f"{text}\n{after}" if after else text


def botched_tool_call_text(name: str, arguments: Mapping[str, Any], how: Botch = "json", *,
                           before: str = "") -> str:
    """A call the model got wrong: `json` (single-quoted, not JSON), `unknown_tool` (a name
    that is not a tool: the name with `_x` added), `no_name`, `unclosed` (a string left open
    and the block cut: the gateway repairs this one)."""
    if how == "json":
        body = f"{{'name': '{name}', 'arguments': {dict(arguments)!r}}}"
    elif how == "unknown_tool":
        body = json.dumps({"name": f"{name}_x", "arguments": dict(arguments)})
    elif how == "no_name":
        body = json.dumps({"arguments": dict(arguments)})
    else:
        return f"{before}\n{OPEN}\n" + json.dumps({"name": name, "arguments": dict(arguments)})[:-3]
    block = f"{OPEN}\n{body}\n{CLOSE}"
    return f"{before}\n{block}" if before else block
