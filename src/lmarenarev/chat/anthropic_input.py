"""An Anthropic Messages request → what the chat service plans (chat/inputs.py).

`system` (a string or text blocks) is the system message; a message's blocks become entries:
text and images (and PDF or text documents) a message, `tool_use` an assistant's calls,
`tool_result` a tool's result; `thinking` blocks an assistant sent back are left out (the
reasoning of past turns, like `strip_reasoning_from_history` for `<think>` text). Server tools
(`web_search_…`, `bash_…`, …) cannot be emulated: a 400 says so.

Like Anthropic's API, user messages that follow each other are one turn: they are joined, so
the turn continues the LMArena session as one message. A `system` message among the messages
(Claude Code sends notes that way) is part of the user turn it is in, inside `<system>` tags.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..messages import (
    Attachment,
    Entry,
    EntryRole,
    ToolCall,
    ToolResult,
    strip_reasoning,
    url_attachment,
)
from ..tools.spec import ToolChoice, ToolSet
from ..wire.anthropic import AnthropicMessage, CountTokensRequest, MessagesRequest
from .inputs import ChatInput, checked, tool

_SKIPPED = frozenset({"thinking", "redacted_thinking"})


def anthropic_input(
    request: MessagesRequest | CountTokensRequest, *, strip_history_reasoning: bool
) -> ChatInput:
    entries = _system(request.system)
    for index, message in enumerate(request.messages):
        entries += _message(message, f"messages.{index}", strip_history_reasoning)
    return ChatInput(request.model, _joined_user_turns(entries), anthropic_tools(request))


def _joined_user_turns(entries: list[Entry]) -> list[Entry]:
    joined: list[Entry] = []
    for entry in entries:
        last = joined[-1] if joined else None
        if last is not None and entry.role == "user" == last.role:
            text = "\n\n".join(part for part in (last.text, entry.text) if part)
            joined[-1] = Entry("user", text, last.attachments + entry.attachments)
        else:
            joined.append(entry)
    return joined


def _system(system: str | list[dict[str, Any]] | None) -> list[Entry]:
    if not system:
        return []
    if isinstance(system, str):
        return [Entry("system", system)]
    texts = [_text(block, f"system.{i}") for i, block in enumerate(system)]
    return [Entry("system", "\n\n".join(texts))]


def _text(block: dict[str, Any], where: str) -> str:
    if block.get("type") != "text" or not isinstance(block.get("text"), str):
        raise InvalidRequest(f"{where}: expected a text block", param=where)
    text: str = block["text"]
    return text


class _Said:
    """The entries of one message, its text and attachments gathered between results."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.entries: list[Entry] = []
        self.texts: list[str] = []
        self.attachments: list[Attachment] = []
        self.calls: list[ToolCall] = []

    def flush(self) -> None:
        if self.texts or self.attachments or self.calls:
            text = "\n\n".join(self.texts)
            role: EntryRole = "assistant" if self.role == "assistant" else "user"
            self.entries.append(
                Entry(role, text, tuple(self.attachments), tuple(self.calls))
            )
        self.texts, self.attachments, self.calls = [], [], []


def _message(message: AnthropicMessage, where: str, strip: bool) -> list[Entry]:
    if message.role == "system":
        content = message.content
        texts = [content] if isinstance(content, str) else [
            _text(block, f"{where}.content.{i}") for i, block in enumerate(content)]
        return [Entry("user", "<system>\n" + "\n\n".join(texts) + "\n</system>")]
    if isinstance(message.content, str):
        text = message.content
        if message.role == "assistant" and strip:
            text = strip_reasoning(text)
        return [Entry(message.role, text)]
    said = _Said(message.role)
    for index, block in enumerate(message.content):
        _block(said, block, f"{where}.content.{index}", strip)
    said.flush()
    return said.entries


def _block(said: _Said, block: dict[str, Any], where: str, strip: bool) -> None:
    kind = block.get("type")
    assistant = said.role == "assistant"
    if kind == "text":
        text = _text(block, where)
        said.texts.append(strip_reasoning(text) if assistant and strip else text)
    elif kind in ("image", "document"):
        said.texts.extend(_document_text(block, where))
        said.attachments.extend(_source_attachments(block, where))
    elif kind == "tool_use" and assistant:
        if not isinstance(block.get("name"), str):
            raise InvalidRequest(f"{where}: a tool_use block needs a name", param=where)
        said.calls.append(ToolCall(block["name"], block.get("input") or {}, str(block.get("id"))))
    elif kind == "tool_result" and not assistant:
        said.flush()
        said.entries.append(_result(block, where))
    elif kind not in _SKIPPED:
        raise InvalidRequest(
            f"{where}: the content block type {kind!r} is not supported here (supported: text, "
            "image, document, tool_use, tool_result, thinking)",
            param=where,
        )


def _source_attachments(block: dict[str, Any], where: str) -> list[Attachment]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{where}: needs a source", param=where)
    if source.get("type") == "base64":
        data, media = source.get("data"), source.get("media_type") or "application/octet-stream"
        if not isinstance(data, str):
            raise InvalidRequest(f"{where}: a base64 source needs data", param=where)
        return [url_attachment(f"data:{media};base64,{data}", block.get("title"), media)]
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return [url_attachment(source["url"], block.get("title"), "application/octet-stream")]
    if source.get("type") == "text":
        return []
    raise InvalidRequest(
        f"{where}: source type {source.get('type')!r} is not supported (base64, url, text)",
        param=where,
    )


def _document_text(block: dict[str, Any], where: str) -> list[str]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise InvalidRequest(f"{where}: a text source needs data", param=where)
        return [data]
    return []


def _result(block: dict[str, Any], where: str) -> Entry:
    content = block.get("content")
    texts: list[str] = []
    attachments: list[Attachment] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            inner = f"{where}.content.{index}"
            if part.get("type") == "text":
                texts.append(_text(part, inner))
            elif part.get("type") in ("image", "document"):
                texts.extend(_document_text(part, inner))
                attachments.extend(_source_attachments(part, inner))
    result = ToolResult(str(block.get("tool_use_id") or ""), "\n\n".join(texts),
                        is_error=bool(block.get("is_error")))
    return Entry("tool", attachments=tuple(attachments), result=result)


def anthropic_tools(request: MessagesRequest | CountTokensRequest) -> ToolSet | None:
    if not request.tools:
        return None
    tools = []
    for index, item in enumerate(request.tools):
        kind = item.get("type")
        where = f"tools.{index}"
        if kind not in (None, "custom"):
            raise InvalidRequest(
                f"{where}: the server tool {kind!r} cannot be emulated on LMArena's models; "
                "only client tools (name, description, input_schema) can",
                param=where,
            )
        tools.append(tool(item.get("name"), item.get("description"), item.get("input_schema"),
                          where))
    choice, parallel = _choice(request.tool_choice)
    return checked(ToolSet(tuple(tools), choice, parallel), "tool_choice")


def _choice(value: dict[str, Any] | None) -> tuple[ToolChoice, bool]:
    if value is None:
        return ToolChoice("auto"), True
    parallel = not value.get("disable_parallel_tool_use", False)
    kind = value.get("type")
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "none":
        return ToolChoice("none"), parallel
    if kind == "tool" and isinstance(value.get("name"), str):
        return ToolChoice("tool", value["name"]), parallel
    raise InvalidRequest(
        "tool_choice.type must be auto, any, tool (with a name) or none", param="tool_choice"
    )
