"""OpenAI messages → normalized messages (role, text, attachments), pure.

Rules from the seeds (protocol §6.6): `developer` → `system`; multimodal content split into text
(parts joined by blank lines) and attachments; tavern mode merges every system message into one
leading system message; reasoning is stripped from assistant history when asked.

Every API's history is first a list of `Entry`s (a message, or an assistant's tool calls, or a
tool's result: the vocabulary the three APIs share); tools/history.py rewrites them as the text
messages LMArena takes (docs/tools.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .arena.ids import uuid4
from .errors import InvalidRequest
from .openai_schema import ChatMessage

NormalRole = Literal["system", "user", "assistant"]

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[^;,]*)*)(?P<b64>;base64)?,",
    re.IGNORECASE,
)
_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An `experimental_attachments` item (protocol §5.1)."""

    name: str
    content_type: str
    url: str
    size: int

    def wire(self) -> dict[str, str]:
        return {"name": self.name, "contentType": self.content_type, "url": self.url}


@dataclass(frozen=True, slots=True)
class Message:
    role: NormalRole
    text: str
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call an assistant made: `arguments` is the parsed JSON value (an object, normally)."""

    name: str
    arguments: Any
    id: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool answered to the call `call_id`."""

    call_id: str
    content: str
    name: str = ""
    is_error: bool = False


EntryRole = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a history as a client sent it, in any API: a message (`text`,
    `attachments`), with the tool calls of an assistant (`calls`), or a tool's `result`."""

    role: EntryRole
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    calls: tuple[ToolCall, ...] = ()
    result: ToolResult | None = None


def _data_url_attachment(url: str, filename: str | None, default_mime: str) -> Attachment:
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(
            "attachments must be data URLs (data:<type>;base64,...) or http(s) URLs"
        )
    mime = (match.group("mime") or default_mime).lower()
    payload = url[match.end() :]
    if match.group("b64"):
        try:
            size = len(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest("an attachment's base64 data is not valid base64") from None
    else:
        size = len(payload)
    name = filename or f"file_{uuid4()}{mimetypes.guess_extension(mime) or ''}"
    return Attachment(name=name, content_type=mime, url=url, size=size)


def url_attachment(url: str, filename: str | None, default_mime: str) -> Attachment:
    if url.startswith("data:"):
        return _data_url_attachment(url, filename, default_mime)
    if url.startswith(("http://", "https://")):
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
        name = filename or url.rsplit("/", 1)[-1].split("?", 1)[0] or f"file_{uuid4()}"
        return Attachment(name=name, content_type=mime, url=url, size=0)
    raise InvalidRequest("attachments must be data URLs (data:<type>;base64,...) or http(s) URLs")


def _part_text_or_attachment(part: dict[str, Any], index: int) -> str | Attachment:
    kind = part.get("type")
    if kind in ("text", "input_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"content part {index}: a text part needs a string 'text'")
        return text
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise InvalidRequest(f"content part {index}: image_url needs a 'url'")
        detail = image.get("detail") if isinstance(image, dict) else None
        # The seed used `detail` to carry a file name (protocol §5.1 legacy).
        filename = detail if isinstance(detail, str) and "." in detail else None
        return url_attachment(url, filename, "image/png")
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
            raise InvalidRequest(f"content part {index}: a file part needs 'file.file_data'")
        data = file["file_data"]
        filename = file.get("filename") if isinstance(file.get("filename"), str) else None
        if not data.startswith("data:"):
            guessed = mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
            data = f"data:{guessed};base64,{data}"
        return url_attachment(data, filename, "application/octet-stream")
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise InvalidRequest(f"content part {index}: input_audio needs 'data'")
        fmt = audio.get("format") if isinstance(audio.get("format"), str) else "wav"
        return _data_url_attachment(f"data:audio/{fmt};base64,{audio['data']}", None, "audio/wav")
    raise InvalidRequest(
        f"content part {index}: unsupported type {kind!r} "
        "(supported: text, image_url, file, input_audio)",
        param="messages",
    )


def split_content(
    content: str | list[dict[str, Any]] | None,
) -> tuple[str, tuple[Attachment, ...]]:
    if content is None:
        return "", ()
    if isinstance(content, str):
        return content, ()
    texts: list[str] = []
    attachments: list[Attachment] = []
    for index, part in enumerate(content):
        item = _part_text_or_attachment(part, index)
        if isinstance(item, Attachment):
            attachments.append(item)
        else:
            texts.append(item)
    return "\n\n".join(texts), tuple(attachments)


def strip_reasoning(text: str) -> str:
    return _THINK_BLOCK.sub("", text)


def chat_entries(messages: list[ChatMessage], *, strip_history_reasoning: bool) -> list[Entry]:
    """A chat completion's messages as entries: `developer` is `system`; an assistant's
    `tool_calls` (or legacy `function_call`) are its calls; `tool` (or legacy `function`)
    messages are results."""
    out: list[Entry] = []
    for message in messages:
        text, attachments = split_content(message.content)
        if message.role in ("system", "developer"):
            out.append(Entry("system", text, attachments))
        elif message.role == "assistant":
            if strip_history_reasoning:
                text = strip_reasoning(text)
            out.append(Entry("assistant", text, attachments, _chat_calls(message)))
        elif message.role == "tool":
            result = ToolResult(message.tool_call_id or "", text, message.name or "")
            out.append(Entry("tool", attachments=attachments, result=result))
        elif message.role == "function":
            name = message.name or ""
            out.append(Entry("tool", attachments=attachments, result=ToolResult(name, text, name)))
        else:
            out.append(Entry("user", text, attachments))
    return out


def _chat_calls(message: ChatMessage) -> tuple[ToolCall, ...]:
    wire = list(message.tool_calls or [])
    if message.function_call is not None:
        wire.append({"id": "", "function": message.function_call})
    calls: list[ToolCall] = []
    for index, item in enumerate(wire):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"an assistant's tool call {index} needs function.name", param="messages"
            )
        call_id = item.get("id")
        arguments = parse_arguments(function.get("arguments"))
        ident = call_id if isinstance(call_id, str) else ""
        calls.append(ToolCall(function["name"], arguments, ident))
    return tuple(calls)


def parse_arguments(arguments: Any) -> Any:
    """A call's arguments as a client sent them back: a JSON string (OpenAI) parsed, an object
    kept; a string that is not JSON stays a string (written back as it is)."""
    if arguments is None:
        return {}
    if not isinstance(arguments, str):
        return arguments
    if not arguments.strip():
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def merge_system_messages(messages: list[Message]) -> list[Message]:
    systems = [m.text for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if not systems:
        return rest
    return [Message("system", "\n\n".join(systems)), *rest]


def total_attachment_bytes(messages: list[Message]) -> int:
    return sum(a.size for m in messages for a in m.attachments)
