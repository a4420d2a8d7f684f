"""What every API's request becomes before it is planned: a model, a history of entries, the
tools it offers. Here for chat completions; chat/anthropic_input.py and chat/responses_input.py
do the same for the other two APIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..messages import Entry, chat_entries
from ..openai_schema import ChatCompletionRequest
from ..tools.spec import Tool, ToolChoice, ToolSet


@dataclass(frozen=True, slots=True)
class ChatInput:
    model: str
    entries: list[Entry]
    tools: ToolSet | None = None


def chat_input(request: ChatCompletionRequest, *, strip_history_reasoning: bool) -> ChatInput:
    entries = chat_entries(request.messages, strip_history_reasoning=strip_history_reasoning)
    return ChatInput(request.model, entries, openai_tools(request))


def openai_tools(request: ChatCompletionRequest) -> ToolSet | None:
    """`tools`/`tool_choice`/`parallel_tool_calls` (or the older `functions`/`function_call`)."""
    if request.tools:
        tools = tuple(_function_tool(item, index) for index, item in enumerate(request.tools))
        choice = _choice(request.tool_choice, "tool_choice")
    elif request.functions:
        tools = tuple(_tool(item, f"functions.{i}") for i, item in enumerate(request.functions))
        choice = _choice(request.function_call, "function_call")
    else:
        return None
    parallel = request.parallel_tool_calls is not False
    return checked(ToolSet(tools, choice, parallel), "tool_choice")


def checked(tools: ToolSet, param: str) -> ToolSet:
    """A tool set whose names are unique and whose choice names one of them."""
    names = [tool.name for tool in tools.tools]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise InvalidRequest(f"two tools are named {duplicate!r}", param="tools")
    if tools.choice.mode == "tool" and tools.choice.name not in names:
        raise InvalidRequest(
            f"{param} names the tool {tools.choice.name!r}, which is not among the tools",
            param=param,
        )
    return tools


def _function_tool(item: dict[str, Any], index: int) -> Tool:
    kind = item.get("type", "function")
    if kind != "function" or not isinstance(item.get("function"), dict):
        raise InvalidRequest(
            f"tools.{index}: only function tools can be emulated (type {kind!r} cannot)",
            param=f"tools.{index}",
        )
    return _tool(item["function"], f"tools.{index}.function")


def _tool(function: dict[str, Any], where: str) -> Tool:
    return tool(function.get("name"), function.get("description"), function.get("parameters"),
                where)


def tool(name: Any, description: Any, parameters: Any, where: str) -> Tool:
    """A tool from any API's fields, checked."""
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}: a tool needs a name", param=where)
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest(f"{where}: parameters must be a JSON Schema object", param=where)
    text = description if isinstance(description, str) else ""
    return Tool(name, text, parameters or {})


def _choice(value: str | dict[str, Any] | None, param: str) -> ToolChoice:
    if value is None or value == "auto":
        return ToolChoice("auto")
    if value in ("none", "required"):
        return ToolChoice("none" if value == "none" else "required")
    if isinstance(value, dict):
        function = value.get("function") if value.get("type") == "function" else value
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return ToolChoice("tool", function["name"])
    raise InvalidRequest(
        f"{param} must be 'auto', 'none', 'required' or a function to call", param=param
    )

