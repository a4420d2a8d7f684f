"""`POST /v1/chat/completions` as a plain ASGI app: the hot path (docs/benchmarks.md). It is
served by the endpoint every completion API shares (api/endpoint.py) with the chat's
`prepare`: one completion, n choices in parallel, or structured output.

Every chat request and every streamed chunk passes here, so the route skips the framework's
layers (its middleware stack, the dependency resolution, Starlette's `StreamingResponse` and its
task group): `GatewayApp` hands the request to `ChatEndpoint` behind the same access (and CORS)
middleware the other `/v1` routes have. The FastAPI route of the same path delegates here too,
so the schema, a 405 for other methods and any direct use of the router behave the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import Request
from starlette.types import Send

from ..arena.ids import random_hex
from ..chat.choices import all_or_first_error, complete_all, first_items, merge, stream_all
from ..chat.engine import RequestInfo, refused, render_options, start_completion
from ..chat.json_output import OutputFormat, output_format
from ..chat.plan import ChatPlan
from ..chat.run import Gone, Stopped
from ..chat.structured import StructuredRun
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..openai_schema import ChatCompletionRequest
from ..render.sse import SSERenderer, keepalive
from .bodies import read_body
from .disconnect import watch_client
from .endpoint import CompletionEndpoint, Prepared, admitted, send_stream
from .keys import ClientKey

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"


async def prepare_chat(gw: Gateway, request: Request) -> Prepared:
    body = await read_body(request, ChatCompletionRequest)
    key = admitted(request, body.model)
    info = RequestInfo(
        id=f"chatcmpl-{random_hex()}",
        model=body.model,
        stream=body.stream,
        key_name=None if key is None else key.name,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        stop=body.stop_sequences(),
        max_tokens=body.token_limit(),
    )
    try:
        plans, fmt = await _plans(gw, body, info, key)
    except GatewayError as exc:
        refused(gw, info, exc)
        raise
    if fmt is not None:
        return Prepared(info, plans[0], serve=lambda request, send: _structured(
            gw, info, plans, fmt, request, send))
    if len(plans) > 1:
        return Prepared(info, plans[0], serve=lambda request, send: _choices(
            gw, info, plans, request, send))
    return Prepared(info, plans[0], image_url=gw.media.images.for_chat)


class ChatEndpoint(CompletionEndpoint):
    """`POST /v1/chat/completions`."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway, prepare_chat)


async def _plans(
    gw: Gateway, body: ChatCompletionRequest, info: RequestInfo, key: ClientKey | None
) -> tuple[list[ChatPlan], OutputFormat | None]:
    """A plan per choice, and the structured output asked for; refusals before any job."""
    gw.monitoring.metrics.count_ignored(body.ignored_parameters())
    n = wanted_choices(gw, body)
    fmt = output_format(body.response_format)
    if n > 1 and key is not None:
        gw.keys.admit(key, n - 1)  # the access middleware counted the first
    if info.stop or info.max_tokens is not None:
        await gw.chat.load_counter()
    instruction = "" if fmt is None else fmt.instruction()
    plans = [
        await gw.media.attach(gw.chat.plan(body, fresh=n > 1, instruction=instruction))
        for _ in range(n)
    ]
    return plans, fmt


def wanted_choices(gw: Gateway, body: ChatCompletionRequest) -> int:
    n = body.n or 1
    limit = gw.settings.max_choices
    if n > limit:
        raise InvalidRequest(
            f"n is {n}; the limit is {limit} (setting max_choices): each choice is an LMArena "
            "session of its own",
            param="n",
        )
    return n


def _choice_info(info: RequestInfo, index: int, count: int) -> RequestInfo:
    """One of n choices: its own request-log row (`<id>-<index>`), its index in the answer."""
    if count == 1:
        return info
    return replace(
        info, id=f"{info.id}-{index}", answer_id=info.id, choice_index=index, closes_stream=False
    )


async def _choices(
    gw: Gateway, info: RequestInfo, plans: list[ChatPlan], request: Request, send: Send
) -> Response | None:
    """n > 1 without response_format: the completions in parallel (chat/choices.py)."""
    completions = [
        start_completion(gw, _choice_info(info, i, len(plans)), plan,
                         image_url=gw.media.images.for_chat)
        for i, plan in enumerate(plans)
    ]  # fmt: skip
    def client_gone() -> None:
        for completion in completions:
            completion.run.client_gone()

    gone = watch_client(request.receive, client_gone)
    try:
        for completion in completions:
            await completion.run.start()
        if not info.stream:
            result = await complete_all(completions)
            return Response(status_code=499) if result is None else JSONResponse(result)
        firsts = await first_items(completions)
        if isinstance(firsts, Gone):
            return Response(status_code=499)
        if isinstance(firsts, Stopped):
            raise firsts.error
        await send_stream(send, stream_all(completions, firsts))
        return None
    finally:
        gone.cancel()
        for completion in completions:
            await completion.close()


async def _structured(
    gw: Gateway,
    info: RequestInfo,
    plans: list[ChatPlan],
    fmt: OutputFormat,
    request: Request,
    send: Send,
) -> Response | None:
    """response_format json_*: each choice checked (chat/structured.py) before it is sent;
    a stream gets keep-alives meanwhile, then the answer, or an error frame."""
    runs = [
        StructuredRun(gw, _choice_info(info, i, len(plans)), plan, fmt)
        for i, plan in enumerate(plans)
    ]
    def client_gone() -> None:
        for run in runs:
            run.client_gone()

    gone = watch_client(request.receive, client_gone)
    answer = asyncio.ensure_future(all_or_first_error([run.answer() for run in runs]))
    try:
        if not info.stream:
            results = await answer
            if any(result is None for result in results):
                return Response(status_code=499)
            return JSONResponse(merge([r for r in results if r is not None]))
        interval = gw.settings.keepalive_interval_seconds
        await asyncio.wait({answer}, timeout=interval)
        failure = answer.exception() if answer.done() else None
        if failure is not None:  # failed within the first interval: keep the HTTP status
            raise failure
        renderer = SSERenderer(render_options(gw, info, plans[0]))
        await send_stream(send, _structured_stream(answer, renderer, interval))
        return None
    finally:
        gone.cancel()
        if not answer.done():
            answer.cancel()
            await asyncio.gather(answer, return_exceptions=True)


async def _structured_stream(
    answer: asyncio.Future[list[dict[str, Any] | None]], renderer: SSERenderer, interval: float
) -> AsyncGenerator[tuple[bytes, bool], None]:
    while not answer.done():
        await asyncio.wait({answer}, timeout=interval)
        if not answer.done():
            yield keepalive(), True
    try:
        results = answer.result()
    except GatewayError as exc:
        yield renderer.error(exc.message, exc.type, exc.code), False
        return
    if any(result is None for result in results):
        return  # the client left
    yield renderer.completion_frames(merge([r for r in results if r is not None])), False
