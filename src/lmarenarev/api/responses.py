"""OpenAI's Responses API: `POST /v1/responses` (on the one completion path, api/endpoint.py),
`GET` and `DELETE /v1/responses/{id}` for answers kept with `store` (chat/response_store.py)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..arena.ids import random_hex
from ..chat.completion import Renderers
from ..chat.engine import RequestInfo, refused
from ..chat.responses_input import responses_input
from ..errors import InvalidRequest, NotFound
from ..gateway import Gateway
from ..render.common import RenderOptions
from ..render.responses import Echo, ResponsesAssembler, ResponsesJSON, ResponsesSSE
from ..store.responses import StoredResponse
from ..wire.responses import DeletedResponse, ResponsesRequest, StoredResponseBody
from .access import client_key
from .bodies import gateway, read_body
from .endpoint import CompletionEndpoint, EndpointResponse, Prepared, admitted, planned

router = APIRouter()
RESPONSES_PATH = "/v1/responses"


def _echo(body: ResponsesRequest) -> Echo:
    """What a response object repeats of its request."""
    return Echo({
        "instructions": body.instructions,
        "tools": body.tools or [],
        "tool_choice": body.tool_choice or "auto",
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "store": body.store,
        "metadata": body.metadata or {},
        "max_output_tokens": body.max_output_tokens,
        "reasoning": body.reasoning or {"effort": None, "summary": None},
        "text": body.text or {"format": {"type": "text"}},
        "temperature": None,
        "top_p": None,
        "truncation": "disabled",
    })


def _renderers(echo: Echo) -> Renderers:
    def stream(options: RenderOptions) -> ResponsesSSE:
        return ResponsesSSE(options, echo)

    def sink(options: RenderOptions) -> ResponsesJSON:
        return ResponsesJSON(options, echo)

    return Renderers(stream, sink, reasoning_apart=True)


async def prepare_responses(gw: Gateway, request: Request) -> Prepared:
    body = await read_body(request, ResponsesRequest)
    key = admitted(request, body.model)
    gw.monitoring.metrics.count_ignored(body.ignored_parameters())
    key_name = None if key is None else key.name
    info = RequestInfo(id=f"resp_{random_hex()}", model=body.model, stream=body.stream,
                       key_name=key_name, source="responses",
                       max_tokens=body.max_output_tokens)  # applied: chat/reply_limits.py
    if info.max_tokens is not None:
        await gw.chat.load_counter()
    conversation = body.input_items()
    if body.previous_response_id:
        previous = await gw.responses.get(body.previous_response_id, key_name)
        if previous is None:
            error = InvalidRequest(
                f"Previous response with id {body.previous_response_id!r} not found.",
                code="previous_response_not_found",
                param="previous_response_id",
            )
            refused(gw, info, error)
            raise error
        conversation = [*previous.items(), *conversation]
    strip = gw.settings.strip_reasoning_from_history
    plan = await planned(gw, info, lambda: gw.chat.plan_input(
        responses_input(body, conversation, strip_history_reasoning=strip)))

    def store(rendered: Any) -> None:
        if isinstance(rendered, ResponsesAssembler):
            gw.responses.keep(StoredResponse(info.id, time.time(), body.model, key_name,
                                             rendered.answer(), conversation))

    return Prepared(info, plan, _renderers(_echo(body)), image_url=gw.media.images.for_chat,
                    on_reply=store if body.store else None)


@router.post(RESPONSES_PATH, response_model=None)
async def create_response(request: Request) -> Response:
    """OpenAI's Responses API on LMArena's models (docs/agents.md)."""
    return EndpointResponse(CompletionEndpoint(gateway(request), prepare_responses))


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"No response with id {response_id!r} found.", param="response_id")


@router.get(f"{RESPONSES_PATH}/{{response_id}}", response_model=StoredResponseBody)
async def get_response(response_id: str, request: Request) -> dict[str, Any]:
    key = client_key(request)
    stored = await gateway(request).responses.get(response_id, None if key is None else key.name)
    if stored is None:
        raise _not_found(response_id)
    return stored.body


@router.delete(f"{RESPONSES_PATH}/{{response_id}}", response_model=DeletedResponse)
async def delete_response(response_id: str, request: Request) -> DeletedResponse:
    key = client_key(request)
    if not await gateway(request).responses.delete(response_id,
                                                   None if key is None else key.name):
        raise _not_found(response_id)
    return DeletedResponse(id=response_id)
