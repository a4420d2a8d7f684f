"""Where a call's attachments go before it is sent: a file bed, LMArena's own upload through a
tab (modern flow), or inline as data URLs (legacy flow, or `attachment_upload: "inline"`).

Only `data:` attachments move; http(s) links are sent as they are. The plan's messages keep
the client's data URLs, so conversation continuity does not depend on where a file went.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import unquote_to_bytes

from ...arena.requests import ArenaCall, CreateCall, LegacyCall
from ...config.settings import Settings
from ...errors import InvalidRequest
from ...messages import Attachment, Message
from .arena_upload import ArenaUploader
from .filebed import FileBeds

_HEAD = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*),", re.IGNORECASE)


def data_url_bytes(url: str) -> bytes:
    head = _HEAD.match(url)
    if head is None:
        raise InvalidRequest("an attachment is not a valid data URL")
    payload = url[head.end() :]
    if ";base64" in head.group("params").lower():
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise InvalidRequest("an attachment's base64 data is not valid base64") from None
    return unquote_to_bytes(payload)


class AttachmentResolver:
    def __init__(
        self,
        settings: Callable[[], Settings],
        uploader: ArenaUploader,
        beds: Callable[[], FileBeds],
    ) -> None:
        self.settings = settings
        self.uploader = uploader
        self.beds = beds

    async def resolve(self, call: ArenaCall) -> ArenaCall:
        if isinstance(call, CreateCall) and call.attachments:
            moved = await self._all(call.attachments, modern=True)
            return replace(call, attachments=moved)
        if isinstance(call, LegacyCall) and any(m.attachments for m in call.messages):
            messages = [await self._message(m) for m in call.messages]
            return replace(call, messages=tuple(messages))
        return call

    async def _message(self, message: Message) -> Message:
        if not message.attachments:
            return message
        return replace(message, attachments=await self._all(message.attachments, modern=False))

    async def _all(self, attachments: tuple[Attachment, ...], *, modern: bool) -> tuple[
        Attachment, ...
    ]:
        return tuple(await asyncio.gather(*(self._one(a, modern) for a in attachments)))

    async def _one(self, attachment: Attachment, modern: bool) -> Attachment:
        if not attachment.url.startswith("data:"):
            return attachment
        settings = self.settings()
        if settings.file_bed_enabled:
            data = data_url_bytes(attachment.url)
            url = await self.beds().upload(data, attachment.name, attachment.content_type)
            return replace(attachment, url=url)
        if modern and settings.attachment_upload == "arena":
            data = data_url_bytes(attachment.url)
            return await self.uploader.upload(data, attachment.name, attachment.content_type)
        return attachment
