"""Secrets in URLs (worker token, admin key) never reach uvicorn's log lines."""

from __future__ import annotations

import logging

import pytest

from lmarenarev.api.redact import RedactSecrets, redact, redact_server_logs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ws?token=s3cr3t", "/ws?token=<redacted>"),
        ("/bridge.user.js?key=adm&x=1", "/bridge.user.js?key=<redacted>&x=1"),
        ("/a?x=1&Token=abc def", "/a?x=1&Token=<redacted> def"),
        ("/v1/models", "/v1/models"),
        ("/a?tokens=1", "/a?tokens=1"),
    ],
)
def test_secret_query_parameters_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_uvicorns_websocket_line_is_redacted() -> None:
    redact_server_logs()
    redact_server_logs()  # idempotent
    logger = logging.getLogger("uvicorn.error")
    assert sum(isinstance(f, RedactSecrets) for f in logger.filters) == 1
    line = '%s - "WebSocket %s" [accepted]'
    args = ("127.0.0.1:5", "/ws?token=worker-secret")
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, line, args, None)
    assert logger.filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /ws?token=<redacted>" [accepted]'
