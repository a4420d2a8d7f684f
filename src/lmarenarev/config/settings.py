"""The one typed settings model, the source of every config key, variable name and `--set` key.

`Settings` is the single source for the config file template, the environment variable names,
the `--set` keys and the configuration reference in the docs. Keys of LMArenaBridge keep their
names and meanings, so an existing `config.jsonc` loads unchanged: keys of features not built yet
and unknown keys become warnings, never errors. Precedence: CLI > env > file > defaults.

Reading the layers lives in `settings_load`, the template and the reference in `settings_docs`;
both build on this module, and this module re-exports their public names (see `__getattr__`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from lmarenarev.api.keys import ApiKeyEntry, check_entries
from lmarenarev.config.jsonc import ConfigError
from lmarenarev.config.media import (
    DownloadTimeout,
    FileBedEndpoint,
    ImageReturnFormat,
    LocalSaveFormat,
    MemoryManagement,
)

if TYPE_CHECKING:
    from lmarenarev.config.docs import (
        config_template,
        ensure_config_file,
        settings_reference_markdown,
    )
    from lmarenarev.config.load import LoadedSettings, load_settings, parse_set_option

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_RECAPTCHA_SITE_KEY",
    "ENV_PREFIX",
    "KNOWN_SEED_KEYS_NOT_SUPPORTED",
    "ApiKeyEntry",
    "BypassInjection",
    "ConfigError",
    "EmptyResponseRetry",
    "Injection",
    "LoadedSettings",
    "Settings",
    "config_template",
    "ensure_config_file",
    "env_var_name",
    "load_settings",
    "parse_set_option",
    "settings_reference_markdown",
]

CONFIG_FILE_NAME = "config.jsonc"
ENV_PREFIX = "LMARENAREV_"
DEFAULT_RECAPTCHA_SITE_KEY = "6LeTGMcsAAAAALuIlkVwIxaAuZA8VledA6d3Nnb0"

KNOWN_SEED_KEYS_NOT_SUPPORTED: frozenset[str] = frozenset(
    {
        "download_delay",
        "connection_pool",
        "metadata_timeout_minutes",
        "performance_monitoring",
        "debug_stream_timing",
        "debug_show_full_urls",
        "url_display_length",
        "force_stream_flush",
        "version",
    }
)


class Injection(BaseModel):
    """One message the bypass injects into the conversation sent upstream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "system", "assistant"] = Field(description="Role of the message.")
    content: str = Field(description="Text of the injected message.")
    participantPosition: Literal["a", "b"] = Field(  # the seed's key, spelled as LMArena does
        "a", description='Participant the message belongs to: "a" or "b".'
    )


def _builtin_presets() -> dict[str, dict[str, str]]:
    return {
        "default": {"role": "user", "content": " ", "participantPosition": "a"},
        "thinking": {"role": "user", "content": "assistant:<think>", "participantPosition": "a"},
        "1": {"role": "user", "content": ".", "participantPosition": "a"},
        "2": {"role": "user", "content": "*", "participantPosition": "a"},
    }


def _default_presets() -> dict[str, Injection]:
    return {name: Injection.model_validate(raw) for name, raw in _builtin_presets().items()}


class BypassInjection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    active_preset: str = Field(
        "default",
        description='Name of the preset to inject (a key of presets), or "custom" for the '
        "custom block.",
    )
    presets: dict[str, Injection] = Field(
        default_factory=_default_presets,
        description='Named injections, merged over the built-in "default" (" "), "thinking" '
        '("assistant:<think>"), "1" (".") and "2" ("*"); a preset of the same name replaces '
        "the built-in one.",
    )
    custom: Injection | None = Field(
        None, description='The injection used when active_preset is "custom".'
    )

    @field_validator("presets", mode="before")
    @classmethod
    def _merge_over_builtin(cls, value: Any) -> Any:
        return {**_builtin_presets(), **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _active_preset_exists(self) -> BypassInjection:
        try:
            self.active()
        except ValueError as exc:
            # Raised as a ValidationError so the error points at active_preset, not the block.
            error = PydanticCustomError("unknown_preset", "{reason}", {"reason": str(exc)})
            details = InitErrorDetails(type=error, loc=("active_preset",), input=self.active_preset)
            raise ValidationError.from_exception_data(type(self).__name__, [details]) from None
        return self

    def active(self) -> Injection:
        """The injection `active_preset` selects; ValueError when it names nothing."""
        if self.active_preset in self.presets:
            return self.presets[self.active_preset]
        if self.active_preset == "custom" and self.custom is not None:
            return self.custom
        known = ", ".join(repr(name) for name in self.presets)
        hint = " or 'custom' (with a custom block)" if self.custom is None else " or 'custom'"
        raise ValueError(f"no bypass preset named {self.active_preset!r}; use one of {known}{hint}")


class EmptyResponseRetry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Retry when LMArena returns an empty response.")
    max_retries: int = Field(5, ge=0, description="Retries after the first attempt.")
    base_delay_ms: int = Field(
        1000, ge=0, description="Delay before the first retry, in ms; it doubles with each retry."
    )
    max_delay_ms: int = Field(30000, ge=0, description="Longest delay between retries, in ms.")
    show_retry_info_to_client: bool = Field(
        False, description="Let the client see that a retry is happening."
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- gateway ---
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
        "direct",
        description='The "mode" sent to LMArena for a single-model chat in the modern flow: '
        '"direct", or "direct-battle" as newer LMArena pages send.',
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

    # --- LMArenaBridge keys: same names and meanings ---
    session_id: str = Field(
        "",
        description="(legacy flow) Default LMArena session id, used for models without an entry "
        "in model_endpoint_map.json. Written by `lmarenarev capture-ids`.",
    )
    message_id: str = Field(
        "",
        description="(legacy flow) Default id of the message that is retried in that session. "
        "Written by `lmarenarev capture-ids`.",
    )
    id_updater_last_mode: Literal["direct_chat", "battle"] = Field(
        "direct_chat",
        description='(legacy flow) Mode the default ids were captured in: "direct_chat" or '
        '"battle". capture-ids remembers the last mode chosen here.',
    )
    id_updater_battle_target: Literal["A", "B"] = Field(
        "A",
        description='(legacy flow) In battle mode, the side the default ids belong to: "A" or '
        '"B" (use "A" for search models).',
    )
    use_default_ids_if_mapping_not_found: bool = Field(
        True,
        description="(legacy flow) true: a model missing from model_endpoint_map.json uses "
        "session_id/message_id above; false: requests for it fail.",
    )
    api_key: str = Field(
        "",
        description="Key clients must send as `Authorization: Bearer <key>` (named \"default\" "
        "in usage; api_keys adds more). Empty and no api_keys: no key is required.",
    )
    tavern_mode_enabled: bool = Field(
        False,
        description="Tavern mode (SillyTavern and similar clients): merge all system messages "
        "into one.",
    )
    bypass_enabled: bool = Field(
        False,
        description="Master switch of the bypass: inject an extra message (bypass_injection) to "
        "get past the content filter. Off: nothing is bypassed, whatever bypass_settings says.",
    )
    bypass_settings: dict[Literal["text", "search", "image"], bool] = Field(
        default_factory=dict,
        description='Bypass per model type ("text", "search", "image": true or false) when '
        "bypass_enabled is on. A type not listed is not bypassed; when empty, only text models "
        "are.",
    )
    bypass_injection: BypassInjection = Field(
        default_factory=BypassInjection, description="The message the bypass injects."
    )
    enable_lmarena_reasoning: bool = Field(
        True,
        description="Pass on the reasoning LMArena streams (`ag:` records); off: it is dropped.",
    )
    reasoning_output_mode: Literal["openai", "think_tag"] = Field(
        "openai",
        description='"openai": reasoning in `reasoning_content` (OpenAI/DeepSeek style); '
        '"think_tag": wrapped in `<think>...</think>` at the start of the content.',
    )
    preserve_streaming: bool = Field(
        True,
        description="Stream the reasoning as it arrives; off: send it in one piece once it is "
        "complete (think_tag mode always does).",
    )
    strip_reasoning_from_history: bool = Field(
        True,
        description="Remove `<think>...</think>` blocks from earlier assistant messages before "
        "the history goes upstream.",
    )
    enable_auto_retry: bool = Field(
        True,
        description="While no browser worker is connected, keep requests waiting (up to "
        "retry_timeout_seconds) instead of failing at once.",
    )
    retry_timeout_seconds: float = Field(
        60.0, ge=0, description="How long a request waits for a worker before it fails with 503."
    )
    empty_response_retry: EmptyResponseRetry = Field(
        default_factory=EmptyResponseRetry,
        description="Retries with exponential backoff when LMArena returns an empty response.",
    )
    stream_response_timeout_seconds: float = Field(
        360.0,
        gt=0,
        description="Longest wait for the next piece of a response (once LMArena started "
        "answering) before the request fails with a timeout.",
    )
    enable_auto_update: bool = Field(
        True,
        description="Tell (in the terminal, at most once a day, never blocking the start) when "
        "a newer lmarenarev is released. The userscript updates itself from the gateway "
        "(@updateURL) either way.",
    )
    enable_idle_restart: bool = Field(
        True,
        description="After idle_restart_timeout_seconds without requests, reload the worker "
        "tabs (fresh page state) instead of restarting the gateway.",
    )
    idle_restart_timeout_seconds: float = Field(
        -1,
        description="Seconds without requests before the tabs are reloaded; -1 disables it.",
    )
    image_attachment_bypass_enabled: bool = Field(
        False,
        description="(legacy flow, image models) When the last user message has images and "
        "text, send the images in a message of their own before the text.",
    )
    save_images_locally: bool = Field(
        False,
        description="Save every generated image under <home>/downloaded_images/YYYYMMDD/ "
        "(listed by GET /api/images/list).",
    )
    local_save_format: LocalSaveFormat = Field(
        default_factory=LocalSaveFormat, description="Format of the images saved locally."
    )
    image_return_format: ImageReturnFormat = Field(
        default_factory=ImageReturnFormat, description="How generated images are returned."
    )
    max_concurrent_downloads: int = Field(
        50, ge=1, description="Most image downloads running at the same time."
    )
    download_timeout: DownloadTimeout = Field(
        default_factory=DownloadTimeout, description="Timeouts of one image download, seconds."
    )
    memory_management: MemoryManagement = Field(
        default_factory=MemoryManagement,
        description="The in-memory cache of downloaded images (LRU, bounded by entries and "
        "bytes, entries expire).",
    )
    file_bed_enabled: bool = Field(
        False,
        description="Upload attachments to a file bed (file_bed_endpoints) and send LMArena "
        "the link instead of the file.",
    )
    file_bed_selection_strategy: Literal["random", "round_robin", "failover"] = Field(
        "random",
        description='Which file bed takes an upload: "random", "round_robin" (in turn) or '
        '"failover" (the first that works, in order). A failed upload tries the next one.',
    )
    file_bed_endpoints: list[FileBedEndpoint] = Field(
        default_factory=list,
        description='File beds: [{"name", "url", "enabled", "api_key", "api_key_field" '
        '("api_key"), "upload_mode" ("json": {file_name, file_data, <api_key_field>} as the '
        'LMArenaBridge file bed takes; or "form": multipart), "form_file_field" ("file"), '
        '"response_type" ("json" or "text": the body is the link), "json_url_key" (dotted '
        'path of the link in the JSON answer, e.g. "data.url"; empty: {filename} of the '
        "LMArenaBridge file bed, served under <url without /upload>/uploads/)}].",
    )
    file_bed_upload_url: str = Field(
        "",
        description="(LMArenaBridge) Upload URL of a single file bed, used when "
        "file_bed_endpoints is empty (e.g. http://127.0.0.1:5104/upload of "
        "`lmarenarev file-bed`).",
    )
    file_bed_api_key: str = Field("", description="(LMArenaBridge) Key of that file bed.")

    @field_validator("idle_restart_timeout_seconds")
    @classmethod
    def _idle_timeout(cls, value: float) -> float:
        if value != -1 and value <= 0:
            raise ValueError("must be -1 (off) or a number of seconds above 0")
        return value

    @field_validator("id_updater_battle_target", mode="before")
    @classmethod
    def _upper_target(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

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

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        problem = ""
        try:
            check_entries(self.api_key, self.api_keys)
        except ValueError as exc:
            problem, where = str(exc), "api_keys"
        if "*" in self.cors_origins and not (self.api_key or self.api_keys):
            problem = '"*" lets every web page use the gateway: set an API key first'
            where = "cors_origins"
        if problem:  # a ValidationError so the message names the key, not the whole model
            error = PydanticCustomError("invalid_keys", "{reason}", {"reason": problem})
            details = InitErrorDetails(type=error, loc=(where,), input=None)
            raise ValidationError.from_exception_data(type(self).__name__, [details])
        return self


# --- the shape of the model: blocks, leaves, env names -------------------------------------------


def config_key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def block_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def walk_keys(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every key of `model` as a path, blocks before their own keys."""
    for name, field in model.model_fields.items():
        path = (*prefix, config_key(name, field))
        yield path, field
        block = block_model(field)
        if block is not None:
            yield from walk_keys(block, path)


def key_paths() -> dict[tuple[str, ...], FieldInfo]:
    return dict(walk_keys(Settings))


def env_var_name(path: tuple[str, ...]) -> str:
    """("empty_response_retry", "max_retries") → LMARENAREV_EMPTY_RESPONSE_RETRY__MAX_RETRIES."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


# --- the names settings_load and settings_docs define ------------------------------------------

_DEFINED_IN = {
    "LoadedSettings": "lmarenarev.config.load",
    "load_settings": "lmarenarev.config.load",
    "parse_set_option": "lmarenarev.config.load",
    "config_template": "lmarenarev.config.docs",
    "ensure_config_file": "lmarenarev.config.docs",
    "settings_reference_markdown": "lmarenarev.config.docs",
}

if not TYPE_CHECKING:  # mypy sees the imports above; a typo stays a type error

    def __getattr__(name: str) -> Any:
        """Imported on first use: those modules import this one, so an eager import here would
        be circular and break whichever of the three is imported first."""
        module = _DEFINED_IN.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)
