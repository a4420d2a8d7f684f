"""The bug-report bundle of `lmarenarev doctor --save DIR`: what LMArena answered, redacted.

It keeps statuses, headers (never cookies, tokens or authorization), the first records of each
stream, the page's script URLs and title, the catalogue (public data) and the doctor's steps;
never the page's HTML, `/api/me`'s body (it names the user) nor any reCAPTCHA token. The fake
LMArena can replay a bundle (testkit/fakes/arena_replay.py, docs/doctor.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..arena.requests import UpstreamRequest
from ..workers.jobs import Data, Failed, Lost, Signal, Status
from ..workers.page_fetch import PageResponse

FORMAT = "lmarenarev-doctor-bundle/1"
FIRST_RECORDS = 40  # lines kept of each stream
BODY_CHARS = 64 * 1024  # characters of a stream kept while recording
_SECRET_HEADERS = ("cookie", "authorization", "token", "recaptcha", "secret", "session")
_SECRET_FIELDS = ("recaptchaV3Token", "recaptchaV2Token")
REDACTED = "<redacted>"


def safe_headers(headers: dict[str, str]) -> dict[str, str]:
    """Response or request headers without anything that could identify or authorize."""
    return {
        name: value
        for name, value in headers.items()
        if not any(word in name.lower() for word in _SECRET_HEADERS)
    }


def safe_body(body: dict[str, Any]) -> dict[str, Any]:
    """A request body with its tokens replaced (the prompt is the doctor's own)."""
    return {key: (REDACTED if key in _SECRET_FIELDS else value) for key, value in body.items()}


def exchange(response: PageResponse, url: str, *, body: str | None = None) -> dict[str, Any]:
    """A page fetch as the bundle keeps it (the body only when given: public data)."""
    kept: dict[str, Any] = {
        "url": url,
        "status": response.http_status,
        "response_type": response.response_type,
        "headers": safe_headers(response.headers),
    }
    if body is not None:
        kept["body"] = body
    return kept


@dataclass
class StreamRecord:
    """One stream attempt: its request and the start of its answer."""

    step: str
    request: UpstreamRequest
    status: int | None = None
    response_type: str = "basic"
    headers: dict[str, str] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    size: int = 0
    failure: str = ""

    def add(self, signal: Signal) -> None:
        if isinstance(signal, Status):
            self.status, self.response_type = signal.http_status, signal.response_type
            self.headers = safe_headers(signal.headers)
        elif isinstance(signal, Data) and self.size < BODY_CHARS:
            self.text.append(signal.text)
            self.size += len(signal.text)
        elif isinstance(signal, Failed | Lost):
            self.failure = getattr(signal, "message", "") or getattr(signal, "reason", "")

    def lines(self) -> list[str]:
        return "".join(self.text).split("\n")[:FIRST_RECORDS]

    def describe(self) -> dict[str, Any]:
        request = self.request
        return {
            "step": self.step,
            "method": request.method,
            "url": request.url,
            "request_body": safe_body(request.body),
            "status": self.status,
            "response_type": self.response_type,
            "headers": self.headers,
            "records": self.lines(),
            "failure": self.failure,
        }


@dataclass
class Bundle:
    """What `doctor` saw, kept while it runs."""

    version: str
    tabs: list[dict[str, Any]] = field(default_factory=list)
    page: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)
    streams: list[StreamRecord] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    step: str = ""  # the step running now: streams are filed under it

    def tap(self, request: UpstreamRequest, signal: Signal) -> None:
        """The relay's tap: every signal of every attempt of the current step."""
        if not self.streams or self.streams[-1].request is not request:
            self.streams.append(StreamRecord(self.step, request))
        self.streams[-1].add(signal)

    def records_of(self, step: str) -> int:
        return sum(len([line for line in s.lines() if line]) for s in self.streams
                   if s.step == step)

    def describe(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "lmarenarev": self.version,
            "created_at": time.time(),
            "steps": steps,
            "tabs": self.tabs,
            "page": self.page,
            "account": self.account,
            "catalog": self.catalog,
            "streams": [record.describe() for record in self.streams],
            "settings": self.settings,
        }


def catalog_body(text: str) -> Any:
    """The catalogue's JSON as the bundle keeps it (public data), or its text if not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text[:BODY_CHARS]
