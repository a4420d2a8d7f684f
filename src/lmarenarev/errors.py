"""One error hierarchy for the gateway; one handler turns it into the OpenAI error envelope.

Every error a client can see is a `GatewayError` subclass carrying its HTTP status and the
OpenAI `type`/`code`. Routes raise; `app.py` installs the single handler, which answers with
`error_response` (as do the access middleware and the chat endpoint, outside the framework).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    """Authenticated (or not needing to be) but not allowed: a model outside a key's list, an
    admin route from elsewhere, a cross-site browser request."""

    status = 403
    type = "permission_error"
    code = "forbidden"


class RateLimited(GatewayError):
    """A client key is over its requests-per-minute limit (not LMArena's 429)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class NoWorker(GatewayError):
    """No browser tab is connected (or none became free in time)."""

    status = 503
    type = "service_unavailable"
    code = "no_worker"


class QueueFull(NoWorker):
    """Too many requests are already waiting for a tab."""

    code = "queue_full"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class UpstreamFailure(GatewayError):
    """LMArena (through the worker) failed; status and code come from `arena.errors`."""

    type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str = "upstream_error",
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code)
        self.status = status
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers = {"Retry-After": str(max(1, round(retry_after)))}


class WorkerLost(GatewayError):
    """The tab running a job went away (closed, reloaded, stopped answering)."""

    status = 502
    type = "upstream_error"
    code = "worker_lost"


class Timeout(GatewayError):
    status = 504
    type = "upstream_error"
    code = "timeout"


def error_response(exc: GatewayError) -> JSONResponse:
    """The error as its HTTP answer: the envelope, its status and headers (Retry-After)."""
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)
