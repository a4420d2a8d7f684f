"""Upstream failures are classified once, from status, headers and body (protocol §3.5)."""

from __future__ import annotations

import pytest

from lmarenarev.arena.errors import Kind, classify_http, classify_in_band

CLOUDFLARE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    '<p>Enable JavaScript and cookies to continue</p><div id="cf-turnstile"></div></body></html>'
)


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "client_status"),
    [
        (429, {"retry-after": "7"}, '{"error":"Too Many Requests"}', Kind.RATE_LIMIT, 429),
        (403, {}, '{"error":"recaptcha validation failed"}', Kind.RECAPTCHA, 503),
        (403, {}, CLOUDFLARE, Kind.CLOUDFLARE, 503),
        (401, {}, "", Kind.AUTH, 401),
        (413, {}, "", Kind.TOO_LARGE, 413),
        (400, {}, '{"error":"duplicate ids"}', Kind.BAD_REQUEST, 400),
        (404, {}, '{"error":"evaluation session not found"}', Kind.NOT_FOUND, 404),
        (502, {}, "bad gateway", Kind.SERVER_ERROR, 502),
        (301, {"location": "https://arena.ai/x"}, "", Kind.REDIRECT, 502),
    ],
)
def test_http_failures(
    status: int, headers: dict[str, str], body: str, kind: Kind, client_status: int
) -> None:
    problem = classify_http(status, headers, body)
    assert problem is not None and problem.kind is kind
    assert problem.to_error().status == client_status


def test_success_is_not_a_problem() -> None:
    assert classify_http(200, {}, "") is None


def test_retry_after_is_read() -> None:
    problem = classify_http(429, {"retry-after": "7"}, "")
    assert problem is not None and problem.retry_after == 7
    assert problem.to_error().headers == {"Retry-After": "7"}


def test_messages_tell_the_user_what_to_do() -> None:
    auth = classify_http(401, {}, "")
    assert auth is not None and "log" in auth.message.lower()
    large = classify_http(413, {}, "")
    assert large is not None and "attachment_too_large" in large.message and "5 MB" in large.message


def test_in_band_resource_exhausted_counts_as_empty() -> None:
    assert classify_in_band("Resource exhausted. Please try again later.").kind is Kind.EMPTY
    assert classify_in_band("hasArenaError").kind is Kind.ARENA_ERROR


# An ordinary error body that quotes Cloudflare: a user's prompt echoed back, a help text.
MENTIONS_CLOUDFLARE = (
    '{"error": "Just a moment... see https://challenges.cloudflare.com; enable JavaScript and '
    'cookies to continue"} <title>Just a moment...</title>'
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, Kind.BAD_REQUEST), (404, Kind.NOT_FOUND), (429, Kind.RATE_LIMIT)],
)
def test_cloudflare_wording_outside_a_challenge_status_is_not_a_challenge(
    status: int, kind: Kind
) -> None:
    """Only a 403 or 503 can be Cloudflare's challenge by its body: a 429 stays a rate limit
    (with its Retry-After), not a tab reload, whatever its body says, unless it carries
    `cf-mitigated: challenge` (§3.1 2026)."""
    problem = classify_http(status, {"retry-after": "3"}, MENTIONS_CLOUDFLARE)
    assert problem is not None and problem.kind is kind
    for challenge_status in (403, 503):  # the same body with a challenge's status is one
        challenge = classify_http(challenge_status, {}, MENTIONS_CLOUDFLARE)
        assert challenge is not None and challenge.kind is Kind.CLOUDFLARE
# --- 2026 (docs/lmarena-protocol.md §3.1, §3.5 "Since 2026") --------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code"),
    [
        (429, {"cf-mitigated": "challenge"}, CLOUDFLARE, Kind.CLOUDFLARE, "cloudflare_challenge"),
        (403, {"cf-mitigated": "challenge"}, "", Kind.CLOUDFLARE, "cloudflare_challenge"),
        (429, {}, '{"error":"prompt failed","message":"429 prompt failed"}', Kind.QUOTA,
         "account_quota_exhausted"),
        (429, {"retry-after": "9"}, '{"error":"Too Many Requests"}', Kind.RATE_LIMIT,
         "rate_limited"),
        (404, {}, '{"error":"This model is no longer available"}', Kind.MODEL_GONE,
         "model_gone"),
        (410, {}, "", Kind.MODEL_GONE, "model_gone"),
        (400, {}, '{"error":"model not found"}', Kind.MODEL_GONE, "model_gone"),
        (404, {}, '{"error":"evaluation session not found"}', Kind.NOT_FOUND,
         "upstream_not_found"),
        (405, {}, "Method Not Allowed", Kind.REDIRECT, "upstream_redirect"),
        (400, {}, '{"error":"Invalid mode"}', Kind.BAD_REQUEST, "upstream_bad_request"),
    ],
)
def test_each_2026_failure_has_its_kind_and_code(
    status: int, headers: dict[str, str], body: str, kind: Kind, code: str
) -> None:
    problem = classify_http(status, headers, body)
    assert problem is not None and problem.kind is kind
    assert problem.to_error().code == code


def test_an_opaque_redirect_is_a_redirect_whatever_its_status() -> None:
    """A stream job never follows a redirect (§1.1): the tab reports status 0, opaque."""
    problem = classify_http(0, {}, "", "opaqueredirect")
    assert problem is not None and problem.kind is Kind.REDIRECT
    assert "405" in problem.message


def test_only_the_ip_limit_carries_retry_after_and_the_quota_says_whose() -> None:
    quota = classify_http(429, {"retry-after": "9"}, '{"error":"prompt failed"}')
    assert quota is not None and quota.retry_after is None and "account" in quota.message
