"""`/v1/*`: thin routes. Parse, call the chat service and the relay, render."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from ..chat import ChatPlan
from ..completions import Completion, RelayRun, race_client, remember_session
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge
from ..openai_schema import ChatCompletionRequest, ModelCard, ModelList
from ..relay import Relay
from ..render.common import RenderOptions
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
    completion = _start(gw, body, plan)
    if not body.stream:
        finished, result = await race_client(completion.complete(), request.receive)
        if not finished:
            log.info("[%s] the client went away", completion.options.completion_id)
            return Response(status_code=499)
        return JSONResponse(result)
    first = await completion.first()
    if isinstance(first, GatewayError):  # failed before any output: keep the HTTP status
        await completion.run.close()
        raise first
    return StreamingResponse(
        completion.stream(first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _start(gw: Gateway, body: ChatCompletionRequest, plan: ChatPlan) -> Completion:
    settings = gw.settings
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    options = RenderOptions(
        model=body.model,
        completion_id=completion_id,
        created=int(time.time()),
        reasoning=settings.reasoning_output_mode if settings.enable_lmarena_reasoning else "off",
        preserve_streaming=settings.preserve_streaming,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        side=plan.call.side,
    )
    log.info("[%s] model=%s stream=%s flow=%s call=%s", completion_id, body.model, body.stream,
             settings.arena_flow, type(plan.call).__name__)
    if settings.log_prompts:
        log.info("[%s] messages=%r", completion_id, [m.text for m in plan.messages])
    relay = Relay(gw.pool, gw.relay_config, request_id=completion_id)
    return Completion(
        run=RelayRun(relay, plan.call),
        plan=plan,
        options=options,
        keepalive_interval=settings.keepalive_interval_seconds,
        show_retries=settings.empty_response_retry.show_retry_info_to_client,
        remember=remember_session(gw.chat.store.remember, settings.arena_flow == "modern"),
    )
