"""How the gateway reaches a connected worker: its `Link` (workers/pool.py), one per transport.

`SocketLink` writes to a WebSocket; `PollLink` keeps frames until the long-poll worker's next poll
takes them (docs/worker-protocol.md, "Transports"). The routes that accept the connections are in
api/workers.py and api/worker_poll.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from .pool import WorkerPool

log = logging.getLogger(__name__)

POLL_GRACE = 5.0  # a live long-poll worker re-polls at once; this long without one, it is gone


class TextSocket(Protocol):
    """What `SocketLink` needs of a WebSocket (Starlette's has both)."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class SocketLink:
    """A WebSocket worker. When its hello says `batches`, the frames sent while the event loop
    runs the tasks that are ready now leave together, as one message (a JSON array) sent by a
    task of its own right after them: a burst of requests read at once sends its jobs as one
    message, not one each (each costs the gateway a write and the tab a wake-up and a task,
    docs/worker-protocol.md "Batches"). A lone frame leaves on its own, one task later."""

    kind = "websocket"

    def __init__(self, socket: TextSocket, pool: WorkerPool) -> None:
        self.socket = socket
        self.pool = pool
        self.batches = False
        self._lock = asyncio.Lock()
        self._pending: list[str] | None = None  # frames waiting for the flush task
        self._flushes: set[asyncio.Task[None]] = set()

    async def send(self, frame: dict[str, Any]) -> None:
        try:
            text = orjson.dumps(frame).decode()  # compact UTF-8, as json.dumps below
        except orjson.JSONEncodeError:  # e.g. a lone surrogate, an integer beyond 64 bits
            text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        if not self.batches:
            async with self._lock:
                await self._send_text(text, 1)
            return
        if self._pending is not None:
            self._pending.append(text)
            return
        self._pending = frames = [text]
        flush = asyncio.ensure_future(self._flush(frames))
        self._flushes.add(flush)
        flush.add_done_callback(self._flushes.discard)

    async def _flush(self, frames: list[str]) -> None:
        """Runs after the tasks that were ready with the first frame (and waits for an earlier
        message still being written): `frames`, and every frame queued in it by then, leave in
        order; later frames start a new list."""
        async with self._lock:
            self._pending = None  # `frames` is the list still open to senders until now
            text = frames[0] if len(frames) == 1 else "[" + ",".join(frames) + "]"
            try:
                await self._send_text(text, len(frames))
            except Exception as exc:  # a dead socket: its receive loop removes the worker
                log.debug("send to worker failed: %s", exc)

    async def _send_text(self, text: str, frames: int) -> None:
        await self.socket.send_text(text)
        self.pool.sent_messages += 1
        self.pool.sent_frames += frames

    def gone(self, now: float) -> bool:
        return False  # pings and the socket's own close tell

    async def close(self, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed
            await self.socket.close(code=4000, reason=reason[:100])


class PollLink:
    """Frames for a long-poll worker wait in `outbox` until its next poll takes them."""

    kind = "long-poll"

    def __init__(self, registry: dict[str, PollLink], clock: Callable[[], float]) -> None:
        self.outbox: deque[dict[str, Any]] = deque()
        self.ready = asyncio.Event()
        self.closed = False
        self.registry = registry
        self.worker_id = ""
        self.clock = clock
        self.polling = 0
        self.last_poll_end = clock()

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionError("long-poll worker is gone")
        self.outbox.append(frame)
        self.ready.set()

    async def close(self, reason: str) -> None:
        self.closed = True
        self.ready.set()
        self.registry.pop(self.worker_id, None)

    def gone(self, now: float) -> bool:
        """No poll outstanding for a while: the browser aborted it (the tab closed)."""
        return self.closed or (self.polling == 0 and now - self.last_poll_end > POLL_GRACE)

    def take(self) -> list[dict[str, Any]]:
        frames = list(self.outbox)
        self.outbox.clear()
        self.ready.clear()
        return frames

    async def poll(
        self, client_gone: Callable[[], Awaitable[None]], timeout: float
    ) -> list[dict[str, Any]]:
        """Frames as soon as there are any; [] at the timeout, or when `client_gone()` returns
        first (the poll's HTTP client went away)."""
        self.polling += 1
        try:
            if not self.outbox:
                waiter = asyncio.ensure_future(self.ready.wait())
                gone = asyncio.ensure_future(client_gone())
                try:
                    await asyncio.wait(
                        {waiter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waiter.cancel()
                    gone.cancel()
                if gone.done() and not gone.cancelled():
                    return []  # nobody to deliver to: keep the frames for the next poll
            return self.take()
        finally:
            self.polling -= 1
            self.last_poll_end = self.clock()
