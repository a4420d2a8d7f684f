"""Worker transports (docs/worker-protocol.md) and the served userscript.

Both transports hand frames to the same `WorkerPool`; a `Link` is all the pool sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ..arena.page import ARENA_HOSTS, is_arena_origin
from ..auth import is_extension_origin
from ..completions import until_client_gone
from ..state import Gateway
from ..workers.pool import Worker, WorkerPool
from ..workers.protocol import ByeFrame, FrameError, Hello, parse_worker_frame

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT = 10.0
POLL_TIMEOUT = 25.0
POLL_GRACE = 5.0  # a live long-poll worker re-polls at once; this long without one, it is gone
MAX_FRAME_BYTES = 16 * 1024 * 1024


def _token_ok(gw: Gateway, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), gw.worker_token.encode())


def _poll_refusal(gw: Gateway, request: Request) -> Response | None:
    """GM_xmlhttpRequest sends no page `Origin` (or an extension's); a web page's fetch always
    sends its own on a POST, so one that is not an LMArena page is refused even with the token."""
    if not _token_ok(gw, request.headers.get("x-worker-token")):
        return _refused()
    origin = request.headers.get("origin")
    if origin is None or is_extension_origin(origin):
        return None
    if is_arena_origin(origin, gw.settings.worker_origins):
        return None
    log.warning("long-poll worker refused: origin %r is not an LMArena page", origin[:200])
    return JSONResponse({"error": "origin not allowed"}, status_code=403)


# -- WebSocket -----------------------------------------------------------------------------------


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
    if not _token_ok(gw, socket.query_params.get("token")):
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


def _loads(text: str | bytes) -> Any:
    """`json.loads`, through orjson when it can (several times faster on the hot path); what
    orjson refuses (NaN, lone surrogate escapes, …) gets the standard library's verdict. One
    difference: orjson reads an integer beyond 64 bits as a float, so a frame with such a
    `seq` is malformed (dropped and counted) rather than waited for forever."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _dispatch(gw: Gateway, worker: Worker, text: str) -> None:
    """One WebSocket message: a frame, or a batch (a JSON array of frames, handled in order)."""
    try:
        data = _loads(text)
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


# -- long-poll fallback (GM_xmlhttpRequest) ------------------------------------------------------


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

    async def poll(self, request: Request, timeout: float) -> list[dict[str, Any]]:
        """Frames as soon as there are any, [] at the timeout or when the client went away."""
        self.polling += 1
        try:
            if not self.outbox:
                waiter = asyncio.ensure_future(self.ready.wait())
                gone = asyncio.ensure_future(until_client_gone(request.receive))
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


def _unknown_worker() -> JSONResponse:
    return JSONResponse({"error": "unknown worker"}, status_code=404)


def _refused() -> JSONResponse:
    return JSONResponse({"error": "bad worker token"}, status_code=401)


async def _poll_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError("push too large")
    data = _loads(body)
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


def _flatten(frames: list[Any]) -> list[Any]:
    """A push's frames, with a batch (an array) among them replaced by its frames."""
    if not any(type(frame) is list for frame in frames):
        return frames
    flat: list[Any] = []
    for frame in frames:
        if type(frame) is list:
            flat.extend(frame)
        else:
            flat.append(frame)
    return flat


@router.post("/worker/connect", include_in_schema=False)
async def poll_connect(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if (refusal := _poll_refusal(gw, request)) is not None:
        return refusal
    try:
        hello = Hello.model_validate(await _poll_body(request))
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": f"invalid hello: {exc}"}, status_code=400)
    link = PollLink(gw.poll_links, gw.pool.clock)
    worker = await gw.pool.add(hello, link)
    link.worker_id = worker.id
    gw.poll_links[worker.id] = link
    link.take()  # the welcome frame: its content is in this answer
    return JSONResponse({"worker": worker.id, "poll_timeout": POLL_TIMEOUT})


@router.post("/worker/poll", include_in_schema=False)
async def poll_frames(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if (refusal := _poll_refusal(gw, request)) is not None:
        return refusal
    try:
        found = _poll_worker(gw, await _poll_body(request))
    except ValueError:
        return _unknown_worker()
    if found is None:
        return _unknown_worker()
    worker, link = found
    worker.last_seen = gw.pool.clock()
    frames = await link.poll(request, POLL_TIMEOUT)
    worker.last_seen = gw.pool.clock()
    return JSONResponse({"frames": frames})


@router.post("/worker/push", include_in_schema=False)
async def poll_push(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if (refusal := _poll_refusal(gw, request)) is not None:
        return refusal
    try:
        data = await _poll_body(request)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    found = _poll_worker(gw, data)
    if found is None:
        return _unknown_worker()
    worker, _ = found
    frames = data.get("frames")
    for frame in _flatten(frames) if isinstance(frames, list) else []:
        try:
            parsed = parse_worker_frame(frame)
        except FrameError:
            gw.pool.dropped_frames += 1
            continue
        if isinstance(parsed, ByeFrame):
            await gw.pool.remove(worker, "the page closed")
            await found[1].close("bye")
            break
        gw.pool.on_frame(worker, parsed)
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
        # Update checks come from the script manager, which sends no admin key.
        "__LMARENAREV_TOKEN_QUERY__": quote(gw.worker_token, safe=""),
        "__LMARENAREV_CONNECT_HOST__": host,
        # The script runs only on these pages (its @match is advice a <script src> ignores).
        "__LMARENAREV_PAGE_HOSTS__": json.dumps(list(ARENA_HOSTS)),
        "__LMARENAREV_PAGE_ORIGINS__": json.dumps(gw.settings.worker_origins),
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, json.dumps(value)[1:-1])
    return template


@router.get("/bridge.user.js", include_in_schema=False)
async def userscript(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    refusal = gw.access.userscript_refusal(request, gw.worker_token)
    if refusal is not None:
        raise refusal
    base = f"{request.url.scheme}://{request.url.netloc}"
    return Response(
        render_userscript(gw, base),
        media_type="text/javascript; charset=utf-8",
        # CORP: a browser will not run it as another site's <script src> (it holds the token).
        headers={"Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin"},
    )
