"""Events → Anthropic Messages API answers: one `message` object, or the stream of events
(`message_start`, `content_block_start` / `_delta` / `_stop`, `message_delta`, `message_stop`,
`ping`; `error` when a started stream fails).

Reasoning becomes `thinking` blocks, text `text` blocks, calls `tool_use` blocks (their input
in one `input_json_delta`). LMArena's finish reason becomes `stop_reason`: `end_turn`,
`max_tokens`, `tool_use`, `refusal`, or `stop_sequence` (with `stop_sequence`) when one of the
client's stop sequences ended it (chat/reply_limits.py). Usage comes from LMArena's, when it
sent one, or is counted offline for a reply the gateway cut (else 0: the request log counts it
offline).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lmarenarev.arena.events import Event, Usage
from lmarenarev.errors import GatewayError, anthropic_error_type
from lmarenarev.messages import ToolCall
from lmarenarev.render.common import (
    Assembler,
    RenderOptions,
    StreamAssembler,
    call_id,
    well_formed,
)

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def stop_reason(finish_reason: str, stop_sequence: str | None = None) -> str:
    if stop_sequence is not None and finish_reason == "stop":
        return "stop_sequence"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def matched(reply: Assembler) -> str | None:
    """The client's stop sequence that ended the reply, if one did."""
    return reply.stop_sequence if reply.finish_reason == "stop" else None


def usage_json(usage: Usage | None) -> dict[str, int]:
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id("toolu_"), "name": call.name,
            "input": call.arguments}


def message(options: RenderOptions, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": options.completion_id,
        "type": "message",
        "role": "assistant",
        "model": options.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_json(None),
    }


class AnthropicJSON(Assembler):
    """`feed` every event, then `result()`: the `message` object."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._blocks: list[dict[str, Any]] = []
        self._text: list[str] = []

    def feed(self, event: Event) -> None:
        self._consume(event)

    def content(self) -> str:
        self._finalize()
        return super().content()

    def _said(self) -> str:
        return "".join(self._text)

    def result(self) -> dict[str, Any]:
        self._finalize()
        blocks = [
            {**block, block["type"]: well_formed(block[block["type"]])}
            if block["type"] in ("text", "thinking") else block
            for block in self._blocks
        ]
        answer = message(self.options, blocks or [{"type": "text", "text": ""}])
        answer["stop_reason"] = stop_reason(self.finish_reason, self.stop_sequence)
        answer["stop_sequence"] = matched(self)
        answer["usage"] = usage_json(self.usage)
        return answer

    def _emit_content(self, text: str) -> None:
        self._text.append(text)
        self._append("text", text)

    def _emit_reasoning(self, text: str) -> None:
        self._append("thinking", text)

    def _append(self, kind: str, text: str) -> None:
        if self._blocks and self._blocks[-1]["type"] == kind:
            self._blocks[-1][kind] += text
        elif kind == "thinking":
            self._blocks.append({"type": "thinking", "thinking": text, "signature": ""})
        else:
            self._blocks.append({"type": "text", "text": text})

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        self._blocks.extend(tool_use(call) for call in calls)


class AnthropicSSE(StreamAssembler):
    """`feed_all` events, then `finish()` (or `fail()`): the stream's bytes."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._text: list[str] = []
        self._open: str | None = None  # the type of the block being streamed
        self._index = -1
        self._started = False

    def keepalive(self) -> bytes:
        return _PING

    def _said(self) -> str:
        return "".join(self._text)

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._finalize()
        self._start()
        self._close_block()
        self._closed = True
        delta = {"stop_reason": stop_reason(self.finish_reason, self.stop_sequence),
                 "stop_sequence": matched(self)}
        self._event("message_delta", {"delta": delta, "usage": usage_json(self.usage)})
        self._event("message_stop", {})
        return self._take()

    def fail(self, error: GatewayError) -> bytes:
        self._closed = True
        kind = anthropic_error_type(error.status)
        self._event("error", {"error": {"type": kind, "message": error.message}})
        return self._take()

    def _emit_content(self, text: str) -> None:
        self._text.append(text)
        self._delta("text", {"type": "text_delta", "text": text})

    def _emit_reasoning(self, text: str) -> None:
        self._delta("thinking", {"type": "thinking_delta", "thinking": text})

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        self._start()
        self._close_block()
        for call in calls:
            block = tool_use(call)
            self._index += 1
            self._event("content_block_start", {
                "index": self._index, "content_block": {**block, "input": {}}})
            partial = json.dumps(block["input"], ensure_ascii=False)
            self._event("content_block_delta", {
                "index": self._index,
                "delta": {"type": "input_json_delta", "partial_json": partial},
            })
            self._event("content_block_stop", {"index": self._index})

    def _delta(self, kind: str, delta: dict[str, str]) -> None:
        self._start()
        if self._open != kind:
            self._close_block()
            self._open = kind
            self._index += 1
            empty = {"type": "text", "text": ""} if kind == "text" else {
                "type": "thinking", "thinking": "", "signature": ""}
            self._event("content_block_start", {"index": self._index, "content_block": empty})
        self._event("content_block_delta", {"index": self._index, "delta": delta})

    def _close_block(self) -> None:
        if self._open is not None:
            self._event("content_block_stop", {"index": self._index})
            self._open = None

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._event("message_start", {"message": message(self.options, [])})
            self._frames.append(_PING.decode())

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self._frames.append(f"event: {kind}\ndata: {self._encode({'type': kind, **data})}\n\n")
