"""The long-poll worker transport (docs/worker-protocol.md): for a page whose browser will not
open a WebSocket to the gateway, the userscript's `GM_xmlhttpRequest` connects, polls for
frames and pushes its own."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ..arena.page import is_arena_origin
from ..gateway import Gateway
from ..workers.links import PollLink
from ..workers.pool import Worker
from ..workers.protocol import ByeFrame, FrameError, Hello, loads, parse_worker_frame
from .access import is_extension_origin
from .disconnect import until_client_gone
from .workers import token_ok

log = logging.getLogger(__name__)
router = APIRouter()

POLL_TIMEOUT = 25.0
MAX_FRAME_BYTES = 16 * 1024 * 1024


def _poll_refusal(gw: Gateway, request: Request) -> Response | None:
    """GM_xmlhttpRequest sends no page `Origin` (or an extension's); a web page's fetch always
    sends its own on a POST, so one that is not an LMArena page is refused even with the token."""
    if not token_ok(gw, request.headers.get("x-worker-token")):
        return _refused()
    origin = request.headers.get("origin")
    if origin is None or is_extension_origin(origin):
        return None
    if is_arena_origin(origin, gw.settings.page_origins()):
        return None
    log.warning("long-poll worker refused: origin %r is not an LMArena page", origin[:200])
    return JSONResponse({"error": "origin not allowed"}, status_code=403)


def _unknown_worker() -> JSONResponse:
    return JSONResponse({"error": "unknown worker"}, status_code=404)


def _refused() -> JSONResponse:
    return JSONResponse({"error": "bad worker token"}, status_code=401)


async def _poll_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError("push too large")
    data = loads(body)
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
    frames = await link.poll(lambda: until_client_gone(request.receive), POLL_TIMEOUT)
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
