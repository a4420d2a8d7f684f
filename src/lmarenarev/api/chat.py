"""`POST /v1/chat/completions` as a plain ASGI app: the hot path (docs/benchmarks.md); the
other completion APIs (`/v1/messages`, `/v1/responses`) are served by the same endpoint class
with a `prepare` of their own (api/anthropic.py, api/responses.py).

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

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from ..arena.ids import random_hex
from ..chat.completion import Completion, Renderers
from ..chat.engine import RequestInfo, refused, start_completion
from ..chat.plan import ChatPlan
from ..chat.run import Gone, Stopped
from ..errors import GatewayError
from ..gateway import Gateway
from ..openai_schema import ChatCompletionRequest
from . import refusals
from .access import authorize_model, client_key
from .bodies import read_body
from .disconnect import watch_client

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
# What Starlette's StreamingResponse sent for media_type="text/event-stream".
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request read and planned: what `CompletionEndpoint` runs."""

    info: RequestInfo
    plan: ChatPlan
    renderers: Renderers | None = None  # the API's (chat completions' by default)
    image_url: Callable[[str], Awaitable[str]] | None = None
    on_reply: Callable[[Any], None] | None = None  # the delivered reply's renderer


Prepare = Callable[[Gateway, Request], Awaitable[Prepared]]


async def planned(gw: Gateway, info: RequestInfo, plan: Callable[[], ChatPlan]) -> ChatPlan:
    """`plan()` with its attachments uploaded; a refusal goes to the log and recent errors."""
    try:
        return await gw.media.attach(plan())
    except GatewayError as exc:
        refused(gw, info, exc)
        raise


async def prepare_chat(gw: Gateway, request: Request) -> Prepared:
    body = await read_body(request, ChatCompletionRequest)
    authorize_model(request, body.model)
    refusals.taken_over(request.scope)  # refused or completed, the engine logs it now
    key = client_key(request)
    info = RequestInfo(
        id=f"chatcmpl-{random_hex()}",
        model=body.model,
        stream=body.stream,
        key_name=None if key is None else key.name,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
    plan = await planned(gw, info, lambda: gw.chat.plan(body))
    return Prepared(info, plan, image_url=gw.media.images.for_chat)


class CompletionEndpoint:
    """One completion per call: read and plan (`prepare`), relay, answer (JSON or SSE)."""

    def __init__(self, gateway: Gateway, prepare: Prepare) -> None:
        self.gateway = gateway
        self.prepare = prepare

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._serve(request, send)
        except ClientDisconnect:  # left while sending its body: no one to answer
            return
        except Exception as exc:  # the app's one error path (a bug: a 500, its trace logged)
            response = refusals.answer(self.gateway, scope, exc)
        if response is not None:
            await response(scope, receive, send)

    async def _serve(self, request: Request, send: Send) -> Response | None:
        """The response to send, or None once the stream has been sent."""
        gw = self.gateway
        prepared = await self.prepare(gw, request)
        gw.ops.touch()
        completion = start_completion(
            gw,
            prepared.info,
            prepared.plan,
            image_url=prepared.image_url,
            renderers=prepared.renderers,
            on_reply=prepared.on_reply,
        )
        gone = watch_client(request.receive, completion.run.client_gone)
        try:
            await completion.run.start()
            return await _answer(completion, prepared.info.stream, send)
        finally:
            gone.cancel()
            await completion.close()


class ChatEndpoint(CompletionEndpoint):
    """`POST /v1/chat/completions`."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway, prepare_chat)


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
    if isinstance(first, Stopped):  # failed before any output: keep the HTTP status
        await completion.refuse(first)
        raise first.error
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
