"""Image routes: `/v1/images/generations` (client keys) and the gallery under `/api/images/`
(admin only: `auth.ADMIN_PREFIXES`)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from ..chat.images import generate_images
from ..errors import GatewayError, InvalidRequest
from ..media.images.gallery import list_images, resolve_image
from ..media.images.save import images_root
from ..openai_schema import ErrorResponse, ImageGenerationRequest, ImagesResponse
from . import refusals
from .access import authorize_model, client_key
from .bodies import gateway, read_body
from .disconnect import race_client

log = logging.getLogger(__name__)
router = APIRouter()


class ImageNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


def _errors(**described: str) -> dict[int | str, dict[str, Any]]:
    return {
        int(status.removeprefix("e")): {"model": ErrorResponse, "description": text}
        for status, text in described.items()
    }


_GENERATION_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ImageGenerationRequest.model_json_schema()}},
    }
}
_GENERATION_ERRORS = _errors(
    e400="Invalid request: bad JSON or fields, a text model, n outside 1-10, a size the model "
    "does not offer",
    e404="Unknown model",
    e413="Body over max_request_bytes",
    e429="The key is over its rpm, or LMArena's rate limit (see Retry-After)",
    e502="LMArena or the worker tab failed, or the model answered without an image",
    e503="No LMArena tab connected",
    e504="The request took longer than its budget",
)


@router.post(
    "/v1/images/generations",
    response_model=ImagesResponse,
    responses=_GENERATION_ERRORS,
    openapi_extra=_GENERATION_BODY,
)
async def images_generations(request: Request) -> Response:
    gw = gateway(request)
    body = await read_body(request, ImageGenerationRequest)
    authorize_model(request, body.model)
    refusals.taken_over(request.scope)  # refused or completed, the engine logs it now
    gw.ops.touch()
    request_id = f"img-{uuid.uuid4().hex}"
    finished, result = await race_client(
        generate_images(gw, body, request_id, _key_name(request)), request.receive
    )
    if not finished:
        log.info("[%s] the client went away", request_id)
        return Response(status_code=499)
    return JSONResponse(result.model_dump(exclude_none=True))


@router.get("/api/images/list")
async def gallery_list(
    request: Request,
    page: int = Query(1, ge=1, le=100000),
    per_page: int = Query(50, ge=1, le=500),
) -> JSONResponse:
    unknown = sorted(set(request.query_params) - {"page", "per_page"})
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(map(repr, unknown))}")
    gw = gateway(request)
    listed = list_images(images_root(gw.home), page, per_page)
    # The dashboard says why the gallery is empty when nothing is saved.
    listed["save_images_locally"] = gw.settings.save_images_locally
    return JSONResponse(listed)


@router.get("/api/images/{path:path}", responses=_errors(e404="No such image in the gallery"))
async def gallery_image(request: Request, path: str) -> FileResponse:
    target = resolve_image(images_root(gateway(request).home), path)
    if target is None:
        raise ImageNotFound(f"no image {path[:200]!r} in the gallery")
    return FileResponse(target, headers={"X-Content-Type-Options": "nosniff"})


def _key_name(request: Request) -> str | None:
    key = client_key(request)
    return None if key is None else key.name
