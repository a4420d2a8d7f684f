"""What the request log keeps about one request (written by the writer, read by the queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypedDict

Status = Literal["ok", "error", "cancelled"]
TokenSource = Literal["upstream", "tokenizer"]


@dataclass(frozen=True, slots=True)
class Bodies:
    """Kept only with `log_bodies`: the prompt (messages as JSON), the reply, the reasoning."""

    prompt: str
    reply: str
    reasoning: str


@dataclass(frozen=True, slots=True)
class ToCount:
    """Texts the writer counts with the offline tokenizer when LMArena sent no usage: the
    prompt, and the parts of the completion (the reply, the reasoning)."""

    prompt: str
    completion: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    id: str
    started_at: float  # unix time
    model: str
    key_name: str | None
    stream: bool
    flow: str  # arena_flow: "modern" | "legacy"
    call: str  # "create" | "regenerate" | "legacy"; "" when refused before any call
    worker_id: str | None
    status: Status
    http_status: int  # 200; the error's status; 499 when the client went away
    error_kind: str | None  # the error's code: "rate_limited", "no_worker", "timeout", ...
    upstream_kind: str | None  # the last failure's arena.errors.Kind ("worker": the tab failed)
    error_message: str | None
    finish_reason: str | None
    ttft_ms: float | None
    duration_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_source: TokenSource | None = None
    attempts: int = 0
    retry_kinds: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0  # bytes of LMArena's answers, as the tab relayed them
    bodies: Bodies | None = None
    to_count: ToCount | None = None  # not stored: resolved into the token columns
    # the LMArena session: "new", "folded" (a history folded into a new one), "continued",
    # "regenerated"; "" in the legacy flow or when refused
    conversation: str = ""
    api: str = "chat"  # chat | messages (Anthropic) | responses | images

    @property
    def retries(self) -> int:
        return sum(self.retry_kinds.values())


class RequestRow(TypedDict):
    """One row of `requests` as the queries return it."""

    id: str
    started_at: float
    model: str
    key_name: str | None
    stream: bool
    flow: str
    call: str
    worker_id: str | None
    status: str
    http_status: int
    error_kind: str | None
    upstream_kind: str | None
    error_message: str | None
    finish_reason: str | None
    ttft_ms: float | None
    duration_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_source: str | None
    attempts: int
    retries: int
    retry_kinds: dict[str, int]
    bytes_in: int
    conversation: str
    api: str
    has_bodies: bool


class BodiesRow(TypedDict):
    prompt: str
    reply: str
    reasoning: str

