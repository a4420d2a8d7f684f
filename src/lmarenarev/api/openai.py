"""`/v1/*`: thin routes. Parse, call the chat service and the relay, render."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from ..auth import authorize_model, client_key
from ..chat import ChatPlan
from ..completions import Completion, RelayRun, race_client, remember_session
from ..errors import GatewayError, InvalidRequest, PayloadTooLarge
from ..keys import ClientKey
from ..model_catalog import model_cards
from ..observe import RequestStart, call_name
from ..openai_schema import ChatCompletionRequest, ModelList
from ..ops import chat_outcome
from ..relay import Relay
from ..render.common import RenderOptions
from ..state import Gateway

log = logging.getLogger(__name__)
router = APIRouter()
BodyT = TypeVar("BodyT", bound=BaseModel)


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


async def read_body(request: Request, model: type[BodyT]) -> BodyT:
    """The JSON body, size-checked and validated; any problem is a 400/413 in the envelope."""
    payload = await read_json(request, gateway(request).settings.max_request_bytes)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None


@router.get("/v1/models", response_model=ModelList, response_model_exclude_none=True)
async def list_models(request: Request) -> ModelList:
    gw = gateway(request)
    created = int(gw.started_at)
    key = client_key(request)
    cards = model_cards(
        gw.chat.models, gw.ops.catalog.models, gw.settings.expose_available_models, created
    )
    return ModelList(data=[card for card in cards if key is None or key.allows(card.id)])


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    gw = gateway(request)
    body = await read_body(request, ChatCompletionRequest)
    authorize_model(request, body.model)
    gw.ops.touch()
    try:
        plan = await gw.media.attach(gw.chat.plan(body))
    except GatewayError as exc:
        gw.ops.errors.record("chat", exc, model=body.model)
        gw.monitoring.observer.refused(_request_start(gw, body, client_key(request)), exc)
        raise
    completion = _start(gw, body, plan, client_key(request))
    if not body.stream:
        finished, result = await race_client(completion.complete(), request.receive)
        if not finished:
            log.info("[%s] the client went away", completion.options.completion_id)
            return Response(status_code=499)
        return JSONResponse(result)
    started, first = await race_client(completion.first(), request.receive)
    if not started:  # the client left while the request waited for its first event
        log.info("[%s] the client went away", completion.options.completion_id)
        await completion.close()
        return Response(status_code=499)
    if isinstance(first, GatewayError):  # failed before any output: keep the HTTP status
        await completion.refuse(first)
        raise first
    return ClosingStreamingResponse(
        completion.stream(first),
        on_close=completion.close,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class ClosingStreamingResponse(StreamingResponse):
    """Runs `on_close` however the response ends, even when the client left so early that the
    body generator never started (its own `finally` then never runs)."""

    def __init__(self, content: Any, *, on_close: Callable[[], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.on_close()


def _start(
    gw: Gateway, body: ChatCompletionRequest, plan: ChatPlan, key: ClientKey | None
) -> Completion:
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
    start = _request_start(gw, body, key, completion_id, plan)
    return Completion(
        run=RelayRun(relay, plan.call, gw.media.images.for_chat),
        plan=plan,
        options=options,
        keepalive_interval=settings.keepalive_interval_seconds,
        show_retries=settings.empty_response_retry.show_retry_info_to_client,
        remember=remember_session(gw.chat.store.remember, settings.arena_flow == "modern"),
        on_usage=None if key is None else gw.keys.usage_recorder(key.name),
        on_outcome=functools.partial(chat_outcome, gw),
        watch=gw.monitoring.observer.started(start, relay),
    )


def _request_start(
    gw: Gateway,
    body: ChatCompletionRequest,
    key: ClientKey | None,
    request_id: str | None = None,
    plan: ChatPlan | None = None,
) -> RequestStart:
    return RequestStart(
        id=request_id or f"chatcmpl-{uuid.uuid4().hex}",
        model=body.model,
        key_name=None if key is None else key.name,
        stream=body.stream,
        flow=gw.settings.arena_flow,
        call="" if plan is None else call_name(plan.call),
        messages=() if plan is None else plan.messages,
        known_model=body.model in gw.chat.models,
    )
