"""Small HTTP helpers shared by the fake LMArena's route modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from testkit.fakes.arena_state import parsed_body
from testkit.fakes.arena_validate import ArenaHTTPError

if TYPE_CHECKING:
    from testkit.fakes.arena import FakeArena

Handler = Callable[[Request, bytes], Any]
COOKIE_MAX_AGE = 400 * 24 * 3600


def recorded(arena: FakeArena, kind: str | Callable[[Request, Any], str],
             handler: Handler) -> Callable[[Request], Any]:
    """An endpoint that reads the body, runs `handler(request, raw)`, renders `ArenaHTTPError`
    and records the exchange in `arena.requests` (kind fixed or computed from the request)."""

    async def endpoint(request: Request) -> Any:
        raw = await request.body()
        try:
            response = handler(request, raw)
        except ArenaHTTPError as error:
            response = error_response(error)
        body = parsed_body(raw)
        name = kind if isinstance(kind, str) else kind(request, body)
        if name == "upload":
            body = {"size": len(raw), "content_type": request.headers.get("content-type")}
        session_id = request.path_params.get("session_id")
        if session_id is None and name == "create" and isinstance(body, dict):
            session_id = body.get("id") if isinstance(body.get("id"), str) else None
        arena.record(request, name, body, response.status_code, session_id)
        return response

    return endpoint


def error_response(error: ArenaHTTPError) -> Response:
    if error.html is not None:
        return HTMLResponse(error.html, error.status, headers=error.headers)
    return JSONResponse({"error": error.error}, error.status, headers=error.headers)


def base_url(request: Request) -> str:
    """`scheme://host[:port]` as the client addressed us (used in image and upload URLs)."""
    return str(request.base_url).rstrip("/")


def cookie_header(name: str, value: str, request: Request, *, http_only: bool = False,
                  cross_site: bool = False) -> str:
    """A Set-Cookie value written by hand: Starlette would quote values containing `=`/`/`,
    and browsers keep those quotes as part of the value."""
    secure = request.url.scheme == "https"
    parts = [f"{name}={value}", "Path=/", f"Max-Age={COOKIE_MAX_AGE}"]
    parts.append("SameSite=None" if cross_site and secure else "SameSite=Lax")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)
