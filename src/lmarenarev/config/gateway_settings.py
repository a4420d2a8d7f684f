"""The gateway's own settings: serving, workers, access, limits, logs, timeouts, models, files.

One field per key, in the order of the config template; `Settings` (settings.py) joins this
group with the seeds' keys (seed_settings.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from ..arena.page import DEFAULT_RECAPTCHA_SITE_KEY
from .keys import ApiKeyEntry


class GatewaySettings(BaseModel):
    host: str = Field(
        "127.0.0.1",
        description="Address the gateway listens on. Keep 127.0.0.1 unless other machines must "
        "reach it (then also set api_key).",
    )
    port: int = Field(
        5102,
        ge=1,
        le=65535,
        description="TCP port of the gateway (1-65535); the OpenAI base URL is "
        "http://<host>:<port>/v1.",
    )
    arena_flow: Literal["modern", "legacy"] = Field(
        "modern",
        description='How requests reach LMArena. "modern": one LMArena evaluation session per '
        "conversation, created and continued like the page does (create-evaluation, "
        'post-to-evaluation). "legacy": the LMArenaBridge flow, the captured session_id/'
        "message_id (or model_endpoint_map.json) with the full history sent through the retry "
        "route.",
    )
    arena_chat_mode: Literal["direct", "direct-battle"] = Field(
        "direct-battle",
        description='The "mode" sent to LMArena for a single-model chat in the modern flow: '
        '"direct-battle" as LMArena\'s pages send since mid-2026, or the older "direct". When '
        "LMArena refuses it, the other is tried once and remembered (arena_learn_values).",
    )
    recaptcha_site_key: str = Field(
        "",
        description="reCAPTCHA site key the worker mints tokens with. Empty: read it from the "
        f"page the worker runs on, else the built-in {DEFAULT_RECAPTCHA_SITE_KEY}.",
    )
    recaptcha_action: str = Field(
        "chat_submit", description="reCAPTCHA action the tokens are minted for."
    )
    worker_token: str = Field(
        "",
        description="Secret the served userscript presents when it connects as a worker. Empty: "
        "generated on first start and kept in <home>/worker_token.",
    )
    worker_origins: list[str] = Field(
        default_factory=list,
        description='Extra page origins (like "https://example.com") allowed to connect as '
        "workers, besides lmarena.ai and arena.ai.",
    )
    worker_capacity: int = Field(
        6, ge=1, description="Requests one browser tab runs at the same time (at least 1)."
    )
    worker_ping_interval_seconds: float = Field(
        10.0, gt=0, description="Seconds between pings to each connected worker."
    )
    worker_ping_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A worker silent for this many seconds is dropped and its unfinished jobs "
        "go to another worker.",
    )
    max_request_bytes: int = Field(
        33554432,
        ge=1,
        description="Largest request body accepted, in bytes, attachments included (32 MiB).",
    )
    max_messages: int = Field(
        1000, ge=1, description="Most messages one chat request may carry; more get 400."
    )
    max_attachment_bytes: int = Field(
        20971520,
        ge=0,
        description="Largest total size of one request's attachments, decoded, in bytes "
        "(20 MiB); more get 413.",
    )
    max_prompt_chars: int = Field(
        113567,
        ge=1,
        description="Longest prompt sent to LMArena, in characters (the message, or the folded "
        "history, in the modern flow; all messages in the legacy flow). LMArena rejects very "
        "long prompts, so longer requests get 400 before anything is sent (113567 is the limit "
        "public bridges use).",
    )
    api_keys: list[ApiKeyEntry] = Field(
        default_factory=list,
        description='Named client keys besides api_key: [{"name": "alice", "key": "sk-..." (or '
        '"sha256": "<hex sha256 of the key>"), "rpm": 30, "models": ["gpt-5"], "enabled": '
        "true}]. rpm (requests per minute, null: no limit), models (null: all) and enabled are "
        "optional. A key over its rpm gets 429 with Retry-After.",
    )
    admin_key: str = Field(
        "",
        description="Key for the dashboard, monitor and admin routes, sent as `Authorization: "
        "Bearer <key>` or `X-Admin-Key: <key>`. Empty: those routes answer only requests from "
        "this machine, and only while no API key is set.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Web origins (like "https://chat.example.com") whose pages may call /v1 '
        'from the browser (CORS); "*" for any (needs an API key). Empty: CORS is off.',
    )
    allow_insecure_bind: bool = Field(
        False,
        description="Start even when host is not a loopback address and no API key is set "
        "(then anyone who reaches the gateway can use your LMArena login). Same as the "
        "--allow-insecure-bind flag; the gateway warns at every start.",
    )
    log_prompts: bool = Field(
        False,
        description="Also write each request's messages to the text log (the terminal). For "
        "the request log of the dashboard see log_bodies.",
    )
    log_bodies: bool = Field(
        False,
        description="Keep prompts, replies and reasoning in the request log (lmarenarev.sqlite3 "
        "in the data directory, shown by /monitor and `lmarenarev logs`). Off: only metadata "
        "(model, timing, tokens, sizes, errors) is kept.",
    )
    log_retention_days: float = Field(
        30.0,
        ge=0,
        description="Requests older than this many days are removed from the request log. 0: "
        "kept whatever their age.",
    )
    log_max_rows: int = Field(
        100000,
        ge=0,
        description="The request log keeps at most this many requests (the newest). 0: no limit.",
    )
    conversation_cache_size: int = Field(
        2000,
        ge=1,
        description="How many conversations the modern flow remembers, so that a follow-up "
        "message continues the same LMArena session.",
    )
    max_waiting_requests: int = Field(
        100,
        ge=0,
        description="How many requests may wait for a free browser tab at once; beyond that "
        "new requests get 503 with Retry-After at once.",
    )
    first_tab_wait_seconds: float = Field(
        5.0,
        ge=0,
        description="While no browser tab has connected since the start, a request waits this "
        "long for the first one (at most retry_timeout_seconds) before it fails with 503; once "
        "a tab has connected, requests wait up to retry_timeout_seconds (a tab may be reloading).",
    )
    keepalive_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="A stream that has nothing to send for this long (waiting for a tab, a "
        "retry or LMArena) sends an SSE keep-alive comment; errors within the first interval "
        "keep their HTTP status.",
    )
    first_byte_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description="Longest wait for LMArena to start answering a request the tab sent.",
    )
    request_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="Total budget of one request, waiting and retries included; then 504.",
    )
    rate_limit_max_wait_seconds: float = Field(
        60.0,
        ge=0,
        description="Longest wait before retrying after LMArena's 429 (its Retry-After is "
        "honoured up to this).",
    )
    endpoint_selection_strategy: Literal["random", "round_robin"] = Field(
        "random",
        description="(legacy flow) How a model's pool in model_endpoint_map.json (a list of "
        'mappings) is used: "random" (as LMArenaBridge) or "round_robin" (in order, one after '
        "the other).",
    )
    endpoint_failure_threshold: int = Field(
        3,
        ge=0,
        description="(legacy flow) A mapping of a pool that fails this many times in a row "
        "(LMArena rejects its session, or answers empty) is cooled down: the others are used "
        "meanwhile. 0: never.",
    )
    endpoint_cooldown_seconds: float = Field(
        300.0, gt=0, description="(legacy flow) How long a failing mapping is cooled down."
    )
    expose_available_models: bool = Field(
        False,
        description="List every model of LMArena's page (available_models.json) in /v1/models "
        "with its type and capabilities, accept requests for them even when models.json lacks "
        "them, and refuse models LMArena no longer offers with a clear error.",
    )
    model_catalog_refresh_minutes: float = Field(
        30.0,
        ge=0,
        description="Read the page's model list (available_models.json) through a worker tab "
        "when a tab connects and then every this many minutes. 0: only on `lmarenarev "
        "update-models`.",
    )
    attachment_upload: Literal["arena", "inline"] = Field(
        "arena",
        description='(modern flow) How attachments given as data URLs reach LMArena: "arena" '
        "uploads them through a worker tab with LMArena's own upload (like the page does; cached "
        'by content until the link expires); "inline" sends the data URLs in the request (the '
        "legacy flow always does, unless a file bed is enabled).",
    )
    download_ca_bundle: str = Field(
        "",
        description="Extra CA certificates (a PEM file) trusted when downloading images, "
        "besides the system ones. Certificates are always verified.",
    )
    file_bed_cooldown_seconds: float = Field(
        300.0,
        gt=0,
        description="A file bed whose upload failed is skipped for this long (unless every "
        "file bed is cooling down), then tried again.",
    )

    @field_validator("worker_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        cleaned = [origin.rstrip("/") for origin in origins]
        for origin in cleaned:
            scheme, sep, host = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an origin like https://example.com")
        return cleaned

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, origins: list[str]) -> list[str]:
        wildcard = [origin for origin in origins if origin == "*"]
        return wildcard + cls._origins([origin for origin in origins if origin != "*"])
