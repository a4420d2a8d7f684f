"""Requests of the API refused before any call to LMArena: each one in the request log, the
terminal and the recent errors, with its reason (status, code, message), like a completion.

Every error answer of `/v1/*` goes through `answer` (the app's one handler, the chat endpoint)
or `record` (the access middleware: a key refused, a rate limit): a malformed body, a missing
field, a body over `max_request_bytes`, a key refused, an unknown route. A request the engine
has taken over (chat/engine.py logs its completion, or its own refusal) is marked with
`taken_over` and not logged twice. The body is kept only with `log_bodies`, as it came.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Scope

from ..arena.ids import random_hex
from ..errors import GatewayError, as_gateway_error, error_response
from ..gateway import Gateway
from ..monitor.observe import BODY_LIMIT, RequestStart
from .access import CLIENT_KEY_SCOPE, is_v1_path
from .bodies import BODY_SCOPE

log = logging.getLogger(__name__)

TAKEN_OVER = "lmarenarev.taken_over"
SOURCES = {"/v1/chat/completions": "chat", "/v1/images/generations": "images",
           "/v1/messages": "messages", "/v1/responses": "responses"}


def taken_over(scope: Scope) -> None:
    """From here on the engine logs the request (its completion, or its refusal)."""
    scope[TAKEN_OVER] = True


def answer(gw: Gateway, scope: Scope, exc: BaseException) -> JSONResponse:
    """The error answer of any route; an API request's refusal is logged first."""
    error = as_gateway_error(exc)
    record(gw, scope, error)
    return error_response(error, scope.get("path", ""))


def record(gw: Gateway, scope: Scope, error: GatewayError) -> None:
    """Log a refused `/v1` request (once): the terminal, the request log, the recent errors."""
    path: str = scope.get("path", "")
    if not is_v1_path(path) or scope.get(TAKEN_OVER):
        return
    scope[TAKEN_OVER] = True
    raw: bytes | None = scope.get(BODY_SCOPE)
    body = _object(raw)
    model = body.get("model")
    model = model if isinstance(model, str) else ""
    key = scope.get(CLIENT_KEY_SCOPE)
    request_id = f"req-{random_hex()}"
    log.warning("[%s] refused %s %s: %d %s: %s", request_id, scope.get("method"), path,
                error.status, error.code or error.type, error.message)
    start = RequestStart(
        id=request_id,
        model=model,
        key_name=None if key is None else key.name,
        stream=body.get("stream") is True,
        flow=gw.settings.arena_flow,
        call="",
        known_model=model in gw.chat.models,
        body=None if raw is None else raw[:BODY_LIMIT].decode("utf-8", "replace"),
        api=api_of(path),
    )
    gw.ops.errors.record(SOURCES.get(path, "api"), error, model=model or None)
    gw.monitoring.observer.refused(start, error)


def api_of(path: str) -> str:
    """The API a `/v1` path belongs to, for the request log (`/v1/messages/count_tokens` is
    the Messages API's; a path of none is "other")."""
    for prefix, api in SOURCES.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return api
    return "other"


def _object(raw: bytes | None) -> dict[str, Any]:
    """The body as a JSON object, if it is one (a refused body may be anything)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
