"""The monitor API's answers (pydantic, so `/openapi.json` documents them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal["ok", "error", "cancelled"]


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown parameter is a 400, not ignored

    hours: float = Field(24.0, ge=0, le=24 * 3650, description="The window; 0: everything")


class SeriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(60.0, ge=1, le=7 * 24 * 60, description="The window, up to a week")


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


class ErrorKindCount(BaseModel):
    kind: str
    count: int


class ModelStats(Totals):
    model: str
    error_kinds: list[ErrorKindCount] = Field(
        default_factory=list, description="Why its requests failed: error kinds, most first"
    )


class UpdateInfo(BaseModel):
    latest: str | None = Field(description="A newer release, when the update check found one")
    notice: str | None = Field(description="What to do about it (or what was done)")


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
    update: UpdateInfo | None = Field(
        None, description="A newer lmarenarev release, when the update check found one"
    )


class SeriesPoint(BaseModel):
    start: float = Field(description="Unix time the bucket starts")
    requests: int
    errors: int
    p50_ms: float | None = Field(description="Median duration of the completed requests")
    p95_ms: float | None
    ttft_p50_ms: float | None = Field(description="Median time to the first token")
    ttft_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int


class TimeSeries(BaseModel):
    window_minutes: float
    bucket_seconds: float
    points: list[SeriesPoint]


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
    health: Literal["ready", "reloading", "silent", "resting"] = Field(
        description="ready; reloading (or on a Cloudflare challenge); silent (no pong lately); "
        "resting (its LMArena account's quota is used up: no jobs for a while)"
    )
    managed: bool = Field(False, description="A tab of the managed browser (serve --browser)")
    account: Literal["logged_in", "anonymous", "unknown"] = Field(
        "unknown", description="the tab's LMArena account, from /api/me"
    )
    pulse: int | None = Field(None, description="LMArena's quota pulse (0..100), if readable")


class ManagedTabInfo(BaseModel):
    index: int = Field(description="The tab's number, from 1")
    state: str = Field(
        description="opening, loading, connected, not connected, away (on another site), "
        "reopening, closed"
    )
    url: str
    title: str
    worker: str | None = Field(description="The worker id its userscript connected as")
    transport: str | None
    visibility: str | None = Field(description="The page's visibilityState (visible, hidden)")
    reopened: int = Field(description="How often it was opened again (crash, hang, closed, away)")
    last_reason: str | None = Field(description="Why it was last opened again")
    open_seconds: float


class ManagedBrowserInfo(BaseModel):
    state: str = Field(description="starting, running, restarting, stopped")
    pid: int | None
    executable: str | None
    version: str | None
    profile: str
    headless: bool
    page_url: str
    restarts: int = Field(description="How often the browser was started again")
    uptime_seconds: float | None
    next_start_seconds: float | None = Field(description="While restarting: when it starts")
    last_exit: str | None
    last_error: str | None
    tabs: list[ManagedTabInfo]


class Workers(BaseModel):
    workers: list[WorkerInfo]
    browser: ManagedBrowserInfo | None = Field(
        None, description="The managed browser, when the gateway runs one (serve --browser)"
    )


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
    api: str = Field(description="The API the request used: chat, messages, responses, images")
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


class DownloadInfo(BaseModel):
    """The image downloads (mogai's `download_semaphore`, and more)."""

    max_concurrent: int = Field(description="max_concurrent_downloads")
    active: int = Field(description="Downloads running now")
    available: int = Field(description="Free download slots")
    completed: int
    failed: int = Field(description="Downloads that failed after their retries")
    retries: int
    bytes: int = Field(description="Bytes downloaded")
    avg_ms: float | None = Field(description="Mean time of a completed download")
    slowest_ms: float | None


class ImageCacheInfo(BaseModel):
    """The in-memory image cache (mogai's `cache_stats`; memory_management)."""

    entries: int
    max_entries: int
    bytes: int
    max_bytes: int
    ttl_seconds: float
    hits: int
    misses: int
    evicted: int = Field(description="Entries dropped to stay within the bounds")


class Performance(BaseModel):
    state: dict[str, int] = Field(description="Sizes of the per-request and per-worker state")
    store: StoreInfo
    downloads: DownloadInfo
    image_cache: ImageCacheInfo
    event_loop_lag_ms: float = Field(description="How late a 0 s sleep woke up just now")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    workers: int
