"""StreamParser: one table test per rule of protocol §2, then properties over generated streams."""

from __future__ import annotations

import codecs
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmarenarev.arena.events import (
    ArenaError,
    Citation,
    Event,
    Finish,
    ImageOut,
    ReasoningDelta,
    TextDelta,
    Usage,
    join_text,
)
from lmarenarev.arena.stream import StreamParser, parse_all


def _citation_record(prefix: str, source: object) -> str:
    args = json.dumps({"source": source})
    return prefix + json.dumps({"toolCallId": "citation-source", "argsTextDelta": args})


RULES: list[tuple[str, str, list[Event]]] = [
    ("text", 'a0:"Hello"\n', [TextDelta("Hello")]),
    ("text side b", 'b0:"Hi"\n', [TextDelta("Hi", "b")]),
    ("text escapes", 'a0:"a\\n\\"b\\" \\u00e9 \\ud83d\\ude00"\n', [TextDelta('a\n"b" é 😀')]),
    ("raw line separator inside json", 'a0:"x\u2028y"\n', [TextDelta("x\u2028y")]),
    ("empty text", 'a0:""\n', [TextDelta("")]),
    ("arena error sentinel", 'a0:"hasArenaError"\n', [ArenaError("hasArenaError")]),
    ("arena error sentinel b", 'b0:"hasArenaError"\n', [ArenaError("hasArenaError", "b")]),
    ("sentinel only when exact", 'a0:"hasArenaError!"\n', [TextDelta("hasArenaError!")]),
    ("reasoning", 'ag:"think"\n', [ReasoningDelta("think")]),
    ("reasoning b", 'bg:"think"\n', [ReasoningDelta("think", "b")]),
    ("image", 'a2:[{"type":"image","image":"https://x/i.png"}]\n', [ImageOut("https://x/i.png")]),
    (
        "images b",
        'b2:[{"type":"image","image":"u1"},{"type":"image","image":"u2"}]\n',
        [ImageOut("u1", "b"), ImageOut("u2", "b")],
    ),
    ("heartbeat", 'a2:[{"type":"heartbeat"}]\n', []),
    ("routed model", 'a2:[{"type":"routed_model","organization":"x"}]\n', []),
    (
        "citation object",
        _citation_record("ac:", {"url": "https://e.com", "title": "E"}) + "\n",
        [Citation("https://e.com", "E")],
    ),
    (
        "citation list, title falls back to url, url-less skipped",
        _citation_record("bc:", [{"url": "u1", "title": "T"}, {"url": "u2"}, {"title": "x"}])
        + "\n",
        [Citation("u1", "T", "b"), Citation("u2", "u2", "b")],
    ),
    ("error record", 'a3:"Resource exhausted."\n', [ArenaError("Resource exhausted.")]),
    ("error record b", 'b3:"boom"\n', [ArenaError("boom", "b")]),
    ("finish", 'ad:{"finishReason":"stop"}\n', [Finish("stop")]),
    ("finish default reason", "ad:{}\n", [Finish("stop")]),
    (
        "finish with usage",
        'bd:{"finishReason":"length","usage":{"promptTokens":12,"completionTokens":3}}\n',
        [Finish("length", Usage(12, 3), "b")],
    ),
    (
        "finish with partial usage",
        'ad:{"finishReason":"stop","usage":{"promptTokens":12}}\n',
        [Finish("stop")],
    ),
    (
        "finish with non-int usage",
        'ad:{"usage":{"promptTokens":1.5,"completionTokens":true}}\n',
        [Finish("stop")],
    ),
    ("unknown prefixes", 'af:{"messageId":"1"}\nae:{}\na8:[1]\nbe:{}\nc0:"x"\nz9:1\n', []),
    ("json error line", '{"error":"Too Many Requests"}\n', [ArenaError("Too Many Requests")]),
    ("json error object", '{"error":{"message":"bad"}}\n', [ArenaError("bad")]),
    ("data prefix", 'data: a0:"x"\ndata:a0:"y"\n', [TextDelta("x"), TextDelta("y")]),
    ("crlf", 'a0:"x"\r\nad:{}\r\n', [TextDelta("x"), Finish("stop")]),
    ("blank lines", '\n\n  \r\na0:"x"\n\n', [TextDelta("x")]),
    (
        "records without newline",
        'a0:"x"a0:"y" ag:"r"ad:{"finishReason":"stop"}\n',
        [TextDelta("x"), TextDelta("y"), ReasoningDelta("r"), Finish("stop")],
    ),
    ("no final newline", 'a0:"x"\na0:"y"', [TextDelta("x"), TextDelta("y")]),
]


@pytest.mark.parametrize(("body", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_rule(body: str, expected: list[Event]) -> None:
    assert parse_all(body) == expected


IGNORED: list[tuple[str, str, int]] = [
    ("unknown prefix", 'af:{"messageId":"1"}\n', 1),
    ("heartbeat is not counted", 'a2:[{"type":"heartbeat"}]\n', 0),
    ("other data part is counted", 'a2:[{"type":"routed_model"}]\n', 1),
    ("malformed json", 'a0:"unterminated\n', 1),
    ("text not a string", "a0:42\n", 1),
    ("data not a list", 'a2:{"type":"image"}\n', 1),
    ("image without url", 'a2:[{"type":"image"}]\n', 1),
    ("citation args not json", 'ac:{"toolCallId":"x","argsTextDelta":"{oops"}\n', 1),
    ("citation without source", 'ac:{"toolCallId":"x","argsTextDelta":"{}"}\n', 1),
    ("citation without args", 'ac:{"toolCallId":"x"}\n', 1),
    ("finish not an object", 'ad:"stop"\n', 1),
    ("plain text line", "hello world\n", 1),
    ("json without error key", '{"message":"x"}\n', 1),
    ("openai [DONE]", "data: [DONE]\n", 1),
    ("garbage after a record", 'a0:"x" trailing\n', 1),
    ("deep nesting", "a2:" + "[" * 100_000 + "\n", 1),
    ("integer over the digit limit", "a2:[" + "1" * 5000 + "]\n", 1),
    ("prefix without payload", "a0:\n", 1),
]


@pytest.mark.parametrize(("body", "count"), [r[1:] for r in IGNORED], ids=[r[0] for r in IGNORED])
def test_ignored_counter(body: str, count: int) -> None:
    parser = StreamParser()
    parser.feed(body)
    parser.close()
    assert parser.ignored == count


def test_records_counter() -> None:
    parser = StreamParser()
    parser.feed('a0:"x"\n\naf:{}\na2:[{"type":"heartbeat"}]a0:"y"\n')
    assert (parser.records, parser.ignored) == (4, 1)


def test_garbage_after_a_record_keeps_the_record() -> None:
    assert parse_all('a0:"x" trailing\n') == [TextDelta("x")]


def test_error_payload_that_is_not_a_string_keeps_its_json() -> None:
    assert parse_all('a3:{"code":5}\n') == [ArenaError('{"code": 5}')]


def test_partial_line_waits_for_its_newline() -> None:
    parser = StreamParser()
    assert parser.feed('a0:"Hel') == []
    assert parser.feed('lo"\na0:"x"') == [TextDelta("Hello")]
    assert parser.close() == [TextDelta("x")]
    assert parser.close() == []


def test_cr_split_from_lf_across_feeds() -> None:
    parser = StreamParser()
    assert parser.feed('a0:"x"\r') == []
    assert parser.feed('\na0:"y"\r\n') == [TextDelta("x"), TextDelta("y")]


def test_long_line_is_dropped_in_one_feed() -> None:
    parser = StreamParser(max_line_chars=20)
    events = parser.feed('a0:"' + "x" * 30 + '"\na0:"ok"\n')
    assert events == [TextDelta("ok")]
    assert parser.ignored == 1


def test_long_line_is_dropped_across_feeds_without_buffering_it() -> None:
    parser = StreamParser(max_line_chars=20)
    assert parser.feed('a0:"' + "x" * 10) == []
    for _ in range(100):
        assert parser.feed("x" * 10) == []
    assert parser._partial_len == 0
    assert parser.feed('"\na0:"ok"\n') == [TextDelta("ok")]
    assert parser.ignored == 1


def test_long_unterminated_line_at_close_is_dropped() -> None:
    parser = StreamParser(max_line_chars=20)
    parser.feed("a0:" + "x" * 30)
    assert parser.close() == []
    assert parser.ignored == 1


def test_line_at_the_limit_is_kept() -> None:
    line = 'a0:"' + "x" * 16 + '"'
    parser = StreamParser(max_line_chars=len(line))
    assert parser.feed(line[:7]) == []
    assert parser.feed(line[7:] + "\n") == [TextDelta("x" * 16)]


# --- properties ----------------------------------------------------------------------------

_relaxed = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)

_side = st.sampled_from("ab")
_ascii = st.booleans()
_text = st.text(max_size=20)


def _dumps(value: object, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii)


@st.composite
def _record(draw: st.DrawFn) -> tuple[str, list[Event]]:
    """One valid record line (without separator) and the events it must produce."""
    side = draw(_side)
    ascii_only = draw(_ascii)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        text = draw(_text)
        event: Event = ArenaError(text, side) if text == "hasArenaError" else TextDelta(text, side)
        return f"{side}0:{_dumps(text, ascii_only)}", [event]
    if kind == 1:
        text = draw(_text)
        return f"{side}g:{_dumps(text, ascii_only)}", [ReasoningDelta(text, side)]
    if kind == 2:
        urls = draw(st.lists(st.text(min_size=1, max_size=10), max_size=3))
        parts: list[dict[str, str]] = [{"type": "image", "image": u} for u in urls]
        if draw(st.booleans()):
            parts.insert(draw(st.integers(0, len(parts))), {"type": "heartbeat"})
        return f"{side}2:{_dumps(parts, ascii_only)}", [ImageOut(u, side) for u in urls]
    if kind == 3:
        pairs = draw(st.lists(st.tuples(st.text(min_size=1), _text), min_size=1, max_size=3))
        sources = [{"url": u, "title": t} for u, t in pairs]
        payload = {"toolCallId": "c", "argsTextDelta": _dumps({"source": sources}, ascii_only)}
        events: list[Event] = [Citation(u, t or u, side) for u, t in pairs]
        return f"{side}c:{_dumps(payload, ascii_only)}", events
    if kind == 4:
        text = draw(_text)
        return f"{side}3:{_dumps(text, ascii_only)}", [ArenaError(text, side)]
    if kind == 5:
        reason = draw(st.sampled_from(["stop", "length", "content-filter", "unknown"]))
        counts = draw(st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))
        body: dict[str, object] = {"finishReason": reason}
        if counts is not None:
            body["usage"] = {"promptTokens": counts[0], "completionTokens": counts[1]}
        usage = None if counts is None else Usage(*counts)
        return f"{side}d:{_dumps(body, ascii_only)}", [Finish(reason, usage, side)]
    if kind == 6:
        message = draw(_text)
        return _dumps({"error": message}, ascii_only), [ArenaError(message)]
    if kind == 7:
        return f'{side}2:[{{"type":"heartbeat"}}]', []
    return _unknown_record(draw, ascii_only), []


@st.composite
def _unknown(draw: st.DrawFn) -> str:
    return _unknown_record(draw, draw(_ascii))


def _unknown_record(draw: st.DrawFn, ascii_only: bool) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    side = draw(st.sampled_from(letters))
    code = draw(st.sampled_from("0123456789" + letters))
    if side in "ab" and code in "02cgd3":
        side = "c"
    # Objects, arrays and strings only: a bare number could swallow the next record's prefix
    # (`1` + `e5:` reads as 1e5) when records are not newline-separated.
    value = draw(
        st.dictionaries(st.text(max_size=5), st.integers() | _text, max_size=3)
        | st.lists(st.integers(), max_size=3)
        | _text
    )
    return f"{side}{code}:{_dumps(value, ascii_only)}"


@st.composite
def _stream(draw: st.DrawFn) -> tuple[str, list[Event]]:
    records = draw(st.lists(_record(), max_size=12))
    pieces: list[str] = []
    expected: list[Event] = []
    for line, events in records:
        if draw(st.booleans()) and not line.startswith("{"):
            line = draw(st.sampled_from(["data:", "data: "])) + line
        pieces.append(line + draw(st.sampled_from(["\n", "\r\n", "\n\n"])))
        expected.extend(events)
    unterminated = draw(st.booleans())
    if pieces and unterminated:
        pieces[-1] = pieces[-1].rstrip("\r\n")
    return "".join(pieces), expected


def _cuts(data: st.DataObject, size: int) -> list[int]:
    return sorted(data.draw(st.lists(st.integers(0, size), max_size=10)))


def _split(data: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@_relaxed
@given(_stream())
def test_whole_stream_gives_the_expected_events(stream: tuple[str, list[Event]]) -> None:
    text, expected = stream
    assert parse_all(text) == expected


@_relaxed
@given(st.data(), _stream())
def test_splitting_the_text_anywhere_changes_nothing(
    data: st.DataObject, stream: tuple[str, list[Event]]
) -> None:
    text, expected = stream
    parser = StreamParser()
    events: list[Event] = []
    for piece in _split(text, _cuts(data, len(text))):
        events += parser.feed(piece)
    events += parser.close()
    assert events == expected


@_relaxed
@given(st.data(), _stream())
def test_splitting_the_utf8_bytes_anywhere_changes_nothing(
    data: st.DataObject, stream: tuple[str, list[Event]]
) -> None:
    text, expected = stream
    raw = text.encode("utf-8")
    bounds = [0, *_cuts(data, len(raw)), len(raw)]
    decoder = codecs.getincrementaldecoder("utf-8")()
    parser = StreamParser()
    events: list[Event] = []
    for a, b in itertools.pairwise(bounds):
        events += parser.feed(decoder.decode(raw[a:b]))
    events += parser.feed(decoder.decode(b"", final=True))
    events += parser.close()
    assert events == expected


@_relaxed
@given(st.lists(_record(), max_size=12))
def test_records_without_newlines_parse_like_lines(records: list[tuple[str, list[Event]]]) -> None:
    expected = [event for _, events in records for event in events]
    assert parse_all("".join(line for line, _ in records)) == expected


@_relaxed
@given(st.lists(_unknown(), max_size=10))
def test_unknown_prefixes_never_produce_events(lines: list[str]) -> None:
    parser = StreamParser()
    assert parser.feed("\n".join(lines) + "\n") == []
    assert parser.ignored == len(lines)


@_relaxed
@given(_stream())
def test_crlf_equals_lf(stream: tuple[str, list[Event]]) -> None:
    text, expected = stream
    lf = text.replace("\r\n", "\n")
    assert parse_all(lf) == parse_all(lf.replace("\n", "\r\n")) == expected


@_relaxed
@given(st.text(max_size=300), st.lists(st.integers(0, 300), max_size=8))
def test_garbage_never_raises_and_output_is_bounded(text: str, cuts: list[int]) -> None:
    parser = StreamParser()
    events: list[Event] = []
    for piece in _split(text, sorted(c for c in cuts if c <= len(text))):
        events += parser.feed(piece)
    events += parser.close()
    assert len(events) <= len(text) // 3
    assert parser.ignored <= parser.records


@_relaxed
@given(
    st.lists(
        st.sampled_from(['a0:"', "ag:", "a2:[", "{", '"', "}", "]", ":", "\n", "\\", "ad:{", ","])
        | st.text(max_size=3),
        max_size=60,
    )
)
def test_record_shaped_garbage_never_raises(tokens: list[str]) -> None:
    text = "".join(tokens)
    events = parse_all(text)
    assert len(events) <= len(text) // 3


@given(st.lists(_record(), max_size=30))
def test_join_text_keeps_each_sides_text_and_every_other_event_in_order(
    records: list[tuple[str, list[Event]]],
) -> None:
    events = [event for _, expected in records for event in expected]
    joined = join_text(events)

    deltas = (TextDelta, ReasoningDelta)

    def text(of: list[Event], kind: type, side: str) -> str:
        return "".join(e.text for e in of if type(e) is kind and e.side == side)

    for kind in deltas:
        for side in "ab":
            assert text(joined, kind, side) == text(events, kind, side)
    assert [e for e in joined if not isinstance(e, deltas)] == [
        e for e in events if not isinstance(e, deltas)
    ]
    # The order of the kinds and sides of text is kept: no run is left split, none merged.
    def runs(of: list[Event]) -> list[tuple[type, str]]:
        keys = [(type(e), e.side) if isinstance(e, deltas) else (type(e), "") for e in of]
        return [key for key, _ in itertools.groupby(keys)]

    assert runs(joined) == runs(events)
    for before, after in itertools.pairwise(joined):
        assert not (isinstance(before, deltas) and type(before) is type(after)
                    and before.side == after.side)
    assert len(joined) <= len(events)


def test_join_text_joins_runs_between_other_events() -> None:
    events: list[Event] = [
        TextDelta("a"), TextDelta("b"), Finish("stop", None), TextDelta("c"),
        TextDelta("d", "b"), TextDelta("e", "b"), TextDelta("f"),
    ]
    assert join_text(events) == [
        TextDelta("ab"), Finish("stop", None), TextDelta("c"), TextDelta("de", "b"), TextDelta("f"),
    ]


def test_join_text_joins_reasoning_runs_and_keeps_them_apart_from_the_answer() -> None:
    events: list[Event] = [
        ReasoningDelta("th"), ReasoningDelta("ink"), TextDelta("a"), TextDelta("b"),
        ReasoningDelta("more"), ReasoningDelta("x", "b"), ReasoningDelta("y", "b"),
    ]
    assert join_text(events) == [
        ReasoningDelta("think"), TextDelta("ab"), ReasoningDelta("more"), ReasoningDelta("xy", "b"),
    ]


def test_text_events_keep_value_semantics() -> None:
    # Not frozen (their __init__ is on the per-record path), still values: equal by content,
    # hashable alike, so events can be compared, deduplicated and used as keys as before.
    events = [TextDelta("hi"), TextDelta("hi", "a"), ReasoningDelta("hm"), ReasoningDelta("hm")]
    assert events[0] == events[1] and events[2] == events[3]
    assert len(set(events)) == 2
    assert TextDelta("hi") != ReasoningDelta("hi") and TextDelta("hi") != TextDelta("hi", "b")


# --- 2026 (docs/lmarena-protocol.md §2.1, §2.2 "Since 2026") -------------------------------------

RULES_2026: list[tuple[str, str, list[Event]]] = [
    ("reasoning as an object", 'ag:{"thinking":"hmm"}\n', [ReasoningDelta("hmm")]),
    ("each reasoning key", 'bg:{"reasoning":"r"}\nag:{"text":"t"}\nag:{"content":"c"}\n'
     'ag:{"delta":"d"}\n', [ReasoningDelta("r", "b"), ReasoningDelta("t"), ReasoningDelta("c"),
                            ReasoningDelta("d")]),
    ("reasoning object without text", 'ag:{"signature":"x"}\n', []),
    ("the bare 0: text channel", '0:"legacy"\n', [TextDelta("legacy")]),
    ("rsc rows are skipped", '1:I[7177,["a.js"],"Evaluation"]\n0:["$@1",null]\n1d:"x"\n', []),
]


@pytest.mark.parametrize(("body", "expected"), [r[1:] for r in RULES_2026],
                         ids=[r[0] for r in RULES_2026])
def test_rule_2026(body: str, expected: list[Event]) -> None:
    assert parse_all(body) == expected


def test_unknown_prefixes_are_counted_by_prefix_but_known_ones_and_rsc_rows_are_not() -> None:
    """Drift (arena/site.py): a prefix this version does not know is LMArena changing its
    stream; `af:`/`ae:` (known, ignored), a malformed known record and RSC rows are not."""
    parser = StreamParser()
    parser.feed('af:{"messageId":"1"}\nae:{}\nax:{"new":1}\nax:[]\na8:[1]\nc0:"x"\n'
                'a0:42\n1:I[1,["x"],"y"]\nad:{}\n')
    assert parser.unknown == {"ax": 2, "a8": 1, "c0": 1}
