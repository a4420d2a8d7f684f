"""Reading the settings: defaults < config.jsonc < `LMARENAREV_*` variables < CLI flags.

Keys the model does not know become warnings, never errors; a value the model rejects stops the
load with a `ConfigError` naming the key and where it came from (file and line, variable or flag).
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from lmarenarev.config.jsonc import ConfigError, duplicate_keys, loads, nearest_line
from lmarenarev.config.settings import (
    CONFIG_FILE_NAME,
    KNOWN_SEED_KEYS_NOT_SUPPORTED,
    Settings,
    block_model,
    config_key,
    env_var_name,
    key_paths,
)

__all__ = ["LoadedSettings", "load_settings", "parse_set_option"]

Source = Literal["default", "file", "env", "cli"]


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


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
    paths = key_paths()
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
    return key, _parse_text_value(key_paths()[path], text)


# --- dropping keys the model does not know (warnings, not errors) --------------------------------


def _drop_unknown(
    model: type[BaseModel], data: dict[str, Any], prefix: tuple[str | int, ...]
) -> tuple[dict[str, Any], list[tuple[tuple[str | int, ...], list[str]]]]:
    """`data` without unknown keys, and each dropped key's path with the names it could mean."""
    fields = {config_key(name, field): field for name, field in model.model_fields.items()}
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
        if block_model(key_paths()[path]) and isinstance(value, dict):
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


def _file_layer(
    path: Path, layers: _Layers, warnings: list[str], only: Collection[str] | None = None
) -> str | None:
    """Apply `<home>/config.jsonc` if it exists; return its text for error line numbers."""
    if not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"{path}: not a file (a config.jsonc must be a file)")
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
    if only is not None:
        for key, value in data.items():
            if key in only:
                layers.apply((key,), value, "file", str(path))
        return text
    for key_path, first, again in duplicate_keys(text):
        warnings.append(
            f"{path}:{again}: {_dotted(key_path)!r} is set again (first on line {first}); "
            "the last one is used"
        )
    kept, dropped = _drop_unknown(Settings, data, ())
    for key_path, candidates in dropped:
        line = nearest_line(text, key_path)
        dotted = _dotted(key_path)
        reason = KNOWN_SEED_KEYS_NOT_SUPPORTED.get(dotted)
        if reason is not None:
            warnings.append(seed_key_warning(f"{path}:{line}", dotted, reason))
            continue
        suggestion = _close_names(str(key_path[-1]), candidates)
        warnings.append(f"unknown key {dotted!r} in {path}:{line}, ignored{suggestion}")
    for key, value in kept.items():
        layers.apply((key,), value, "file", str(path))
    return text


def seed_key_warning(where: str, key: str, reason: str) -> str:
    return f"{where}: {key!r} (LMArenaBridge) has no meaning here, ignored: {reason}"


def _apply_text_value(
    layers: _Layers, path: tuple[str, ...], value: Any, source: Source, origin: str
) -> list[str]:
    """Apply one env/CLI value; unknown keys inside a block value come back as warnings."""
    value, dropped = _drop_unknown_in(key_paths()[path].annotation, value, path)
    layers.apply(path, value, source, origin)
    warnings = []
    for where, names in dropped:
        dotted = _dotted(where)
        reason = KNOWN_SEED_KEYS_NOT_SUPPORTED.get(dotted)
        if reason is not None:
            warnings.append(seed_key_warning(origin, dotted, reason))
        else:
            suggestion = _close_names(str(where[-1]), names)
            warnings.append(f"unknown key {dotted!r} in {origin}, ignored{suggestion}")
    return warnings


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
    home: Path,
    *,
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
    only: Collection[str] | None = None,
) -> LoadedSettings:
    """Defaults < `<home>/config.jsonc` < `LMARENAREV_*` variables < `overrides` (CLI flags).

    `overrides` maps keys (dotted inside blocks) to values already parsed, as `parse_set_option`
    returns them. Returns the settings, warnings for ignored keys, and where each key came from.
    `only` (top-level keys): read just those, the others keep their defaults (the commands
    that only need to find the gateway: a mistake in another key is the gateway's business).
    """
    paths = key_paths()
    dotted_keys = [".".join(path) for path in paths]
    layers = _Layers({}, dict.fromkeys(dotted_keys, "default"), dict.fromkeys(dotted_keys, ""))
    warnings: list[str] = []
    file_path = home / CONFIG_FILE_NAME
    file_text = _file_layer(file_path, layers, warnings, only)
    for path, field in paths.items():
        name = env_var_name(path)
        if name in env and (only is None or path[0] in only):
            value = _parse_text_value(field, env[name])
            warnings += _apply_text_value(
                layers, path, value, "env", f"environment variable {name}"
            )
    for key, value in overrides.items():
        path = _known_path(key, "command line")
        warnings += _apply_text_value(layers, path, value, "cli", f"command line ({key})")
    settings = _validate(layers, file_path, file_text)
    return LoadedSettings(settings, warnings, layers.sources)
