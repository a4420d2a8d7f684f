"""Reads and writes of the stored Responses API answers (table `responses`, migration
m005_responses), as functions of a connection like queries.py."""

from __future__ import annotations

import json
import sqlite3

from .queries import SECONDS_PER_DAY, well_formed
from .records import ResponseDeleted, StoredResponse


def apply(conn: sqlite3.Connection, write: StoredResponse | ResponseDeleted) -> None:
    if isinstance(write, ResponseDeleted):
        conn.execute("DELETE FROM responses WHERE id = ?", (write.id,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO responses (id, created_at, model, key_name, body, conversation) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            write.id,
            write.created_at,
            well_formed(write.model),
            write.key_name,
            well_formed(json.dumps(write.body, ensure_ascii=False)),
            well_formed(json.dumps(write.conversation, ensure_ascii=False)),
        ),
    )


def get(conn: sqlite3.Connection, response_id: str) -> StoredResponse | None:
    row = conn.execute(
        "SELECT id, created_at, model, key_name, body, conversation FROM responses WHERE id = ?",
        (response_id,),
    ).fetchone()
    if row is None:
        return None
    return StoredResponse(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))


def prune(conn: sqlite3.Connection, *, now: float, max_age_days: float) -> int:
    if max_age_days <= 0:
        return 0
    cutoff = now - max_age_days * SECONDS_PER_DAY
    return conn.execute("DELETE FROM responses WHERE created_at < ?", (cutoff,)).rowcount
