"""The gateway's operational state: config source, catalogue, id capture, recent errors, idling.

One `Operations` lives on the `Gateway` (`gateway.ops`). It holds state only; the actions that
use it are in `admin_actions.py`, `reload.py` and `upkeep.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..config.files import ConfigSource
from ..errors import GatewayError
from ..models.catalog import Catalog
from .id_capture import IdCapture

log = logging.getLogger(__name__)

RECENT_ERRORS = 50


@dataclass
class UpdateState:
    """What the update check found (ops/update_check.py): set from its thread, read by the
    dashboard (/api/monitor/stats)."""

    latest: str | None = None
    notice: str | None = None


class RecentErrors:
    """The last failures, newest last (bounded; the request log will keep them all)."""

    def __init__(self, size: int = RECENT_ERRORS) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=size)

    def record(self, source: str, error: GatewayError, *, model: str | None = None) -> None:
        self._items.append(
            {
                "at": time.time(),
                "source": source,
                "status": error.status,
                "code": error.code,
                "message": error.message[:500],
                "model": model,
            }
        )

    def latest(self, count: int = 10) -> list[dict[str, Any]]:
        return list(self._items)[-count:]


@dataclass
class Operations:
    source: ConfigSource | None = None
    catalog: Catalog = field(default_factory=Catalog)
    capture: IdCapture = field(default_factory=IdCapture)
    errors: RecentErrors = field(default_factory=RecentErrors)
    update: UpdateState = field(default_factory=UpdateState)
    last_request_at: float = field(default_factory=time.monotonic)
    last_idle_reload_at: float = 0.0
    loop: asyncio.AbstractEventLoop | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background; kept until done, cancelled at shutdown."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def touch(self) -> None:
        """A client request arrived (the idle restart counts from here)."""
        self.last_request_at = time.monotonic()
