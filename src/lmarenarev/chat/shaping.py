"""The seeds' attachment tricks, as pure functions over normalized messages.

- Markdown images in assistant history become attachments of that message (so a model can see
  the image it made when the history is sent again); a `data:` image is also taken out of the
  text, which would otherwise carry megabytes of base64 into the prompt.
- `--bypass` at the end of the last user message that carries images (LMArenaBridge): the images
  move to an empty assistant message inserted before it (and a leading "Hi" user message when the
  history would start with the assistant), to keep them out of the user's moderation.
- `image_attachment_bypass_enabled` (mogai, image models): the last user message's images go in
  a message of their own (" ") before its text.

Only the legacy flow sends several messages; the modern flow sends one, so there only the first
applies (to a history folded into a new session), and the `--bypass` marker is removed.

The bypass injection in the modern flow (`with_injection`, docs/conversations.md): a `system`
injection is part of the first message of a session, with the system prompt; a `user` or
`assistant` one is a message of its own after the newest user message, folded with it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import replace

from ..arena.requests import Injection
from ..messages import Attachment, Message, NormalRole

BYPASS_SUFFIX = "--bypass"
_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*(data:[^)\s]+|https?://[^)\s]+)\s*\)")
_DATA_URL_HEAD = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,")


def _image_attachment(url: str) -> Attachment:
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    if url.startswith("data:"):
        head = _DATA_URL_HEAD.match(url)
        mime = (head.group(1) if head and head.group(1) else "image/png").lower()
        payload = url[head.end() :] if head else url
        encoded = bool(head and head.group(2) and "base64" in head.group(2))
        size = len(payload) * 3 // 4 - payload[-2:].count("=") if encoded else len(payload)
    else:
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/png"
        size = 0
    ext = mimetypes.guess_extension(mime) or ".png"
    return Attachment(name=f"image_{digest}{ext}", content_type=mime, url=url, size=size)


def assistant_images(message: Message) -> Message:
    """An assistant message with its markdown images as attachments (pure, deterministic)."""
    if message.role != "assistant" or "![" not in message.text:
        return message
    found: list[Attachment] = []

    def take(match: re.Match[str]) -> str:
        attachment = _image_attachment(match.group(2))
        found.append(attachment)
        if match.group(2).startswith("data:"):
            return f"[image: {attachment.name}]"
        return match.group(0)

    text = _MARKDOWN_IMAGE.sub(take, message.text)
    if not found:
        return message
    return replace(message, text=text, attachments=(*message.attachments, *found))


def history_images(messages: list[Message]) -> list[Message]:
    return [assistant_images(m) for m in messages]


def has_images(message: Message) -> bool:
    return any(a.content_type.startswith("image/") for a in message.attachments)


def take_bypass_suffix(messages: list[Message]) -> tuple[list[Message], bool]:
    """(messages with the marker removed, whether it was there) — only for a last user message
    that ends with `--bypass` and carries images, as the seed did."""
    if not messages or messages[-1].role != "user":
        return messages, False
    last = messages[-1]
    text = last.text.rstrip()
    if not text.endswith(BYPASS_SUFFIX) or not has_images(last):
        return messages, False
    return [*messages[:-1], replace(last, text=text[: -len(BYPASS_SUFFIX)].rstrip())], True


def bypass_images(messages: list[Message]) -> list[Message]:
    """The seed's `--bypass`: the last user message's attachments on a fake assistant message
    just before it; a leading "Hi" when the history would start with the assistant."""
    last = messages[-1]
    fake = Message("assistant", "", last.attachments)
    shaped = [*messages[:-1], fake, replace(last, attachments=())]
    if shaped[0].role == "assistant":
        shaped.insert(0, Message("user", "Hi"))
    return shaped


def split_image_attachments(messages: list[Message]) -> list[Message]:
    """mogai's `image_attachment_bypass_enabled`: images first, alone, then the text."""
    index = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if index is None:
        return messages
    message = messages[index]
    if not has_images(message) or not message.text.strip():
        return messages
    images = Message("user", " ", message.attachments)
    text = replace(message, attachments=())
    return [*messages[:index], images, text, *messages[index + 1 :]]


def with_injection(
    messages: list[Message], injection: Injection | None, *, first_of_session: bool
) -> list[Message]:
    """The messages to fold for the modern flow, with the bypass injection placed by its role:
    `system` after the system messages that open a new session (a follow-up has it already:
    LMArena keeps the session's first message; blank, it adds nothing); `user`/`assistant` a
    message of its own at the end, every turn (blank too: an empty last turn, as the seed's
    `default` preset sends)."""
    if injection is None:
        return messages
    if injection.role == "system":
        if not first_of_session or not injection.content.strip():
            return messages
        head = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        return [*messages[:head], Message("system", injection.content), *messages[head:]]
    role: NormalRole = "assistant" if injection.role == "assistant" else "user"
    return [*messages, Message(role, injection.content)]
