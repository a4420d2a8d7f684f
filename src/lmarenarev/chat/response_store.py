"""Responses API answers kept with `store` (`GET`/`DELETE /v1/responses/{id}`,
`previous_response_id`): in the SQLite file through its one writer (store/responses.py),
and in memory while they are recent, so a follow-up that comes before the writer wrote one
still finds it. A response belongs to the API key that made it: another key does not see it.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..store.responses import ResponseDeleted, StoredResponse, load_response
from ..store.state import StateWrite

T = TypeVar("T")
Read = Callable[[Callable[[sqlite3.Connection], T], T], Awaitable[T]]


class ResponseStore:
    def __init__(self, submit: Callable[[StateWrite], bool], read: Read[StoredResponse | None],
                 capacity: int) -> None:
        self.submit = submit  # the store's writer
        self.read = read  # a query on a read-only connection, in a thread
        self.capacity = capacity
        self._recent: OrderedDict[str, StoredResponse] = OrderedDict()
        self._deleted: OrderedDict[str, None] = OrderedDict()  # until the writer deleted them

    def keep(self, stored: StoredResponse) -> None:
        self._remember(self._recent, stored.id, stored)
        self._deleted.pop(stored.id, None)
        self.submit(stored)

    async def get(self, response_id: str, key_name: str | None) -> StoredResponse | None:
        if response_id in self._deleted:
            return None
        stored = self._recent.get(response_id)
        if stored is None:
            stored = await self.read(lambda conn: load_response(conn, response_id), None)
        if stored is None or stored.key_name != key_name:
            return None
        return stored

    async def delete(self, response_id: str, key_name: str | None) -> bool:
        if await self.get(response_id, key_name) is None:
            return False
        self._recent.pop(response_id, None)
        self._remember(self._deleted, response_id, None)
        self.submit(ResponseDeleted(response_id))
        return True

    def _remember(self, table: OrderedDict[str, T], key: str, value: T) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)
