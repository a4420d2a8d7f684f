"""Request limits checked before any job is sent (the body size is checked while reading it).

Each error names the limit and the setting that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arena.requests import ArenaCall, CreateCall, LegacyCall
from ..errors import InvalidRequest, PayloadTooLarge
from ..messages import Message, total_attachment_bytes


class TooManyMessages(InvalidRequest):
    code = "too_many_messages"


class PromptTooLong(InvalidRequest):
    code = "context_length_exceeded"  # OpenAI's code for a prompt over the model's limit


class AttachmentsTooLarge(PayloadTooLarge):
    code = "attachments_too_large"


@dataclass(frozen=True, slots=True)
class Limits:
    max_messages: int
    max_attachment_bytes: int
    max_prompt_chars: int

    def check_message_count(self, count: int) -> None:
        if count > self.max_messages:
            raise TooManyMessages(
                f"the request has {count} messages; the limit is {self.max_messages} "
                "(setting max_messages)",
                param="messages",
            )

    def check_attachments(self, messages: list[Message]) -> None:
        size = total_attachment_bytes(messages)
        if size > self.max_attachment_bytes:
            raise AttachmentsTooLarge(
                f"the attachments total {size} bytes; the limit is {self.max_attachment_bytes} "
                "bytes (setting max_attachment_bytes)",
                param="messages",
            )

    def check_prompt(self, call: ArenaCall) -> None:
        chars = prompt_chars(call)
        if chars > self.max_prompt_chars:
            raise PromptTooLong(
                f"the prompt sent to LMArena would be {chars} characters; the limit is "
                f"{self.max_prompt_chars} (setting max_prompt_chars; LMArena rejects very long "
                "prompts)",
                param="messages",
            )


def prompt_chars(call: ArenaCall) -> int:
    """Characters of text the call sends upstream (a retry sends none)."""
    if isinstance(call, CreateCall):
        return len(call.prompt)
    if isinstance(call, LegacyCall):
        extra = len(call.injection.content) if call.injection is not None else 0
        return sum(len(m.text) for m in call.messages) + extra
    return 0
