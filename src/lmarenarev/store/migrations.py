"""The request log's schema as numbered, named migrations, applied in order, each once.

Like simonw/llm's `migrations.py`: `_migrations` records what ran; a new schema change is a new
function appended to `MIGRATIONS`, never an edit of one that shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def m001_requests(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            model TEXT NOT NULL,
            key_name TEXT,
            stream INTEGER NOT NULL,
            flow TEXT NOT NULL,
            call TEXT NOT NULL,
            worker_id TEXT,
            status TEXT NOT NULL,
            http_status INTEGER NOT NULL,
            error_kind TEXT,
            upstream_kind TEXT,
            error_message TEXT,
            finish_reason TEXT,
            ttft_ms REAL,
            duration_ms REAL NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            tokens_source TEXT,
            attempts INTEGER NOT NULL,
            retries INTEGER NOT NULL,
            retry_kinds TEXT NOT NULL DEFAULT '{}',
            bytes_in INTEGER NOT NULL
        )
        """
    )


def m002_request_bodies(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE request_bodies (
            id TEXT PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
            prompt TEXT NOT NULL,
            reply TEXT NOT NULL,
            reasoning TEXT NOT NULL
        )
        """
    )


def m003_indexes(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX requests_started_at ON requests (started_at)")
    conn.execute("CREATE INDEX requests_model ON requests (model, started_at)")
    conn.execute("CREATE INDEX requests_status ON requests (status, started_at)")


def m004_conversations(conn: sqlite3.Connection) -> None:
    """The modern flow's conversation map (chat/conversation.py): a digest of a history (no
    text) → the LMArena session and assistant message that answered it (store/state.py)."""
    conn.execute(
        """
        CREATE TABLE conversations (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            session_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            stored_at REAL NOT NULL,
            PRIMARY KEY (kind, key)
        )
        """
    )
    conn.execute("CREATE INDEX conversations_stored_at ON conversations (stored_at)")


def m005_key_usage(conn: sqlite3.Connection) -> None:
    """Each client key's usage totals, by the key's name (never the key)."""
    conn.execute(
        """
        CREATE TABLE key_usage (
            name TEXT PRIMARY KEY,
            requests INTEGER NOT NULL,
            rate_limited INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            last_used REAL
        )
        """
    )


def m006_request_conversation(conn: sqlite3.Connection) -> None:
    """Whether a request created an LMArena session, continued one, regenerated its reply or
    folded a history into a new one (docs/conversations.md); '' for older rows."""
    conn.execute("ALTER TABLE requests ADD COLUMN conversation TEXT NOT NULL DEFAULT ''")
def m007_request_api(conn: sqlite3.Connection) -> None:
    """Which API a request used: chat, messages (Anthropic), responses, images."""
    conn.execute("ALTER TABLE requests ADD COLUMN api TEXT NOT NULL DEFAULT 'chat'")


def m008_responses(conn: sqlite3.Connection) -> None:
    """Responses API answers kept with `store` (GET/DELETE /v1/responses/{id},
    previous_response_id): the response object and the conversation it answered, as JSON."""
    conn.execute(
        """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            model TEXT NOT NULL,
            key_name TEXT,
            body TEXT NOT NULL,
            conversation TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX responses_created_at ON responses (created_at)")


MIGRATIONS: tuple[Migration, ...] = (
    m001_requests,
    m002_request_bodies,
    m003_indexes,
    m004_conversations,
    m005_key_usage,
    m006_request_conversation,
    m007_request_api,
    m008_responses,
)


def applied(conn: sqlite3.Connection) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction; their names."""
    done = set(applied(conn))
    ran: list[str] = []
    for migration in migrations:
        name = migration.__name__
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            migration(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        ran.append(name)
    return ran
