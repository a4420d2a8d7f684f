"""The WebSocket worker transport (docs/worker-protocol.md) and what both transports share.

The long-poll fallback is `api/worker_poll.py`, the served userscript `api/userscript.py`. Both
transports hand frames to the same `WorkerPool`; a `Link` is all the pool sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..arena.page import is_arena_origin
from ..gateway import Gateway
from ..workers.pool import Worker, WorkerPool
from ..workers.protocol import ByeFrame, FrameError, Hello, parse_worker_frame

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT = 10.0


def token_ok(gw: Gateway, given: str | None) -> bool:
    """The worker token, compared in constant time."""
    return given is not None and secrets.compare_digest(given.encode(), gw.worker_token.encode())


def loads(text: str | bytes) -> Any:
    """`json.loads`, through orjson when it can (several times faster on the hot path); what
    orjson refuses (NaN, lone surrogate escapes, …) gets the standard library's verdict. One
    difference: orjson reads an integer beyond 64 bits as a float, so a frame with such a
    `seq` is malformed (dropped and counted) rather than waited for forever."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class SocketLink:
    """A WebSocket worker. When its hello says `batches`, the frames sent while the event loop
    runs the tasks that are ready now leave together, as one message (a JSON array) sent by a
    task of its own right after them: a burst of requests read at once sends its jobs as one
    message, not one each (each costs the gateway a write and the tab a wake-up and a task,
    docs/worker-protocol.md "Batches"). A lone frame leaves on its own, one task later."""

    kind = "websocket"

    def __init__(self, socket: WebSocket, pool: WorkerPool) -> None:
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


@router.websocket("/ws")
async def worker_socket(socket: WebSocket) -> None:
    gw: Gateway = socket.app.state.gateway
    origin = socket.headers.get("origin", "")
    if not token_ok(gw, socket.query_params.get("token")):
        log.warning("worker refused: wrong or missing token (origin %s)", origin or "none")
        await socket.close(code=4401, reason="bad token")
        return
    if not is_arena_origin(origin, gw.settings.worker_origins):
        log.warning("worker refused: origin %r is not an LMArena page", origin)
        await socket.close(code=4403, reason="origin not allowed")
        return
    await socket.accept()
    link = SocketLink(socket, gw.pool)
    try:
        hello = Hello.model_validate_json(
            await asyncio.wait_for(socket.receive_text(), HELLO_TIMEOUT)
        )
    except (TimeoutError, ValidationError, WebSocketDisconnect, ValueError) as exc:
        log.warning("worker refused: no valid hello (%s)", type(exc).__name__)
        await link.close("hello expected")
        return
    link.batches = hello.batches
    worker = await gw.pool.add(hello, link)
    reason = "connection closed"
    try:
        while True:
            text = await socket.receive_text()
            _dispatch(gw, worker, text)
    except WebSocketDisconnect as exc:
        reason = f"connection closed (code {exc.code})"
    except Exception as exc:  # a protocol violation ends this worker, never the gateway
        reason = f"protocol error: {exc}"
        await link.close("protocol error")
    finally:
        await gw.pool.remove(worker, reason)


def _dispatch(gw: Gateway, worker: Worker, text: str) -> None:
    """One WebSocket message: a frame, or a batch (a JSON array of frames, handled in order)."""
    try:
        data = loads(text)
    except ValueError as exc:
        gw.pool.dropped_frames += 1
        log.debug("dropped a malformed frame from %s: %s", worker.id, exc)
        return
    pool = gw.pool
    pool.socket_messages += 1
    if type(data) is list:
        pool.socket_frames += len(data)
        for frame in data:
            _dispatch_frame(gw, worker, frame)
    else:
        pool.socket_frames += 1
        _dispatch_frame(gw, worker, data)


def _dispatch_frame(gw: Gateway, worker: Worker, data: Any) -> None:
    try:
        frame = parse_worker_frame(data)
    except FrameError as exc:
        gw.pool.dropped_frames += 1
        log.debug("dropped a malformed frame from %s: %s", worker.id, exc)
        return
    if isinstance(frame, ByeFrame):  # leaving: no new jobs; the socket's close removes it
        gw.pool.retire(worker, "the page is going away")
    else:
        gw.pool.on_frame(worker, frame)
