"""The one typed settings model, the source of every config key, variable name and `--set` key.

`Settings` is the single source for the config file template, the environment variable names,
the `--set` keys and the configuration reference in the docs. Its fields come in groups, one
module each: the gateway's own (gateway_settings.py) and LMArenaBridge's keys (seed_settings.py),
with their blocks in blocks.py and media.py. Keys of LMArenaBridge keep their names and
meanings, so an existing `config.jsonc` loads unchanged: keys of features not built yet and
unknown keys become warnings, never errors. Precedence: CLI > env > file > defaults.

Reading the layers is `load.py`, the template and the reference `docs.py`; both build on this
module.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from .chat_settings import ChatSettings
from .gateway_settings import GatewaySettings
from .keys import check_entries
from .seed_settings import SeedSettings

CONFIG_FILE_NAME = "config.jsonc"
ENV_PREFIX = "LMARENAREV_"

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


class Settings(SeedSettings, ChatSettings, GatewaySettings):  # fields: from the last base on
    model_config = ConfigDict(extra="forbid", frozen=True)

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
