"""OpenAI messages → normalized messages (role, text, attachments), pure.

Rules from the seeds (protocol §6.6): `developer` → `system`; multimodal content split into text
(parts joined by blank lines) and attachments; tavern mode merges every system message into one
leading system message; reasoning is stripped from assistant history when asked.
"""

from __future__ import annotations

import base64
import binascii
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


def _url_attachment(url: str, filename: str | None, default_mime: str) -> Attachment:
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
        return _url_attachment(url, filename, "image/png")
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
            raise InvalidRequest(f"content part {index}: a file part needs 'file.file_data'")
        data = file["file_data"]
        filename = file.get("filename") if isinstance(file.get("filename"), str) else None
        if not data.startswith("data:"):
            guessed = mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
            data = f"data:{guessed};base64,{data}"
        return _url_attachment(data, filename, "application/octet-stream")
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


def _split_content(
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


def normalize(
    messages: list[ChatMessage], *, tavern_mode: bool, strip_history_reasoning: bool
) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        text, attachments = _split_content(message.content)
        role: NormalRole
        if message.role in ("system", "developer"):
            role = "system"
        elif message.role == "assistant":
            role = "assistant"
            if strip_history_reasoning:
                text = strip_reasoning(text)
        elif message.role in ("tool", "function"):
            role, text = "user", f"[{message.role} result]\n{text}"
        else:
            role = "user"
        out.append(Message(role, text, attachments))
    if tavern_mode:
        out = merge_system_messages(out)
    return out


def merge_system_messages(messages: list[Message]) -> list[Message]:
    systems = [m.text for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if not systems:
        return rest
    return [Message("system", "\n\n".join(systems)), *rest]


def total_attachment_bytes(messages: list[Message]) -> int:
    return sum(a.size for m in messages for a in m.attachments)
