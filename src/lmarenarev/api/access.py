"""Who may call what (docs/security.md): client keys on `/v1`, the admin guard, browser checks.

`AccessPolicy` holds the rules; `AccessMiddleware` applies them to `/v1/*` and to every path
under `ADMIN_PREFIXES` before any route runs, and `require_admin` is the same admin rule as a
FastAPI dependency for admin routes that live elsewhere:

    @router.post("/api/admin/reload", dependencies=[Depends(require_admin)])

Without any key the gateway trusts this machine, not the web: a request is refused when a
browser page of another origin sent it (`Origin`, `Sec-Fetch-Site`), or when its `Host` is not
a loopback name (DNS rebinding), so a page in the user's browser cannot use the LMArena login.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config.keys import same_secret
from ..config.settings import Settings
from ..errors import Forbidden, GatewayError, RateLimited, Unauthorized, error_response
from .keys import ClientKey, KeyRing

# Paths only the admin may reach: the dashboard, its data, admin actions, images, metrics.
ADMIN_PREFIXES = (
    "/monitor",
    "/api/monitor",
    "/api/admin",
    "/api/request",
    "/api/images",
    "/metrics",
)
# Exact GET paths under those prefixes that are page shells holding no data (the dashboard's
# HTML, which then sends the admin key from JS; its scripts live outside, in /static/monitor).
ADMIN_SHELL_PATHS: frozenset[str] = frozenset({"/monitor"})
CLIENT_KEY_SCOPE = "lmarenarev.client_key"
_CROSS_SITE = ("cross-site", "same-site")
_EXTENSION_SCHEMES = ("chrome-extension", "moz-extension", "safari-web-extension")
_ADMIN_HEADERS = "'Authorization: Bearer <admin_key>' or 'X-Admin-Key: <admin_key>'"


@functools.lru_cache(maxsize=256)  # every /v1 request asks about the same few names
def is_loopback_address(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost"; "" and 0.0.0.0 (all interfaces) are not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


@functools.lru_cache(maxsize=256)
def is_loopback_name(host_header: str) -> bool:
    """A `Host` header naming this machine: a loopback address, localhost or *.localhost."""
    name = _host_name(host_header)
    return is_loopback_address(name) or name.endswith(".localhost")


def bearer(value: str | None) -> str:
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_extension_origin(origin: str) -> bool:
    return urlsplit(origin).scheme in _EXTENSION_SCHEMES


def foreign_origin(conn: HTTPConnection) -> str | None:
    """The web origin that sent this browser request, when it is not the gateway's own."""
    headers = conn.headers
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site", "")
    if origin is not None and urlsplit(origin).netloc != headers.get("host", ""):
        return origin[:200]
    if site in _CROSS_SITE:
        return origin or f"a {site} page"
    return None


def is_admin_path(path: str) -> bool:
    return path.startswith(ADMIN_PREFIXES)


def client_key(request: Request) -> ClientKey | None:
    """The key a `/v1` request authenticated with (None when no key is configured)."""
    key: ClientKey | None = request.scope.get(CLIENT_KEY_SCOPE)
    return key


def authorize_model(request: Request, model: str) -> None:
    key = client_key(request)
    if key is not None and not key.allows(model):
        raise Forbidden(
            f"the API key {key.name!r} may not use the model {model!r}",
            code="model_not_allowed",
            param="model",
        )


@dataclass(frozen=True)
class AccessPolicy:
    keys: KeyRing
    admin_key: str
    cors_origins: tuple[str, ...]
    bind_host: str

    def client_refusal(self, conn: HTTPConnection, method: str) -> GatewayError | None:
        """`/v1/*`: the client key (and its rpm), or, with no keys, this machine only."""
        if not self.keys.required:
            return self._browser_refusal(conn)
        headers = conn.headers
        # `x-api-key` is how Anthropic's clients send a key (Claude Code, the SDK).
        key = self.keys.match(bearer(headers.get("authorization")) or headers.get("x-api-key", ""))
        if key is None:
            return Unauthorized(
                "missing or wrong API key (send 'Authorization: Bearer <key>' or "
                "'x-api-key: <key>')"
            )
        if not key.enabled:
            return Unauthorized(f"the API key {key.name!r} is disabled", code="api_key_disabled")
        conn.scope[CLIENT_KEY_SCOPE] = key
        if method == "POST":
            try:
                self.keys.admit(key)
            except RateLimited as exc:
                return exc
        return None

    def admin_refusal(self, conn: HTTPConnection) -> GatewayError | None:
        if self.admin_key:
            given = conn.headers.get("x-admin-key") or bearer(conn.headers.get("authorization"))
            if given and same_secret(given, self.admin_key):
                return None
            return Unauthorized(
                f"missing or wrong admin key (send {_ADMIN_HEADERS})", code="invalid_admin_key"
            )
        if self.keys.required:
            return Forbidden(
                "admin routes need admin_key once API keys are set: set admin_key in config.jsonc",
                code="admin_key_required",
            )
        return self._local_refusal(conn) or self._cross_site_refusal(conn, allowed=())

    def userscript_refusal(self, conn: HTTPConnection, worker_token: str) -> GatewayError | None:
        """The userscript carries the worker token: never to another site's page; else to the
        admin, to this machine (no admin_key), or to a script that already has the token."""
        headers = conn.headers
        dest = headers.get("sec-fetch-dest", "document")
        if headers.get("sec-fetch-site") in _CROSS_SITE and dest != "document":
            return Forbidden(
                "the userscript cannot be loaded by another site's page", code="cross_site_request"
            )
        token = conn.query_params.get("token", "")
        if token and same_secret(token, worker_token):
            return None
        if not self.admin_key:
            return self._local_refusal(conn)
        key = conn.query_params.get("key", "")
        if key and same_secret(key, self.admin_key):
            return None
        if self.admin_refusal(conn) is None:  # a program sending the admin key as a header
            return None
        # A browser opening the install URL cannot send a header: say what to open instead.
        url = f"{conn.url.scheme}://{conn.url.netloc}/bridge.user.js?key=<admin_key>"
        wrong = "wrong" if key else "missing"
        return Unauthorized(
            f"{wrong} admin key: open {url} in the browser, with the admin_key of config.jsonc "
            "in place of <admin_key> (`lmarenarev userscript` prints the URL)",
            code="invalid_admin_key",
        )

    def _local_refusal(self, conn: HTTPConnection) -> GatewayError | None:
        client = conn.client.host if conn.client else ""
        if not is_loopback_address(client):
            return Forbidden(
                "this route answers only this machine; set admin_key to reach it from elsewhere",
                code="not_local",
            )
        return self._host_refusal(conn)

    def _host_refusal(self, conn: HTTPConnection) -> GatewayError | None:
        host = conn.headers.get("host", "")
        if is_loopback_name(host) or _host_name(host) == self.bind_host.strip("[]").lower():
            return None
        return Forbidden(
            f"the Host {host[:100]!r} is not this machine (a DNS-rebinding page?); use "
            "http://127.0.0.1 or http://localhost",
            code="bad_host",
        )

    def _cross_site_refusal(
        self, conn: HTTPConnection, allowed: tuple[str, ...]
    ) -> GatewayError | None:
        origin = foreign_origin(conn)
        if origin is None or origin in allowed:
            return None
        return Forbidden(
            f"refused a request sent by the web page {origin!r}: without an API key only "
            "programs on this machine may use the gateway (set api_key, or list the origin in "
            "cors_origins)",
            code="cross_site_request",
        )

    def _browser_refusal(self, conn: HTTPConnection) -> GatewayError | None:
        refusal = self._cross_site_refusal(conn, allowed=self.cors_origins)
        if refusal is None and is_loopback_address(self.bind_host):
            refusal = self._host_refusal(conn)
        return refusal


class AccessMiddleware:
    """Applies the policy to `/v1/*` and the admin paths before routing (so it covers mounts);
    `on_refusal` is told of every refusal (the request log: api/refusals.py)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: AccessPolicy,
        on_refusal: Callable[[Scope, GatewayError], None] | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error = self._refusal(scope)
            if error is not None:
                if self.on_refusal is not None:
                    self.on_refusal(scope, error)
                await error_response(error, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> GatewayError | None:
        path: str = scope["path"]
        conn = HTTPConnection(scope)
        if is_v1_path(path):
            return self.policy.client_refusal(conn, scope["method"])
        if is_admin_path(path) and not (scope["method"] == "GET" and path in ADMIN_SHELL_PATHS):
            return self.policy.admin_refusal(conn)
        return None


def is_v1_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class V1CorsMiddleware:
    """CORS for the configured origins on `/v1/*` only: admin routes never answer a preflight."""

    def __init__(self, app: ASGIApp, *, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_v1_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def require_admin(request: Request) -> None:
    """FastAPI dependency: the admin rule for a route outside `ADMIN_PREFIXES`."""
    policy: AccessPolicy = request.app.state.gateway.access
    error = policy.admin_refusal(request)
    if error is not None:
        raise error


def admin_allowed(request: Request) -> bool:
    policy: AccessPolicy = request.app.state.gateway.access
    return policy.admin_refusal(request) is None


def policy_from_settings(settings: Settings, keys: KeyRing) -> AccessPolicy:
    return AccessPolicy(
        keys=keys,
        admin_key=settings.admin_key,
        cors_origins=tuple(settings.cors_origins),
        bind_host=settings.host,
    )


def start_warnings(settings: Settings) -> list[str]:
    """What the settings close that a user may not expect, said once at start."""
    if settings.admin_key or not (settings.api_key or settings.api_keys):
        return []
    return [
        "api_key is set but admin_key is not: the dashboard (/monitor), /metrics and the "
        "admin commands (lmarenarev status, reload, capture-ids, update-models) are locked. "
        "Set admin_key in config.jsonc and restart to open them."
    ]


def insecure_bind(settings: Settings) -> bool:
    """Listening beyond this machine without any client key."""
    has_keys = bool(settings.api_key or settings.api_keys)
    return not is_loopback_address(settings.host) and not has_keys
