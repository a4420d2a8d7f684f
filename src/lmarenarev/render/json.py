"""Events → one OpenAI `chat.completion` object (non-streaming responses)."""

from __future__ import annotations

from typing import Any

from lmarenarev.arena.events import Event
from lmarenarev.render.common import Assembler, RenderOptions, usage_dict, well_formed


class JSONRenderer(Assembler):
    """`feed` every event, then read `result()` / `content()` once the upstream body ended."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._content: list[str] = []
        self._reasoning: list[str] = []

    def feed(self, event: Event) -> None:
        self._consume(event)

    def content(self) -> str:
        """The final content, exactly as in `result()`."""
        self._finalize()
        return well_formed("".join(self._content))

    def result(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content()}
        if self._reasoning:
            message["reasoning_content"] = well_formed("".join(self._reasoning))
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
