"""The one typed settings model, and how it is read from config.jsonc, the environment and the CLI.

`Settings` is the single source for the config file template, the environment variable names,
the `--set` keys and the configuration reference in the docs. Keys of LMArenaBridge keep their
names and meanings, so an existing `config.jsonc` loads unchanged: keys of features not built yet
and unknown keys become warnings, never errors. Precedence: CLI > env > file > defaults.
"""

from __future__ import annotations

import difflib
import json
import textwrap
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from lmarenarev.jsonc import ConfigError, loads, nearest_line

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_RECAPTCHA_SITE_KEY",
    "ENV_PREFIX",
    "KNOWN_SEED_KEYS_NOT_SUPPORTED",
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
        "save_images_locally",
        "local_save_format",
        "image_return_format",
        "file_bed_enabled",
        "file_bed_selection_strategy",
        "file_bed_endpoints",
        "file_bed_upload_url",
        "file_bed_api_key",
        "max_concurrent_downloads",
        "download_timeout",
        "download_delay",
        "connection_pool",
        "memory_management",
        "metadata_timeout_minutes",
        "performance_monitoring",
        "image_attachment_bypass_enabled",
        "enable_auto_update",
        "enable_idle_restart",
        "idle_restart_timeout_seconds",
        "debug_stream_timing",
        "debug_show_full_urls",
        "url_display_length",
        "force_stream_flush",
        "version",
    }
)

Source = Literal["default", "file", "env", "cli"]


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
    log_prompts: bool = Field(
        False,
        description="Keep prompts and replies in the request log. Off: only metadata (model, "
        "timing, sizes, errors) is kept.",
    )
    conversation_cache_size: int = Field(
        2000,
        ge=1,
        description="How many conversations the modern flow remembers, so that a follow-up "
        "message continues the same LMArena session.",
    )
    expose_available_models: bool = Field(
        False,
        description="Also list in /v1/models every model the page reports "
        "(available_models.json), not only those in models.json.",
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
        description="Key clients must send as `Authorization: Bearer <key>`. Empty: no key is "
        "required.",
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
        description="Longest wait for the next piece of a response before the request fails "
        "with a timeout.",
    )

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


_SECTION_BEFORE = {
    "host": "Gateway",
    "session_id": "LMArenaBridge settings (same names and meanings as its config.jsonc)",
}


# --- the shape of the model: blocks, leaves, env names -------------------------------------------


def _config_key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _block_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every key of `model` as a path, blocks before their own keys."""
    for name, field in model.model_fields.items():
        path = (*prefix, _config_key(name, field))
        yield path, field
        block = _block_model(field)
        if block is not None:
            yield from _walk(block, path)


def _all_paths() -> dict[tuple[str, ...], FieldInfo]:
    return dict(_walk(Settings))


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def env_var_name(path: tuple[str, ...]) -> str:
    """("empty_response_retry", "max_retries") → LMARENAREV_EMPTY_RESPONSE_RETRY__MAX_RETRIES."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return all(isinstance(arg, str) for arg in get_args(annotation))
    if origin in (Union, types.UnionType):
        return all(_is_text(arg) for arg in get_args(annotation) if arg is not type(None))
    return False


def _parse_text_value(field: FieldInfo, text: str) -> Any:
    """JSON when it parses as JSON, else the text itself; a text field keeps `123` as "123"."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if _is_text(field.annotation) and not isinstance(value, str):
        return text
    return value


def _close_names(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _known_path(key: str, what: str) -> tuple[str, ...]:
    paths = _all_paths()
    path = tuple(key.split("."))
    if path not in paths:
        candidates = [".".join(p) for p in paths]
        raise ConfigError(f"{what}: unknown key {key!r}{_close_names(key, candidates)}")
    return path


def parse_set_option(s: str) -> tuple[str, Any]:
    """`--set key=value`: the value is JSON when it parses as JSON, else a plain string.

    Keys inside a block are dotted: `--set empty_response_retry.max_retries=3`.
    """
    key, sep, text = s.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {s!r}: expected key=value")
    path = _known_path(key, "--set")
    return key, _parse_text_value(_all_paths()[path], text)


# --- dropping keys the model does not know (warnings, not errors) --------------------------------


def _drop_unknown(
    model: type[BaseModel], data: dict[str, Any], prefix: tuple[str | int, ...]
) -> tuple[dict[str, Any], list[tuple[tuple[str | int, ...], list[str]]]]:
    """`data` without unknown keys, and each dropped key's path with the names it could mean."""
    fields = {_config_key(name, field): field for name, field in model.model_fields.items()}
    kept: dict[str, Any] = {}
    dropped: list[tuple[tuple[str | int, ...], list[str]]] = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            dropped.append(((*prefix, key), list(fields)))
            continue
        kept[key], inner = _drop_unknown_in(field.annotation, value, (*prefix, key))
        dropped += inner
    return kept, dropped


def _drop_unknown_in(
    annotation: Any, value: Any, path: tuple[str | int, ...]
) -> tuple[Any, list[tuple[tuple[str | int, ...], list[str]]]]:
    if not isinstance(value, dict):
        return value, []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _drop_unknown(annotation, value, path)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return _drop_unknown(models[0], value, path) if models else (value, [])
    if origin is dict and len(args) == 2:
        kept: dict[str, Any] = {}
        dropped: list[tuple[tuple[str | int, ...], list[str]]] = []
        for key, item in value.items():
            kept[key], inner = _drop_unknown_in(args[1], item, (*path, key))
            dropped += inner
        return kept, dropped
    return value, []


# --- merging the layers -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    warnings: list[str]
    sources: dict[str, str]


@dataclass
class _Layers:
    """The raw values merged so far, and for each dotted key the layer and origin that set it."""

    raw: dict[str, Any]
    sources: dict[str, str]
    origins: dict[str, str]

    def apply(self, path: tuple[str, ...], value: Any, source: Source, origin: str) -> None:
        """Set one key; a block given as an object sets only the keys it contains."""
        parent = self.raw
        for part in path[:-1]:
            if not isinstance(parent.get(part), dict):
                parent[part] = {}
            parent = parent[part]
        for depth in range(1, len(path) + 1):
            ancestor = ".".join(path[:depth])
            self.sources[ancestor], self.origins[ancestor] = source, origin
        if _block_model(_all_paths()[path]) and isinstance(value, dict):
            if not isinstance(parent.get(path[-1]), dict):
                parent[path[-1]] = {}
            for key, item in value.items():
                self.apply((*path, key), item, source, origin)
            return
        parent[path[-1]] = value
        prefix = ".".join(path) + "."
        for key in self.sources:
            if key.startswith(prefix):
                self.sources[key], self.origins[key] = source, origin


def _file_layer(path: Path, layers: _Layers, warnings: list[str]) -> str | None:
    """Apply `<home>/config.jsonc` if it exists; return its text for error line numbers."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    data = loads(text, source=str(path))
    if not isinstance(data, dict):
        line = nearest_line(text, ())
        raise ConfigError(f"{path}:{line}: the top level must be an object {{...}}")
    for key in [k for k in data if k in KNOWN_SEED_KEYS_NOT_SUPPORTED]:
        line = nearest_line(text, (key,))
        warnings.append(
            f"{path}:{line}: {key!r} is an LMArenaBridge setting lmarenarev does not support "
            "yet; ignored"
        )
        del data[key]
    kept, dropped = _drop_unknown(Settings, data, ())
    for key_path, candidates in dropped:
        line = nearest_line(text, key_path)
        suggestion = _close_names(str(key_path[-1]), candidates)
        warnings.append(f"unknown key {_dotted(key_path)!r} in {path}:{line}, ignored{suggestion}")
    for key, value in kept.items():
        layers.apply((key,), value, "file", str(path))
    return text


def _apply_text_value(
    layers: _Layers, path: tuple[str, ...], value: Any, source: Source, origin: str
) -> list[str]:
    """Apply one env/CLI value; unknown keys inside a block value come back as warnings."""
    value, dropped = _drop_unknown_in(_all_paths()[path].annotation, value, path)
    layers.apply(path, value, source, origin)
    return [
        f"unknown key {_dotted(where)!r} in {origin}, ignored{_close_names(str(where[-1]), names)}"
        for where, names in dropped
    ]


def _validate(layers: _Layers, file_path: Path, file_text: str | None) -> Settings:
    try:
        return Settings.model_validate(layers.raw)
    except ValidationError as exc:
        problems = [_describe(error, layers, file_path, file_text) for error in exc.errors()]
        raise ConfigError("\n".join(problems)) from None


def _describe(error: ErrorDetails, layers: _Layers, file_path: Path, file_text: str | None) -> str:
    loc: tuple[str | int, ...] = tuple(part for part in error["loc"] if part != "[key]")
    message = str(error["msg"]).removeprefix("Value error, ")
    dotted = _dotted(loc) or "(top level)"
    keys = [".".join(str(p) for p in loc[:n]) for n in range(len(loc), 0, -1)]
    setting = next((key for key in keys if key in layers.sources), "")
    if layers.sources.get(setting) == "file" and file_text is not None:
        line = nearest_line(file_text, loc)
        where = f"{file_path}:{line}" if line else str(file_path)
    else:
        where = layers.origins.get(setting, "defaults")
    return f"{where}: {dotted!r}: {message}"


def load_settings(
    home: Path, *, env: Mapping[str, str], overrides: Mapping[str, Any]
) -> LoadedSettings:
    """Defaults < `<home>/config.jsonc` < `LMARENAREV_*` variables < `overrides` (CLI flags).

    `overrides` maps keys (dotted inside blocks) to values already parsed, as `parse_set_option`
    returns them. Returns the settings, warnings for ignored keys, and where each key came from.
    """
    paths = _all_paths()
    dotted_keys = [".".join(path) for path in paths]
    layers = _Layers({}, dict.fromkeys(dotted_keys, "default"), dict.fromkeys(dotted_keys, ""))
    warnings: list[str] = []
    file_path = home / CONFIG_FILE_NAME
    file_text = _file_layer(file_path, layers, warnings)
    for path, field in paths.items():
        name = env_var_name(path)
        if name in env:
            value = _parse_text_value(field, env[name])
            warnings += _apply_text_value(
                layers, path, value, "env", f"environment variable {name}"
            )
    for key, value in overrides.items():
        path = _known_path(key, "command line")
        warnings += _apply_text_value(layers, path, value, "cli", f"command line ({key})")
    settings = _validate(layers, file_path, file_text)
    return LoadedSettings(settings, warnings, layers.sources)


# --- the config file template and the docs -----------------------------------------------------

_HEADER = """\
lmarenarev configuration: JSON with // and /* */ comments; trailing commas are fine.

Precedence: command-line options (--host, --port, --set key=value) > environment variables
> this file > built-in defaults. Every key can also be set as an environment variable named
LMARENAREV_ + the key in upper case, e.g. LMARENAREV_PORT=6000; a key inside a block joins
the names with a double underscore: LMARENAREV_EMPTY_RESPONSE_RETRY__MAX_RETRIES=3. Values of
variables and of --set are read as JSON when they parse as JSON, else as plain text.

The config.jsonc, models.json and model_endpoint_map.json of LMArenaBridge work unchanged; its
keys for features lmarenarev does not have yet are ignored with a warning. The README of
lmarenarev (section "Configuration") describes every key."""


def _comment(text: str, indent: str) -> list[str]:
    width = max(100 - len(indent) - 3, 40)
    return [f"{indent}// {line}" for line in textwrap.wrap(text, width, break_on_hyphens=False)]


def _plain(value: Any) -> Any:
    """Whole floats as integers (`60`, not `60.0`), as the seed configs write them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _json_value(value: Any, indent: str) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False, indent=2)
    return text.replace("\n", "\n" + indent)


def _render_members(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    items = list(model.model_fields.items())
    for index, (name, field) in enumerate(items):
        key = _config_key(name, field)
        comma = "," if index < len(items) - 1 else ""
        if model is Settings and name in _SECTION_BEFORE:
            lines += ["", f"{indent}// ---- {_SECTION_BEFORE[name]} ----"]
        if model is Settings:
            lines.append("")
        lines += _comment(field.description or "", indent)
        block = _block_model(field)
        if block is None:
            lines.append(f"{indent}{json.dumps(key)}: {_json_value(values[key], indent)}{comma}")
        else:
            lines.append(f"{indent}{json.dumps(key)}: {{")
            lines += _render_members(block, values[key], indent + "  ")
            lines.append(f"{indent}}}{comma}")
    return lines


def config_template() -> str:
    """The text of a new config.jsonc: every key with its description and default value."""
    defaults = Settings().model_dump(mode="json", by_alias=True)
    header = [f"// {line}".rstrip() for line in _HEADER.splitlines()]
    body = _render_members(Settings, defaults, "  ")
    return "\n".join([*header, "{", *body[1:], "}"]) + "\n"


def ensure_config_file(home: Path) -> bool:
    """Create `<home>/config.jsonc` from the template unless it exists; True if created."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        with (home / CONFIG_FILE_NAME).open("x", encoding="utf-8") as file:
            file.write(config_template())
    except FileExistsError:
        return False
    return True


def _type_text(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_text(arg) for arg in args)
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"object ({_type_text(args[0])} → {_type_text(args[1])})"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if annotation in names:
        return names[annotation]
    if annotation is Injection:
        return "injection {role, content, participantPosition}"
    return "object"


def _md_cell(text: str) -> str:
    parts = text.replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _default_text(field: FieldInfo, value: Any) -> str:
    if _block_model(field) is not None:
        return "(the keys below)"
    text = json.dumps(_plain(value), ensure_ascii=False)
    return f"`{text}`" if len(text) <= 60 else "(see meaning)"


def settings_reference_markdown() -> str:
    """Every key as a markdown table (key | type | default | meaning), blocks as dotted keys."""
    defaults = Settings().model_dump(mode="json", by_alias=True)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for path, field in _walk(Settings):
        value: Any = defaults
        for part in path:
            value = value[part]
        cells = [f"`{'.'.join(path)}`", _type_text(field.annotation)]
        cells += [_default_text(field, value), field.description or ""]
        rows.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    ignored = ", ".join(f"`{key}`" for key in sorted(KNOWN_SEED_KEYS_NOT_SUPPORTED))
    intro = (
        "Settings live in `<home>/config.jsonc` (created with every key and its description on "
        "first start). Precedence: command-line options (`--host`, `--port`, `--set key=value`) "
        "> environment variables > the file > defaults. Every key can be set as an environment "
        "variable `LMARENAREV_<KEY>` (upper case; a key inside a block joins the names with `__`, "
        "e.g. `LMARENAREV_EMPTY_RESPONSE_RETRY__MAX_RETRIES=3`); values of variables and of "
        "`--set` are JSON when they parse as JSON, else plain text. Keys inside a block can be set "
        "alone: `--set empty_response_retry.max_retries=3`."
    )
    outro = (
        "LMArenaBridge keys for features lmarenarev does not have yet are accepted and ignored "
        f"with a warning: {ignored}. Unknown keys are ignored with a warning too."
    )
    return "\n".join([intro, "", *rows, "", outro]) + "\n"
