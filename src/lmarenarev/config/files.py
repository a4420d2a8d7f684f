"""Reading every configuration file of a data directory at once, as `serve` and a reload do.

`ConfigSource` remembers what besides the files made the settings (the environment and the
command line), so a reload re-reads the files with the same precedence as the start did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.files import (
    EndpointMapping,
    ModelEntry,
    load_available_models,
    load_endpoint_map,
    load_models,
)
from .load import load_settings
from .settings import Settings

MODELS_FILE = "models.json"
ENDPOINT_MAP_FILE = "model_endpoint_map.json"
AVAILABLE_MODELS_FILE = "available_models.json"


@dataclass(frozen=True)
class ConfigSource:
    home: Path
    env: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    models: dict[str, ModelEntry]
    endpoint_map: dict[str, tuple[EndpointMapping, ...]]
    warnings: list[str]
    sources: dict[str, str]  # key → "default" | "file" | "env" | "cli"


def load_config(source: ConfigSource) -> LoadedConfig:
    """config.jsonc, models.json and model_endpoint_map.json; `ConfigError` names what is wrong."""
    loaded = load_settings(source.home, env=source.env, overrides=source.overrides)
    return LoadedConfig(
        settings=loaded.settings,
        models=load_models(source.home / MODELS_FILE),
        endpoint_map=load_endpoint_map(source.home / ENDPOINT_MAP_FILE),
        warnings=list(loaded.warnings),
        sources=dict(loaded.sources),
    )


def load_catalog_file(home: Path) -> list[dict[str, Any]]:
    """available_models.json as the last `update-models` (or refresh) wrote it; [] if missing."""
    return load_available_models(home / AVAILABLE_MODELS_FILE)
