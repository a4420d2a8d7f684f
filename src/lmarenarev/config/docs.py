"""The settings rendered for people: the config.jsonc template and the markdown reference.

Both are generated from `Settings`, so every key, its default and its description appear in the
new config file and in docs/config-reference.md exactly as the model defines them.
"""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from lmarenarev.config.blocks import Injection
from lmarenarev.config.keys import ApiKeyEntry
from lmarenarev.config.media import FileBedEndpoint
from lmarenarev.config.settings import (
    CONFIG_FILE_NAME,
    KNOWN_SEED_KEYS_NOT_SUPPORTED,
    Settings,
    block_model,
    config_key,
    walk_keys,
)

__all__ = ["config_template", "ensure_config_file", "settings_reference_markdown"]

_SECTION_BEFORE = {
    "host": "Gateway",
    "session_id": "LMArenaBridge settings (same names and meanings as its config.jsonc)",
    "browser": "Managed browser (lmarenarev serve --browser, lmarenarev login)",
}

_HEADER = """\
lmarenarev configuration: JSON with // and /* */ comments; trailing commas are fine.

Precedence: command-line options (--host, --port, --set key=value) > environment variables
> this file > built-in defaults. Every key can also be set as an environment variable named
LMARENAREV_ + the key in upper case, e.g. LMARENAREV_PORT=6000; a key inside a block joins
the names with a double underscore: LMARENAREV_EMPTY_RESPONSE_RETRY__MAX_RETRIES=3. Values of
variables and of --set are read as JSON when they parse as JSON, else as plain text.

The config.jsonc, models.json and model_endpoint_map.json of LMArenaBridge work unchanged; the
few of its keys that have no meaning here are ignored with a warning that says why. The README
of lmarenarev (section "Configuration") describes every key."""


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
        key = config_key(name, field)
        comma = "," if index < len(items) - 1 else ""
        if model is Settings and name in _SECTION_BEFORE:
            lines += ["", f"{indent}// ---- {_SECTION_BEFORE[name]} ----"]
        if model is Settings:
            lines.append("")
        lines += _comment(field.description or "", indent)
        block = block_model(field)
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
    if annotation is ApiKeyEntry:
        return "key {name, key or sha256, rpm, models, enabled}"
    if annotation is FileBedEndpoint:
        return "file bed {name, url, ...}"
    return "object"


def _md_cell(text: str) -> str:
    parts = text.replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _default_text(field: FieldInfo, value: Any) -> str:
    if block_model(field) is not None:
        return "(the keys below)"
    text = json.dumps(_plain(value), ensure_ascii=False)
    return f"`{text}`" if len(text) <= 60 else "(see meaning)"


def settings_reference_markdown() -> str:
    """Every key as a markdown table (key | type | default | meaning), blocks as dotted keys."""
    defaults = Settings().model_dump(mode="json", by_alias=True)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for path, field in walk_keys(Settings):
        value: Any = defaults
        for part in path:
            value = value[part]
        cells = [f"`{'.'.join(path)}`", _type_text(field.annotation)]
        cells += [_default_text(field, value), field.description or ""]
        rows.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    ignored = "\n".join(
        f"- `{key}`: {_md_cell(reason)}"
        for key, reason in sorted(KNOWN_SEED_KEYS_NOT_SUPPORTED.items())
    )
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
        "Every key of LMArenaBridge and its mogai fork works, but these, which have no meaning "
        "here; they are accepted and ignored with a warning that says why:\n\n"
        f"{ignored}\n\nUnknown keys are ignored with a warning too."
    )
    return "\n".join([intro, "", *rows, "", outro]) + "\n"
