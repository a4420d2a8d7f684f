"""The keys of LMArenaBridge and its mogai fork: same names and meanings, so their config files
load unchanged (the seeds' READMEs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from .blocks import BypassInjection, EmptyResponseRetry
from .media import (
    DownloadTimeout,
    FileBedEndpoint,
    ImageReturnFormat,
    LocalSaveFormat,
    MemoryManagement,
)


class SeedSettings(BaseModel):
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
        60.0,
        ge=0,
        description="How long a request waits for a free worker tab before it fails with 503 "
        "(before the first tab ever connected: first_tab_wait_seconds).",
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
    enable_auto_update: bool | Literal["notify", "apply"] = Field(
        True,
        description='Look for a newer lmarenarev release at start (at most once a day, never '
        'blocking it). true or "notify": log a notice and show it on the dashboard; "apply": '
        "also install it as `lmarenarev update` does (pip, or git pull and a reinstall in a "
        "clone), then say to restart; false: never look. The userscript updates itself from "
        "the gateway (@updateURL) either way.",
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
        description='File beds: [{"name", "url", "preset", "enabled", "api_key", '
        '"api_key_field", "upload_mode" ("json": {file_name, file_data, <api_key_field>} as '
        'the LMArenaBridge file bed takes; "form": multipart), "form_file_field", "form_fields" '
        '(more form fields), "response_type" ("json"; "text": the first link in the answer), '
        '"json_url_key" (path of the link in a JSON answer: "data.url", "files[0].url"; empty: '
        "{filename} of the LMArenaBridge file bed)}]. A preset (imgbb, freeimage, 0x0, uguu, "
        "bashupload, tempsh, lmarenabridge; or the one of the url's host) gives the keys left "
        'out; {"name", "url"} alone is enough for those hosts (docs/files.md).',
    )
    file_bed_upload_url: str = Field(
        "",
        description="(LMArenaBridge) Upload URL of a single file bed of LMArenaBridge's shape, "
        "used when file_bed_endpoints is empty (e.g. `lmarenarev file-bed` on a machine "
        "LMArena can reach).",
    )
    file_bed_api_key: str = Field("", description="(LMArenaBridge) Key of that file bed.")

    @property
    def update_mode(self) -> Literal["off", "notify", "apply"]:
        """What enable_auto_update asks for (true means "notify")."""
        if self.enable_auto_update is True:
            return "notify"
        return "off" if self.enable_auto_update is False else self.enable_auto_update

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
