"""SSE and JSON renderers: table tests per rule, the OpenAI chunk shape, and stream ≡ non-stream."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

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
)
from lmarenarev.render.common import RenderOptions, map_finish_reason
from lmarenarev.render.json import JSONRenderer
from lmarenarev.render.sse import SSERenderer, keepalive

OPTIONS = RenderOptions(
    model="gpt-x",
    completion_id="chatcmpl-1",
    created=1_700_000_000,
    reasoning="openai",
    preserve_streaming=True,
    include_usage=False,
)


def _opts(**changes: Any) -> RenderOptions:
    return replace(OPTIONS, **changes)


def _frames(data: bytes) -> list[Any]:
    """Parse SSE bytes into JSON payloads ("[DONE]" kept as the string)."""
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n\n")
    frames: list[Any] = []
    for frame in text.split("\n\n")[:-1]:
        assert frame.startswith("data: ")
        payload = frame[len("data: ") :]
        frames.append(payload if payload == "[DONE]" else json.loads(payload))
    return frames


def _stream(events: list[Event], options: RenderOptions = OPTIONS) -> list[Any]:
    renderer = SSERenderer(options)
    data = b"".join(renderer.feed(event) for event in events) + renderer.finish()
    return _frames(data)


def _deltas(frames: list[Any]) -> list[dict[str, Any]]:
    return [f["choices"][0]["delta"] for f in frames if f != "[DONE]" and f["choices"]]


def _complete(events: list[Event], options: RenderOptions = OPTIONS) -> dict[str, Any]:
    renderer = JSONRenderer(options)
    for event in events:
        renderer.feed(event)
    return renderer.result()


def _content(events: list[Event], options: RenderOptions = OPTIONS) -> str:
    return str(_complete(events, options)["choices"][0]["message"]["content"])


# --- SSE framing ----------------------------------------------------------------------------


def test_chunk_envelope() -> None:
    frames = _stream([TextDelta("Hi")])
    assert frames[0] == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-x",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}
        ],
    }


def test_only_the_first_chunk_carries_the_role() -> None:
    assert _deltas(_stream([TextDelta("a"), TextDelta("b")])) == [
        {"role": "assistant", "content": "a"},
        {"content": "b"},
        {},
    ]


def test_first_chunk_with_reasoning_has_empty_content() -> None:
    assert _deltas(_stream([ReasoningDelta("r")]))[0] == {
        "role": "assistant",
        "content": "",
        "reasoning_content": "r",
    }


def test_empty_reply_still_sends_role_finish_and_done() -> None:
    frames = _stream([])
    assert _deltas(frames) == [{"role": "assistant", "content": ""}, {}]
    assert frames[-2]["choices"][0]["finish_reason"] == "stop"
    assert frames[-1] == "[DONE]"


def test_finish_chunk_is_last_and_has_empty_delta() -> None:
    frames = _stream([TextDelta("a"), Finish("length")])
    assert frames[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert frames[-1] == "[DONE]"
    assert all(f["choices"][0]["finish_reason"] is None for f in frames[:-2])


def test_finish_event_itself_sends_nothing() -> None:
    assert SSERenderer(OPTIONS).feed(Finish("stop")) == b""


def test_non_ascii_is_sent_as_utf8() -> None:
    renderer = SSERenderer(OPTIONS)
    assert "é😀".encode() in renderer.feed(TextDelta("é😀"))


def test_split_surrogate_pair_stays_valid_utf8_and_json() -> None:
    renderer = SSERenderer(OPTIONS)
    data = renderer.feed(TextDelta("a\ud83d")) + renderer.feed(TextDelta("\ude00b"))
    frames = _frames(data)  # decodes as strict UTF-8 and parses as JSON
    assert "".join(d["content"] for d in _deltas(frames)) == "a\ud83d\ude00b"
    assert renderer.content() == "a😀b"


def test_keepalive_is_an_sse_comment() -> None:
    assert keepalive() == b": keep-alive\n\n"


def test_finish_twice_sends_nothing_more() -> None:
    renderer = SSERenderer(OPTIONS)
    renderer.finish()
    assert renderer.finish() == b""
    assert renderer.feed(TextDelta("late")) == b""


# --- started --------------------------------------------------------------------------------


def test_started_after_first_output() -> None:
    renderer = SSERenderer(OPTIONS)
    assert not renderer.started
    renderer.feed(Citation("u", "t"))
    renderer.feed(Finish("stop"))
    renderer.feed(ArenaError("x"))
    assert not renderer.started
    renderer.feed(TextDelta("x"))
    assert renderer.started


def test_held_reasoning_does_not_start_the_stream() -> None:
    renderer = SSERenderer(_opts(preserve_streaming=False))
    assert renderer.feed(ReasoningDelta("r")) == b""
    assert not renderer.started


def test_live_reasoning_starts_the_stream() -> None:
    renderer = SSERenderer(OPTIONS)
    renderer.feed(ReasoningDelta("r"))
    assert renderer.started


# --- error frame ----------------------------------------------------------------------------


def test_error_frame_then_done() -> None:
    renderer = SSERenderer(OPTIONS)
    renderer.feed(TextDelta("partial"))
    frames = _frames(renderer.error("the tab went away", "upstream_error", "worker_lost"))
    assert frames == [
        {
            "error": {
                "message": "the tab went away",
                "type": "upstream_error",
                "code": "worker_lost",
            }
        },
        "[DONE]",
    ]
    assert renderer.finish() == b""
    assert renderer.feed(TextDelta("late")) == b""


def test_error_frame_with_null_code() -> None:
    frames = _frames(SSERenderer(OPTIONS).error("x", "server_error", None))
    assert frames[0] == {"error": {"message": "x", "type": "server_error", "code": None}}


# --- finish reasons -------------------------------------------------------------------------

FINISH_REASONS = [
    ("stop", "stop"),
    ("length", "length"),
    ("content-filter", "content_filter"),
    ("content_filter", "content_filter"),
    ("tool-calls", "tool_calls"),
    ("unknown", "stop"),
    ("error", "stop"),
    ("other", "stop"),
]


@pytest.mark.parametrize(("arena", "openai"), FINISH_REASONS)
def test_finish_reason_mapping(arena: str, openai: str) -> None:
    assert map_finish_reason(arena) == openai
    events: list[Event] = [TextDelta("x"), Finish(arena)]
    assert _stream(events)[-2]["choices"][0]["finish_reason"] == openai
    assert _complete(events)["choices"][0]["finish_reason"] == openai


def test_no_finish_event_means_stop() -> None:
    assert _stream([TextDelta("x")])[-2]["choices"][0]["finish_reason"] == "stop"
    assert _complete([TextDelta("x")])["choices"][0]["finish_reason"] == "stop"


def test_last_finish_event_wins() -> None:
    events: list[Event] = [Finish("stop"), TextDelta("x"), Finish("length")]
    assert _stream(events)[-2]["choices"][0]["finish_reason"] == "length"
    assert _complete(events)["choices"][0]["finish_reason"] == "length"


# --- usage ----------------------------------------------------------------------------------

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def test_usage_chunk_when_asked_and_known() -> None:
    frames = _stream([TextDelta("x"), Finish("stop", Usage(12, 3))], _opts(include_usage=True))
    assert frames[-2] == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-x",
        "choices": [],
        "usage": USAGE,
    }
    assert frames[-1] == "[DONE]"
    assert all(f["usage"] is None for f in frames[:-2])  # as OpenAI does when usage is asked for


def test_usage_chunk_is_null_when_asked_but_unknown() -> None:
    frames = _stream([TextDelta("x"), Finish("stop")], _opts(include_usage=True))
    assert frames[-2]["choices"] == []
    assert frames[-2]["usage"] is None


def test_no_usage_anywhere_when_not_asked() -> None:
    frames = _stream([TextDelta("x"), Finish("stop", Usage(12, 3))])
    assert all("usage" not in f for f in frames[:-1])
    assert all(f["choices"] for f in frames[:-1])


def test_usage_survives_a_later_finish_without_usage() -> None:
    events: list[Event] = [Finish("stop", Usage(12, 3)), Finish("stop")]
    assert _stream(events, _opts(include_usage=True))[-2]["usage"] == USAGE
    assert _complete(events)["usage"] == USAGE


def test_json_usage_only_when_upstream_sent_it() -> None:
    assert _complete([TextDelta("x"), Finish("stop", Usage(12, 3))])["usage"] == USAGE
    assert "usage" not in _complete([TextDelta("x"), Finish("stop")])


# --- JSON result ----------------------------------------------------------------------------


def test_json_result_shape() -> None:
    events: list[Event] = [ReasoningDelta("r"), TextDelta("Hi"), Finish("stop", Usage(1, 2))]
    assert _complete(events) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "reasoning_content": "r"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


def test_json_result_and_content_are_repeatable() -> None:
    renderer = JSONRenderer(OPTIONS)
    events: list[Event] = [ReasoningDelta("r"), TextDelta("x"), Citation("u", "t")]
    for event in events:
        renderer.feed(event)
    first = renderer.result()
    assert renderer.result() == first
    assert renderer.content() == first["choices"][0]["message"]["content"]


def test_json_content_joins_split_surrogates() -> None:
    assert _content([TextDelta("a\ud83d"), TextDelta("\ude00"), TextDelta("\udc00")]) == "a😀\ufffd"


# --- reasoning modes ------------------------------------------------------------------------

REASONING_EVENTS: list[Event] = [
    ReasoningDelta("th"),
    ReasoningDelta("ink"),
    TextDelta("x"),
    TextDelta("y"),
    Finish("stop"),
]
ROLE = {"role": "assistant"}

REASONING_STREAMS: list[tuple[str, bool, list[dict[str, Any]]]] = [
    (
        "openai",
        True,
        [
            {**ROLE, "content": "", "reasoning_content": "th"},
            {"reasoning_content": "ink"},
            {"content": "x"},
            {"content": "y"},
        ],
    ),
    (
        "openai",
        False,
        [{**ROLE, "content": "", "reasoning_content": "think"}, {"content": "x"}, {"content": "y"}],
    ),
    (
        "think_tag",
        True,
        [{**ROLE, "content": "<think>think</think>\n\n"}, {"content": "x"}, {"content": "y"}],
    ),
    (
        "think_tag",
        False,
        [{**ROLE, "content": "<think>think</think>\n\n"}, {"content": "x"}, {"content": "y"}],
    ),
    ("off", True, [{**ROLE, "content": "x"}, {"content": "y"}]),
    ("off", False, [{**ROLE, "content": "x"}, {"content": "y"}]),
]


@pytest.mark.parametrize(("mode", "preserve", "deltas"), REASONING_STREAMS)
def test_reasoning_modes_stream(mode: str, preserve: bool, deltas: list[dict[str, Any]]) -> None:
    options = _opts(reasoning=mode, preserve_streaming=preserve)
    assert _deltas(_stream(REASONING_EVENTS, options)) == [*deltas, {}]


REASONING_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("openai", {"role": "assistant", "content": "xy", "reasoning_content": "think"}),
    ("think_tag", {"role": "assistant", "content": "<think>think</think>\n\nxy"}),
    ("off", {"role": "assistant", "content": "xy"}),
]


@pytest.mark.parametrize("preserve", [True, False])
@pytest.mark.parametrize(("mode", "message"), REASONING_MESSAGES)
def test_reasoning_modes_json(mode: str, message: dict[str, Any], preserve: bool) -> None:
    options = _opts(reasoning=mode, preserve_streaming=preserve)
    assert _complete(REASONING_EVENTS, options)["choices"][0]["message"] == message


@pytest.mark.parametrize("mode", ["openai", "think_tag"])
def test_reasoning_is_held_until_the_first_content(mode: str) -> None:
    renderer = SSERenderer(_opts(reasoning=mode, preserve_streaming=False))
    assert renderer.feed(ReasoningDelta("r")) == b""
    assert _deltas(_frames(renderer.feed(TextDelta("x")))) != []


def test_think_tag_is_held_even_when_preserving_streaming() -> None:
    renderer = SSERenderer(_opts(reasoning="think_tag", preserve_streaming=True))
    assert renderer.feed(ReasoningDelta("r")) == b""


@pytest.mark.parametrize(
    ("mode", "delta"),
    [
        ("openai", {**ROLE, "content": "", "reasoning_content": "r"}),
        ("think_tag", {**ROLE, "content": "<think>r</think>\n\n"}),
    ],
)
def test_held_reasoning_is_flushed_at_finish(mode: str, delta: dict[str, Any]) -> None:
    options = _opts(reasoning=mode, preserve_streaming=False)
    assert _deltas(_stream([ReasoningDelta("r")], options)) == [delta, {}]


def test_think_block_before_an_image() -> None:
    events: list[Event] = [ReasoningDelta("r"), ImageOut("u")]
    assert _content(events, _opts(reasoning="think_tag")) == "<think>r</think>\n\n![image](u)"


def test_reasoning_after_content_gets_its_own_think_block() -> None:
    events: list[Event] = [TextDelta("a"), ReasoningDelta("r"), TextDelta("b")]
    assert _content(events, _opts(reasoning="think_tag")) == "a\n\n<think>r</think>\n\nb"


def test_no_reasoning_content_key_without_reasoning() -> None:
    assert "reasoning_content" not in _complete([TextDelta("x")])["choices"][0]["message"]


# --- images ---------------------------------------------------------------------------------

IMAGES: list[tuple[str, list[Event], str]] = [
    ("alone", [ImageOut("https://x/a.png")], "![image](https://x/a.png)"),
    ("between text", [TextDelta("Look:"), ImageOut("u"), TextDelta("nice")],
     "Look:\n\n![image](u)\n\nnice"),
    ("two images", [ImageOut("u1"), ImageOut("u2")], "![image](u1)\n\n![image](u2)"),
    ("text already ends a paragraph", [TextDelta("a\n\n"), ImageOut("u")], "a\n\n![image](u)"),
    ("text ends a line", [TextDelta("a\n"), ImageOut("u")], "a\n\n![image](u)"),
    ("newline split across deltas", [TextDelta("a\n"), TextDelta("\n"), ImageOut("u")],
     "a\n\n![image](u)"),
    ("text after starts a line", [ImageOut("u"), TextDelta("\nb")], "![image](u)\n\nb"),
    ("url escaped", [ImageOut("https://x/a (1).png")], "![image](https://x/a%20%281%29.png)"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "content"), [i[1:] for i in IMAGES], ids=[i[0] for i in IMAGES])
def test_images(events: list[Event], content: str) -> None:
    assert _content(events) == content
    assert SSERenderer(OPTIONS).feed(ImageOut("u")) != b""  # images are not held back


# --- citations ------------------------------------------------------------------------------


def test_citations_are_appended_deduplicated_first_title_wins() -> None:
    events: list[Event] = [
        Citation("https://a", "A"),
        TextDelta("answer"),
        Citation("https://b", "https://b"),
        Citation("https://a", "other title"),
        Finish("stop"),
    ]
    expected = "answer\n\n**Sources:**\n1. [A](https://a)\n2. [https://b](https://b)"
    assert _content(events) == expected
    deltas = _deltas(_stream(events))
    assert deltas[-2] == {
        "content": "\n\n**Sources:**\n1. [A](https://a)\n2. [https://b](https://b)"
    }


def test_citation_markdown_is_escaped() -> None:
    events: list[Event] = [TextDelta("x"), Citation("https://w/a_(b)", "[x] y")]
    assert _content(events) == "x\n\n**Sources:**\n1. [\\[x\\] y](https://w/a_%28b%29)"


def test_citations_without_text() -> None:
    assert _content([Citation("u", "t")]) == "**Sources:**\n1. [t](u)"


def test_citations_come_after_held_reasoning() -> None:
    events: list[Event] = [ReasoningDelta("r"), Citation("u", "t")]
    content = _content(events, _opts(reasoning="think_tag"))
    assert content == "<think>r</think>\n\n**Sources:**\n1. [t](u)"


# --- sides and errors -----------------------------------------------------------------------

OTHER_SIDE: list[Event] = [
    TextDelta("b-text", "b"),
    ReasoningDelta("b-think", "b"),
    ImageOut("b-img", "b"),
    Citation("b-url", "b", "b"),
    Finish("length", Usage(1, 1), "b"),
]


def test_other_side_events_are_ignored() -> None:
    renderer = SSERenderer(_opts(include_usage=True))
    assert all(renderer.feed(event) == b"" for event in OTHER_SIDE)
    frames = _frames(renderer.finish())
    assert _deltas(frames) == [{"role": "assistant", "content": ""}, {}]
    assert frames[-3]["choices"][0]["finish_reason"] == "stop"
    assert frames[-2]["usage"] is None
    assert _complete(OTHER_SIDE) == _complete([])


def test_side_b_renders_only_b() -> None:
    events: list[Event] = [TextDelta("a-text"), *OTHER_SIDE]
    message = _complete(events, _opts(side="b"))["choices"][0]
    assert (
        message["message"]["content"] == "b-text\n\n![image](b-img)\n\n**Sources:**\n1. [b](b-url)"
    )
    assert message["finish_reason"] == "length"


def test_arena_errors_are_not_rendered() -> None:
    renderer = SSERenderer(OPTIONS)
    assert renderer.feed(ArenaError("Resource exhausted")) == b""
    assert _content([ArenaError("x"), TextDelta("y")]) == "y"


# --- properties: every frame is a valid chunk; stream ≡ non-stream --------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["\n", "\n\n", ""])
_side = st.sampled_from("aab")
_event: st.SearchStrategy[Event] = st.one_of(
    st.builds(TextDelta, _text, _side),
    st.builds(ReasoningDelta, _text, _side),
    st.builds(ImageOut, st.text(min_size=1, max_size=6), _side),
    st.builds(Citation, st.sampled_from(["u1", "u2", "a)b"]), st.text(max_size=4), _side),
    st.builds(
        Finish,
        st.sampled_from(["stop", "length", "content-filter", "unknown"]),
        st.none() | st.builds(Usage, st.integers(0, 999), st.integers(0, 999)),
        _side,
    ),
    st.builds(ArenaError, st.text(max_size=4), _side),
)
_options = st.builds(
    RenderOptions,
    model=st.text(max_size=5),
    completion_id=st.text(max_size=5),
    created=st.integers(0, 2**31),
    reasoning=st.sampled_from(["openai", "think_tag", "off"]),
    preserve_streaming=st.booleans(),
    include_usage=st.booleans(),
    side=st.sampled_from("ab"),
)
_relaxed = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def _check_chunk(frame: Any, options: RenderOptions) -> None:
    assert frame["id"] == options.completion_id
    assert frame["object"] == "chat.completion.chunk"
    assert frame["created"] == options.created
    assert frame["model"] == options.model
    if options.include_usage:
        assert "usage" in frame
    else:
        assert "usage" not in frame


@_relaxed
@given(st.lists(_event, max_size=15), _options)
def test_stream_frames_are_openai_chunks(events: list[Event], options: RenderOptions) -> None:
    renderer = SSERenderer(options)
    frames: list[Any] = []
    for event in events:
        frames += _frames(renderer.feed(event))  # every feed yields whole frames
    frames += _frames(renderer.finish())
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    if options.include_usage:
        usage_chunk = chunks.pop()
        _check_chunk(usage_chunk, options)
        assert usage_chunk["choices"] == []
    for chunk in chunks:
        _check_chunk(chunk, options)
        assert [(c["index"], set(c)) for c in chunk["choices"]] == [
            (0, {"index", "delta", "finish_reason"})
        ]
        assert set(chunk["choices"][0]["delta"]) <= {"role", "content", "reasoning_content"}
    deltas = _deltas(chunks)
    assert deltas[0]["role"] == "assistant"
    assert all("role" not in delta for delta in deltas[1:])
    assert deltas[-1] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] in {"stop", "length", "content_filter"}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


@_relaxed
@given(st.lists(_event, max_size=15), _options)
def test_stream_and_json_say_the_same(events: list[Event], options: RenderOptions) -> None:
    sse, complete = SSERenderer(options), JSONRenderer(options)
    data = b""
    for event in events:
        data += sse.feed(event)
        complete.feed(event)
    data += sse.finish()
    chunks = [f for f in _frames(data) if f != "[DONE]"]
    deltas = _deltas(chunks)
    result = complete.result()
    choice = result["choices"][0]

    streamed = "".join(d.get("content", "") for d in deltas)
    assert sse.content() == complete.content() == streamed == choice["message"]["content"]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert reasoning == choice["message"].get("reasoning_content", "")
    assert (
        chunks[-2 if options.include_usage else -1]["choices"][0]["finish_reason"]
        == (choice["finish_reason"])
    )
    if options.include_usage:
        assert chunks[-1]["usage"] == result.get("usage")
