"""The monitor API's answers (pydantic, so `/openapi.json` documents them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal["ok", "error", "cancelled"]


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown parameter is a 400, not ignored

    hours: float = Field(24.0, ge=0, le=24 * 3650, description="The window; 0: everything")


class ErrorLogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="Rows per page")
    offset: int = Field(0, ge=0, le=10**9, description="Rows to skip (newest first)")
    q: str = Field(
        "", max_length=200, description="Text in the id, model, key, worker, error or bodies"
    )
    model: str = Field("", max_length=200, description="Only this model; empty: all")


class LogQuery(ErrorLogQuery):
    status: Literal["all", "ok", "error", "cancelled"] = "all"
    key: str = Field("", max_length=64, description="Only this client key's name; empty: all")


class Totals(BaseModel):
    requests: int
    ok: int
    errors: int
    cancelled: int
    success_rate: float | None = Field(description="ok / requests")
    error_rate: float | None = Field(description="errors / requests")
    avg_ms: float | None = Field(description="Mean duration of completed requests")
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None = Field(description="Median time to the first token")
    ttft_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    retries: int


class ModelStats(Totals):
    model: str


class ErrorKindCount(BaseModel):
    kind: str
    count: int


class Stats(BaseModel):
    version: str
    started_at: float = Field(description="Unix time the gateway started")
    uptime_seconds: float
    window_hours: float = Field(description="The totals cover this many hours; 0: everything")
    active_requests: int
    workers: int
    totals: Totals
    models: list[ModelStats]
    error_kinds: list[ErrorKindCount]


class ActiveRequest(BaseModel):
    id: str
    model: str
    key_name: str | None
    stream: bool
    call: str
    conversation: str = Field(
        "",
        description="The LMArena session: new (a new session), folded (a history folded into a "
        "new session), continued, regenerated (LMArena's retry route); empty in the legacy flow",
    )
    started_at: float
    elapsed_ms: float
    first_token_ms: float | None
    worker_id: str | None
    attempts: int
    phase: Literal["waiting", "running", "streaming"] = Field(
        description="waiting for a tab, running in a tab, or sending its reply"
    )


class ActiveRequests(BaseModel):
    requests: list[ActiveRequest]


class WorkerInfo(BaseModel):
    id: str
    transport: str
    page_url: str
    script_version: str
    tab: str | None
    connected_seconds: float
    last_seen_seconds: float
    jobs: int
    capacity: int
    load: float
    health: Literal["ready", "reloading", "silent"] = Field(
        description="ready; reloading (or on a Cloudflare challenge); silent (no pong lately)"
    )


class Workers(BaseModel):
    workers: list[WorkerInfo]


class RequestLogEntry(BaseModel):
    id: str
    started_at: float
    model: str
    key_name: str | None
    stream: bool
    flow: str
    call: str
    worker_id: str | None
    status: RequestStatus
    http_status: int
    error_kind: str | None
    upstream_kind: str | None
    error_message: str | None
    finish_reason: str | None
    ttft_ms: float | None
    duration_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_source: Literal["upstream", "tokenizer"] | None = Field(
        description="upstream: LMArena's usage; tokenizer: counted offline (cl100k_base); "
        "null: unknown"
    )
    attempts: int
    retries: int
    retry_kinds: dict[str, int]
    bytes_in: int
    conversation: str = Field(
        "",
        description="The LMArena session: new (a new session), folded (a history folded into a "
        "new session), continued, regenerated (LMArena's retry route); empty in the legacy flow",
    )
    has_bodies: bool


class RequestPage(BaseModel):
    total: int
    limit: int
    offset: int
    requests: list[RequestLogEntry]


class RequestBodies(BaseModel):
    prompt: str = Field(description="The messages as JSON: role, content, attachments")
    reply: str
    reasoning: str


class RequestDetail(RequestLogEntry):
    bodies: RequestBodies | None = Field(description="Only when log_bodies was on")


class StoreInfo(BaseModel):
    path: str
    size_bytes: int
    written: int
    pending: int
    dropped: int
    failed: int
    error: str | None
    log_bodies: bool
    retention_days: float
    max_rows: int


class Performance(BaseModel):
    state: dict[str, int] = Field(description="Sizes of the per-request and per-worker state")
    store: StoreInfo
    event_loop_lag_ms: float = Field(description="How late a 0 s sleep woke up just now")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    workers: int
