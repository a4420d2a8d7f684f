"""A history with tool calls and results, rewritten as the text messages LMArena takes.

- The tools' instructions (contract.instructions) become a system message after the leading
  system messages.
- An assistant's calls become its text followed by one block per call (contract.assistant_text),
  exactly as the gateway remembers a reply with calls, so the next turn continues the session.
- A tool's result becomes a `<tool_result>` block in a user message; results that follow each
  other, and the user text that comes with them, are one user message (one turn, the way
  LMArena's session takes it). A result without the tool's name (OpenAI's `tool` messages)
  gets the name of the call it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..messages import Entry, Message
from .contract import assistant_text, instructions, result_block
from .spec import ToolSet


def rewrite(entries: Sequence[Entry], tools: ToolSet | None = None) -> list[Message]:
    messages: list[Message] = []
    results: list[bool] = []  # per message: does it carry a tool's result
    names = {call.id: call.name for entry in entries for call in entry.calls if call.id}
    for entry in entries:
        is_result = entry.role == "tool" and entry.result is not None
        if entry.role == "assistant":
            message = Message("assistant", assistant_text(entry.text, entry.calls),
                              entry.attachments)
        elif entry.role == "system":
            message = Message("system", entry.text, entry.attachments)
        elif is_result:
            result = entry.result
            assert result is not None
            if not result.name and result.call_id in names:
                result = replace(result, name=names[result.call_id])
            message = Message("user", result_block(result), entry.attachments)
        else:
            message = Message("user", entry.text, entry.attachments)
        previous = messages[-1] if messages else None
        if (
            previous is not None
            and previous.role == "user" == message.role
            and (is_result or results[-1])
        ):
            messages[-1] = _joined(previous, message)
            results[-1] = True
            continue
        messages.append(message)
        results.append(is_result)
    if tools is not None and tools.tools:
        leading = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        messages.insert(leading, Message("system", instructions(tools)))
    return messages


def _joined(first: Message, second: Message) -> Message:
    text = "\n\n".join(part for part in (first.text, second.text) if part)
    return Message("user", text, first.attachments + second.attachments)
