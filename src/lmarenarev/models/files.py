"""The model files of LMArenaBridge: models.json, model_endpoint_map.json, available_models.json.

Formats are the seed's, so existing files work unchanged. Each loader returns plain frozen data;
a file that is missing means "nothing configured", a file that is wrong stops the start with a
`ConfigError` naming the file, the line and the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from lmarenarev.config.jsonc import ConfigError, loads, nearest_line

__all__ = [
    "EndpointMapping",
    "ModelEntry",
    "ModelType",
    "load_available_models",
    "load_endpoint_map",
    "load_models",
]

ModelType = Literal["text", "image", "search"]
_MODEL_TYPES: tuple[ModelType, ...] = ("text", "image", "search")
_MODES = ("direct_chat", "battle")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str
    arena_id: str | None
    type: ModelType
    automatic: bool = False  # offered from LMArena's list, not from models.json


@dataclass(frozen=True, slots=True)
class EndpointMapping:
    session_id: str
    message_id: str
    mode: Literal["direct_chat", "battle"] | None
    battle_target: Literal["A", "B"] | None
    type: ModelType | None


class _Source:
    """A parsed file and its text, to name the line of whatever is wrong in it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def error(self, key_path: tuple[str | int, ...], message: str) -> ConfigError:
        line = nearest_line(self.text, key_path)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: {message}")


def _read(path: Path) -> tuple[_Source, Any] | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return _Source(path, text), loads(text, source=str(path))


def _object_of_models(source: _Source, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise source.error((), "the top level must be an object mapping model names to values")
    return data


# --- models.json ---------------------------------------------------------------------------------


def load_models(path: Path) -> dict[str, ModelEntry]:
    """models.json: `{"name": "id"}`, `"id:image"`, `"id:search"`, `"id:text"`, `"null:image"`."""
    read = _read(path)
    if read is None:
        return {}
    source, data = read
    return {
        name: _model_entry(source, name, value)
        for name, value in _object_of_models(source, data).items()
    }


def _model_entry(source: _Source, name: str, value: Any) -> ModelEntry:
    if not isinstance(value, str):
        raise source.error(
            (name,),
            f'model {name!r}: the value must be a string "<id>" or "<id>:<type>", '
            f"not {_json_type(value)}",
        )
    arena_id, sep, suffix = value.rpartition(":")
    if not sep:
        arena_id, suffix = value, "text"
    if suffix not in _MODEL_TYPES:
        raise source.error(
            (name,),
            f"model {name!r}: unknown type ':{suffix}' in {value!r} "
            "(expected :text, :image or :search)",
        )
    if not arena_id.strip():
        raise source.error((name,), f"model {name!r}: the model id is empty")
    return ModelEntry(name, None if arena_id == "null" else arena_id, suffix)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


# --- model_endpoint_map.json ---------------------------------------------------------------------


def load_endpoint_map(path: Path) -> dict[str, tuple[EndpointMapping, ...]]:
    """model_endpoint_map.json: each model maps to one mapping object or a list of them (a pool)."""
    read = _read(path)
    if read is None:
        return {}
    source, data = read
    pools: dict[str, tuple[EndpointMapping, ...]] = {}
    for name, value in _object_of_models(source, data).items():
        if isinstance(value, list):
            if not value:
                raise source.error((name,), f"model {name!r}: the list of mappings is empty")
            pools[name] = tuple(_mapping(source, name, i, item) for i, item in enumerate(value))
        else:
            pools[name] = (_mapping(source, name, None, value),)
    return pools


def _mapping(source: _Source, name: str, index: int | None, value: Any) -> EndpointMapping:
    """One mapping object; `index` is its place in the model's list (None: a lone object)."""
    key_path: tuple[str | int, ...] = (name,) if index is None else (name, index)
    label = f"model {name!r}" + ("" if index is None else f", entry {index + 1}")
    if not isinstance(value, dict):
        raise source.error(
            key_path,
            f"{label}: expected an object with session_id and message_id, not {_json_type(value)}",
        )

    def fail(field: str, message: str) -> ConfigError:
        return source.error((*key_path, field), f"{label}: {field!r} {message}")

    ids: dict[str, str] = {}
    for field in ("session_id", "message_id"):
        raw = value.get(field)
        if not isinstance(raw, str) or not raw.strip():
            raise fail(field, "must be a non-empty string")
        ids[field] = raw
    mode = _optional_choice(value, "mode", _MODES, str.lower, fail)
    target = _optional_choice(value, "battle_target", ("A", "B"), str.upper, fail)
    model_type = _optional_choice(value, "type", _MODEL_TYPES, str.lower, fail)
    return EndpointMapping(
        session_id=ids["session_id"],
        message_id=ids["message_id"],
        mode=cast(Literal["direct_chat", "battle"] | None, mode),
        battle_target=cast(Literal["A", "B"] | None, target),
        type=cast(ModelType | None, model_type),
    )


def _optional_choice(
    mapping: dict[str, Any],
    field: str,
    choices: tuple[str, ...],
    normalize: Callable[[str], str],
    fail: Callable[[str, str], ConfigError],
) -> str | None:
    raw = mapping.get(field)
    if raw is None or raw == "":
        return None
    value = normalize(raw) if isinstance(raw, str) else raw
    if value not in choices:
        expected = " or ".join(repr(c) for c in choices)
        raise fail(field, f"must be {expected}, not {raw!r}")
    return cast(str, value)


# --- available_models.json -----------------------------------------------------------------------


def load_available_models(path: Path) -> list[dict[str, Any]]:
    """available_models.json (written by `update-models`): the list of model objects."""
    read = _read(path)
    if read is None:
        return []
    source, data = read
    if not isinstance(data, list):
        raise source.error((), "the top level must be an array of model objects")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise source.error((index,), f"item {index} must be an object, not {_json_type(item)}")
    return data
