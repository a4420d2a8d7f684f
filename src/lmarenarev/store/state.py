"""What the gateway keeps across restarts, in the request log's file: the conversation map and
each client key's usage (docs/conversations.md, "Across restarts").

Every kind of state follows one pattern, so the next (the Responses API's stored responses) is
added the same way:

1. a numbered migration makes its table (migrations.py);
2. a frozen dataclass holds one row and writes it with `apply(conn)`: the writer
   (writer.StoreWriter.save) runs it in its own transaction, so the writer stays the only one
   that writes the file;
3. a `load_*` function reads the rows back (directly, on a read-only connection), and a
   `prune_*` function (run by the writer with the request log's retention) keeps it bounded.

Nothing here keeps a prompt or a reply: the conversation map holds digests of histories and
LMArena's ids, the usage table counters by key name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

# The history up to the user message / the reply / a session whose newest reply is unknown (its
# key is the session id): chat/conversation.py.
ConversationKind = Literal["user", "reply", "forget"]
CONVERSATION_KINDS: tuple[ConversationKind, ...] = ("user", "reply", "forget")


class StateWrite(Protocol):
    """One row of state, written by the writer in its transaction."""

    def apply(self, conn: sqlite3.Connection) -> None: ...


@dataclass(frozen=True, slots=True)
class ConversationRow:
    kind: ConversationKind
    key: str  # chat.conversation.history_key: a sha256 hex digest
    session_id: str
    message_id: str
    stored_at: float  # unix time of the reply

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO conversations (kind, key, session_id, message_id, stored_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (self.kind, self.key, self.session_id, self.message_id, self.stored_at),
        )


@dataclass(frozen=True, slots=True)
class KeyUsageRow:
    """A key's totals at one moment (written whole: the last row written wins)."""

    name: str
    requests: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    last_used: float | None

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO key_usage (name, requests, rate_limited, prompt_tokens, "
            "completion_tokens, last_used) VALUES (?, ?, ?, ?, ?, ?)",
            (self.name, self.requests, self.rate_limited, self.prompt_tokens,
             self.completion_tokens, self.last_used),
        )


# --- reading ------------------------------------------------------------------------------------


def load_conversations(
    conn: sqlite3.Connection, *, since: float | None, limits: Mapping[str, int]
) -> list[ConversationRow]:
    """The newest `limits[kind]` entries of each kind stored at `since` or later, oldest first
    (the order an LRU is filled in)."""
    rows: list[ConversationRow] = []
    for kind in CONVERSATION_KINDS:
        found = conn.execute(
            "SELECT kind, key, session_id, message_id, stored_at FROM conversations "
            "WHERE kind = ? AND stored_at >= ? ORDER BY stored_at DESC, rowid DESC LIMIT ?",
            (kind, since if since is not None else float("-inf"), limits.get(kind, 0)),
        ).fetchall()
        rows += [ConversationRow(*row) for row in reversed(found)]
    rows.sort(key=lambda row: row.stored_at)  # a forgotten session after what it forgets
    return rows


def load_key_usage(conn: sqlite3.Connection) -> dict[str, KeyUsageRow]:
    rows = conn.execute(
        "SELECT name, requests, rate_limited, prompt_tokens, completion_tokens, last_used "
        "FROM key_usage"
    )
    return {row[0]: KeyUsageRow(*row) for row in rows}


# --- keeping it bounded -------------------------------------------------------------------------


def prune_conversations(
    conn: sqlite3.Connection, *, now: float, max_age_seconds: float, max_rows: Mapping[str, int]
) -> int:
    """Delete entries older than `max_age_seconds` (0: no age limit) and beyond the newest
    `max_rows[kind]` of each kind; how many were deleted."""
    deleted = 0
    if max_age_seconds > 0:
        deleted += conn.execute(
            "DELETE FROM conversations WHERE stored_at < ?", (now - max_age_seconds,)
        ).rowcount
    for kind in CONVERSATION_KINDS:
        deleted += conn.execute(
            "DELETE FROM conversations WHERE kind = ? AND rowid IN (SELECT rowid FROM "
            "conversations WHERE kind = ? ORDER BY stored_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
            (kind, kind, max_rows.get(kind, 0)),
        ).rowcount
    return deleted
