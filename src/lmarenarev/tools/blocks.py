"""Reading call blocks, tolerantly (docs/tools.md, "What counts as a call").

A block starts at the start of a line with `<tool_call>` followed (after white space) by `{`;
a code fence around the block, or inside it around the JSON, is part of it. Anything else that
looks like the marker (in a sentence, in backticks, followed by prose) is text. The JSON runs
to its balanced end, strings respected; `</tool_call>` and the fences after it are optional.
JSON the model botched gets small repairs: control characters in strings, trailing commas, the
brackets and quote it forgot to close.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .contract import CLOSE, OPEN

_HSPACE = " \t\r"
_SPACE = " \t\r\n"
_FENCE = "```"
_CLOSERS = {"{": "}", "[": "]"}


class Start(Enum):
    NO = "no"  # no block starts here, whatever follows
    MAYBE = "maybe"  # the text ends before it can tell
    YES = "yes"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the parts of a block that starts on a line are."""

    outer_fence: bool
    inner_fence: bool
    json_start: int


@dataclass(frozen=True, slots=True)
class RawBlock:
    """A block as read: its text as the model wrote it, and its JSON value or what was wrong."""

    raw: str
    value: Any = None
    problem: str | None = None


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _fence(text: str, pos: int) -> tuple[Start, int]:
    """A code fence line (```, ```json, …) at `pos`: YES with the position after its newline."""
    head = text[pos : pos + 3]
    if head != _FENCE[: len(head)]:
        return Start.NO, pos
    if len(head) < 3:
        return Start.MAYBE, pos
    end = pos + 3
    while end < len(text) and (text[end].isalnum() or text[end] in "_+-."):
        end += 1
    end = _skip(text, end, _HSPACE)
    if end == len(text):
        return Start.MAYBE, pos
    return (Start.YES, end + 1) if text[end] == "\n" else (Start.NO, pos)


def block_start(text: str, pos: int) -> tuple[Start, Layout | None]:
    """Whether a call block starts on the line that starts at `pos`."""
    at = _skip(text, pos, _HSPACE)
    if at == len(text):
        return Start.MAYBE, None
    fenced, after = _fence(text, at)
    if fenced is Start.MAYBE:
        return Start.MAYBE, None
    if fenced is Start.YES:
        at = _skip(text, after, _HSPACE)
    head = text[at : at + len(OPEN)]
    if head != OPEN[: len(head)]:
        return Start.NO, None
    if len(head) < len(OPEN):
        return Start.MAYBE, None
    at = _skip(text, at + len(OPEN), _SPACE)
    if at == len(text):
        return Start.MAYBE, None
    inner, after = _fence(text, at)
    if inner is Start.MAYBE:
        return Start.MAYBE, None
    if inner is Start.YES:
        at = _skip(text, after, _SPACE)
        if at == len(text):
            return Start.MAYBE, None
    if text[at] != "{":
        return Start.NO, None
    return Start.YES, Layout(fenced is Start.YES, inner is Start.YES, at)


def scan_json(text: str, start: int) -> tuple[int | None, str]:
    """The end of the balanced JSON value starting at `start` (None when the text ends first,
    or a bracket does not match), and what would close what is open at the end."""
    stack: list[str] = []
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]":
            if not stack or stack.pop() != char:
                return None, ""
            if not stack:
                return index + 1, ""
    return None, ('"' if in_string else "") + "".join(reversed(stack))


def _without_trailing_commas(source: str) -> str:
    out: list[str] = []
    in_string = escaped = False
    for index, char in enumerate(source):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == ",":
            following = _skip(source, index + 1, _SPACE)
            if following < len(source) and source[following] in "}]":
                continue
        out.append(char)
    return "".join(out)


def loads_tolerant(source: str) -> tuple[Any, str | None]:
    """The JSON value of `source`, after small repairs if needed; else None and the problem."""
    problem: str | None = None
    for candidate in (source, _without_trailing_commas(source)):
        _, closers = scan_json(candidate, 0)
        for attempt in (candidate, candidate + closers) if closers else (candidate,):
            try:
                return json.loads(attempt, strict=False), None
            except ValueError as exc:
                problem = problem or f"the JSON is not valid ({exc})"
    return None, problem


def read_block(text: str, pos: int, layout: Layout) -> tuple[RawBlock, int]:
    """The block starting on the line at `pos`, and the position after it."""
    end, _ = scan_json(text, layout.json_start)
    if end is None:  # never balanced: up to the close marker (or the end), then repaired
        close = text.find(CLOSE, layout.json_start)
        stop = close if close >= 0 else len(text)
        source = text[layout.json_start : stop].rstrip()
        if layout.inner_fence or layout.outer_fence:
            source = source.removesuffix(_FENCE).rstrip()
        after = stop + len(CLOSE) if close >= 0 else stop
        after = _closing_fence(text, after) if layout.outer_fence else after
    else:
        source = text[layout.json_start : end]
        after = _tail(text, end, layout)
    value, problem = loads_tolerant(source)
    return RawBlock(text[pos:after], value, problem), after


def _tail(text: str, pos: int, layout: Layout) -> int:
    """After the JSON: the inner fence, the close marker, the outer fence, each if there."""
    if layout.inner_fence:
        pos = _closing_fence(text, pos)
    at = _skip(text, pos, _SPACE)
    if text.startswith(CLOSE, at):
        pos = at + len(CLOSE)
    return _closing_fence(text, pos) if layout.outer_fence else pos


def _closing_fence(text: str, pos: int) -> int:
    at = _skip(text, pos, _SPACE)
    if not text.startswith(_FENCE, at):
        return pos
    at = _skip(text, at + len(_FENCE), _HSPACE)
    return at


def call_fields(value: Any) -> tuple[str, Any] | str:
    """(name, arguments) of a block's JSON, or what is wrong with it. Tolerates the names models
    use instead of the contract's: `tool`/`function` for `name`, `parameters`/`args`/`input`
    for `arguments`, OpenAI's `{"function": {…}}` wrapping, and arguments as a JSON string."""
    if not isinstance(value, dict):
        return "the block must hold a JSON object with \"name\" and \"arguments\""
    if isinstance(value.get("function"), dict):
        value = {**value, **value["function"]}
    name = next(
        (value[key] for key in ("name", "tool", "function") if isinstance(value.get(key), str)),
        None,
    )
    if not name:
        return 'the block has no "name"'
    key = next((k for k in ("arguments", "parameters", "args", "input") if k in value), None)
    arguments = {} if key is None or value[key] is None else value[key]
    if isinstance(arguments, str):
        arguments, problem = loads_tolerant(arguments) if arguments.strip() else ({}, None)
        if problem is not None:
            return f"the arguments of {name!r} are not JSON"
    if not isinstance(arguments, dict):
        return f"the arguments of {name!r} must be a JSON object"
    return name, arguments
