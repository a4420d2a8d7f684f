"""What the gateway keeps across restarts (store/state.py): the conversation map and per-key
usage, written by the one writer, read back directly, kept bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmarenarev.api.keys import KeyRing
from lmarenarev.arena.events import Usage
from lmarenarev.chat.conversation import Continue, ConversationStore, Regenerate, Remembered
from lmarenarev.chat.conversation import SessionRef as Ref
from lmarenarev.config.keys import ApiKeyEntry
from lmarenarev.errors import RateLimited
from lmarenarev.messages import Message
from lmarenarev.store.db import open_for_reading, open_for_writing
from lmarenarev.store.migrations import applied, migrate
from lmarenarev.store.state import (
    ConversationRow,
    KeyUsageRow,
    load_conversations,
    load_key_usage,
    prune_conversations,
)
from lmarenarev.store.writer import Retention, StoreWriter
from testkit.support import wait_until_async

NOW = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_for_writing(tmp_path / "state.sqlite3")
    migrate(connection)
    yield connection
    connection.close()


ALL = {"user": 99, "reply": 99, "forget": 99}


def row(n: int, kind: str = "reply", at: float = NOW) -> ConversationRow:
    return ConversationRow(kind, f"key{n}", f"session{n}", f"message{n}", at)  # type: ignore[arg-type]


def test_the_state_tables_come_with_numbered_migrations(conn: sqlite3.Connection) -> None:
    names = applied(conn)
    assert names.index("m004_conversations") + 1 == names.index("m005_key_usage")


def test_conversation_rows_come_back_newest_kept_oldest_first(conn: sqlite3.Connection) -> None:
    for n in range(5):
        row(n, at=NOW + n).apply(conn)
    row(9, "user").apply(conn)
    row(2, at=NOW + 10).apply(conn)  # stored again: replaces, now the newest
    rows = load_conversations(conn, since=None, limits={"user": 3, "reply": 3})
    assert [(r.kind, r.key) for r in rows] == [
        ("user", "key9"), ("reply", "key3"), ("reply", "key4"), ("reply", "key2"),
    ]
    later = load_conversations(conn, since=NOW + 4, limits={"user": 9, "reply": 9})
    assert [r.key for r in later] == ["key4", "key2"]


def test_the_conversation_map_is_pruned_by_age_and_by_count(conn: sqlite3.Connection) -> None:
    for n in range(6):
        row(n, at=NOW - n * HOUR).apply(conn)
        row(n, "user", at=NOW - n * HOUR).apply(conn)
    two = {"user": 2, "reply": 2}
    deleted = prune_conversations(conn, now=NOW, max_age_seconds=3.5 * HOUR, max_rows=two)
    assert deleted == 12 - 4
    assert {(r.kind, r.key) for r in load_conversations(conn, since=None, limits=ALL)} == {
        ("user", "key0"), ("user", "key1"), ("reply", "key0"), ("reply", "key1"),
    }
    assert prune_conversations(conn, now=NOW, max_age_seconds=0, max_rows=two) == 0


def test_key_usage_rows_replace_the_earlier_totals(conn: sqlite3.Connection) -> None:
    KeyUsageRow("alice", 1, 0, 10, 20, NOW).apply(conn)
    KeyUsageRow("alice", 2, 1, 15, 30, NOW + 1).apply(conn)
    KeyUsageRow("bob", 1, 0, 0, 0, None).apply(conn)
    assert load_key_usage(conn) == {
        "alice": KeyUsageRow("alice", 2, 1, 15, 30, NOW + 1),
        "bob": KeyUsageRow("bob", 1, 0, 0, 0, None),
    }


async def test_the_writer_writes_state_rows_in_order_and_prunes_them(tmp_path: Path) -> None:
    writer = StoreWriter(
        tmp_path / "log.sqlite3",
        retention=lambda: Retention(30, 0, conversation_max_age_seconds=HOUR,
                                    conversation_max_rows={"reply": 2}),
        clock=lambda: NOW,
    )
    writer.save(row(1, at=NOW - 2 * HOUR))  # expired by the time the writer prunes
    for n in (2, 3, 4):
        writer.save(row(n))
    writer.save(KeyUsageRow("alice", 1, 0, 0, 0, NOW))
    writer.save(KeyUsageRow("alice", 2, 0, 5, 7, NOW))
    task = asyncio.create_task(writer.run())
    await wait_until_async(lambda: writer.state_written == 6, what="the state rows")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    reader = open_for_reading(writer.path)
    assert reader is not None
    try:
        kept = load_conversations(reader, since=None, limits=ALL)
        assert [r.key for r in kept] == ["key3", "key4"]
        assert load_key_usage(reader)["alice"] == KeyUsageRow("alice", 2, 0, 5, 7, NOW)
    finally:
        reader.close()
    assert writer.written == 0  # no request record among them


# --- the conversation memory ------------------------------------------------------------------


def user(text: str) -> Message:
    return Message("user", text)


def test_remembered_replies_go_to_persist_and_come_back_after_a_restart() -> None:
    saved: list[Remembered] = []
    first = ConversationStore(10, clock=lambda: NOW, persist=saved.append)
    first.remember("m", [user("hi")], "Hello!", Ref("s1", "a1"))
    assert {(e.kind, e.session, e.stored_at) for e in saved} == {
        ("user", Ref("s1", "a1"), NOW), ("reply", Ref("s1", "a1"), NOW),
    }
    second = ConversationStore(10, clock=lambda: NOW + 60)  # a new process
    assert not isinstance(
        second.decide("m", [user("hi"), Message("assistant", "Hello!"), user("more")]), Continue
    )
    second.load(saved)
    turn = second.decide("m", [user("hi"), Message("assistant", "Hello!"), user("more")])
    assert turn == Continue(Ref("s1", "a1"), "more", ())
    assert second.decide("m", [user("hi")]) == Regenerate(Ref("s1", "a1"))


def test_a_forgotten_session_stays_forgotten_after_a_restart() -> None:
    """A reply cut or failed left LMArena's session with more than the client got: after a
    restart it must not be continued either."""
    saved: list[Remembered] = []
    first = ConversationStore(10, clock=lambda: NOW, persist=saved.append)
    first.remember("m", [user("hi")], "Hello!", Ref("s1", "a1"))
    first.forget("s1")
    history = [user("hi"), Message("assistant", "Hello!"), user("more")]
    assert first.decide("m", history) is None
    second = ConversationStore(10, clock=lambda: NOW + 60)
    second.load(sorted(saved, key=lambda e: e.stored_at))
    assert second.decide("m", history) is None
    assert second.decide("m", [user("hi")]) is None  # nor regenerated


def test_entries_expire_after_max_age() -> None:
    now = [NOW]
    store = ConversationStore(10, max_age=HOUR, clock=lambda: now[0])
    store.remember("m", [user("hi")], "Hello!", Ref("s1", "a1"))
    history = [user("hi"), Message("assistant", "Hello!"), user("more")]
    now[0] = NOW + HOUR - 1
    assert isinstance(store.decide("m", history), Continue)
    now[0] = NOW + HOUR
    assert not isinstance(store.decide("m", history), Continue)
    fresh = ConversationStore(10, max_age=HOUR, clock=lambda: now[0])
    fresh.load([Remembered("reply", "old", Ref("s", "a"), NOW - 2 * HOUR)])
    assert len(fresh) == 0  # expired entries are not loaded


# --- per-key usage --------------------------------------------------------------------------------


def test_key_usage_is_reported_on_every_change_and_restored() -> None:
    entries = [ApiKeyEntry(name="alice", key="sk-alice", rpm=1)]
    changes: list[tuple[str, int, int, int]] = []
    ring = KeyRing.from_config("", entries, clock=lambda: 0.0, wall_clock=lambda: NOW)
    ring.on_change = lambda name, u: changes.append(
        (name, u.requests, u.rate_limited, u.completion_tokens)
    )
    alice = ring.keys[0]
    ring.admit(alice)
    with pytest.raises(RateLimited):
        ring.admit(alice)
    ring.usage_recorder("alice")(Usage(prompt_tokens=3, completion_tokens=4))
    assert changes == [("alice", 1, 0, 0), ("alice", 1, 1, 0), ("alice", 1, 1, 4)]

    restarted = KeyRing.from_config("", entries)
    restarted.restore({"alice": ring.usage["alice"], "gone": ring.usage["alice"]})
    report = restarted.report()[0]
    assert (report["requests"], report["rate_limited"], report["prompt_tokens"]) == (1, 1, 3)
    assert report["last_used"] == NOW and "gone" not in restarted.usage
