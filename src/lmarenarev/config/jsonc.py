"""JSON with comments and trailing commas, as in LMArenaBridge's `config.jsonc`.

Comments are replaced by spaces (newlines kept), so every line and column reported by `json`
points into the original text. The same comment-free view drives a small structural scanner that
finds where a key is (`line_of_key`) and rewrites top-level values in place (`update_keys`)
without touching comments or formatting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "duplicate_keys",
    "line_of_key",
    "loads",
    "nearest_line",
    "strip_comments",
    "update_keys",
]

_COMMENT_OR_STRING = re.compile(
    r'"(?:\\.|[^"\\\n])*"'  # a string: skipped, so `//` and `/*` inside it stay untouched
    r"|//[^\n]*"
    r"|/\*.*?\*/"
    r"|/\*",  # an unterminated block comment
    re.DOTALL,
)
_TRAILING_COMMA = re.compile(r'"(?:\\.|[^"\\\n])*"|,(?=[ \t\r\n]*[}\]])')
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_WHITESPACE = " \t\r\n"
_SCALAR_END = ",:]}" + _WHITESPACE


class ConfigError(Exception):
    """A configuration file, variable or option that cannot be used; the message says where."""


class _Unterminated(ValueError):
    def __init__(self, pos: int) -> None:
        super().__init__("unterminated /* comment")
        self.pos = pos


class _Malformed(ValueError):
    """The scanner met something that is not JSONC; callers treat the key as not found."""


def strip_comments(text: str) -> str:
    """Return `text` with comments blanked to spaces; same length, same line breaks."""
    return _blank_comments(text.replace("\ufeff", " ", 1) if text.startswith("\ufeff") else text)


def _blank_comments(text: str) -> str:
    def blank(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith('"'):
            return token
        if token == "/*":
            raise _Unterminated(match.start())
        return _NOT_NEWLINE.sub(" ", token)

    return _COMMENT_OR_STRING.sub(blank, text)


def _drop_trailing_commas(text: str) -> str:
    return _TRAILING_COMMA.sub(lambda m: m.group() if m.group() != "," else " ", text)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def loads(text: str, *, source: str) -> Any:
    """Parse JSONC; errors raise `ConfigError` as `source:line:col: invalid JSON: reason`."""
    try:
        plain = _drop_trailing_commas(strip_comments(text))
    except _Unterminated as exc:
        line, col = _line_col(text, exc.pos)
        raise ConfigError(f"{source}:{line}:{col}: invalid JSON: {exc}") from None
    try:
        return json.loads(plain)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


# --- structural scanner over the comment-free text ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WHITESPACE:
        i += 1
    return i


def _string_end(s: str, i: int) -> int:
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == '"':
            return j + 1
        else:
            j += 1
    raise _Malformed("unterminated string")


def _value_end(s: str, i: int) -> int:
    if i >= len(s):
        raise _Malformed("value expected")
    if s[i] == '"':
        return _string_end(s, i)
    if s[i] == "{":
        return _object(s, i)[1]
    if s[i] == "[":
        return _array(s, i)[1]
    j = i
    while j < len(s) and s[j] not in _SCALAR_END:
        j += 1
    if j == i:
        raise _Malformed("value expected")
    return j


def _expect(s: str, i: int, chars: str) -> str:
    if i >= len(s) or s[i] not in chars:
        raise _Malformed(f"expected one of {chars!r}")
    return s[i]


def _object(s: str, i: int) -> tuple[list[_Member], int]:
    """Members of the object starting at `s[i] == "{"` and the offset just past its `}`."""
    members: list[_Member] = []
    j = _skip_ws(s, i + 1)
    while _expect(s, j, '"}') == '"':
        key_end = _string_end(s, j)
        colon = _skip_ws(s, key_end)
        _expect(s, colon, ":")
        value_start = _skip_ws(s, colon + 1)
        value_end = _value_end(s, value_start)
        members.append(_Member(json.loads(s[j:key_end]), j, value_start, value_end))
        j = _skip_ws(s, value_end)
        if _expect(s, j, ",}") == ",":
            j = _skip_ws(s, j + 1)
    return members, j + 1


def _array(s: str, i: int) -> tuple[list[tuple[int, int]], int]:
    """(start, end) of each item of the array starting at `s[i] == "["`, and its end."""
    items: list[tuple[int, int]] = []
    j = _skip_ws(s, i + 1)
    while j < len(s) and s[j] != "]":
        end = _value_end(s, j)
        items.append((j, end))
        j = _skip_ws(s, end)
        if _expect(s, j, ",]") == ",":
            j = _skip_ws(s, j + 1)
    _expect(s, j, "]")
    return items, j + 1


def _locate(s: str, key_path: tuple[str | int, ...]) -> list[int]:
    """Offsets of each component of `key_path` that exists, outermost first."""
    found: list[int] = []
    value_start = _skip_ws(s, 0)
    for part in key_path:
        if isinstance(part, str) and s.startswith("{", value_start):
            members = _object(s, value_start)[0]
            match = next((m for m in reversed(members) if m.key == part), None)
            if match is None:
                break
            found.append(match.key_start)
            value_start = match.value_start
        elif isinstance(part, int) and s.startswith("[", value_start):
            items = _array(s, value_start)[0]
            if not 0 <= part < len(items):
                break
            found.append(items[part][0])
            value_start = items[part][0]
        else:
            break
    return found


def _offsets(text: str, key_path: tuple[str | int, ...]) -> list[int]:
    try:
        return _locate(strip_comments(text), key_path)
    except (_Malformed, _Unterminated):
        return []


def line_of_key(text: str, key_path: tuple[str | int, ...]) -> int | None:
    """1-based line of the last component of `key_path` (a key, or a list index), or None."""
    found = _offsets(text, key_path)
    if not key_path or len(found) != len(key_path):
        return None
    return text.count("\n", 0, found[-1]) + 1


def nearest_line(text: str, key_path: tuple[str | int, ...]) -> int | None:
    """Line of `key_path`, or of its longest prefix that exists (for keys that are missing).

    The empty path names the document's top-level value.
    """
    if not key_path:
        try:
            s = strip_comments(text)
        except _Unterminated:
            return None
        start = _skip_ws(s, 0)
        return text.count("\n", 0, start) + 1 if start < len(s) else None
    found = _offsets(text, key_path)
    return text.count("\n", 0, found[-1]) + 1 if found else None


def duplicate_keys(text: str) -> list[tuple[tuple[str | int, ...], int, int]]:
    """Keys set twice in one object: (key path, line of the first, line of the repeat), for
    every repeat. `json` keeps the last silently; a person editing the file rarely means to."""
    try:
        s = strip_comments(text)
        found: list[tuple[tuple[str | int, ...], int, int]] = []
        _duplicates_in(s, _skip_ws(s, 0), (), found)
    except (_Malformed, _Unterminated):
        return []
    return [(path, _line(text, first), _line(text, again)) for path, first, again in found]


def _duplicates_in(
    s: str, i: int, path: tuple[str | int, ...], found: list[tuple[tuple[str | int, ...], int, int]]
) -> None:
    if s.startswith("{", i):
        seen: dict[str, int] = {}
        for member in _object(s, i)[0]:
            if member.key in seen:
                found.append(((*path, member.key), seen[member.key], member.key_start))
            seen.setdefault(member.key, member.key_start)
            _duplicates_in(s, member.value_start, (*path, member.key), found)
    elif s.startswith("[", i):
        for index, (start, _end) in enumerate(_array(s, i)[0]):
            _duplicates_in(s, start, (*path, index), found)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# --- rewriting top-level values -----------------------------------------------------------------


def _indent_of_line(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    prefix = text[line_start:pos]
    return prefix if prefix.strip() == "" else ""


def _dump(value: Any, indent: str, newline: str) -> str:
    if not isinstance(value, dict | list) or not value:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", newline + indent)


def update_keys(text: str, updates: Mapping[str, Any], *, source: str = "config.jsonc") -> str:
    """Set top-level keys of a JSONC object, keeping every comment and all other formatting.

    Existing keys get their value replaced in place (the last occurrence, the one `json` keeps);
    missing keys are appended before the closing `}`. Invalid JSONC raises `ConfigError`.
    """
    if not isinstance(loads(text, source=source), dict):
        raise ConfigError(f"{source}: cannot update keys: the top level is not an object")
    s = strip_comments(text)
    members, end = _object(s, _skip_ws(s, 0))
    newline = "\r\n" if "\r\n" in text else "\n"
    indent = _indent_of_line(text, members[0].key_start) if members else "  "
    last = {m.key: m for m in members}
    edits: list[tuple[int, int, str]] = []
    for key, value in updates.items():
        if key in last:
            member = last[key]
            dumped = _dump(value, _indent_of_line(text, member.key_start), newline)
            edits.append((member.value_start, member.value_end, dumped))
    missing = [key for key in updates if key not in last]
    if missing:
        edits.append(_append_edit(text, s, end - 1, members, missing, updates, indent, newline))
    for edit_start, edit_end, replacement in sorted(edits, reverse=True):
        text = text[:edit_start] + replacement + text[edit_end:]
    return text


def _append_edit(
    text: str,
    s: str,
    close: int,
    members: list[_Member],
    missing: list[str],
    updates: Mapping[str, Any],
    indent: str,
    newline: str,
) -> tuple[int, int, str]:
    """One insertion that adds the `missing` keys before the `}` at offset `close`."""
    entries = [f"{indent}{json.dumps(k, ensure_ascii=False)}: " for k in missing]
    values = [_dump(updates[key], indent, newline) for key in missing]
    body = ("," + newline).join(e + v for e, v in zip(entries, values, strict=True))
    last_token = s[:close].rstrip(_WHITESPACE)
    needs_comma = bool(members) and not last_token.endswith(",")
    comma_at = len(last_token)
    line_start = text.rfind("\n", 0, close) + 1
    if text[line_start:close].strip() == "" and line_start > comma_at:
        insertion, at = body + newline, line_start
    else:
        insertion, at = newline + body + newline, close
    if needs_comma:
        # The comma goes right after the last value, before any comment that follows it.
        text_between = text[comma_at:at]
        return comma_at, at, "," + text_between + insertion
    return at, at, insertion
