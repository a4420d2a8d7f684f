"""A reply that repeats the prefill it continues has the repeat dropped (chat/prefill.py)."""

from __future__ import annotations

import pytest

from lmarenarev.arena.events import Event, Finish, ImageOut, ReasoningDelta, TextDelta
from lmarenarev.chat.prefill import RepeatedPrefix


def run(prefix: str, chunks: list[str], finish: bool = True) -> list[Event]:
    strip = RepeatedPrefix(prefix)
    out: list[Event] = []
    for chunk in chunks:
        out += strip.feed([TextDelta(chunk)])
    out += strip.feed([Finish("stop")]) if finish else strip.end()
    return out


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


REPLY = "Once upon a time there was a fox."


@pytest.mark.parametrize("size", [1, 2, 5, 9, len(REPLY)])
@pytest.mark.parametrize("finish", [True, False])
def test_a_repeated_prefill_is_dropped_however_the_reply_is_chunked(
    size: int, finish: bool
) -> None:
    chunks = [REPLY[i : i + size] for i in range(0, len(REPLY), size)]
    assert text(run("Once upon ", chunks, finish)) == " a time there was a fox."
    assert text(run(" Once upon", ["\n", *chunks], finish)) == " a time there was a fox."


@pytest.mark.parametrize("size", [1, 4, len(REPLY)])
def test_a_reply_that_does_not_repeat_it_is_left_whole(size: int) -> None:
    chunks = [REPLY[i : i + size] for i in range(0, len(REPLY), size)]
    assert text(run("Once upon a midnight", chunks)) == REPLY
    assert text(run("Twice", chunks)) == REPLY


def test_text_is_held_only_while_it_could_be_the_repeat() -> None:
    strip = RepeatedPrefix("Hello there")
    assert strip.feed([TextDelta("Hel")]) == []
    assert strip.feed([TextDelta("p!")]) == [TextDelta("Help!")]
    assert strip.feed([TextDelta(" more")]) == [TextDelta(" more")]


def test_a_reply_shorter_than_the_prefill_comes_out_at_the_end() -> None:
    assert text(run("Hello there", ["Hello"])) == "Hello"
    assert text(run("Hello there", ["Hello"], finish=False)) == "Hello"


def test_reasoning_passes_and_an_image_releases_what_was_held() -> None:
    strip = RepeatedPrefix("Hello there")
    out = strip.feed([ReasoningDelta("hmm"), TextDelta("Hel"), ImageOut("u"), TextDelta("x")])
    assert out == [ReasoningDelta("hmm"), TextDelta("Hel"), ImageOut("u"), TextDelta("x")]


def test_an_empty_prefill_changes_nothing() -> None:
    assert run("  ", ["a", "b"]) == [TextDelta("a"), TextDelta("b"), Finish("stop")]
