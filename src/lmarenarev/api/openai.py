"""`/v1/*`: thin routes. `/v1/chat/completions` is served by api/chat.py, `/v1/completions`
and `/v1/embeddings` by api/completions.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import ModelNotFound
from ..models.catalog import model_cards
from ..openai_schema import ModelCard, ModelList
from ..wire.anthropic import AnthropicModel, AnthropicModelList
from .access import client_key
from .anthropic import anthropic_models
from .bodies import gateway
from .chat import ChatEndpoint
from .endpoint import EndpointResponse

router = APIRouter()


def _cards(request: Request) -> list[ModelCard]:
    """The models the request's key may use."""
    gw = gateway(request)
    key = client_key(request)
    cards = model_cards(
        gw.chat.models, gw.ops.catalog.models, gw.settings.expose_available_models,
        int(gw.started_at),
    )
    return [card for card in cards if key is None or key.allows(card.id)]


@router.get(
    "/v1/models",
    response_model=ModelList | AnthropicModelList,
    response_model_exclude_none=True,
)
async def list_models(request: Request) -> ModelList | AnthropicModelList:
    """OpenAI's list; Anthropic's shape when the request carries `anthropic-version`."""
    cards = _cards(request)
    if "anthropic-version" in request.headers:
        return anthropic_models(cards)
    return ModelList(data=cards)


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard | AnthropicModel,
    response_model_exclude_none=True,
)
async def retrieve_model(request: Request, model_id: str) -> ModelCard | AnthropicModel:
    """One model of `/v1/models` (the SDKs' `models.retrieve`); 404 for any other name."""
    for card in _cards(request):
        if card.id == model_id:
            if "anthropic-version" in request.headers:
                return anthropic_models([card]).data[0]
            return card
    raise ModelNotFound(f"The model {model_id!r} does not exist.", param="model")


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    """Served by api/chat.py (`GatewayApp` sends POSTs there directly); documented here."""
    return EndpointResponse(ChatEndpoint(gateway(request)))
