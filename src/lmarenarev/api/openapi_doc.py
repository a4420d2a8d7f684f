"""The OpenAPI schema at `/openapi.json`: what `/v1` accepts and every answer it can give.

`/v1/chat/completions` reads its body itself (to refuse an oversize body while reading it), so
FastAPI cannot see the request model; `documented_openapi` adds it, the responses of each
documented route (the OpenAI error envelope for every error status) and the security schemes.
The schema is what the fuzz tests (schemathesis) check the answers against.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..openai_schema import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
    TextCompletion,
)
from .access import is_admin_path, is_v1_path

_REF = "#/components/schemas/{model}"

_CHAT_ERRORS = {
    "400": "Invalid request: bad JSON or fields, over max_messages or max_prompt_chars",
    "401": "Missing, wrong or disabled API key (or LMArena refused the tab's login)",
    "403": "The key may not use this model, or a browser page of another site sent it",
    "404": "Unknown model (the message lists close names)",
    "413": "Body over max_request_bytes or attachments over max_attachment_bytes",
    "429": "The key is over its rpm, or LMArena's rate limit (see Retry-After)",
    "502": "LMArena or the worker tab failed",
    "503": "No LMArena tab connected (or all busy, or on a Cloudflare challenge)",
    "504": "The request took longer than its budget",
}
_ADMIN_ERRORS = {
    "401": "Missing or wrong admin key",
    "403": "Admin routes refused: not from this machine, or API keys set but no admin_key",
}
_V1_ERRORS = {
    "401": "Missing, wrong or disabled API key",
    "403": "A browser page of another site sent it",
}
_SECURITY = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "api_key or api_keys"},
    "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
}


# OpenAPI 3.1: the schema of an event stream describes each event.
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {
                        "anyOf": [
                            {"$ref": _REF.format(model="ChatCompletionChunk")},
                            {"$ref": _REF.format(model="ErrorResponse")},
                        ]
                    },
                },
            ]
        }
    },
}


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": _REF.format(model="ErrorResponse")}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _sse_event(chunk: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(_SSE_EVENT))
    event["properties"]["data"]["anyOf"][1]["contentSchema"]["anyOf"][0] = {
        "$ref": _REF.format(model=chunk)
    }
    return event


def _chat_operation(
    operation: dict[str, Any],
    request: str = "ChatCompletionRequest",
    answer: str = "ChatCompletion",
    chunk: str = "ChatCompletionChunk",
) -> None:
    body_schema = {"$ref": _REF.format(model=request)}
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": body_schema}},
    }
    completion = {"$ref": _REF.format(model=answer)}
    operation["responses"] = {
        "200": {
            "description": "The completion, or with stream=true its server-sent events",
            "content": {
                "application/json": {"schema": completion},
                "text/event-stream": {"schema": _sse_event(chunk)},
            },
        }
    }


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if responses.pop("422", None) is not None:  # validation errors are 400s in the envelope
        responses["400"] = _error_response("Invalid request")
    security: list[dict[str, list[str]]]
    if is_admin_path(path):
        errors, security = _ADMIN_ERRORS, [{"adminKey": []}]
    elif is_v1_path(path):
        errors, security = _V1_ERRORS, [{"apiKey": []}, {}]
    else:
        return
    for status, description in errors.items():
        responses.setdefault(status, _error_response(description))
    if path not in ("/v1/chat/completions", "/v1/completions"):  # each lists its statuses
        responses.setdefault("default", _error_response("Any other error"))
    operation["security"] = security


def _add(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        _schemas(
            ChatCompletionRequest,
            ChatCompletion,
            ChatCompletionChunk,
            ErrorResponse,
            CompletionRequest,
            TextCompletion,
        )
    )
    components["securitySchemes"] = _SECURITY
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    chat = paths.get("/v1/chat/completions", {}).get("post")
    if chat is not None:
        _chat_operation(chat)
        for status, description in _CHAT_ERRORS.items():
            chat["responses"][status] = _error_response(description)
    legacy = paths.get("/v1/completions", {}).get("post")
    if legacy is not None:
        _chat_operation(legacy, "CompletionRequest", "TextCompletion", "TextCompletion")
        for status, description in _CHAT_ERRORS.items():
            legacy["responses"][status] = _error_response(description)
    embeddings = paths.get("/v1/embeddings", {}).get("post")
    if embeddings is not None:
        embeddings["responses"] = {"501": _error_response("LMArena has no embedding models")}
    for path, operations in paths.items():
        for operation in operations.values():
            _document_errors(path, operation)
    return schema


def documented_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` (built once, on first use, like FastAPI's own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, summary=app.summary
            )
            app.openapi_schema = _add(schema)
        return app.openapi_schema

    return openapi
