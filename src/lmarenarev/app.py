"""Build the FastAPI app: state in the lifespan, one error handler, thin routers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .api import (
    admin,
    admin_keys,
    anthropic,
    completions,
    docs_page,
    images,
    monitor,
    monitor_figures,
    openai,
    refusals,
    responses,
    userscript,
    worker_poll,
    workers,
)
from .api.access import AccessMiddleware, V1CorsMiddleware, admin_allowed
from .api.chat import CHAT_PATH, ChatEndpoint
from .api.openapi_doc import documented_openapi
from .api.userscript import local_base_url, render_userscript
from .errors import GatewayError
from .gateway import Gateway
from .ops.upkeep import run_upkeep

log = logging.getLogger(__name__)


async def _any_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler: any exception of any route, as its error in its API's envelope (an
    API request's refusal logged on the way: api/refusals.py)."""
    return refusals.answer(request.app.state.gateway, request.scope, exc)


class GatewayApp(FastAPI):
    """FastAPI, but a chat request goes straight to `chat` (set by `create_app`: the endpoint
    behind the access and CORS middleware), skipping the framework's layers (api/chat.py)."""

    chat: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chat = self.chat
        if (
            chat is not None
            and scope["type"] == "http"
            and scope["path"] == CHAT_PATH
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            await chat(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _start_browser(gateway: Gateway) -> asyncio.Task[None] | None:
    """The managed browser (browser.enabled), its tabs running the script this gateway serves
    at /bridge.user.js: one code path with a person's userscript tabs."""
    keeper = gateway.browser
    if keeper is None:
        return None
    base = local_base_url(gateway.settings)
    return asyncio.create_task(
        keeper.run(lambda: render_userscript(gateway, base)), name="managed-browser"
    )


def create_app(gateway: Gateway) -> GatewayApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        heartbeat = asyncio.create_task(gateway.pool.heartbeat())
        upkeep = asyncio.create_task(run_upkeep(gateway))
        monitoring = asyncio.create_task(gateway.monitoring.run())  # the request log's writer
        browser = _start_browser(gateway)
        try:
            yield
        finally:
            if browser is not None and gateway.browser is not None:
                await gateway.browser.stop()  # closed in order: cookies written, group ended
                await browser
            for task in (heartbeat, upkeep, monitoring):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await gateway.media.aclose()

    # No Swagger UI or ReDoc (their scripts come from a CDN): /docs is api/docs_page.py
    app = GatewayApp(
        title="lmarenarev", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.gateway = gateway
    for handled in (GatewayError, HTTPException, RequestValidationError, Exception):
        # Exception (a bug) is answered by Starlette's outermost middleware, which then re-raises
        # it for the server's log; the others inside the middleware of ours, like a response.
        app.add_exception_handler(handled, _any_error)
    on_refusal = functools.partial(refusals.record, gateway)
    app.add_middleware(AccessMiddleware, policy=gateway.access, on_refusal=on_refusal)
    chat: ASGIApp = ChatEndpoint(gateway)
    if gateway.settings.cors_origins:
        origins = tuple(gateway.settings.cors_origins)
        app.add_middleware(V1CorsMiddleware, origins=origins)
        chat = V1CorsMiddleware(chat, origins=origins)
    app.chat = AccessMiddleware(chat, policy=gateway.access, on_refusal=on_refusal)
    app.include_router(openai.router)
    app.include_router(anthropic.router)
    app.include_router(responses.router)
    app.include_router(completions.router)
    app.include_router(images.router)
    app.include_router(workers.router)
    app.include_router(worker_poll.router)
    app.include_router(userscript.router)
    app.include_router(admin_keys.router)
    app.include_router(admin.router)
    app.include_router(monitor.router)
    app.include_router(monitor_figures.router)
    app.include_router(docs_page.router)
    app.state.templates = monitor.templates()
    app.mount(monitor.STATIC_URL, StaticFiles(directory=monitor.MONITOR_DIR / "static"))
    app.openapi = documented_openapi(app)  # type: ignore[method-assign]

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> dict[str, Any]:
        if not admin_allowed(request):  # who is connected is the admin's business
            return {"status": "ok", "version": gateway.version}
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
