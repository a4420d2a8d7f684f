"""Events → OpenAI `chat.completion.chunk` server-sent events.

Each frame is `data: <compact JSON>\\n\\n`. The envelope around the delta is the same for every
chunk of a completion, so it is serialised once and only the delta is encoded per frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lmarenarev.arena.events import Event, Usage
from lmarenarev.errors import GatewayError
from lmarenarev.messages import ToolCall
from lmarenarev.render.common import (
    RenderOptions,
    StreamAssembler,
    call_id,
    encode_frames,
    usage_dict,
)
from lmarenarev.render.json import openai_tool_call

_DONE = b"data: [DONE]\n\n"
_KEEPALIVE = b": keep-alive\n\n"


def keepalive() -> bytes:
    """An SSE comment that keeps idle connections and client timeouts at bay."""
    return _KEEPALIVE


def _frame(payload: str) -> bytes:
    return encode_frames(f"data: {payload}\n\n")


class SSERenderer(StreamAssembler):
    """`feed` each event, then `finish()` once the upstream body ended (or `error()`)."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        # The envelope without its closing brace: every frame reuses it.
        self._envelope = self._encode(
            {
                "id": options.completion_id,
                "object": "chat.completion.chunk",
                "created": options.created,
                "model": options.model,
            }
        )[:-1]
        # OpenAI puts `"usage": null` on every chunk but the last when usage was asked for.
        self._chunk_end = ',"usage":null}' if options.include_usage else "}"
        self._head = self._choice_head(options.choice_index)
        self._tail = ',"finish_reason":null}]' + self._chunk_end
        self._content: list[str] = []
        self._started = False
        self.failed = False  # ended by `error`

    @property
    def started(self) -> bool:
        """True once a chunk carrying assistant output was produced (no invisible retry after)."""
        return self._started

    @property
    def finished(self) -> bool:
        """The choice ended with its finish chunk (not an error, not the client leaving)."""
        return self._closed and not self.failed

    def _said(self) -> str:
        """The content a client gets by joining every `delta.content` sent so far."""
        return "".join(self._content)

    def keepalive(self) -> bytes:
        return _KEEPALIVE

    def feed(self, event: Event) -> bytes:
        if self._closed:
            return b""
        self._consume(event)
        return self._take()

    def finish(self) -> bytes:
        """Flush held output, then the finish chunk, the usage chunk if asked, and `[DONE]`
        (the last two only when this renderer `closes_stream`)."""
        if self._closed:
            return b""
        self._finalize()
        if not self._started:
            self._chunk('{"role":"assistant","content":""}')
        self._closed = True
        finish = f'{{}},"finish_reason":"{self.finish_reason}"}}]'
        self._frames.append(f"data: {self._head}{finish}{self._chunk_end}\n\n")
        if self.options.closes_stream:
            self._frames.append(self.end_frames(self.usage))
        return self._take()

    def fail(self, error: GatewayError) -> bytes:
        """The stream failed after it started: an error frame, then the end."""
        return self.error(error.message, error.type, error.code)

    def end_frames(self, usage: Usage | None) -> str:
        """What ends a stream: the usage chunk when asked for, then `[DONE]`."""
        if not self.options.include_usage:
            return "data: [DONE]\n\n"
        # Never invent numbers: without usage (upstream's, or counted for a cut) it is null.
        counts = "null" if usage is None else self._encode(usage_dict(usage))
        return f'data: {self._envelope},"choices":[],"usage":{counts}}}\n\ndata: [DONE]\n\n'

    def error(self, message: str, type: str, code: str | None) -> bytes:
        """An OpenAI error frame, then `[DONE]` when this renderer `closes_stream`; the
        stream (or this choice of it) is over afterwards."""
        self._closed = True
        self.failed = True
        payload = self._encode({"error": {"message": message, "type": type, "code": code}})
        return _frame(payload) + (_DONE if self.options.closes_stream else b"")

    def completion_frames(self, completion: dict[str, Any]) -> bytes:
        """A finished `chat.completion` (a structured answer, checked before anything was
        sent) as the chunks a stream of it would have had, one content delta per choice."""
        self._closed = True
        for choice in completion["choices"]:
            head = self._choice_head(choice["index"])
            message = choice["message"]
            delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
            if message.get("reasoning_content"):
                delta["reasoning_content"] = message["reasoning_content"]
            self._frames.append(f"data: {head}{self._encode(delta)}{self._tail}\n\n")
            finish = f'{{}},"finish_reason":"{choice["finish_reason"]}"}}]'
            self._frames.append(f"data: {head}{finish}{self._chunk_end}\n\n")
        counts = completion.get("usage")
        usage = None
        if counts is not None:
            usage = Usage(counts["prompt_tokens"], counts["completion_tokens"])
        self._frames.append(self.end_frames(usage))
        return self._take()

    def _choice_head(self, index: int) -> str:
        return f'{self._envelope},"choices":[{{"index":{index},"delta":'

    def _emit_content(self, text: str) -> None:
        self._content.append(text)
        if self._started:
            self._chunk('{"content":' + self._encode(text) + "}")
        else:
            self._chunk('{"role":"assistant","content":' + self._encode(text) + "}")

    def _emit_reasoning(self, text: str) -> None:
        if self._started:
            self._chunk('{"reasoning_content":' + self._encode(text) + "}")
        else:
            self._chunk(
                '{"role":"assistant","content":"","reasoning_content":' + self._encode(text) + "}"
            )

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        for index, call in enumerate(calls):
            item = {"index": index, **openai_tool_call(call, call_id("call_"))}
            delta: dict[str, Any] = {"tool_calls": [item]}
            if not self._started:
                delta = {"role": "assistant", "content": None, **delta}
            self._chunk(self._encode(delta))

    def _chunk(self, delta: str) -> None:
        self._started = True
        self._frames.append(f"data: {self._head}{delta}{self._tail}\n\n")
