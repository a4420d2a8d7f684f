"""OpenAI's Responses API (`/v1/responses`), named as OpenAI names it.

Lenient like `openai_schema`: unknown fields are accepted. Input items stay dicts here;
chat/responses_input.py reads them and says exactly which one it cannot take. `temperature`
and `top_p` are accepted and have no effect (LMArena's page does not send them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .anthropic import ignored

# What LMArena cannot honour: accepted, ignored, counted (/metrics
# lmarenarev_ignored_parameters_total; any other unknown field is "other"). `text` counts only
# when it asks for another format than text.
IGNORED_PARAMETERS = (
    "temperature", "top_p", "reasoning", "metadata", "include", "truncation", "user",
    "service_tier", "prompt_cache_key", "safety_identifier", "top_logprobs", "background",
    "prompt", "client_metadata",
)  # fmt: skip


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ResponsesRequest(_Lenient):
    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    max_output_tokens: int | None = Field(None, ge=1)
    metadata: dict[str, str] | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None

    def ignored_parameters(self) -> list[str]:
        names = ignored(self, IGNORED_PARAMETERS)
        text_format = (self.text or {}).get("format") or {}
        if isinstance(text_format, dict) and text_format.get("type", "text") != "text":
            names.append("text")
        return names

    def input_items(self) -> list[dict[str, Any]]:
        """`input` as items: a string is one user message."""
        if isinstance(self.input, str):
            return [{"type": "message", "role": "user", "content": self.input}]
        return list(self.input)


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


class StoredResponseBody(_Lenient):
    """A stored response as `GET /v1/responses/{id}` returns it (the `response` object)."""

    id: str
    object: Literal["response"]
    status: str
    model: str
    output: list[dict[str, Any]]
