"""Events → OpenAI's legacy `text_completion` (`/v1/completions`), as one object or a stream.

The same `Assembler` decides the text as for chat completions (images as Markdown, sources,
`<think>` blocks when reasoning is shown as tags); reasoning shown the "openai" way has no
field here, so it is left out. `echo` puts the prompt before the text.
"""

from __future__ import annotations

import json
from typing import Any

from lmarenarev.arena.events import Event
from lmarenarev.errors import GatewayError
from lmarenarev.render.common import (
    Assembler,
    RenderOptions,
    StreamAssembler,
    encode_frames,
    usage_dict,
    well_formed,
)


class TextJSON(Assembler):
    """`feed` every event, then `result()`: a `text_completion` object."""

    def __init__(self, options: RenderOptions, echo: str = "") -> None:
        super().__init__(options)
        self._text: list[str] = [echo] if echo else []

    def feed(self, event: Event) -> None:
        self._consume(event)

    def content(self) -> str:
        self._finalize()
        return well_formed("".join(self._text))

    def result(self) -> dict[str, Any]:
        choice = {
            "text": self.content(),
            "index": self.options.choice_index,
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }
        completion: dict[str, Any] = {
            "id": self.options.completion_id,
            "object": "text_completion",
            "created": self.options.created,
            "model": self.options.model,
            "choices": [choice],
        }
        if self.usage is not None:
            completion["usage"] = usage_dict(self.usage)
        return completion

    def _emit_content(self, text: str) -> None:
        self._text.append(text)

    def _emit_reasoning(self, text: str) -> None:
        pass


class TextSSE(StreamAssembler):
    """The stream of a `text_completion`: what `Completion.stream` needs of a renderer."""

    def __init__(self, options: RenderOptions, echo: str = "") -> None:
        super().__init__(options)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        envelope = {
            "id": options.completion_id,
            "object": "text_completion",
            "created": options.created,
            "model": options.model,
        }
        self._head = self._encode(envelope)[:-1] + ',"choices":['
        self._text: list[str] = []
        self.failed = False
        if echo:
            self._emit_content(echo)

    def content(self) -> str:
        return well_formed("".join(self._text))

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._finalize()
        self._closed = True
        self._choice("", self.finish_reason)
        if self.options.include_usage:
            counts = "null" if self.usage is None else self._encode(usage_dict(self.usage))
            self._frames.append(f'data: {self._head}],"usage":{counts}}}\n\n')
        self._frames.append("data: [DONE]\n\n")
        return self._take()

    def keepalive(self) -> bytes:
        return b": keep-alive\n\n"

    def fail(self, error: GatewayError) -> bytes:
        return self.error(error.message, error.type, error.code)

    def error(self, message: str, type: str, code: str | None) -> bytes:
        self._closed = self.failed = True
        payload = self._encode({"error": {"message": message, "type": type, "code": code}})
        return encode_frames(f"data: {payload}\n\ndata: [DONE]\n\n")

    def _choice(self, text: str, finish: str | None) -> None:
        choice = {
            "text": text,
            "index": self.options.choice_index,
            "logprobs": None,
            "finish_reason": finish,
        }
        self._frames.append(f"data: {self._head}{self._encode(choice)}]}}\n\n")

    def _emit_content(self, text: str) -> None:
        self._text.append(text)
        self._choice(text, None)

    def _emit_reasoning(self, text: str) -> None:
        pass

