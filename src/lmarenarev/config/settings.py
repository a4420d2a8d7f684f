"""The one typed settings model, the source of every config key, variable name and `--set` key.

`Settings` is the single source for the config file template, the environment variable names,
the `--set` keys and the configuration reference in the docs. Its fields come in groups, one
module each: the gateway's own (gateway_settings.py), what it keeps across restarts
(state_settings.py), LMArenaBridge's keys (seed_settings.py) and the managed browser's block
(browser_settings.py), with their blocks in blocks.py and media.py. Keys of LMArenaBridge keep
their names and meanings, so an existing `config.jsonc`
loads unchanged: keys of features not built yet and unknown keys become warnings, never errors.
Precedence: CLI > env > file > defaults.

Reading the layers is `load.py`, the template and the reference `docs.py`; both build on this
module.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from .arena_settings import ArenaSettings
from .browser_settings import BrowserSettings
from .chat_settings import ChatSettings
from .gateway_settings import GatewaySettings
from .keys import check_entries
from .seed_settings import SeedSettings
from .state_settings import StateSettings
from .token_pool_settings import TokenPoolSettings

CONFIG_FILE_NAME = "config.jsonc"
ENV_PREFIX = "LMARENAREV_"

# LMArenaBridge (and mogai) keys that have no meaning in lmarenarev, each with the one-line
# reason its warning gives; a dotted key is one inside a block. Every other seed key works.
KNOWN_SEED_KEYS_NOT_SUPPORTED: dict[str, str] = {
    "version": "it was the seed's own version for its updater; lmarenarev's is its package's "
    "(lmarenarev --version, and enable_auto_update)",
    "download_delay": "image downloads are paced by max_concurrent_downloads over one pooled "
    "client, so no delay between them is needed",
    "connection_pool": "image downloads share one pooled HTTP client (keep-alive on) sized by "
    "max_concurrent_downloads; set that instead",
    "metadata_timeout_minutes": "per-request state is removed on every path and swept after "
    "request_timeout_seconds; there is no metadata to time out",
    "performance_monitoring": "download figures (count, failures, slowest, cache) are in "
    "/api/monitor/performance and on the dashboard instead of slow-download log lines",
    "debug_stream_timing": "stream timing is in /metrics and the request log (first token, "
    "duration) and in --log-level debug",
    "debug_show_full_urls": "lmarenarev logs URLs in full",
    "url_display_length": "lmarenarev logs URLs in full",
    "force_stream_flush": "every SSE chunk is sent as soon as it is produced",
    "memory_management.gc_threshold_mb": "memory stays bounded without forcing garbage "
    "collection: every per-request structure is removed and the image cache is bounded by "
    "memory_management.image_cache_max_size and image_cache_max_mb",
    "memory_management.cache_config": "the image cache is one LRU bounded by "
    "memory_management.image_cache_max_size and image_cache_max_mb (nothing is kept at a "
    "'keep size'), and there is no URL history to bound",
}


# Fields in the order GatewaySettings', ArenaSettings', ChatSettings', StateSettings',
# TokenPoolSettings', SeedSettings', BrowserSettings' (the template's order).
class Settings(
    BrowserSettings,
    SeedSettings,
    TokenPoolSettings,
    StateSettings,
    ChatSettings,
    ArenaSettings,
    GatewaySettings,
):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def page_origins(self) -> list[str]:
        """The origins accepted as worker pages besides LMArena's: worker_origins and, while
        the managed browser runs, the origin of its page_url."""
        if not self.browser.enabled:
            return self.worker_origins
        return [*self.worker_origins, self.browser.page_origin()]

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
