"""Events → one OpenAI `chat.completion` object (non-streaming responses)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmarenarev.arena.events import Event
from lmarenarev.messages import ToolCall
from lmarenarev.render.common import Assembler, RenderOptions, call_id, usage_dict, well_formed
from lmarenarev.tools.contract import arguments_json


def openai_tool_call(call: ToolCall, id: str) -> dict[str, Any]:
    function = {"name": call.name, "arguments": arguments_json(call.arguments)}
    return {"id": id, "type": "function", "function": function}


class JSONRenderer(Assembler):
    """`feed` every event, then read `result()` / `content()` once the upstream body ended."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: list[dict[str, Any]] = []

    def feed(self, event: Event) -> None:
        self._consume(event)

    def content(self) -> str:
        """The final reply as the log and the conversation store keep it."""
        self._finalize()
        return super().content()

    def _said(self) -> str:
        return "".join(self._content)

    def result(self) -> dict[str, Any]:
        self._finalize()
        text = well_formed(self._said())
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self._reasoning:
            message["reasoning_content"] = well_formed("".join(self._reasoning))
        if self._tool_calls:
            message["content"] = text or None  # as OpenAI answers a reply of calls only
            message["tool_calls"] = self._tool_calls
        completion: dict[str, Any] = {
            "id": self.options.completion_id,
            "object": "chat.completion",
            "created": self.options.created,
            "model": self.options.model,
            "choices": [
                {
                    "index": self.options.choice_index,
                    "message": message,
                    "finish_reason": self.finish_reason,
                }
            ],
        }
        if self.usage is not None:
            completion["usage"] = usage_dict(self.usage)
        return completion

    def _emit_content(self, text: str) -> None:
        self._content.append(text)

    def _emit_reasoning(self, text: str) -> None:
        self._reasoning.append(text)

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        self._tool_calls = [openai_tool_call(call, call_id("call_")) for call in calls]
