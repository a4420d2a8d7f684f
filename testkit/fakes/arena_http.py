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
    body = error.body if error.body is not None else {"error": error.error}
    return JSONResponse(body, error.status, headers=error.headers)


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


class AliasRedirect:
    """ASGI wrapper: with an era whose `redirect_aliases` is on, a request addressed to an alias
    host (lmarena.ai, `FakeArena.aliases`) gets a 301 to the same URL on the canonical host,
    pages and API routes alike (§1.1 2026); recorded as kind "redirect". The fake's own
    `/__fake/` routes are never redirected."""

    def __init__(self, app: Any, arena: FakeArena) -> None:
        self.app = app
        self.arena = arena

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        target = self._target(scope) if scope["type"] == "http" else None
        if target is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = Response(b"", 301, headers={"location": target})
        self.arena.record(request, "redirect", None, 301, None)
        await response(scope, receive, send)

    def _target(self, scope: dict[str, Any]) -> str | None:
        arena = self.arena
        path: str = scope.get("path", "")
        if not arena.era.redirect_aliases or path.startswith("/__fake/"):
            return None
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if host.count(":") == 1:
            name, colon, port = host.rpartition(":")
        else:
            name, colon, port = host, "", ""
        canonical = arena.aliases.get(name.lower())
        if canonical is None:
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        where = f"{scope.get('scheme', 'http')}://{canonical}{colon}{port}{path}"
        return where + (f"?{query}" if query else "")
