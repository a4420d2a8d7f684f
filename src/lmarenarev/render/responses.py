"""Events → OpenAI Responses API answers: one `response` object, or its stream of events.

Output items: `reasoning` (the model's reasoning as one summary text), `message` (one
`output_text` part), `function_call` (calls found in the reply, docs/tools.md). The stream:
`response.created`, `response.in_progress`, then per item `response.output_item.added`, its
deltas (`response.reasoning_summary_text.delta`, `response.output_text.delta`,
`response.function_call_arguments.delta`) and their `.done` events, `response.output_item.done`;
at the end `response.completed` (or `response.failed`). Every event has a `sequence_number`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lmarenarev.arena.events import Event, Usage
from lmarenarev.errors import GatewayError
from lmarenarev.messages import ToolCall
from lmarenarev.render.common import (
    Assembler,
    RenderOptions,
    StreamAssembler,
    call_id,
    well_formed,
)
from lmarenarev.tools.contract import arguments_json


@dataclass(frozen=True, slots=True)
class Echo:
    """The request's fields a response object repeats."""

    fields: dict[str, Any] = field(default_factory=dict)


def usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _item_id(prefix: str) -> str:
    return call_id(prefix)


class ResponsesAssembler(Assembler):
    """The output items of a response, built as events come; `_event` is how a stream hears
    of each step (the whole answer ignores it)."""

    def __init__(self, options: RenderOptions, echo: Echo) -> None:
        super().__init__(options)
        self.echo = echo
        self.output: list[dict[str, Any]] = []
        self._item: dict[str, Any] | None = None  # the reasoning or message item being built
        self._parts: list[str] = []  # its text so far
        self._text: list[str] = []

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        """A step of the answer (a stream sends it)."""

    def _said(self) -> str:
        return "".join(self._text)

    def answer(self, status: str = "completed", error: GatewayError | None = None
               ) -> dict[str, Any]:
        """The `response` object (its output as it is now)."""
        incomplete = status == "completed" and self.finish_reason == "length"
        return {
            "id": self.options.completion_id,
            "object": "response",
            "created_at": self.options.created,
            "status": "incomplete" if incomplete else status,
            "model": self.options.model,
            "output": list(self.output),
            "error": None if error is None else {"code": error.code or error.type,
                                                 "message": error.message},
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "usage": usage_json(self.usage) if status == "completed" else None,
            **self.echo.fields,
        }

    def _emit_reasoning(self, text: str) -> None:
        if self._open("reasoning"):
            self._event("response.reasoning_summary_part.added", {
                **self._where(), "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        self._parts.append(text)
        self._event("response.reasoning_summary_text.delta",
                    {**self._where(), "summary_index": 0, "delta": text})

    def _emit_content(self, text: str) -> None:
        self._text.append(text)
        if self._open("message"):
            part = {"type": "output_text", "text": "", "annotations": []}
            self._event("response.content_part.added",
                        {**self._where(), "content_index": 0, "part": part})
        self._parts.append(text)
        self._event("response.output_text.delta",
                    {**self._where(), "content_index": 0, "delta": text, "logprobs": []})

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        self._close()
        for call in calls:
            arguments = arguments_json(call.arguments)
            item = {"type": "function_call", "id": _item_id("fc_"), "call_id": call_id("call_"),
                    "name": call.name, "arguments": "", "status": "in_progress"}
            index = len(self.output)
            self._event("response.output_item.added", {"output_index": index, "item": item})
            where = {"item_id": item["id"], "output_index": index}
            self._event("response.function_call_arguments.delta", {**where, "delta": arguments})
            self._event("response.function_call_arguments.done",
                        {**where, "name": call.name, "arguments": arguments})
            done = {**item, "arguments": arguments, "status": "completed"}
            self.output.append(done)
            self._event("response.output_item.done", {"output_index": index, "item": done})

    def _open(self, kind: str) -> bool:
        """Make the item being built one of `kind`; True when it is new."""
        if self._item is not None and self._item["type"] == kind:
            return False
        self._close()
        if kind == "reasoning":
            self._item = {"type": "reasoning", "id": _item_id("rs_"), "summary": []}
        else:
            message: dict[str, Any] = {"type": "message", "id": _item_id("msg_"),
                                       "status": "in_progress", "role": "assistant",
                                       "content": []}
            self._item = message
        self._event("response.output_item.added",
                    {"output_index": len(self.output), "item": self._item})
        return True

    def _where(self, item: dict[str, Any] | None = None) -> dict[str, Any]:
        """Where a step of the item being built (or `item`) belongs."""
        item = item or self._item
        assert item is not None
        return {"item_id": item["id"], "output_index": len(self.output)}

    def _close(self) -> None:
        item, self._item = self._item, None
        if item is None:
            return
        where = self._where(item)
        text = well_formed("".join(self._parts))
        self._parts = []
        part: dict[str, Any]
        if item["type"] == "reasoning":
            part = {"type": "summary_text", "text": text}
            self._event("response.reasoning_summary_text.done",
                        {**where, "summary_index": 0, "text": text})
            self._event("response.reasoning_summary_part.done",
                        {**where, "summary_index": 0, "part": part})
            done = {**item, "summary": [part]}
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
            self._event("response.output_text.done",
                        {**where, "content_index": 0, "text": text, "logprobs": []})
            self._event("response.content_part.done", {**where, "content_index": 0, "part": part})
            done = {**item, "status": "completed", "content": [part]}
        self.output.append(done)
        self._event("response.output_item.done",
                    {"output_index": where["output_index"], "item": done})

    def _complete(self) -> None:
        self._finalize()
        self._close()


class ResponsesJSON(ResponsesAssembler):
    """`feed` every event, then `result()`: the `response` object."""

    def feed(self, event: Event) -> None:
        self._consume(event)

    def content(self) -> str:
        self._complete()
        return super().content()

    def result(self) -> dict[str, Any]:
        self._complete()
        return self.answer()


class ResponsesSSE(ResponsesAssembler, StreamAssembler):
    """`feed_all` events, then `finish()` (or `fail()`): the stream's bytes."""

    def __init__(self, options: RenderOptions, echo: Echo) -> None:
        super().__init__(options, echo)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._sequence = 0
        self._started = False

    def keepalive(self) -> bytes:
        return b": keep-alive\n\n"

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._start()
        self._complete()
        self._closed = True
        self._event("response.completed", {"response": self.answer()})
        return self._take()

    def fail(self, error: GatewayError) -> bytes:
        self._start()
        self._closed = True
        self._event("response.failed", {"response": self.answer("failed", error)})
        return self._take()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._event("response.created", {"response": self.answer("in_progress")})
            self._event("response.in_progress", {"response": self.answer("in_progress")})

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        if kind != "response.created":
            self._start()
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        self._frames.append(f"event: {kind}\ndata: {self._encode(payload)}\n\n")
