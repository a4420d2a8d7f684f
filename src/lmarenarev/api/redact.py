"""Keep secrets that travel in URLs out of the server's log lines.

The WebSocket carries the worker token as `?token=`, the userscript's update URL too, and its
install URL the admin key as `?key=`; uvicorn logs request paths with their query string
(WebSocket handshakes at INFO, every request with --log-level debug). The CLI puts this filter
on uvicorn's loggers.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"([?&](?:token|key|api_key|admin_key)=)[^&\s\"']*", re.IGNORECASE)
UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    return _SECRET_PARAMS.sub(r"\1<redacted>", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_server_logs() -> None:
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
