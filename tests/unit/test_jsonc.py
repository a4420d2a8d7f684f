"""jsonc: comments, trailing commas, error positions, key lines and in-place updates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmarenarev.config.jsonc import (
    ConfigError,
    duplicate_keys,
    line_of_key,
    loads,
    nearest_line,
    update_keys,
)

PARSES = [
    ("line comment", '{"a": 1 // one\n}', {"a": 1}),
    ("block comment", '{/* x */"a": /* y */ 1}', {"a": 1}),
    ("multi-line block comment", '{\n/* x\n y */\n"a": 1}', {"a": 1}),
    (
        "url with // in a string",
        '{"u": "https://lmarena.ai//x"} // c',
        {"u": "https://lmarena.ai//x"},
    ),
    ("/* in a string", '{"s": "a /* b */ c"}', {"s": "a /* b */ c"}),
    (
        "escaped quote then //",
        r'{"s": "say \"hi\" // not a comment"}',
        {"s": 'say "hi" // not a comment'},
    ),
    ("escaped backslash at string end", r'{"s": "C:\\", "t": "//x"}', {"s": "C:\\", "t": "//x"}),
    ("trailing comma in object", '{"a": 1,}', {"a": 1}),
    ("trailing comma in array", '{"a": [1, 2,]}', {"a": [1, 2]}),
    ("nested trailing commas", '{"a": [[1,], {"b": [2,],},],}', {"a": [[1], {"b": [2]}]}),
    ("trailing comma before comment", '{"a": 1, // last\n}', {"a": 1}),
    ("comma inside a string is kept", '{"s": ",}"}', {"s": ",}"}),
    ("CRLF with comments", '{\r\n  // c\r\n  "a": 1,\r\n}\r\n', {"a": 1}),
    ("UTF-8 BOM", '\ufeff{"a": 1}', {"a": 1}),
    ("non-ASCII", '{"名": "值"} // 注释', {"名": "值"}),
    ("top-level array", "[1, 2, /* c */ 3,]", [1, 2, 3]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in PARSES], ids=[c[0] for c in PARSES])
def test_loads(text: str, expected: Any) -> None:
    assert loads(text, source="t.jsonc") == expected


ERRORS = [
    (
        "missing comma",
        '{\n  "a": 1\n  "b": 2\n}',
        "t.jsonc:3:3: invalid JSON: Expecting ',' delimiter",
    ),
    (
        "error after a comment keeps columns",
        '{"a": /* xx */ ,}',
        "t.jsonc:1:17: invalid JSON: Expecting value",
    ),
    (
        "error after multi-line comment",
        '{\n/*\n\n*/ "a" 1}',
        "t.jsonc:4:8: invalid JSON: Expecting ':' delimiter",
    ),
    (
        "unterminated comment",
        '{\n  "a": 1 /* open',
        "t.jsonc:2:10: invalid JSON: unterminated /* comment",
    ),
    ("empty document", "// nothing\n", "t.jsonc:2:1: invalid JSON: Expecting value"),
    (
        "CRLF line numbers",
        '{\r\n"a": 1\r\n"b": 2}',
        "t.jsonc:3:1: invalid JSON: Expecting ',' delimiter",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_loads_errors_name_file_line_and_column(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(text, source="t.jsonc")
    assert str(info.value) == message


DOC = """{
  // "port": 1 is only a comment
  "url": "http://x//y", /* "port": 2 */
  "port": 5102,
  "block": {
    "port": 3,
    "list": [
      {"k": 1},
      {"k": 2,},
    ],
  },
}
"""

LINES = [
    (("port",), 4),
    (("url",), 3),
    (("block",), 5),
    (("block", "port"), 6),
    (("block", "list", 1), 9),
    (("block", "list", 1, "k"), 9),
    (("missing",), None),
    (("block", "missing"), None),
    (("block", "list", 5), None),
    (("port", "deeper"), None),
    ((), None),
]


@pytest.mark.parametrize(("path", "line"), LINES, ids=[repr(c[0]) for c in LINES])
def test_line_of_key(path: tuple[str | int, ...], line: int | None) -> None:
    assert line_of_key(DOC, path) == line


def test_line_of_key_on_broken_text_is_none() -> None:
    assert line_of_key('{"a": [1, 2', ("a",)) is None


def test_line_of_key_uses_the_last_duplicate_like_json() -> None:
    assert line_of_key('{"a": 1,\n"a": 2}', ("a",)) == 2


def test_nearest_line_falls_back_to_the_parent() -> None:
    assert nearest_line(DOC, ("block", "missing")) == 5
    assert nearest_line(DOC, ("nothing",)) is None


SEED = """{
  // 当前会话ID（通过 id_updater.py 自动更新）
  "session_id": "old-session", // inline comment
  /* block */ "message_id": "old-message",
  "url": "https://lmarena.ai//c", // keep
  "nested": {
    "x": [1, 2,],
  },
  // 最后一个键
  "api_key": ""
}
"""

UPDATES = [
    ("replace strings", {"session_id": "s2", "message_id": "m2"}),
    ("replace last key", {"api_key": "sk-1"}),
    ("replace with a block", {"nested": {"y": [1, {"z": True}]}}),
    ("append missing keys", {"id_updater_last_mode": "battle", "n": None}),
    ("replace last and append", {"api_key": "k", "new": 1}),
    ("non-ASCII value", {"session_id": "会话"}),
]


@pytest.mark.parametrize("updates", [c[1] for c in UPDATES], ids=[c[0] for c in UPDATES])
def test_update_keys_keeps_comments_and_parses(updates: dict[str, Any]) -> None:
    updated = update_keys(SEED, updates)
    expected = {**loads(SEED, source="seed"), **updates}
    assert loads(updated, source="updated") == expected
    for comment in (
        "// 当前会话ID",
        "// inline comment",
        "/* block */",
        "// keep",
        "// 最后一个键",
    ):
        assert comment in updated


def test_update_keys_changes_only_the_value() -> None:
    updated = update_keys(SEED, {"session_id": "new"})
    assert updated == SEED.replace('"old-session"', '"new"')


def test_update_keys_appends_before_the_closing_brace_with_the_file_indent() -> None:
    updated = update_keys(SEED, {"message_id": "m", "mode": "battle"})
    assert updated.endswith('  "api_key": "",\n  "mode": "battle"\n}\n')


def test_update_keys_puts_the_comma_before_a_trailing_comment() -> None:
    updated = update_keys('{\n  "a": 1 // note\n}', {"b": 2})
    assert updated == '{\n  "a": 1, // note\n  "b": 2\n}'


def test_update_keys_after_a_trailing_comma() -> None:
    updated = update_keys('{\n  "a": 1,\n}', {"b": 2})
    assert loads(updated, source="u") == {"a": 1, "b": 2}


def test_update_keys_on_an_empty_object() -> None:
    assert loads(update_keys("{}", {"a": "x"}), source="u") == {"a": "x"}


def test_update_keys_single_line_object() -> None:
    assert loads(update_keys('{"a": 1}', {"b": [1]}), source="u") == {"a": 1, "b": [1]}


def test_update_keys_keeps_crlf() -> None:
    text = '{\r\n  "a": 1, // c\r\n  "b": {"x": 1}\r\n}\r\n'
    updated = update_keys(text, {"b": {"x": 2, "y": 3}, "c": 4})
    assert "\n" not in updated.replace("\r\n", "")
    assert loads(updated, source="u") == {"a": 1, "b": {"x": 2, "y": 3}, "c": 4}


def test_update_keys_does_not_touch_nested_keys_of_the_same_name() -> None:
    text = '{\n  "inner": {"a": 1},\n  "a": 2\n}'
    assert json.loads(update_keys(text, {"a": 3})) == {"inner": {"a": 1}, "a": 3}


def test_update_keys_rejects_a_document_that_is_not_an_object() -> None:
    with pytest.raises(ConfigError):
        update_keys("[1, 2]", {"a": 1})


def test_update_keys_rejects_invalid_jsonc() -> None:
    with pytest.raises(ConfigError, match=r"^cfg\.jsonc:1:8: invalid JSON"):
        update_keys('{"a": 1', {"a": 2}, source="cfg.jsonc")


json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_commented_pretty_json_parses_back(data: dict[str, Any]) -> None:
    lines = json.dumps(data, indent=2, ensure_ascii=False).split("\n")
    commented = "\n".join(f'/* {i} */ {line} // c{i} "//"' for i, line in enumerate(lines))
    assert loads(commented, source="h") == data


@given(
    st.dictionaries(st.text(), json_values, max_size=4),
    st.dictionaries(st.text(), json_values, max_size=4),
)
def test_update_keys_matches_a_dict_update(base: dict[str, Any], updates: dict[str, Any]) -> None:
    text = "{\n  // header\n" + json.dumps(base, indent=2)[1:]
    assert loads(update_keys(text, updates), source="h") == {**base, **updates}


@given(st.dictionaries(st.text(), json_values, min_size=1, max_size=5))
def test_line_of_key_points_at_the_key(data: dict[str, Any]) -> None:
    text = "// c\n" + json.dumps(data, indent=2, ensure_ascii=False)
    lines = text.split("\n")
    for key in data:
        line = line_of_key(text, (key,))
        assert line is not None
        assert lines[line - 1].startswith("  " + json.dumps(key, ensure_ascii=False) + ": ")


def test_duplicate_keys_are_found_with_both_lines_at_any_depth() -> None:
    text = """{
  "port": 5102, // a comment: "port": 1
  "block": {"a": 1, "a": 2},
  "list": [{"x": 1}, {"x": 2, "x": 3}],
  "port": 6000
}"""
    assert duplicate_keys(text) == [
        (("block", "a"), 3, 3),
        (("list", 1, "x"), 4, 4),
        (("port",), 2, 5),
    ]
    assert duplicate_keys('{"a": 1, "b": {"a": 2}}') == []
    assert duplicate_keys("{broken") == []
