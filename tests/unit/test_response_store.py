"""Stored Responses API answers: their table (store/responses.py, migration m008_responses)
and the store in front of it (chat/response_store.py): recent ones from memory, older ones
from the file, each seen only by the key that made it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmarenarev.chat.response_store import ResponseStore
from lmarenarev.store.db import open_for_writing
from lmarenarev.store.migrations import migrate
from lmarenarev.store.responses import (
    ResponseDeleted,
    StoredResponse,
    load_response,
    prune_responses,
)
from lmarenarev.store.state import StateWrite

NOW = 1_800_000_000.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_for_writing(tmp_path / "store.sqlite3")
    migrate(connection)
    yield connection
    connection.close()


def stored(n: int, key: str | None = None, at: float = NOW) -> StoredResponse:
    body = {"id": f"resp_{n}", "object": "response", "output": [{"type": "message", "n": n}]}
    return StoredResponse(f"resp_{n}", at, "m", key, body, [{"role": "user", "content": "hi"}])


def test_a_response_is_written_read_back_deleted_and_pruned(conn: sqlite3.Connection) -> None:
    stored(1).apply(conn)
    stored(2, at=NOW - 40 * 86400).apply(conn)
    assert load_response(conn, "resp_1") == stored(1)
    assert stored(1).items() == [{"role": "user", "content": "hi"},
                                 {"type": "message", "n": 1}]
    assert prune_responses(conn, now=NOW, max_age_days=30) == 1
    assert load_response(conn, "resp_2") is None
    ResponseDeleted("resp_1").apply(conn)
    assert load_response(conn, "resp_1") is None


async def test_the_store_serves_memory_then_the_file_per_key(conn: sqlite3.Connection) -> None:
    written: list[StateWrite] = []

    def save(row: StateWrite) -> bool:
        written.append(row)
        row.apply(conn)
        return True

    async def read(query: Callable[[sqlite3.Connection], Any], empty: Any) -> Any:
        return query(conn)

    store = ResponseStore(save, read, capacity=1)
    store.keep(stored(1, "alice"))
    store.keep(stored(2, "alice"))  # pushes resp_1 out of memory: read from the file
    assert await store.get("resp_1", "alice") == stored(1, "alice")
    assert await store.get("resp_1", "bob") is None
    assert not await store.delete("resp_1", "bob")
    assert await store.delete("resp_1", "alice")
    assert await store.get("resp_1", "alice") is None
    assert [type(row).__name__ for row in written] == ["StoredResponse", "StoredResponse",
                                                       "ResponseDeleted"]
