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


# What LMArena cannot honour: accepted, ignored, counted (/metrics
# lmarenarev_ignored_parameters_total; any other unknown field is "other").
IGNORED_PARAMETERS = (
    "temperature", "top_p", "top_k", "metadata", "thinking", "service_tier",
    "context_management", "output_config", "container", "mcp_servers",
)  # fmt: skip


def ignored(request: BaseModel, names: tuple[str, ...]) -> list[str]:
    """The parameters of `names` sent (not null), and "other" for any other unknown field."""
    known = [name for name in names if getattr(request, name, None) is not None]
    known += [name for name in names if (request.model_extra or {}).get(name) is not None]
    extra = request.model_extra or {}
    other = any(v is not None for k, v in extra.items() if k not in names)
    return [*dict.fromkeys(known), "other"] if other else list(dict.fromkeys(known))


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

    def ignored_parameters(self) -> list[str]:
        return ignored(self, IGNORED_PARAMETERS)


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
