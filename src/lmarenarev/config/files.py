"""Reading every configuration file of a data directory at once, as `serve` and a reload do.

`ConfigSource` remembers what besides the files made the settings (the environment and the
command line), so a reload re-reads the files with the same precedence as the start did.
"""

from __future__ import annotations

import os
import secrets
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
from .checks import setting_warnings
from .jsonc import ConfigError
from .load import load_settings
from .settings import Settings

HOME_ENV = "LMARENAREV_HOME"
DEFAULT_HOME = "~/lmarenarev"
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


def data_directory(given: Path | None, env: Mapping[str, str]) -> Path:
    """The data directory of every command: `--home`, else `$LMARENAREV_HOME`, else
    ~/lmarenarev; never the current directory, so nothing lands in a clone's working tree."""
    chosen = given if given is not None else Path(env.get(HOME_ENV) or DEFAULT_HOME)
    return chosen.expanduser().resolve()


def load_config(source: ConfigSource) -> LoadedConfig:
    """config.jsonc, models.json and model_endpoint_map.json; `ConfigError` names what is wrong."""
    loaded = load_settings(source.home, env=source.env, overrides=source.overrides)
    return LoadedConfig(
        settings=loaded.settings,
        models=load_models(source.home / MODELS_FILE),
        endpoint_map=load_endpoint_map(source.home / ENDPOINT_MAP_FILE),
        warnings=[*loaded.warnings, *setting_warnings(loaded.settings)],
        sources=dict(loaded.sources),
    )


def load_catalog_file(home: Path) -> list[dict[str, Any]]:
    """available_models.json as the last `update-models` (or refresh) wrote it; [] if missing."""
    return load_available_models(home / AVAILABLE_MODELS_FILE)


def worker_token(settings: Settings, home: Path) -> str:
    """The configured token, else the one kept in <home>/worker_token (made on first start)."""
    if settings.worker_token:
        return settings.worker_token
    path = home / "worker_token"
    try:
        if path.exists():
            token = path.read_text("utf-8").strip()
            if token:
                return token
        token = secrets.token_urlsafe(24)
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise data_error(path, exc) from None
    return token


def data_error(path: Path, exc: OSError | UnicodeDecodeError) -> ConfigError:
    reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
    return ConfigError(f"cannot use the data directory: {path}: {reason}")
