"""Incremental parser for LMArena's streaming body (protocol doc §2).

The body is newline-separated records `<side><code>:<JSON>` (`a0:"Hi"`, `ad:{...}`). Text arrives
already decoded by the browser in arbitrary pieces; `StreamParser.feed` keeps only the unfinished
last line and parses every complete line exactly once. Nothing here raises on bad input: records
it does not understand are counted in `ignored`, and those whose prefix it does not know at all
(a new record type: LMArena changed its stream) also in `unknown`, by prefix.

Since 2026 (§2.1, §2.2): a reasoning payload may be an object carrying its text under one of
`thinking`, `reasoning`, `text`, `content`, `delta`; a bare `0:` record is text of side a;
lines starting with a hex id are React Server Components rows, skipped (not unknown).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeGuard

from lmarenarev.arena.events import (
    ArenaError,
    Citation,
    Event,
    Finish,
    ImageOut,
    ReasoningDelta,
    TextDelta,
    Usage,
)

DEFAULT_MAX_LINE_CHARS = 8 * 1024 * 1024
ARENA_ERROR_SENTINEL = "hasArenaError"

_SIDE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz")
_CODE_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_SIDES = frozenset("ab")
_BLANKS = " \t"
_HEX_DIGITS = frozenset("0123456789")  # an RSC row id starts with a digit (`1:I[…]`, `7:[…]`)
# Codes understood, or known and deliberately ignored (`f` start step, `e` finish step, §2.2).
KNOWN_CODES = frozenset("023cdefg")
REASONING_KEYS = ("thinking", "reasoning", "text", "content", "delta")  # §2.2 2026
_decode = json.JSONDecoder().raw_decode
# What `_decode` does after a `"`, in C (public in `json.decoder`, missing from its stubs).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def _is_prefix(line: str, pos: int) -> bool:
    return (
        len(line) > pos + 2
        and line[pos + 2] == ":"
        and line[pos] in _SIDE_CHARS
        and line[pos + 1] in _CODE_CHARS
    )


def _skip_blanks(line: str, pos: int) -> int:
    end = len(line)
    while pos < end and line[pos] in _BLANKS:
        pos += 1
    return pos


def _is_count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


class StreamParser:
    """Feed decoded text in any pieces; get the events of every line completed so far."""

    __slots__ = (
        "_dropping",
        "_partial",
        "_partial_len",
        "ignored",
        "max_line_chars",
        "records",
        "unknown",
    )

    def __init__(self, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> None:
        self.max_line_chars = max_line_chars
        self.records = 0
        self.ignored = 0
        self.unknown: dict[str, int] = {}  # records of a prefix not known, e.g. {"ax": 2}
        self._partial: list[str] = []
        self._partial_len = 0
        self._dropping = False  # inside a line already known to be too long

    def feed(self, text: str) -> list[Event]:
        events: list[Event] = []
        if not text:
            return events
        lines = text.split("\n")  # not splitlines(): U+2028 etc. may appear raw inside JSON
        tail = lines.pop()
        max_chars = self.max_line_chars
        for line in lines:
            if self._partial or self._dropping:
                joined = self._join_partial(line)
                if joined is None:
                    continue
                line = joined
            # The hot path: a line that is exactly one `a0:"…"` text record (what `_line` and
            # `_records` would make of it, without their general checks).
            if line[1:4] == '0:"' and line[0] in _SIDES and len(line) <= max_chars:
                try:
                    value, end = _scanstring(line, 4, True)
                except ValueError:
                    end = -1
                if end == len(line):
                    self.records += 1
                    if value == ARENA_ERROR_SENTINEL:
                        events.append(ArenaError(value, line[0]))
                    else:
                        events.append(TextDelta(value, line[0]))
                    continue
            self._line(line, events)
        self._keep(tail)
        return events

    def close(self) -> list[Event]:
        """Parse a final line that had no newline; the parser is then empty again."""
        events: list[Event] = []
        line = self._join_partial("")
        if line:
            self._line(line, events)
        return events

    def _join_partial(self, end: str) -> str | None:
        """The buffered start of a line plus its `end`, or None when the line is dropped."""
        if self._dropping:
            self._dropping = False
            return None
        if self._partial_len + len(end) > self.max_line_chars:
            self._count_long_line()
            return None
        line = "".join(self._partial) + end
        self._partial.clear()
        self._partial_len = 0
        return line

    def _keep(self, tail: str) -> None:
        if self._dropping or not tail:
            return
        if self._partial_len + len(tail) > self.max_line_chars:
            self._count_long_line()
            self._dropping = True
            return
        self._partial.append(tail)
        self._partial_len += len(tail)

    def _count_long_line(self) -> None:
        self.records += 1
        self.ignored += 1
        self._partial.clear()
        self._partial_len = 0

    def _line(self, line: str, events: list[Event]) -> None:
        if len(line) > self.max_line_chars:
            self._count_long_line()
            return
        if line[-1:] == "\r":
            line = line[:-1]
        if not line:
            return
        pos = 0
        if line[0] in _BLANKS or line[0] == "d":  # rare: indentation, `data:` framing
            pos = _skip_blanks(line, 0)
            if line.startswith("data:", pos):
                pos = _skip_blanks(line, pos + 5)
            if pos >= len(line):
                return
        if line.isspace():
            return
        self._records(line, pos, events)

    def _records(self, line: str, pos: int, events: list[Event]) -> None:
        """Parse one line: usually one record, several if records were not newline-separated."""
        size = len(line)
        while True:
            self.records += 1
            is_record = _is_prefix(line, pos)
            if not is_record and line[pos] != "{":
                if line[pos] not in _HEX_DIGITS or not self._row(line, pos, events):
                    self.ignored += 1
                return
            start = pos + 3 if is_record else pos
            if start < size and line[start] in _BLANKS:
                start = _skip_blanks(line, start)
            try:
                value, end = _decode(line, start)
            except (ValueError, RecursionError):
                self.ignored += 1
                return
            if not is_record:
                understood = self._error_object(value, events)
            elif line[pos + 1] == "0" and type(value) is str and line[pos] in _SIDES:
                understood = True  # the hot path: a text delta
                side = line[pos]
                if value == ARENA_ERROR_SENTINEL:
                    events.append(ArenaError(value, side))
                else:
                    events.append(TextDelta(value, side))
            else:
                understood = self._record(line[pos], line[pos + 1], value, events)
            if not understood:
                self.ignored += 1
                if is_record and (line[pos] not in _SIDES or line[pos + 1] not in KNOWN_CODES):
                    prefix = line[pos : pos + 2]
                    self.unknown[prefix] = self.unknown.get(prefix, 0) + 1
            if end < size and line[end] in _BLANKS:
                end = _skip_blanks(line, end)
            if end >= size:
                return
            pos = end

    def _record(self, side: str, code: str, value: Any, events: list[Event]) -> bool:
        if side not in _SIDES:
            return False
        if code == "0":  # a well-formed text delta was handled inline by `_records`
            return False
        if code == "g":
            text = value if type(value) is str else _reasoning_text(value)
            if text is None:
                return False
            events.append(ReasoningDelta(text, side))
            return True
        if code == "2":
            return _data_parts(value, side, events)
        if code == "c":
            return _citations(value, side, events)
        if code == "3":
            return _arena_error(value, side, events)
        if code == "d":
            return _finish(value, side, events)
        return False

    def _row(self, line: str, pos: int, events: list[Event]) -> bool:
        """A line starting with a digit: the bare `0:"…"` text channel (side a), else an RSC
        row to skip (§2.1 2026). True when it was one of those (neither is unknown)."""
        colon = line.find(":", pos)
        if colon == -1 or not line[pos:colon].isalnum():
            return False
        if line[pos:colon] == "0":
            try:
                value, end = _decode(line, _skip_blanks(line, colon + 1))
            except (ValueError, RecursionError):
                return True
            if type(value) is str and end >= len(line.rstrip(_BLANKS)):
                events.append(TextDelta(value, "a"))
        return True

    def _error_object(self, value: Any, events: list[Event]) -> bool:
        if type(value) is not dict or "error" not in value:
            return False
        return _arena_error(value["error"], "a", events)


def _reasoning_text(value: Any) -> str | None:
    """The text of an object reasoning payload (`{"thinking": "…"}` etc., §2.2 2026)."""
    if type(value) is not dict:
        return None
    for key in REASONING_KEYS:
        text = value.get(key)
        if type(text) is str:
            return text
    return None


def _data_parts(value: Any, side: str, events: list[Event]) -> bool:
    """`a2:[...]`: images become events; heartbeats are understood and dropped."""
    if type(value) is not list:
        return False
    understood = True
    for part in value:
        kind = part.get("type") if type(part) is dict else None
        if kind == "image" and type(part.get("image")) is str and part["image"]:
            events.append(ImageOut(part["image"], side))
        elif kind != "heartbeat":
            understood = False
    return understood


def _citations(value: Any, side: str, events: list[Event]) -> bool:
    """`ac:{"toolCallId", "argsTextDelta": "{\"source\": {...} | [...]}"}` → one per source."""
    args = value.get("argsTextDelta") if type(value) is dict else None
    if type(args) is not str:
        return False
    try:
        parsed = json.loads(args)
    except (ValueError, RecursionError):
        return False
    sources = parsed.get("source") if type(parsed) is dict else None
    if type(sources) is dict:
        sources = [sources]
    if type(sources) is not list:
        return False
    found = False
    for source in sources:
        url = source.get("url") if type(source) is dict else None
        if type(url) is str and url:
            title = source.get("title")
            events.append(Citation(url, title if type(title) is str and title else url, side))
            found = True
    return found


def _arena_error(value: Any, side: str, events: list[Event]) -> bool:
    """An error payload: a string, `{"message": ...}`, or anything else kept as its JSON text."""
    if type(value) is dict and type(value.get("message")) is str:
        value = value["message"]
    if type(value) is not str:
        value = json.dumps(value, ensure_ascii=False)
    events.append(ArenaError(value, side))
    return True


def _finish(value: Any, side: str, events: list[Event]) -> bool:
    if type(value) is not dict:
        return False
    reason = value.get("finishReason")
    usage = value.get("usage")
    parsed_usage = None
    if type(usage) is dict:
        prompt, completion = usage.get("promptTokens"), usage.get("completionTokens")
        if _is_count(prompt) and _is_count(completion):
            parsed_usage = Usage(prompt, completion)
    events.append(Finish(reason if type(reason) is str and reason else "stop", parsed_usage, side))
    return True


def parse_all(text: str) -> list[Event]:
    """Parse a whole body at once (non-stream use and tests)."""
    parser = StreamParser()
    return parser.feed(text) + parser.close()
