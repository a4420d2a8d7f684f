"""The one writer of the request log: an asyncio task draining a bounded queue into SQLite.

`submit()` never blocks and never touches the disk: it queues the record, or drops and counts it
when the queue is full (logged once). `save()` does the same for a row of the state kept across
restarts (store/state.py: the conversation map, key usage), written in the same batches. `run()`
takes what is queued in batches and writes each batch in a thread (`asyncio.to_thread`),
counting tokens there too when LMArena sent no usage; it prunes the log to its retention now and
then. A batch gathers for `linger` seconds after its first record: under load that is one
transaction (and one thread hop) for many requests, not one each. On cancellation it writes what
it holds and what is still queued, then closes the file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from . import queries
from .db import open_for_writing
from .migrations import migrate
from .records import RequestRecord
from .responses import prune_responses
from .state import StateWrite, prune_conversations

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 600.0
T = TypeVar("T")

Counter = Callable[[str], int]
Counted = Callable[[RequestRecord], None]


@dataclass(frozen=True, slots=True)
class Retention:
    max_age_days: float
    max_rows: int
    conversation_max_age_seconds: float = 0.0  # 0: no age limit
    # The most rows kept of each kind (chat.conversation.row_limits); empty: not pruned.
    conversation_max_rows: Mapping[str, int] = field(default_factory=dict)


class StoreWriter:
    def __init__(
        self,
        path: Path,
        *,
        retention: Callable[[], Retention],
        count_tokens: Callable[[], Counter | None] = lambda: None,
        queue_size: int = 1000,
        batch_size: int = 200,
        linger: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention = retention
        self._count_tokens = count_tokens  # loads the tokenizer (in the writer's thread)
        self._counter: Counter | None = None
        self._counter_loaded = False
        self._queue: asyncio.Queue[RequestRecord | StateWrite] = asyncio.Queue(queue_size)
        self.batch_size = batch_size
        self.linger = linger
        self._held: list[RequestRecord | StateWrite] = []  # taken from the queue, not written
        self.clock = clock
        self._conn: sqlite3.Connection | None = None
        self._inflight: asyncio.Future[Any] | None = None
        self._last_prune = 0.0
        self.written = 0
        self.state_written = 0
        self.dropped = 0
        self.failed = 0
        self.error: str | None = None  # why the log is not being written, if it is not
        self.listeners: list[Callable[[list[RequestRecord]], None]] = []  # after each batch

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, record: RequestRecord) -> bool:
        return self._put(record)

    def save(self, row: StateWrite) -> bool:
        """Queue a row of state (store/state.py) for the next batch."""
        return self._put(row)

    def _put(self, item: RequestRecord | StateWrite) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if self.dropped == 0:
                log.warning("the request log is behind: dropping records (counted in /metrics)")
            self.dropped += 1
            return False
        return True

    # -- the task ------------------------------------------------------------------------------

    def open(self) -> None:
        """Create or migrate the file (blocking: call in a thread). The data directory must
        exist already: the CLI makes it; a gateway given none keeps no log."""
        conn = open_for_writing(self.path)
        try:
            ran = migrate(conn)
        except BaseException:
            conn.close()
            raise
        if ran:
            log.info("request log %s: applied %s", self.path, ", ".join(ran))
        self._conn = conn

    async def run(self) -> None:
        try:
            try:
                await self._in_thread(self.open)
            except (OSError, sqlite3.Error) as exc:
                self.error = f"cannot open {self.path}: {exc}"
                log.error("the request log is off: %s", self.error)
                return
            while True:
                self._held = [await self._queue.get()]
                if self.linger > 0 and self._queue.qsize() < self.batch_size - 1:
                    await asyncio.sleep(self.linger)
                batch, self._held = self._drain(self._held), []
                await self._write(batch)
        finally:  # cancelled: let the thread finish, write what is held and queued, close
            if self._inflight is not None:
                await asyncio.wait([self._inflight])
            if self._conn is not None:
                while self._held or not self._queue.empty():
                    batch, self._held = self._drain(self._held), []
                    await self._write(batch)
                await asyncio.to_thread(self._close)

    async def _in_thread(self, work: Callable[[], T]) -> T:
        """`work` in a thread; shielded, so a cancellation never leaves it half done."""
        self._inflight = asyncio.ensure_future(asyncio.to_thread(work))
        return await asyncio.shield(self._inflight)

    def _drain(
        self, batch: list[RequestRecord | StateWrite]
    ) -> list[RequestRecord | StateWrite]:
        while len(batch) < self.batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[RequestRecord | StateWrite]) -> None:
        try:
            written = await self._in_thread(lambda: self._write_batch(batch))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a full disk must not stop the gateway, nor this task
            self.failed += len(batch)
            log.error("could not write %d record(s) to the request log: %s", len(batch), exc)
            return
        for listener in self.listeners:
            listener(written)

    # -- in the thread -------------------------------------------------------------------------

    def _write_batch(self, batch: list[RequestRecord | StateWrite]) -> list[RequestRecord]:
        conn = self._conn
        assert conn is not None
        records = [self._counted(item) for item in batch if isinstance(item, RequestRecord)]
        rows = [item for item in batch if not isinstance(item, RequestRecord)]
        conn.execute("BEGIN IMMEDIATE")
        try:
            queries.insert(conn, records)
            for row in rows:  # in the order they were saved: the last one of a key wins
                row.apply(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.written += len(records)
        self.state_written += len(rows)
        now = self.clock()
        if now - self._last_prune >= PRUNE_INTERVAL_SECONDS:
            self._last_prune = now
            try:
                self._prune(conn, now)
            except sqlite3.Error as exc:
                log.error("could not prune the request log: %s", exc)
        return records

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        retention = self.retention()
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = queries.prune(
                conn, now=now, max_age_days=retention.max_age_days, max_rows=retention.max_rows
            )
            prune_responses(conn, now=now, max_age_days=retention.max_age_days)
            if retention.conversation_max_rows:
                forgotten = prune_conversations(
                    conn,
                    now=now,
                    max_age_seconds=retention.conversation_max_age_seconds,
                    max_rows=retention.conversation_max_rows,
                )
                if forgotten:
                    log.info("conversation map: removed %d expired or surplus entries", forgotten)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if deleted:
            log.info("request log: removed %d old request(s)", deleted)

    def _counted(self, record: RequestRecord) -> RequestRecord:
        texts = record.to_count
        if texts is None:
            return record
        if not self._counter_loaded:
            self._counter_loaded = True
            self._counter = self._count_tokens()
        if self._counter is None:
            return replace(record, to_count=None)  # tokens stay unknown, never guessed
        count = self._counter
        try:
            prompt = count(queries.well_formed(texts.prompt))
            completion = sum(count(queries.well_formed(part)) for part in texts.completion)
        except Exception as exc:  # one odd text must not cost the batch
            log.warning("[%s] could not count tokens: %s", record.id, exc)
            return replace(record, to_count=None)
        return replace(
            record,
            prompt_tokens=prompt,
            completion_tokens=completion,
            tokens_source="tokenizer",
            to_count=None,
        )

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
