"""Build the FastAPI app: state in the lifespan, one error handler, thin routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .api import openai, workers
from .errors import GatewayError, InvalidRequest, Unauthorized
from .state import Gateway

log = logging.getLogger(__name__)


def _error_response(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return _error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    return _error_response(InvalidRequest(str(exc)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = GatewayError(str(exc.detail))
    error.status = exc.status_code
    error.type = "invalid_request_error"
    error.code = "not_found" if exc.status_code == 404 else None
    return _error_response(error)


class ApiKeyMiddleware:
    """`/v1/*` needs `Authorization: Bearer <api_key>` when the seed's `api_key` is set."""

    def __init__(self, app: ASGIApp, *, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()
        self.enabled = bool(api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self.expected):
                error = Unauthorized(
                    "missing or wrong API key (send 'Authorization: Bearer <key>')"
                )
                await _error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(gateway: Gateway) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        heartbeat = asyncio.create_task(gateway.pool.heartbeat())
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    app = FastAPI(title="lmarenarev", version=__version__, lifespan=lifespan)
    app.state.gateway = gateway
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(ApiKeyMiddleware, api_key=gateway.settings.api_key)
    app.include_router(openai.router)
    app.include_router(workers.router)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        workers = [
            {
                "id": w.id,
                "transport": w.link.kind,
                "script_version": w.hello.script_version,
                "page_url": w.hello.page_url,
                "jobs": len(w.jobs),
                "capacity": w.capacity,
            }
            for w in gateway.pool.workers.values()
        ]
        return {
            "status": "ok",
            "version": gateway.version,
            "workers": workers,
            "state": gateway.sizes(),
        }

    return app
