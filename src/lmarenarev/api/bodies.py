"""Request helpers of the `/v1` routes: the gateway, and a JSON body read within a limit."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..errors import InvalidRequest, PayloadTooLarge, invalid
from ..gateway import Gateway

BodyT = TypeVar("BodyT", bound=BaseModel)
# The raw body, kept in the request's scope while it lasts: a refusal of it is logged with the
# model it names (and with the body itself under log_bodies: api/refusals.py).
BODY_SCOPE = "lmarenarev.body"


def gateway(request: Request) -> Gateway:
    state: Gateway = request.app.state.gateway
    return state


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    setting = "max_request_bytes in config.jsonc"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body is {declared} bytes; the limit is {limit} bytes ({setting})"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes ({setting})")
        chunks.append(chunk)
    raw = request.scope[BODY_SCOPE] = b"".join(chunks)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


async def read_body(request: Request, model: type[BodyT]) -> BodyT:
    """The JSON body, size-checked and validated; any problem is a 400/413 in the envelope."""
    payload = await read_json(request, gateway(request).settings.max_request_bytes)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise invalid(exc.errors()) from None
