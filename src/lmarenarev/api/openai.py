"""`/v1/*`: thin routes. `/v1/chat/completions` is served by api/chat.py, `/v1/completions`
and `/v1/embeddings` by api/completions.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import ModelNotFound
from ..models.catalog import model_cards
from ..openai_schema import ModelCard, ModelList
from .access import client_key
from .bodies import gateway
from .chat import ChatEndpoint, EndpointResponse

router = APIRouter()


@router.get("/v1/models", response_model=ModelList, response_model_exclude_none=True)
async def list_models(request: Request) -> ModelList:
    gw = gateway(request)
    created = int(gw.started_at)
    key = client_key(request)
    cards = model_cards(
        gw.chat.models, gw.ops.catalog.models, gw.settings.expose_available_models, created
    )
    return ModelList(data=[card for card in cards if key is None or key.allows(card.id)])


@router.get(
    "/v1/models/{model_id:path}", response_model=ModelCard, response_model_exclude_none=True
)
async def retrieve_model(request: Request, model_id: str) -> ModelCard:
    """One model of `/v1/models` (the SDKs' `models.retrieve`); 404 for any other name."""
    cards = await list_models(request)
    for card in cards.data:
        if card.id == model_id:
            return card
    raise ModelNotFound(f"The model {model_id!r} does not exist.", param="model")


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    """Served by api/chat.py (`GatewayApp` sends POSTs there directly); documented here."""
    return EndpointResponse(ChatEndpoint(gateway(request)))
