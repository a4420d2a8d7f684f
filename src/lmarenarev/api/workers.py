"""The WebSocket worker transport (docs/worker-protocol.md) and what both transports share.

The long-poll fallback is `api/worker_poll.py`, the served userscript `api/userscript.py`. Both
transports hand frames to the same `WorkerPool`; a `Link` is all the pool sees.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..arena.page import is_arena_origin
from ..config.keys import same_secret
from ..gateway import Gateway
from ..workers.links import SocketLink
from ..workers.pool import Worker
from ..workers.protocol import ByeFrame, FrameError, Hello, loads, parse_worker_frame

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT = 10.0


def token_ok(gw: Gateway, given: str | None) -> bool:
    """The worker token, compared in constant time."""
    return given is not None and same_secret(given, gw.worker_token)


@router.websocket("/ws")
async def worker_socket(socket: WebSocket) -> None:
    gw: Gateway = socket.app.state.gateway
    origin = socket.headers.get("origin", "")
    if not token_ok(gw, socket.query_params.get("token")):
        log.warning("worker refused: wrong or missing token (origin %s)", origin or "none")
        await socket.close(code=4401, reason="bad token")
        return
    if not is_arena_origin(origin, gw.settings.page_origins()):
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
