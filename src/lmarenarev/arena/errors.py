"""Classify upstream failures once (protocol §3.1, §3.2, §3.5).

Input is what the worker reported: the HTTP status, the response headers and the start of the
body; or an in-band failure found by the stream parser. Output is an `UpstreamProblem` with a
kind the retry policy switches on, and what the client should be told if it is final.

Since 2026 (§3.5): a 429 has three meanings told apart by body and headers (an account's quota,
`prompt failed`; an IP or global limit with Retry-After; a Cloudflare challenge with
`cf-mitigated: challenge`); a model LMArena dropped answers 404/410; a stream request that met a
redirect comes back as an opaque redirect (the tab's fetch never follows one, §1.1), and a 405
is what a followed one turns into (the 405 trap).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

from ..errors import UpstreamFailure


class Kind(StrEnum):
    CLOUDFLARE = "cloudflare"
    RECAPTCHA = "recaptcha"
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    MODEL_GONE = "model_gone"
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    TRUNCATED = "truncated"  # the body ended without the followed side's finish record
    ARENA_ERROR = "arena_error"
    REDIRECT = "redirect"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True, slots=True)
class UpstreamProblem:
    kind: Kind
    message: str
    http_status: int | None = None
    retry_after: float | None = None

    def to_error(self) -> UpstreamFailure:
        status, code = _CLIENT_STATUS[self.kind]
        return UpstreamFailure(self.message, status=status, code=code, retry_after=self.retry_after)


_CLIENT_STATUS: dict[Kind, tuple[int, str]] = {
    Kind.CLOUDFLARE: (503, "cloudflare_challenge"),
    Kind.RECAPTCHA: (503, "recaptcha_failed"),
    Kind.AUTH: (401, "lmarena_login_required"),
    Kind.RATE_LIMIT: (429, "rate_limited"),
    Kind.QUOTA: (429, "account_quota_exhausted"),
    Kind.MODEL_GONE: (404, "model_gone"),
    Kind.TOO_LARGE: (413, "attachment_too_large"),
    Kind.EMPTY: (502, "empty_response"),
    Kind.TRUNCATED: (502, "upstream_truncated"),
    Kind.ARENA_ERROR: (502, "arena_error"),
    Kind.REDIRECT: (502, "upstream_redirect"),
    Kind.BAD_REQUEST: (400, "upstream_bad_request"),
    Kind.NOT_FOUND: (404, "upstream_not_found"),
    Kind.SERVER_ERROR: (502, "upstream_error"),
}

# Cloudflare challenge signatures used by bridges (§3.1).
_CLOUDFLARE_MARKERS = (
    "<title>just a moment...</title>",
    "enable javascript and cookies to continue",
    'id="cf-please-wait"',
    'id="cf-spinner-please-wait"',
    'id="cf-cloudflare-status"',
    "<title>attention required! | cloudflare</title>",
    "challenges.cloudflare.com",
)

OPAQUE_REDIRECT = "opaqueredirect"  # fetch's Response.type for a redirect not followed
_GONE_WORDS = ("not found", "no longer", "unavailable", "not available", "retired", "removed")

# LMArena's real size limit is not published (§9); ≈5 MB per L (2025).
ATTACHMENT_LIMIT_HINT = "about 5 MB per request"


def is_cloudflare_page(body: str) -> bool:
    lowered = body[:20000].lower()
    return any(marker in lowered for marker in _CLOUDFLARE_MARKERS)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # HTTP-date form: not sent by LMArena in any recorded fixture
    return seconds if seconds >= 0 else None


def _error_text(body: str) -> str:
    """The `error`/`message` of a JSON body, else the first line of text (tags stripped)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value:
                return value
    text = re.sub(r"<[^>]+>", " ", body)
    text = " ".join(text.split())
    return text[:300]


def classify_http(
    status: int, headers: dict[str, str], body: str, response_type: str = "basic"
) -> UpstreamProblem | None:
    """A non-2xx answer (or a 3xx, or an opaque redirect) → a problem; None for success."""
    if response_type == OPAQUE_REDIRECT:
        return UpstreamProblem(
            Kind.REDIRECT,
            "LMArena redirected the request; the tab did not follow it (a POST that follows a "
            "redirect turns into a GET and fails with 405)",
            status,
        )
    if 200 <= status < 300:
        return None
    detail = _error_text(body)
    if 300 <= status < 400:
        where = headers.get("location", "?")
        return UpstreamProblem(Kind.REDIRECT, f"LMArena redirected the request to {where}", status)
    # §3.1 2026: a challenge can come as a 429, told apart by its header; a 429 whose body
    # merely quotes Cloudflare stays a rate limit (a 403 or 503 needs only the page).
    challenged = headers.get("cf-mitigated", "").lower() == "challenge"
    if challenged or (status in (403, 503) and is_cloudflare_page(body)):
        return UpstreamProblem(
            Kind.CLOUDFLARE,
            f"LMArena answered {status} with a Cloudflare challenge; the worker tab must pass it",
            status,
        )
    if status == 403 and "recaptcha" in detail.lower():
        return UpstreamProblem(Kind.RECAPTCHA, "LMArena rejected the reCAPTCHA token", status)
    if status == 401:
        return UpstreamProblem(
            Kind.AUTH,
            "LMArena refused the worker tab's session (401): log in to LMArena in that tab "
            "(or reload it so the site creates a new session), then try again",
            status,
        )
    if status == 413:
        return UpstreamProblem(
            Kind.TOO_LARGE,
            f"attachment_too_large: LMArena rejected the request as too large "
            f"(its limit is {ATTACHMENT_LIMIT_HINT})",
            status,
        )
    if status == 429:
        return _too_many(status, headers, body, detail)
    if status == 405:
        return UpstreamProblem(
            Kind.REDIRECT,
            "LMArena answered 405: the request reached it as a GET, which is what a followed "
            "redirect makes of a POST (the 405 trap: the tab is on an origin LMArena now "
            "redirects, like lmarena.ai → arena.ai)",
            status,
        )
    if status == 410 or (status in (400, 404) and _model_gone(detail)):
        return UpstreamProblem(Kind.MODEL_GONE, f"LMArena: {detail or 'gone'}", status)
    if status == 404:
        return UpstreamProblem(Kind.NOT_FOUND, f"LMArena: {detail or 'not found'}", status)
    if 400 <= status < 500:
        return UpstreamProblem(Kind.BAD_REQUEST, f"LMArena rejected the request: {detail}", status)
    return UpstreamProblem(Kind.SERVER_ERROR, f"LMArena error {status}: {detail}", status)


def _too_many(status: int, headers: dict[str, str], body: str, detail: str) -> UpstreamProblem:
    """A 429 that is not Cloudflare's: this account's quota, or an IP/global limit (§3.5)."""
    if "prompt failed" in body[:2000].lower():
        return UpstreamProblem(
            Kind.QUOTA,
            "LMArena refused the prompt (429 prompt failed): this LMArena account's quota is "
            "used up",
            status,
        )
    return UpstreamProblem(
        Kind.RATE_LIMIT,
        f"LMArena rate limit: {detail or 'Too Many Requests'}",
        status,
        parse_retry_after(headers.get("retry-after")),
    )


def _model_gone(detail: str) -> bool:
    lowered = detail.lower()
    return "model" in lowered and any(word in lowered for word in _GONE_WORDS)


def classify_in_band(message: str) -> UpstreamProblem:
    """An `a3:` record, `a0:"hasArenaError"` or a JSON error line inside a 200 body (§2.2)."""
    if "resource exhausted" in message.lower():
        return UpstreamProblem(Kind.EMPTY, f"LMArena: {message}")
    return UpstreamProblem(Kind.ARENA_ERROR, f"LMArena reported an error: {message}")


def empty_reply() -> UpstreamProblem:
    return UpstreamProblem(Kind.EMPTY, "LMArena sent an empty reply")


def truncated_reply(after_output: bool) -> UpstreamProblem:
    """The body ended cleanly but without LMArena's finish record (`ad:`/`bd:`, §2.2): the
    reply was cut, and what came is not the whole answer, however normal the end looked."""
    where = "after part of the answer" if after_output else "before any text"
    return UpstreamProblem(
        Kind.TRUNCATED, f"LMArena's reply was cut off {where}: it ended without its finish record"
    )
