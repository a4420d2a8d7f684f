"""One error hierarchy for the gateway, and the one path from any exception to its answer.

Every error a client can see is a `GatewayError` subclass carrying its HTTP status and the
OpenAI `type`/`code`. `as_gateway_error` maps anything raised (a validation error of the
framework or of a body, an HTTP exception, a bug) to one; `error_response` answers with it in
the envelope of the route's API (OpenAI's, unless `ENVELOPES` names another for its path).
`app.py` installs one handler that does both, for every exception; the access middleware and
the chat endpoint, which run outside the framework, call the same two functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)


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


class NotFound(GatewayError):
    """Something the client named by id does not exist (or is not its to see)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class NoWorker(GatewayError):
    """No browser tab is connected (or none became free in time).

    `retry` False: retrying soon cannot help (no tab at all: the user must open one), so the
    answer carries `x-should-retry: false`, which the openai and anthropic SDKs honour instead
    of retrying a 503 twice."""

    status = 503
    type = "service_unavailable"
    code = "no_worker"

    def __init__(self, message: str, *, retry_after: int | None = None, retry: bool = True):
        super().__init__(message)
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        if not retry:
            headers["x-should-retry"] = "false"
        self.headers = headers or None


class QueueFull(NoWorker):
    """Too many requests are already waiting for a tab."""

    code = "queue_full"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


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


class HTTPError(GatewayError):
    """A framework's HTTP exception (an unknown path, a method not allowed)."""

    type = "invalid_request_error"

    def __init__(self, exc: HTTPException) -> None:
        super().__init__(str(exc.detail), code="not_found" if exc.status_code == 404 else None)
        self.status = exc.status_code
        self.headers = dict(exc.headers) if exc.headers else None  # e.g. Allow on a 405


def validation_message(errors: Sequence[ErrorDetails]) -> str:
    """The one format of a validation failure: `where: what` for the first five problems,
    where a body's fields are named without the framework's `body.` prefix."""
    return "; ".join(f"{_where(error['loc'])}: {error['msg']}" for error in errors[:5])


def _where(loc: tuple[int | str, ...]) -> str:
    parts = loc[1:] if loc[:1] == ("body",) else loc
    return ".".join(str(part) for part in parts) or "body"


def invalid(errors: Sequence[ErrorDetails]) -> InvalidRequest:
    param = _where(errors[0]["loc"]) if errors else None
    return InvalidRequest(validation_message(errors) or "invalid request", param=param)


def as_gateway_error(exc: BaseException) -> GatewayError:
    """Whatever a route raised, as the error its client gets; a bug is a 500 (logged here with
    its trace, the client gets no detail)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RequestValidationError):  # a route's parameters (a body: `invalid`)
        return invalid(list(exc.errors()))
    if isinstance(exc, HTTPException):
        return HTTPError(exc)
    log.error("internal error", exc_info=exc)
    return GatewayError("internal error")


Envelope = Callable[[GatewayError], dict[str, Any]]

# The error types of Anthropic's envelope, by HTTP status.
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_error_type(status: int) -> str:
    fallback = "invalid_request_error" if status < 500 else "api_error"
    return ANTHROPIC_ERROR_TYPES.get(status, fallback)


def anthropic_envelope(exc: GatewayError) -> dict[str, Any]:
    """Anthropic's envelope: `{"type": "error", "error": {"type", "message"}}`."""
    return {
        "type": "error",
        "error": {"type": anthropic_error_type(exc.status), "message": exc.message},
    }


# Routes whose API answers errors in another envelope than OpenAI's: (path prefix, envelope).
ENVELOPES: tuple[tuple[str, Envelope], ...] = (("/v1/messages", anthropic_envelope),)


def error_response(exc: GatewayError, path: str = "") -> JSONResponse:
    """The error as its HTTP answer: the envelope of `path`'s API, its status and headers
    (Retry-After, Allow)."""
    envelope = next((make for prefix, make in ENVELOPES if path.startswith(prefix)), None)
    body = exc.envelope() if envelope is None else envelope(exc)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)
