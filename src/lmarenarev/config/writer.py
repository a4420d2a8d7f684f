"""Writing the data directory's files: atomically, keeping comments and formatting.

A file is written to a temporary sibling, flushed to disk and renamed over the original, so a
reader (or a crash) sees the old file or the new one, never half of one. Values are changed with
`jsonc.update_keys`, which edits only the keys it sets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .docs import config_template
from .jsonc import ConfigError, loads, update_keys


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one rename; the file keeps its permissions."""
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(path: Path, default: str) -> str:
    if not path.exists():
        return default
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _write_keys(path: Path, default: str, updates: Mapping[str, Any]) -> None:
    text = update_keys(_read(path, default), updates, source=str(path))
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def write_config_keys(path: Path, updates: Mapping[str, Any]) -> None:
    """Set top-level keys of config.jsonc (created from the template when missing)."""
    _write_keys(path, config_template(), updates)


def write_endpoint_mapping(
    path: Path, model: str, mapping: Mapping[str, Any], *, append: bool
) -> None:
    """Set `model`'s entry in model_endpoint_map.json to `mapping`, or with `append` add it to
    the model's pool (a mapping with the same session and message is replaced)."""
    text = _read(path, "{}\n")
    data = loads(text, source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object")
    current = data.get(model)
    value: Any = dict(mapping)
    if append and current is not None:
        pool = current if isinstance(current, list) else [current]
        same = (mapping["session_id"], mapping["message_id"])
        kept = [entry for entry in pool if _ids_of(entry) != same]
        value = [*kept, dict(mapping)]
    _write_keys(path, "{}\n", {model: value})


def _ids_of(entry: Any) -> tuple[Any, Any] | None:
    return (entry.get("session_id"), entry.get("message_id")) if isinstance(entry, dict) else None


def write_models(path: Path, entries: Mapping[str, str]) -> None:
    """Add (or update) `name: value` entries of models.json."""
    _write_keys(path, "{}\n", entries)
