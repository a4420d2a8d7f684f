"""`/v1/*`: thin routes. `/v1/chat/completions` is served by api/chat.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..models.catalog import model_cards
from ..openai_schema import ModelList
from ..wire.anthropic import AnthropicModelList
from .access import client_key
from .anthropic import anthropic_models
from .bodies import gateway
from .chat import ChatEndpoint, EndpointResponse

router = APIRouter()


@router.get(
    "/v1/models",
    response_model=ModelList | AnthropicModelList,
    response_model_exclude_none=True,
)
async def list_models(request: Request) -> ModelList | AnthropicModelList:
    """OpenAI's list; Anthropic's shape when the request carries `anthropic-version`."""
    gw = gateway(request)
    created = int(gw.started_at)
    key = client_key(request)
    cards = model_cards(
        gw.chat.models, gw.ops.catalog.models, gw.settings.expose_available_models, created
    )
    if "anthropic-version" in request.headers:
        return anthropic_models(cards, key)
    return ModelList(data=[card for card in cards if key is None or key.allows(card.id)])


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    """Served by api/chat.py (`GatewayApp` sends POSTs there directly); documented here."""
    return EndpointResponse(ChatEndpoint(gateway(request)))
