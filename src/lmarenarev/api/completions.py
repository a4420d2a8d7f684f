"""`/v1/completions` (OpenAI's legacy completions) and `/v1/embeddings`.

A legacy completion is a chat completion of one user message, the prompt (as tools like the
`llm` CLI or older LangChain send them): stream and not, with stop and max_tokens applied like
chat's (no max_tokens means the whole reply: OpenAI's default of 16 tokens would only cut
LMArena's answers short). One prompt and one choice per request.

LMArena has no embedding models: `/v1/embeddings` answers 501 and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..arena.ids import random_hex
from ..chat.completion import Completion
from ..chat.engine import RequestInfo, refused, start_completion
from ..chat.plan import ChatPlan
from ..chat.run import Gone, Item, Stopped
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..openai_schema import ChatCompletionRequest, CompletionRequest
from ..render.text import TextJSON, TextSSE
from .access import authorize_model, client_key
from .bodies import gateway, read_body
from .disconnect import watch_client

log = logging.getLogger(__name__)
router = APIRouter()


class NoEmbeddings(GatewayError):
    status = 501
    type = "invalid_request_error"
    code = "embeddings_not_supported"


@router.post("/v1/embeddings", response_model=None)
async def embeddings(request: Request) -> Response:
    raise NoEmbeddings(
        "LMArena has no embedding models, so lmarenarev cannot create embeddings: use an "
        "embedding API (or a local embedding model) for /v1/embeddings.",
        param="model",
    )


@router.post("/v1/completions", response_model=None)
async def completions(request: Request) -> Response:
    gw = gateway(request)
    body = await read_body(request, CompletionRequest)
    authorize_model(request, body.model)
    gw.ops.touch()
    key = client_key(request)
    chat = body.as_chat()
    info = RequestInfo(
        id=f"cmpl-{random_hex()}",
        model=body.model,
        stream=body.stream,
        key_name=None if key is None else key.name,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        source="completions",
        stop=chat.stop_sequences(),
        max_tokens=body.max_tokens,
    )
    try:
        plan = await _plan(gw, body, chat, info)
    except GatewayError as exc:
        refused(gw, info, exc)
        raise
    echo = chat.messages[0].content if body.echo else ""
    assert isinstance(echo, str)
    completion = start_completion(gw, info, plan, image_url=gw.media.images.for_chat)
    gone = watch_client(request.receive, completion.run.client_gone)
    try:
        await completion.run.start()
    except BaseException:
        gone.cancel()
        await completion.close()
        raise
    if not body.stream:
        try:
            result = await completion.complete(TextJSON(completion.options, echo))
        finally:
            gone.cancel()
        return Response(status_code=499) if result is None else JSONResponse(result)
    return await _streamed(completion, TextSSE(completion.options, echo), gone)


async def _plan(
    gw: Gateway, body: CompletionRequest, chat: ChatCompletionRequest, info: RequestInfo
) -> ChatPlan:
    if isinstance(body.prompt, list) and len(body.prompt) > 1:
        raise InvalidRequest("send one prompt per request", param="prompt")
    if (body.n or 1) > 1:
        raise InvalidRequest("n > 1: use /v1/chat/completions", param="n")
    ignored = chat.ignored_parameters()
    if ignored:
        gw.monitoring.metrics.count_ignored(ignored)
    if info.stop or info.max_tokens is not None:
        await gw.chat.load_counter()
    return await gw.media.attach(gw.chat.plan(chat))


async def _streamed(
    completion: Completion, renderer: TextSSE, gone: asyncio.Future[None]
) -> Response:
    """The stream, or the error with its status when it failed before its first byte."""
    first = await completion.first()
    if isinstance(first, Gone | Stopped):
        gone.cancel()
        if isinstance(first, Gone):
            await completion.close()
            return Response(status_code=499)
        await completion.refuse(first)
        raise first.error
    return StreamingResponse(
        _stream(completion, first, renderer, gone), media_type="text/event-stream"
    )


async def _stream(
    completion: Completion, first: Item | None, renderer: TextSSE, gone: asyncio.Future[None]
) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk, _more in completion.stream(first, renderer):
            yield chunk
    finally:
        gone.cancel()
