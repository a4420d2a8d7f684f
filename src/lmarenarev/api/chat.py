"""`POST /v1/chat/completions` as a plain ASGI app: the hot path (docs/benchmarks.md).

Every chat request and every streamed chunk passes here, so the route skips the framework's
layers (its middleware stack, the dependency resolution, Starlette's `StreamingResponse` and its
task group): `GatewayApp` hands the request to `ChatEndpoint` behind the same access (and CORS)
middleware the other `/v1` routes have. The FastAPI route of the same path delegates here too,
so the schema, a 405 for other methods and any direct use of the router behave the same.

A request costs the server's task, the relay's task (completions.RelayRun) and one task that
waits for the client to leave; the response writes each batch of events straight to `send`.
The job goes to a tab from the server's task (`RelayRun.start`): in a burst of requests each job
leaves as its request is read, not behind every request of the burst.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from ..arena.ids import random_hex
from ..chat.completion import Completion, Gone, RelayRun, remember_session
from ..chat.plan import ChatPlan
from ..chat.relay import Relay
from ..errors import GatewayError, error_response
from ..gateway import Gateway
from ..monitor.observe import RequestStart, call_name
from ..openai_schema import ChatCompletionRequest
from ..ops.state import chat_outcome
from ..render.common import RenderOptions
from .access import authorize_model, client_key
from .bodies import read_body
from .disconnect import watch_client
from .keys import ClientKey

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
# What Starlette's StreamingResponse sent for media_type="text/event-stream".
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ChatEndpoint:
    """One chat completion per call: validate, plan, relay, answer (JSON or SSE)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._serve(request, send)
        except GatewayError as exc:
            response = error_response(exc)
        except ClientDisconnect:  # left while sending its body: no one to answer
            return
        except Exception:  # a bug: the client gets a 500 in the envelope, the log the trace
            log.exception("chat completion failed")
            response = error_response(GatewayError("internal error"))
        if response is not None:
            await response(scope, receive, send)

    async def _serve(self, request: Request, send: Send) -> Response | None:
        """The response to send, or None once the stream has been sent."""
        gw = self.gateway
        body = await read_body(request, ChatCompletionRequest)
        authorize_model(request, body.model)
        gw.ops.touch()
        key = client_key(request)
        try:
            plan = await gw.media.attach(gw.chat.plan(body))
        except GatewayError as exc:
            gw.ops.errors.record("chat", exc, model=body.model)
            gw.monitoring.observer.refused(_request_start(gw, body, key), exc)
            raise
        completion = _start(gw, body, plan, key)
        gone = watch_client(request.receive, completion.run.client_gone)
        try:
            await completion.run.start()
            return await _answer(completion, body.stream, send)
        finally:
            gone.cancel()
            await completion.close()


async def _answer(completion: Completion, stream: bool, send: Send) -> Response | None:
    completion_id = completion.options.completion_id
    if not stream:
        result = await completion.complete()
        if result is None:
            log.info("[%s] the client went away", completion_id)
            return Response(status_code=499)
        return JSONResponse(result)
    first = await completion.first()
    if isinstance(first, Gone):  # the client left while the request waited for its first event
        log.info("[%s] the client went away", completion_id)
        return Response(status_code=499)
    if isinstance(first, GatewayError):  # failed before any output: keep the HTTP status
        await completion.refuse(first)
        raise first
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    more = True
    async for chunk, more in completion.stream(first):  # the last one ends the body: one write
        await send({"type": "http.response.body", "body": chunk, "more_body": more})
    if more:  # the stream stopped without a last chunk (the client left)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return None


class EndpointResponse(Response):
    """A route's answer that is an ASGI app of its own (the FastAPI route of `CHAT_PATH`)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _start(
    gw: Gateway, body: ChatCompletionRequest, plan: ChatPlan, key: ClientKey | None
) -> Completion:
    settings = gw.settings
    completion_id = f"chatcmpl-{random_hex()}"
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
        id=request_id or f"chatcmpl-{random_hex()}",
        model=body.model,
        key_name=None if key is None else key.name,
        stream=body.stream,
        flow=gw.settings.arena_flow,
        call="" if plan is None else call_name(plan.call),
        messages=() if plan is None else plan.messages,
        known_model=body.model in gw.chat.models,
    )
