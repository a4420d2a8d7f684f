"""The Responses API's stored answers (`store`: GET/DELETE /v1/responses/{id},
previous_response_id) in the request log's file, table `responses` (migration m008_responses),
kept the way store/state.py keeps state: rows the writer applies in its transaction, read back
on a read-only connection, pruned with the request log's retention."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .queries import SECONDS_PER_DAY, well_formed


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The `response` object, and the input items of the conversation it answered (a previous
    response's included), for previous_response_id; `key_name`: the key that made it."""

    id: str
    created_at: float
    model: str
    key_name: str | None
    body: dict[str, Any]
    conversation: list[dict[str, Any]]

    def items(self) -> list[dict[str, Any]]:
        """The conversation with this response's output: what a follow-up continues."""
        return [*self.conversation, *self.body.get("output", [])]

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO responses (id, created_at, model, key_name, body, "
            "conversation) VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.id,
                self.created_at,
                well_formed(self.model),
                self.key_name,
                well_formed(json.dumps(self.body, ensure_ascii=False)),
                well_formed(json.dumps(self.conversation, ensure_ascii=False)),
            ),
        )


@dataclass(frozen=True, slots=True)
class ResponseDeleted:
    id: str

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM responses WHERE id = ?", (self.id,))


def load_response(conn: sqlite3.Connection, response_id: str) -> StoredResponse | None:
    row = conn.execute(
        "SELECT id, created_at, model, key_name, body, conversation FROM responses WHERE id = ?",
        (response_id,),
    ).fetchone()
    if row is None:
        return None
    return StoredResponse(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))


def prune_responses(conn: sqlite3.Connection, *, now: float, max_age_days: float) -> int:
    """Delete the responses older than `max_age_days` (0: kept); how many were deleted."""
    if max_age_days <= 0:
        return 0
    cutoff = now - max_age_days * SECONDS_PER_DAY
    return conn.execute("DELETE FROM responses WHERE created_at < ?", (cutoff,)).rowcount
