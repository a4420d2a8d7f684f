"""Anthropic's Messages API (`POST /v1/messages`), named as Anthropic names it.

Lenient like `openai_schema`: unknown fields are accepted. Content blocks stay dicts here;
chat/anthropic_input.py reads them and says exactly which block it cannot take. Sampling
parameters (`temperature`, `top_p`, `top_k`) are accepted and have no effect: LMArena's page
does not send them (README, "Agents").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class AnthropicMessage(_Lenient):
    role: Literal["user", "assistant", "system"]  # Claude Code puts system notes in between
    content: str | list[dict[str, Any]]


class MessagesRequest(_Lenient):
    model: str = Field(min_length=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None


class CountTokensRequest(_Lenient):
    """`POST /v1/messages/count_tokens`: a Messages request without `max_tokens`."""

    model: str = Field(min_length=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None


class TokenCount(BaseModel):
    input_tokens: int


class AnthropicModel(BaseModel):
    type: Literal["model"] = "model"
    id: str
    display_name: str
    created_at: str  # RFC 3339


class AnthropicModelList(BaseModel):
    data: list[AnthropicModel]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None
