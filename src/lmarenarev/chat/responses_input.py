"""A Responses API request → what the chat service plans (chat/inputs.py).

`instructions` is the system message; input items become entries: messages (`input_text`,
`input_image`, `input_file`; an assistant's `output_text`), `function_call` items the calls of
the assistant turn they follow, `function_call_output` items results; `reasoning` items are
left out. With `previous_response_id` the stored conversation comes first (chat/response_store.py).
Built-in tools (web search, file search, code interpreter, …) cannot be emulated: a 400 says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidRequest
from ..messages import (
    Attachment,
    Entry,
    ToolCall,
    ToolResult,
    parse_arguments,
    strip_reasoning,
    url_attachment,
)
from ..tools.spec import ToolChoice, ToolSet
from ..wire.responses import ResponsesRequest
from .inputs import ChatInput, checked, tool

_SKIPPED = frozenset({"reasoning"})
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def responses_input(
    request: ResponsesRequest, items: Sequence[dict[str, Any]], *, strip_history_reasoning: bool
) -> ChatInput:
    """`items`: the whole conversation (a stored one's, then this request's input)."""
    entries = [Entry("system", request.instructions)] if request.instructions else []
    for index, item in enumerate(items):
        _item(entries, item, f"input.{index}", strip_history_reasoning)
    return ChatInput(request.model, entries, responses_tools(request))


def _item(entries: list[Entry], item: dict[str, Any], where: str, strip: bool) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        entries.append(_message(item, where, strip))
    elif kind == "function_call":
        call = ToolCall(str(item.get("name") or ""), parse_arguments(item.get("arguments")),
                        str(item.get("call_id") or ""))
        if not call.name:
            raise InvalidRequest(f"{where}: a function_call needs a name", param=where)
        last = entries[-1] if entries else None
        if last is not None and last.role == "assistant":  # the turn's text, then its calls
            entries[-1] = Entry("assistant", last.text, last.attachments, (*last.calls, call))
        else:
            entries.append(Entry("assistant", calls=(call,)))
    elif kind == "function_call_output":
        text, attachments = _parts(item.get("output"), where)
        result = ToolResult(str(item.get("call_id") or ""), text)
        entries.append(Entry("tool", attachments=attachments, result=result))
    elif kind not in _SKIPPED:
        raise InvalidRequest(
            f"{where}: the input item type {kind!r} is not supported here (supported: message, "
            "function_call, function_call_output, reasoning)",
            param=where,
        )


def _message(item: dict[str, Any], where: str, strip: bool) -> Entry:
    role = _ROLES.get(str(item.get("role")))
    if role is None:
        raise InvalidRequest(f"{where}: unknown role {item.get('role')!r}", param=where)
    text, attachments = _parts(item.get("content"), where)
    if role == "assistant":
        return Entry("assistant", strip_reasoning(text) if strip else text, attachments)
    return Entry("system" if role == "system" else "user", text, attachments)


def _parts(content: Any, where: str) -> tuple[str, tuple[Attachment, ...]]:
    if content is None:
        return "", ()
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: content must be a string or a list of parts", param=where)
    texts: list[str] = []
    attachments: list[Attachment] = []
    for index, part in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "refusal"):
            value = part.get("text", part.get("refusal"))
            if not isinstance(value, str):
                raise InvalidRequest(f"{inner}: a text part needs text", param=inner)
            texts.append(value)
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            attachments.append(url_attachment(part["image_url"], None, "image/png"))
        elif kind == "input_file":
            attachments.append(_file(part, inner))
        else:
            raise InvalidRequest(
                f"{inner}: unsupported part {kind!r} (input_text, input_image with an "
                "image_url, input_file with file_data or file_url, output_text)",
                param=inner,
            )
    return "\n\n".join(texts), tuple(attachments)


def _file(part: dict[str, Any], where: str) -> Attachment:
    name = part.get("filename") if isinstance(part.get("filename"), str) else None
    data = part.get("file_data")
    if isinstance(data, str):
        if not data.startswith("data:"):
            data = f"data:application/octet-stream;base64,{data}"
        return url_attachment(data, name, "application/octet-stream")
    if isinstance(part.get("file_url"), str):
        return url_attachment(part["file_url"], name, "application/octet-stream")
    raise InvalidRequest(f"{where}: an input_file needs file_data or file_url", param=where)


def responses_tools(request: ResponsesRequest) -> ToolSet | None:
    if not request.tools:
        return None
    tools = []
    for index, item in enumerate(request.tools):
        where = f"tools.{index}"
        kind = item.get("type")
        if kind != "function":
            raise InvalidRequest(
                f"{where}: the built-in tool {kind!r} cannot be emulated on LMArena's models; "
                "only function tools can",
                param=where,
            )
        tools.append(tool(item.get("name"), item.get("description"), item.get("parameters"),
                          where))
    choice = _choice(request.tool_choice)
    parallel = request.parallel_tool_calls is not False
    return checked(ToolSet(tuple(tools), choice, parallel), "tool_choice")


def _choice(value: str | dict[str, Any] | None) -> ToolChoice:
    if value is None or value == "auto":
        return ToolChoice("auto")
    if value == "none":
        return ToolChoice("none")
    if value == "required":
        return ToolChoice("required")
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(
        value.get("name"), str
    ):
        return ToolChoice("tool", value["name"])
    raise InvalidRequest(
        "tool_choice must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": …}",
        param="tool_choice",
    )
