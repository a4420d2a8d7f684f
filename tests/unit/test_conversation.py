"""Conversation continuity: continue, retry, or a new session with the history folded."""

from __future__ import annotations

import pytest

from lmarenarev.chat.conversation import (
    Continue,
    ConversationStore,
    NewSession,
    Regenerate,
    SessionRef,
    fold_history,
    history_key,
)
from lmarenarev.errors import InvalidRequest
from lmarenarev.messages import Attachment, Message

REF = SessionRef("s1", "a1")


def user(text: str) -> Message:
    return Message("user", text)


def assistant(text: str) -> Message:
    return Message("assistant", text)


def test_first_message_is_a_new_session_with_the_plain_prompt() -> None:
    turn = ConversationStore(10).decide("m", [user("hi")])
    assert turn == NewSession("hi", ())


def test_system_prompts_are_joined_before_a_single_user_message() -> None:
    turn = ConversationStore(10).decide("m", [Message("system", "be brief"), user("hi")])
    assert isinstance(turn, NewSession)
    assert turn.prompt == "be brief\n\nhi"


def test_unknown_history_is_folded_into_a_transcript() -> None:
    history = [Message("system", "S"), user("one"), assistant("two"), user("three")]
    assert fold_history(history) == "System: S\n\nUser: one\n\nAssistant: two\n\nUser: three"
    turn = ConversationStore(10).decide("m", history)
    assert isinstance(turn, NewSession)
    assert turn.prompt.endswith("User: three")


def test_a_known_history_continues_the_session_with_only_the_new_message() -> None:
    store = ConversationStore(10)
    store.remember("m", [user("one")], "two", REF)
    turn = store.decide("m", [user("one"), assistant("two"), user("three")])
    assert turn == Continue(REF, "three", ())


def test_continuity_ignores_think_blocks_and_surrounding_whitespace_in_replies() -> None:
    store = ConversationStore(10)
    store.remember("m", [user("one")], "<think>hmm</think>\n\ntwo\n", REF)
    turn = store.decide("m", [user("one"), assistant("two"), user("three")])
    assert isinstance(turn, Continue)


def test_the_same_last_user_message_again_is_a_retry() -> None:
    store = ConversationStore(10)
    store.remember("m", [user("one")], "two", REF)
    assert store.decide("m", [user("one")]) == Regenerate(REF)


def test_an_edited_history_or_another_model_starts_over() -> None:
    store = ConversationStore(10)
    store.remember("m", [user("one")], "two", REF)
    assert isinstance(store.decide("m", [user("one"), assistant("TWO!"), user("x")]), NewSession)
    assert isinstance(store.decide("other", [user("one"), assistant("two"), user("x")]), NewSession)


def test_the_store_is_bounded() -> None:
    store = ConversationStore(3)
    for i in range(10):
        store.remember("m", [user(str(i))], "r", REF)
    assert len(store) == 3
    assert isinstance(store.decide("m", [user("0"), assistant("r"), user("x")]), NewSession)
    assert isinstance(store.decide("m", [user("9"), assistant("r"), user("x")]), Continue)


def test_the_last_message_must_be_from_the_user() -> None:
    with pytest.raises(InvalidRequest, match="last message"):
        ConversationStore(3).decide("m", [user("a"), assistant("b")])


def test_the_history_key_tells_apart_conversations_whose_texts_join_the_same() -> None:
    image = Attachment("a.png", "image/png", "https://x/a.png", 3)
    same_when_joined = [
        ("ab", [user("c")]),
        ("a", [user("bc")]),
        ("a", [user("b"), user("c")]),
        ("a", [user("b c")]),
        ("a", [Message("user", "b", (image,))]),
        ("a", [Message("user", "bhttps://x/a.png")]),
        ("a", [assistant("b"), user("c")]),
    ]
    keys = {history_key(model, messages) for model, messages in same_when_joined}
    assert len(keys) == len(same_when_joined)
    assert history_key("a", [user(" b\n")]) == history_key("a", [user("b")])  # as before: stripped
    assert history_key("a", [user("\ud800")])  # a lone surrogate (JSON allows it) still hashes
