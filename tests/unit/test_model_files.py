"""model_files: the seed formats of models.json, model_endpoint_map.json, available_models.json."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lmarenarev.config.jsonc import ConfigError
from lmarenarev.models.files import (
    EndpointMapping,
    ModelEntry,
    load_available_models,
    load_endpoint_map,
    load_models,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(load: Callable[[Path], object], path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


# --- models.json ---------------------------------------------------------------------------------

MODEL_VALUES = [
    ("plain id is text", "gpt-4o", ModelEntry("m", "gpt-4o", "text")),
    (
        "uuid",
        "0199a1ce-70b8-70a1-bcc3-3f04b155b850",
        ModelEntry("m", "0199a1ce-70b8-70a1-bcc3-3f04b155b850", "text"),
    ),
    ("image suffix", "abc:image", ModelEntry("m", "abc", "image")),
    ("search suffix", "abc:search", ModelEntry("m", "abc", "search")),
    ("text suffix", "abc:text", ModelEntry("m", "abc", "text")),
    ("null image", "null:image", ModelEntry("m", None, "image")),
    ("null alone", "null", ModelEntry("m", None, "text")),
]


@pytest.mark.parametrize(
    ("value", "entry"), [c[1:] for c in MODEL_VALUES], ids=[c[0] for c in MODEL_VALUES]
)
def test_models_json_values(tmp_path: Path, value: str, entry: ModelEntry) -> None:
    path = write(tmp_path, "models.json", f'{{"m": "{value}"}}')
    assert load_models(path) == {"m": entry}


def test_models_json_seed_example_with_comments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models.json",
        """
        {
          // text models
          "gemini-1.5-pro-flash-20240514": "gemini-1.5-pro-flash-20240514",
          "claude-3-5-sonnet-20241022": "claude-3-5-sonnet-20241022",
          "dall-e-3": "null:image", /* no id */
          "gpt-4o": "gpt-4o",
        }
        """,
    )
    models = load_models(path)
    assert list(models) == [
        "gemini-1.5-pro-flash-20240514",
        "claude-3-5-sonnet-20241022",
        "dall-e-3",
        "gpt-4o",
    ]
    assert models["dall-e-3"] == ModelEntry("dall-e-3", None, "image")


def test_missing_models_json_is_empty(tmp_path: Path) -> None:
    assert load_models(tmp_path / "models.json") == {}


MODEL_ERRORS = [
    (
        "non-string value",
        '{\n  "a": "x",\n  "b": 5\n}',
        ":3: model 'b': the value must be a string",
        "a number",
    ),
    ("null value", '{\n  "b": null\n}', ":2: model 'b': the value must be a string", "not null"),
    ("empty id", '{\n  "b": ""\n}', ":2: model 'b': the model id is empty", ""),
    ("empty id with suffix", '{\n\n  "b": ":image"\n}', ":3: model 'b': the model id is empty", ""),
    (
        "unknown suffix",
        '{\n  "b": "abc:video"\n}',
        ":2: model 'b': unknown type ':video'",
        "expected :text, :image or :search",
    ),
    ("top level array", '// models\n["a"]', ":2: the top level must be an object", ""),
]


@pytest.mark.parametrize(
    ("text", "message", "also"), [c[1:] for c in MODEL_ERRORS], ids=[c[0] for c in MODEL_ERRORS]
)
def test_models_json_errors(tmp_path: Path, text: str, message: str, also: str) -> None:
    path = write(tmp_path, "models.json", text)
    error = error_of(load_models, path)
    assert error.startswith(str(path) + message)
    assert also in error


def test_models_json_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, "models.json", '{\n  "a": "x"\n  "b": "y"\n}')
    assert error_of(load_models, path) == f"{path}:3:3: invalid JSON: Expecting ',' delimiter"


# --- model_endpoint_map.json ---------------------------------------------------------------------

SEED_MAP = """
{
  "claude-3-opus-20240229": [
    {
      "session_id": "session_for_direct_chat_1",
      "message_id": "message_for_direct_chat_1",
      "mode": "direct_chat"
    },
    {
      "session_id": "session_for_battle_A",
      "message_id": "message_for_battle_A",
      "mode": "battle",
      "battle_target": "a"
    }
  ],
  "gemini-1.5-pro-20241022": {
      "session_id": "single_session_id_no_mode",
      "message_id": "single_message_id_no_mode"
  },
  "seedream-4-high-res-4k-battle": [
    {
      "session_id": "s1",
      "message_id": "m1",
      "type": "image",
      "mode": "battle",
      "battle_target": "B",
      "note": "unknown fields are ignored"
    }
  ]
}
"""


def test_endpoint_map_seed_example(tmp_path: Path) -> None:
    path = write(tmp_path, "model_endpoint_map.json", SEED_MAP)
    assert load_endpoint_map(path) == {
        "claude-3-opus-20240229": (
            EndpointMapping(
                "session_for_direct_chat_1", "message_for_direct_chat_1", "direct_chat", None, None
            ),
            EndpointMapping("session_for_battle_A", "message_for_battle_A", "battle", "A", None),
        ),
        "gemini-1.5-pro-20241022": (
            EndpointMapping(
                "single_session_id_no_mode", "single_message_id_no_mode", None, None, None
            ),
        ),
        "seedream-4-high-res-4k-battle": (EndpointMapping("s1", "m1", "battle", "B", "image"),),
    }


def test_missing_endpoint_map_is_empty(tmp_path: Path) -> None:
    assert load_endpoint_map(tmp_path / "model_endpoint_map.json") == {}


def test_endpoint_map_optional_fields_may_be_null_or_empty(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model_endpoint_map.json",
        '{"m": {"session_id": "s", "message_id": "x", "mode": null, "battle_target": "",\n'
        '"type": null}}',
    )
    assert load_endpoint_map(path) == {"m": (EndpointMapping("s", "x", None, None, None),)}


MAP_ERRORS = [
    (
        "missing session_id",
        '{\n  "m": {\n    "message_id": "x"\n  }\n}',
        ":2: model 'm': 'session_id' must be a non-empty string",
    ),
    (
        "empty message_id",
        '{\n  "m": {\n    "session_id": "s",\n    "message_id": ""\n  }\n}',
        ":4: model 'm': 'message_id' must be a non-empty string",
    ),
    (
        "non-string id",
        '{"m": [\n  {"session_id": "s", "message_id": "x"},\n'
        '  {"session_id": 5, "message_id": "y"}\n]}',
        ":3: model 'm', entry 2: 'session_id' must be a non-empty string",
    ),
    (
        "bad mode",
        '{\n  "m": {\n    "session_id": "s",\n    "message_id": "x",\n    "mode": "arena"\n  }\n}',
        ":5: model 'm': 'mode' must be 'direct_chat' or 'battle', not 'arena'",
    ),
    (
        "bad battle target",
        '{\n  "m": {"session_id": "s", "message_id": "x",\n    "battle_target": "C"}\n}',
        ":3: model 'm': 'battle_target' must be 'A' or 'B', not 'C'",
    ),
    (
        "bad type",
        '{\n  "m": {"session_id": "s", "message_id": "x",\n    "type": "video"}\n}',
        ":3: model 'm': 'type' must be 'text' or 'image' or 'search', not 'video'",
    ),
    (
        "entry not an object",
        '{\n  "m": [\n    "s"\n  ]\n}',
        ":3: model 'm', entry 1: expected an object",
    ),
    ("value not an object", '{\n  "m": 5\n}', ":2: model 'm': expected an object"),
    ("empty pool", '{\n  "m": []\n}', ":2: model 'm': the list of mappings is empty"),
    ("top level array", "[]", ":1: the top level must be an object"),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in MAP_ERRORS], ids=[c[0] for c in MAP_ERRORS]
)
def test_endpoint_map_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "model_endpoint_map.json", text)
    assert error_of(load_endpoint_map, path).startswith(str(path) + message)


# --- available_models.json -----------------------------------------------------------------------


def test_available_models(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "available_models.json",
        '[{"id": "0199", "publicName": "gpt-4o", "organization": "openai"}, {"id": "2"}]',
    )
    assert load_available_models(path) == [
        {"id": "0199", "publicName": "gpt-4o", "organization": "openai"},
        {"id": "2"},
    ]


def test_missing_available_models_is_empty(tmp_path: Path) -> None:
    assert load_available_models(tmp_path / "available_models.json") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}', ":1: the top level must be an array"),
        ('[\n{"id": 1},\n"x"\n]', ":3: item 1 must be an object"),
    ],
)
def test_available_models_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "available_models.json", text)
    assert error_of(load_available_models, path).startswith(str(path) + message)
