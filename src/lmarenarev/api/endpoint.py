"""The one endpoint every completion API is served by, as a plain ASGI app: read and plan the
request (a `prepare` per API: api/chat.py, api/anthropic.py, api/responses.py), run the
completion (chat/engine.py), answer as JSON or as a stream, straight to `send`.

A request costs the server's task, the relay's task (chat/run.RelayRun) and one task that
waits for the client to leave. The job goes to a tab from the server's task
(`RelayRun.start`): in a burst of requests each job leaves as its request is read, not behind
every request of the burst.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from ..chat.completion import Completion, Renderers
from ..chat.engine import RequestInfo, refused, start_completion
from ..chat.plan import ChatPlan
from ..chat.run import Gone, Stopped
from ..errors import GatewayError
from ..gateway import Gateway
from . import refusals
from .access import authorize_model, client_key
from .disconnect import watch_client
from .keys import ClientKey

log = logging.getLogger(__name__)

# What Starlette's StreamingResponse sent for media_type="text/event-stream".
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

Serve = Callable[[Request, Send], Awaitable[Response | None]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request read and planned: what `CompletionEndpoint` runs."""

    info: RequestInfo
    plan: ChatPlan
    renderers: Renderers | None = None  # the API's (chat completions' by default)
    image_url: Callable[[str], Awaitable[str]] | None = None
    on_reply: Callable[[Any], None] | None = None  # the delivered reply's renderer
    serve: Serve | None = None  # served otherwise (n choices, structured output: api/chat.py)


Prepare = Callable[[Gateway, Request], Awaitable[Prepared]]


def admitted(request: Request, model: str) -> ClientKey | None:
    """The caller may use `model` (else 403); from here on the engine logs the request, refused
    or completed. The caller's key, if any."""
    authorize_model(request, model)
    refusals.taken_over(request.scope)
    return client_key(request)


async def planned(gw: Gateway, info: RequestInfo, plan: Callable[[], ChatPlan]) -> ChatPlan:
    """`plan()` with its attachments uploaded; a refusal goes to the log and recent errors."""
    try:
        return await gw.media.attach(plan())
    except GatewayError as exc:
        refused(gw, info, exc)
        raise


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
        if prepared.serve is not None:
            return await prepared.serve(request, send)
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
            return await answer(completion, prepared.info.stream, send)
        finally:
            gone.cancel()
            await completion.close()


async def answer(completion: Completion, stream: bool, send: Send) -> Response | None:
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
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    more = True
    async for chunk, more in completion.stream(first):  # the last one ends the body: one write
        await send({"type": "http.response.body", "body": chunk, "more_body": more})
    if more:  # the stream stopped without a last chunk (the client left)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return None


async def send_stream(send: Send, chunks: AsyncGenerator[tuple[bytes, bool], None]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    more = True
    async with contextlib.aclosing(chunks):
        async for chunk, more in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
    if more:  # the stream stopped without a last chunk (the client left)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class EndpointResponse(Response):
    """A route's answer that is an ASGI app of its own (the FastAPI routes of the completion
    APIs)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
