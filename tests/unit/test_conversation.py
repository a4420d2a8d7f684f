"""Conversation continuity: tables of histories → what LMArena gets (docs/conversations.md),
and SillyTavern's own request bodies played through the store (tests/fixtures/sillytavern)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from lmarenarev.chat.conversation import (
    CONTINUE_FOLDED,
    CONTINUE_OWN,
    CONTINUE_PREFILL,
    Continue,
    Continuity,
    ConversationStore,
    NewSession,
    Regenerate,
    SessionRef,
    fold,
    fold_history,
    history_key,
)
from lmarenarev.messages import Attachment, Message, chat_entries
from lmarenarev.openai_schema import ChatMessage
from lmarenarev.tools.history import rewrite

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sillytavern"
REF = SessionRef("s1", "a1")


def system(text: str) -> Message:
    return Message("system", text)


def user(text: str) -> Message:
    return Message("user", text)


def assistant(text: str) -> Message:
    return Message("assistant", text)


def known(*history: Message, reply: str = "R", ref: SessionRef = REF) -> ConversationStore:
    """A store that delivered `reply` to `history`."""
    store = ConversationStore(100)
    store.remember("m", list(history), reply, ref)
    return store


# --- a history the gateway has not seen: folded (table: "A new session") -------------------------


@pytest.mark.parametrize(
    ("history", "prompt", "folded", "extends"),
    [
        ([user("hi")], "hi", False, None),
        ([system("be brief"), user("hi")], "be brief\n\nhi", False, None),
        ([system("S1"), system("S2")], "S1\n\nS2", False, None),  # a system-only request
        ([system("card"), user("hi"), system("note")], "card\n\nhi\n\nnote", False, None),
        (
            [system("S"), user("one"), assistant("two"), user("three")],
            "System: S\n\nUser: one\n\nAssistant: two\n\nUser: three",
            True,
            None,
        ),
        (
            [user("q"), assistant("Sure, here")],  # a prefill
            f"User: q\n\nAssistant: Sure, here\n\n{CONTINUE_FOLDED}",
            True,
            "Sure, here",
        ),
        (
            [user("one"), assistant("two"), system("[Continue your last message]")],
            "User: one\n\nAssistant: two\n\nSystem: [Continue your last message]",
            True,
            None,
        ),
    ],
)
def test_an_unknown_history_is_folded_as_documented(
    history: list[Message], prompt: str, folded: bool, extends: str | None
) -> None:
    assert ConversationStore(10).decide("m", history) is None
    turn = fold(history)
    assert turn == NewSession(prompt, (), folded, extends)
    assert turn.kind == ("folded" if folded else "new")
    assert fold_history(history) + (f"\n\n{CONTINUE_FOLDED}" if extends else "") == prompt


# --- a history that continues the session's newest reply (table: "Continuing a session") ---------


@pytest.mark.parametrize(
    ("after_reply", "prompt", "extends"),
    [
        ([user("three")], "three", None),
        ([system("[Continue your last message]")], "[Continue your last message]", None),
        ([system("[Write as the user]")], "[Write as the user]", None),  # Impersonate
        ([user("x"), system("post-history note")], "x\n\npost-history note", None),
        ([user("x"), assistant("Sure")], "x\n\n" + CONTINUE_PREFILL.format(text="Sure"), "Sure"),
        ([], CONTINUE_OWN, "R"),  # the history ends with the reply itself: continue it
    ],
)
def test_new_messages_after_the_newest_reply_continue_its_session(
    after_reply: list[Message], prompt: str, extends: str | None
) -> None:
    store = known(system("S"), user("one"))
    turn = store.decide("m", [system("S"), user("one"), assistant("R"), *after_reply])
    assert turn == Continue(REF, prompt, (), extends)


def test_only_the_new_user_messages_attachments_go_along() -> None:
    image = Attachment("a.png", "image/png", "data:image/png;base64,AA==", 1)
    store = known(Message("user", "one", (image,)))
    turn = store.decide("m", [Message("user", "one", (image,)), assistant("R"), user("two")])
    assert isinstance(turn, Continue) and turn.attachments == ()
    turn = store.decide("m", [Message("user", "one", (image,)), assistant("R"),
                              Message("user", "two", (image,))])  # fmt: skip
    assert isinstance(turn, Continue) and turn.attachments == (image,)


def test_continuity_ignores_think_blocks_and_whitespace_in_replies() -> None:
    store = known(user("one"), reply="<think>hmm</think>\n\ntwo words\n")
    turn = store.decide("m", [user("one"), assistant("two\n  words"), user("three")])
    assert isinstance(turn, Continue)


def test_the_same_history_again_regenerates_the_reply() -> None:
    store = known(user("one"))
    assert store.decide("m", [user("one")]) == Regenerate(REF)
    assert Regenerate(REF).kind == "regenerated"


def test_an_edited_history_or_another_model_starts_over() -> None:
    store = known(user("one"), reply="two")
    assert store.decide("m", [user("one"), assistant("TWO!"), user("x")]) is None
    assert store.decide("m", [user("ONE"), assistant("two"), user("x")]) is None
    assert store.decide("other", [user("one"), assistant("two"), user("x")]) is None


def test_two_assistant_messages_after_the_reply_are_not_a_continuation() -> None:
    store = known(user("one"))
    assert store.decide("m", [user("one"), assistant("R"), assistant("x"), assistant("y")]) is None


# --- only the newest reply of a session -----------------------------------------------------------


@pytest.mark.parametrize("frozen", [False, True])
def test_after_a_regenerate_the_older_reply_cannot_be_continued(frozen: bool) -> None:
    store = ConversationStore(10, clock=lambda: 5.0) if frozen else ConversationStore(10)
    store.remember("m", [user("one")], "first", REF)
    store.remember("m", [user("one")], "second", REF)  # the retry route: same message id
    assert store.decide("m", [user("one"), assistant("first"), user("x")]) is None
    assert isinstance(store.decide("m", [user("one"), assistant("second"), user("x")]), Continue)


def test_once_a_session_went_on_its_older_histories_start_over() -> None:
    store = known(user("one"), reply="two")
    later = SessionRef("s1", "a2")
    store.remember("m", [user("one"), assistant("two"), user("three")], "four", later)
    assert store.decide("m", [user("one"), assistant("two"), user("edited")]) is None
    assert store.decide("m", [user("one")]) is None  # its answer is not the newest any more
    turn = store.decide("m", [user("one"), assistant("two"), user("three"), assistant("four"),
                              user("five")])  # fmt: skip
    assert turn == Continue(later, "five", ())


def test_a_forgotten_session_starts_over() -> None:
    store = known(user("one"))
    store.forget("s1")
    assert store.decide("m", [user("one"), assistant("R"), user("x")]) is None
    assert store.decide("m", [user("one")]) is None


def test_a_continued_prefill_is_remembered_as_the_client_joins_it() -> None:
    store = known(user("one"), reply="Hello")
    store.decide("m", [user("one"), assistant("Hello")])  # Continue: CONTINUE_OWN
    store.remember("m", [user("one"), assistant("Hello")], " there", SessionRef("s1", "a2"))
    for joined in ("Hello there", "Hello\n\nthere", "Hellothere"):  # any continue postfix
        turn = store.decide("m", [user("one"), assistant(joined), user("next")])
        assert turn == Continue(SessionRef("s1", "a2"), "next", ()), joined


def test_the_store_is_bounded() -> None:
    store = ConversationStore(3)
    for i in range(10):
        store.remember("m", [user(str(i))], "r", SessionRef(f"s{i}", "a"))
    assert len(store) == 3
    assert store.decide("m", [user("0"), assistant("r"), user("x")]) is None
    assert isinstance(store.decide("m", [user("9"), assistant("r"), user("x")]), Continue)


# --- lenient and strict --------------------------------------------------------------------------


def test_lenient_continuity_keeps_the_session_when_only_system_text_changed() -> None:
    store = known(system("card"), system("examples"), user("one"))
    history = [system("card"), user("one"), system("lore entry"), assistant("R"), user("two")]
    assert store.decide("m", history, "strict") is None
    turn = store.decide("m", history, "lenient")
    assert turn == Continue(REF, "lore entry\n\ntwo", ())  # the unseen text goes along


@pytest.mark.parametrize("continuity", ["lenient", "strict"])
def test_a_changed_user_or_assistant_message_starts_over_in_both(continuity: Continuity) -> None:
    store = known(system("card"), user("one"))
    assert store.decide("m", [system("card"), user("1"), assistant("R"), user("x")],
                        continuity) is None  # fmt: skip


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
        ("a", [system("b"), user("c")]),
    ]
    keys = {history_key(model, messages) for model, messages in same_when_joined}
    assert len(keys) == len(same_when_joined)
    assert history_key("a", [user(" b\n")]) == history_key("a", [user("b")])
    assert history_key("a", [user("b")]) != history_key("a", [user("b")], lenient=True)
    assert history_key("a", [user("\ud800")])  # a lone surrogate (JSON allows it) still hashes


# --- SillyTavern, as recorded ---------------------------------------------------------------------


def recorded(name: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["requests"]
    return requests


def play(name: str, continuity: Continuity) -> list[tuple[str, str]]:
    """Each recorded request through the store as the gateway would: decide, then remember
    the reply SillyTavern got; (the decision, the text LMArena gets in a continued session)."""
    store = ConversationStore(100)
    sessions, answers = itertools.count(1), itertools.count(1)
    decisions: list[tuple[str, str]] = []
    for request in recorded(name):
        body = request["body"]
        messages = rewrite(chat_entries(
            [ChatMessage.model_validate(m) for m in body["messages"]],
            strip_history_reasoning=True,
        ))
        turn = store.decide(body["model"], messages, continuity)
        if turn is None:
            decisions.append((fold(messages).kind, ""))
            session = f"s{next(sessions)}"
        else:
            decisions.append((turn.kind, turn.prompt if isinstance(turn, Continue) else ""))
            session = turn.session.session_id
        store.remember(body["model"], messages, request["reply"],
                       SessionRef(session, f"m{next(answers)}"))  # fmt: skip
    return decisions


def test_sillytaverns_default_preset_stays_in_one_session_through_turns_and_continue() -> None:
    requests = recorded("default_preset.json")
    lore = requests[0]["body"]["messages"][1]["content"]
    assert lore not in [m["content"] for m in requests[1]["body"]["messages"]]  # first only
    impersonate = requests[4]["body"]["messages"][-1]["content"]
    assert play("default_preset.json", "lenient") == [
        ("folded", ""),  # the greeting is not the gateway's: a new session
        ("continued", "Who are you?"),  # the lorebook entry of the first request is gone
        ("continued", "Can you help me walk?"),
        ("continued", "[Continue your last message without repeating its original content.]"),
        ("continued", impersonate),  # the continued reply, as SillyTavern joined it
        ("folded", ""),  # the impersonation went to the session: the quiet prompt starts over
    ]


def test_sillytaverns_default_preset_with_strict_continuity_folds_when_the_lore_changes() -> None:
    decisions = [kind for kind, _ in play("default_preset.json", "strict")]
    assert decisions == ["folded", "folded", "continued", "continued", "continued", "folded"]


def test_an_authors_note_at_a_depth_and_lorebook_entries_that_come_and_go_keep_the_session() -> (
    None
):
    requests = recorded("authors_note_lorebook.json")
    entry = [m["content"] for m in requests[1]["body"]["messages"] if m["role"] == "system"][1]
    glade = [m["content"] for m in requests[2]["body"]["messages"] if m["role"] == "system"][1]
    assert play("authors_note_lorebook.json", "lenient") == [
        ("folded", ""),
        ("continued", f"{entry}\n\nIs there a river nearby?"),  # a new lorebook entry goes along
        ("continued", f"{glade}\n\nWhat else is in the forest?"),
        ("continued", "Tell me more."),  # the note moved, the entry went: nothing new
    ]
    assert [kind for kind, _ in play("authors_note_lorebook.json", "strict")] == ["folded"] * 4
