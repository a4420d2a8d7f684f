"""`/v1/*`: thin routes. Parse, call the chat service and the relay, render."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from ..arena.events import Event
from ..chat import ChatPlan
from ..conversation import SessionRef
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge
from ..openai_schema import ChatCompletionRequest, ModelCard, ModelList
from ..relay import Relay
from ..render.common import RenderOptions
from ..render.json import JSONRenderer
from ..render.sse import SSERenderer
from ..state import Gateway

log = logging.getLogger(__name__)
router = APIRouter()


def gateway(request: Request) -> Gateway:
    state: Gateway = request.app.state.gateway
    return state


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    gw = gateway(request)
    created = int(gw.started_at)
    return ModelList(
        data=[ModelCard(id=name, created=created, type=m.type) for name, m in gw.models.items()]
    )


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    gw = gateway(request)
    payload = await read_json(request, gw.settings.max_request_bytes)
    try:
        body = ChatCompletionRequest.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None
    plan = gw.chat.plan(body)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    relay = Relay(gw.pool, gw.relay_config, request_id=completion_id)
    settings = gw.settings
    options = RenderOptions(
        model=body.model,
        completion_id=completion_id,
        created=int(time.time()),
        reasoning=settings.reasoning_output_mode if settings.enable_lmarena_reasoning else "off",
        preserve_streaming=settings.preserve_streaming,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        side=plan.call.side,
    )
    log.info(
        "[%s] model=%s stream=%s flow=%s call=%s",
        completion_id,
        body.model,
        body.stream,
        settings.arena_flow,
        type(plan.call).__name__,
    )
    if settings.log_prompts:
        log.info("[%s] messages=%r", completion_id, [m.text for m in plan.messages])
    events = relay.events(plan.call)
    if not body.stream:
        return JSONResponse(await _complete(gw, plan, relay, events, options))
    first = await _first_event(events)  # errors before any output keep their HTTP status
    return StreamingResponse(
        _stream(gw, plan, relay, events, first, options),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _first_event(events: AsyncIterator[Event]) -> Event | None:
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None


def _remember(gw: Gateway, plan: ChatPlan, relay: Relay, content: str) -> None:
    request = relay.request
    if request is None or gw.settings.arena_flow != "modern":
        return
    ref = SessionRef(request.session_id, request.assistant_message_id)
    gw.chat.store.remember(plan.model.name, plan.messages, content, ref)


async def _complete(
    gw: Gateway, plan: ChatPlan, relay: Relay, events: AsyncIterator[Event], options: RenderOptions
) -> dict[str, Any]:
    renderer = JSONRenderer(options)
    async for event in events:
        renderer.feed(event)
    _remember(gw, plan, relay, renderer.content())
    log.info("[%s] done after %d attempt(s)", options.completion_id, relay.attempts)
    return renderer.result()


async def _stream(
    gw: Gateway,
    plan: ChatPlan,
    relay: Relay,
    events: AsyncIterator[Event],
    first: Event | None,
    options: RenderOptions,
) -> AsyncIterator[bytes]:
    renderer = SSERenderer(options)
    try:
        if first is not None:
            yield renderer.feed(first)
        async for event in events:
            frame = renderer.feed(event)
            if frame:
                yield frame
        yield renderer.finish()
        _remember(gw, plan, relay, renderer.content())
        log.info("[%s] done after %d attempt(s)", options.completion_id, relay.attempts)
    except GatewayError as exc:
        log.warning(
            "[%s] failed after the response started: %s", options.completion_id, exc.message
        )
        yield renderer.error(exc.message, exc.type, exc.code)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
