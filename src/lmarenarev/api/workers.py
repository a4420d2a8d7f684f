"""Worker transports (docs/worker-protocol.md) and the served userscript.

Both transports hand frames to the same `WorkerPool`; a `Link` is all the pool sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ..arena.page import is_arena_origin
from ..state import Gateway
from ..workers.pool import Worker
from ..workers.protocol import FrameError, Hello, parse_worker_frame

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT = 10.0
POLL_TIMEOUT = 25.0
MAX_FRAME_BYTES = 16 * 1024 * 1024


def _token_ok(gw: Gateway, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), gw.worker_token.encode())


# -- WebSocket -----------------------------------------------------------------------------------


class SocketLink:
    kind = "websocket"

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        async with self._lock:
            await self.socket.send_text(text)

    async def close(self, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed
            await self.socket.close(code=4000, reason=reason[:100])


@router.websocket("/ws")
async def worker_socket(socket: WebSocket) -> None:
    gw: Gateway = socket.app.state.gateway
    origin = socket.headers.get("origin", "")
    if not _token_ok(gw, socket.query_params.get("token")):
        log.warning("worker refused: wrong or missing token (origin %s)", origin or "none")
        await socket.close(code=4401, reason="bad token")
        return
    if not is_arena_origin(origin, gw.settings.worker_origins):
        log.warning("worker refused: origin %r is not an LMArena page", origin)
        await socket.close(code=4403, reason="origin not allowed")
        return
    await socket.accept()
    link = SocketLink(socket)
    try:
        hello = Hello.model_validate_json(
            await asyncio.wait_for(socket.receive_text(), HELLO_TIMEOUT)
        )
    except (TimeoutError, ValidationError, WebSocketDisconnect, ValueError) as exc:
        log.warning("worker refused: no valid hello (%s)", type(exc).__name__)
        await link.close("hello expected")
        return
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
    try:
        frame = parse_worker_frame(json.loads(text))
    except (ValueError, FrameError) as exc:
        gw.pool.dropped_frames += 1
        log.debug("dropped a malformed frame from %s: %s", worker.id, exc)
        return
    gw.pool.on_frame(worker, frame)


# -- long-poll fallback (GM_xmlhttpRequest) ------------------------------------------------------


class PollLink:
    kind = "long-poll"

    def __init__(self, registry: dict[str, PollLink]) -> None:
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = False
        self.registry = registry
        self.worker_id = ""

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionError("long-poll worker is gone")
        self.outbox.put_nowait(frame)

    async def close(self, reason: str) -> None:
        self.closed = True
        self.registry.pop(self.worker_id, None)

    async def drain(self, timeout: float) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        if self.outbox.empty():
            try:
                frames.append(await asyncio.wait_for(self.outbox.get(), timeout))
            except TimeoutError:
                return frames
        while not self.outbox.empty():
            frames.append(self.outbox.get_nowait())
        return frames


def _unknown_worker() -> JSONResponse:
    return JSONResponse({"error": "unknown worker"}, status_code=404)


def _refused() -> JSONResponse:
    return JSONResponse({"error": "bad worker token"}, status_code=401)


async def _poll_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError("push too large")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _poll_worker(gw: Gateway, data: dict[str, Any]) -> tuple[Worker, PollLink] | None:
    worker_id = data.get("worker")
    if not isinstance(worker_id, str):
        return None
    worker = gw.pool.workers.get(worker_id)
    link = gw.poll_links.get(worker_id)
    if worker is None or link is None:
        gw.poll_links.pop(worker_id, None)
        return None
    return worker, link


@router.post("/worker/connect", include_in_schema=False)
async def poll_connect(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if not _token_ok(gw, request.headers.get("x-worker-token")):
        return _refused()
    try:
        hello = Hello.model_validate(await _poll_body(request))
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": f"invalid hello: {exc}"}, status_code=400)
    link = PollLink(gw.poll_links)
    worker = await gw.pool.add(hello, link)
    link.worker_id = worker.id
    gw.poll_links[worker.id] = link
    await link.drain(0)  # the welcome frame: its content is in this answer
    return JSONResponse({"worker": worker.id, "poll_timeout": POLL_TIMEOUT})


@router.post("/worker/poll", include_in_schema=False)
async def poll_frames(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if not _token_ok(gw, request.headers.get("x-worker-token")):
        return _refused()
    try:
        found = _poll_worker(gw, await _poll_body(request))
    except ValueError:
        return _unknown_worker()
    if found is None:
        return _unknown_worker()
    worker, link = found
    worker.last_seen = gw.pool.clock()
    frames = await link.drain(POLL_TIMEOUT)
    worker.last_seen = gw.pool.clock()
    return JSONResponse({"frames": frames})


@router.post("/worker/push", include_in_schema=False)
async def poll_push(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if not _token_ok(gw, request.headers.get("x-worker-token")):
        return _refused()
    try:
        data = await _poll_body(request)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    found = _poll_worker(gw, data)
    if found is None:
        return _unknown_worker()
    worker, _ = found
    frames = data.get("frames")
    for frame in frames if isinstance(frames, list) else []:
        try:
            gw.pool.on_frame(worker, parse_worker_frame(frame))
        except FrameError:
            gw.pool.dropped_frames += 1
    return JSONResponse({"ok": True})


# -- the userscript ------------------------------------------------------------------------------


def render_userscript(gw: Gateway, base_url: str) -> str:
    template = (
        resources.files("lmarenarev").joinpath("userscript/bridge.user.js").read_text("utf-8")
    )
    host = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    values = {
        "__LMARENAREV_VERSION__": gw.version,
        "__LMARENAREV_GATEWAY__": base_url,
        "__LMARENAREV_TOKEN__": gw.worker_token,
        "__LMARENAREV_CONNECT_HOST__": host,
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, json.dumps(value)[1:-1])
    return template


@router.get("/bridge.user.js", include_in_schema=False)
async def userscript(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    base = f"{request.url.scheme}://{request.url.netloc}"
    return Response(render_userscript(gw, base), media_type="text/javascript; charset=utf-8")
