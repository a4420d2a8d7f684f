"""Everything the monitoring of one gateway holds, built with the gateway, run by its lifespan."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..arena.account import state_name
from ..arena.site import SiteState
from ..chat.conversation import row_limits
from ..config.settings import Settings
from ..store.db import db_path, open_for_reading
from ..store.tokens import load_counter
from ..store.writer import Retention, StoreWriter
from ..workers.pool import WorkerPool
from .metrics import Live, Metrics
from .observe import RequestObserver

T = TypeVar("T")
log = logging.getLogger(__name__)
SWEEP_SLACK_SECONDS = 300.0  # past the request budget, for a slow client still reading


@dataclass
class Monitoring:
    observer: RequestObserver
    metrics: Metrics
    writer: StoreWriter
    db: Path
    started_at: float  # unix time
    _counter: list[Callable[[str], int] | None] = field(default_factory=list)  # loaded once

    async def count_tokens(self, text: str) -> int | None:
        """`text`'s tokens by the offline tokenizer (store/tokens.py), in a thread; None when
        it cannot be loaded."""
        if not self._counter:
            self._counter.append(await asyncio.to_thread(load_counter))
        count = self._counter[0]
        return None if count is None else await asyncio.to_thread(count, text)

    async def read(self, query: Callable[[sqlite3.Connection], T], empty: T) -> T:
        """`query` on a read-only connection in a thread; `empty` while there is no log yet."""
        return await asyncio.to_thread(self.read_now, query, empty)

    def read_now(self, query: Callable[[sqlite3.Connection], T], empty: T) -> T:
        conn = open_for_reading(self.db)
        if conn is None:
            return empty
        try:
            return query(conn)
        except sqlite3.DatabaseError as exc:  # not migrated yet (starting), or damaged
            log.warning("cannot read the request log %s: %s", self.db, exc)
            return empty
        finally:
            conn.close()

    async def run(self) -> None:
        await self.observer.run()


def build_monitoring(
    settings: Callable[[], Settings], home: Path, pool: WorkerPool, site: SiteState | None = None
) -> Monitoring:
    """`settings` is read when used, so a reload changes log_bodies and the retention."""
    def retention() -> Retention:
        s = settings()
        return Retention(
            s.log_retention_days,
            s.log_max_rows,
            conversation_max_age_seconds=s.conversation_max_age_hours * 3600,
            conversation_max_rows=row_limits(s.conversation_cache_size),
        )

    writer = StoreWriter(db_path(home), retention=retention, count_tokens=load_counter)
    started_at = time.time()
    observer: RequestObserver | None = None

    def live() -> Live:
        workers = list(pool.workers.values())
        accounts: dict[str, int] = {}
        for worker in workers:
            state = state_name(worker.account.logged_in)
            accounts[state] = accounts.get(state, 0) + 1
        now = pool.clock()
        drift = site.drift if site is not None else None
        return Live(
            active_requests=0 if observer is None else len(observer.active),
            jobs=len(pool.jobs),
            waiting=pool.waiting,
            workers=len(pool.workers),
            busy_slots=sum(len(w.jobs) for w in list(pool.workers.values())),
            capacity=sum(w.capacity for w in list(pool.workers.values())),
            log_queue=writer.pending,
            log_dropped=writer.dropped,
            log_failed=writer.failed,
            uptime_seconds=time.time() - started_at,
            socket_messages=pool.socket_messages,
            socket_frames=pool.socket_frames,
            sent_messages=pool.sent_messages,
            sent_frames=pool.sent_frames,
            token_hits=pool.token_hits,
            token_misses=pool.token_misses,
            token_expired=pool.token_expired,
            token_dropped=pool.token_dropped,
            accounts=accounts,
            pulses={w.id: w.account.pulse for w in workers if w.account.pulse is not None},
            cooling_down=sum(1 for w in workers if w.cooled_until > now),
            unknown_records=dict(drift.unknown_records) if drift else {},
            unknown_catalog_fields=dict(drift.unknown_catalog_fields) if drift else {},
            refused_values=dict(drift.refused) if drift else {},
        )

    metrics = Metrics(live)
    observer = RequestObserver(
        writer=writer,
        metrics=metrics,
        log_bodies=lambda: settings().log_bodies,
        max_age=lambda: settings().request_timeout_seconds + SWEEP_SLACK_SECONDS,
    )
    return Monitoring(observer, metrics, writer, writer.path, started_at)
