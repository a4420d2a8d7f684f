"""The gateway ⇄ userscript messages, version 1 (docs/worker-protocol.md).

`hello` is validated with pydantic (it is the trust boundary where a worker describes itself).
The per-job frames are on the hot path, so they are checked by `parse_job_frame` with plain
type checks into small dataclasses; anything malformed is rejected with `FrameError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1


class FrameError(ValueError):
    pass


class Hello(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["hello"]
    protocol: int
    script_version: str = Field(default="?", max_length=64)
    page_url: str = Field(default="", max_length=4096)
    tab: str = Field(default="", max_length=128)
    capacity: int = Field(default=6, ge=1, le=256)
    script_srcs: list[str] = Field(default_factory=list, max_length=200)
    title: str = Field(default="", max_length=512)
    batches: bool = False  # takes a JSON array of gateway → worker frames as one message
    token_pool: bool = False  # keeps reCAPTCHA tokens when asked (`token_pool` frame)
    navigate: bool = False  # follows `navigate` frames (older scripts ignore them)


@dataclass(frozen=True, slots=True)
class StatusFrame:
    job: str
    http_status: int
    headers: dict[str, str]
    pool: str | None = None  # "hit" | "miss": whether the job's token came from the tab's pool
    response_type: str = "basic"  # fetch's Response.type: "opaqueredirect" for a 3xx not followed


@dataclass(slots=True, unsafe_hash=True)  # one per chunk: immutable by convention, see TextDelta
class ChunkFrame:
    job: str
    seq: int
    data: str


@dataclass(frozen=True, slots=True)
class DoneFrame:
    job: str
    seq: int


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    job: str
    message: str
    http_status: int | None
    pool: str | None = None  # as StatusFrame's: a job that failed after taking from the pool


@dataclass(frozen=True, slots=True)
class PongFrame:
    t: float


@dataclass(frozen=True, slots=True)
class ByeFrame:
    """The page is going away (long-poll only; a WebSocket just closes)."""


@dataclass(frozen=True, slots=True)
class TokenPoolReportFrame:
    """Pooled tokens the tab threw away unused since its last report."""

    expired: int
    dropped: int


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A request the page itself made while capture was armed (`capture_ids`)."""

    url: str
    method: str
    body: str | None


JobFrame = StatusFrame | ChunkFrame | DoneFrame | ErrorFrame
WorkerFrame = JobFrame | PongFrame | ByeFrame | CapturedFrame | TokenPoolReportFrame
POOL_USES = ("hit", "miss")
MAX_REPORTED = 1000  # tokens in one report: a pool holds at most 8
MAX_CAPTURED_URL = 8192
MAX_CAPTURED_BODY = 1024 * 1024


def _str(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise FrameError(f"{frame.get('type')!r} frame needs a string {key!r}")
    return value


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FrameError(f"{frame.get('type')!r} frame needs a non-negative integer {key!r}")
    return value


def _pool(frame: dict[str, Any]) -> str | None:
    value = frame.get("pool")
    return value if value in POOL_USES else None


def _count(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return 0
    return min(value, MAX_REPORTED)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): str(v) for k, v in value.items()}


def parse_worker_frame(frame: Any) -> WorkerFrame:
    """A worker → gateway frame other than `hello`."""
    if not isinstance(frame, dict):
        raise FrameError("a frame must be a JSON object")
    kind = frame.get("type")
    if kind == "chunk":
        return ChunkFrame(_str(frame, "job"), _int(frame, "seq"), _str(frame, "data"))
    if kind == "status":
        response_type = frame.get("response_type")
        return StatusFrame(
            _str(frame, "job"),
            _int(frame, "http_status"),
            _headers(frame.get("headers")),
            _pool(frame),
            response_type[:32] if isinstance(response_type, str) else "basic",
        )
    if kind == "done":
        return DoneFrame(_str(frame, "job"), _int(frame, "seq"))
    if kind == "error":
        status = frame.get("http_status")
        return ErrorFrame(
            _str(frame, "job"),
            str(frame.get("message") or "worker error")[:2000],
            status if isinstance(status, int) and not isinstance(status, bool) else None,
            _pool(frame),
        )
    if kind == "pong":
        t = frame.get("t")
        return PongFrame(float(t) if isinstance(t, int | float) else 0.0)
    if kind == "bye":
        return ByeFrame()
    if kind == "token_pool_report":
        return TokenPoolReportFrame(_count(frame, "expired"), _count(frame, "dropped"))
    if kind == "captured":
        body = frame.get("body")
        return CapturedFrame(
            _str(frame, "url")[:MAX_CAPTURED_URL],
            str(frame.get("method") or "GET").upper()[:16],
            body[:MAX_CAPTURED_BODY] if isinstance(body, str) else None,
        )
    raise FrameError(f"unknown frame type {kind!r}")


def fetch_frame(
    job: str,
    *,
    url: str,
    method: str,
    headers: dict[str, str],
    body: str | None,
    recaptcha: dict[str, str] | None,
    body_base64: str | None = None,
    credentials: str | None = None,
    first_output: Mapping[str, Sequence[str]] | None = None,
    redirect: str | None = None,
    prepare_only: bool = False,
) -> dict[str, Any]:
    """`body_base64` (bytes, base64) replaces `body` for binary uploads; `credentials`
    ("include" when absent, "omit", "same-origin") is the fetch option; `first_output` says
    which lines of the body are output (`arena.first_output`; absent: its first chunk is);
    `redirect` is fetch's option ("follow" when absent; "manual": a redirect comes back as a
    status with response_type "opaqueredirect"); `prepare_only`: mint the token and build the
    body, answer it as the job's only chunk (status 200), and fetch nothing."""
    frame: dict[str, Any] = {
        "type": "fetch",
        "job": job,
        "url": url,
        "method": method,
        "headers": headers,
        "body": body,
        "recaptcha": recaptcha,
    }
    if body_base64 is not None:
        frame["body_base64"] = body_base64
    if credentials is not None:
        frame["credentials"] = credentials
    if first_output is not None:
        frame["first_output"] = first_output
    if redirect is not None:
        frame["redirect"] = redirect
    if prepare_only:
        frame["prepare_only"] = True
    return frame


def abort_frame(job: str) -> dict[str, Any]:
    return {"type": "abort", "job": job}


def ping_frame(t: float) -> dict[str, Any]:
    return {"type": "ping", "t": t}


def welcome_frame(worker: str) -> dict[str, Any]:
    return {"type": "welcome", "worker": worker, "protocol": PROTOCOL_VERSION}


def reload_frame() -> dict[str, Any]:
    return {"type": "reload"}


def token_pool_frame(
    *, site_key: str, action: str, size: int, max_age: float, warm: float
) -> dict[str, Any]:
    """Keep up to `size` fresh tokens for (`site_key`, `action`) while requests are coming
    (a job needing a token arrived, or one ended, within `warm` seconds; one is running), each
    used once while younger than `max_age` seconds; size 0: keep none."""
    return {
        "type": "token_pool",
        "site_key": site_key,
        "action": action,
        "size": size,
        "max_age_ms": round(max_age * 1000),
        "warm_ms": round(warm * 1000),
    }


def token_pool_drop_frame() -> dict[str, Any]:
    """Drop every pooled token now (LMArena refused this tab's token)."""
    return {"type": "token_pool_drop"}
def navigate_frame(url: str) -> dict[str, Any]:
    """Load `url` in the tab (an LMArena page on another origin: the site moved)."""
    return {"type": "navigate", "url": url}


def capture_frame(match: str) -> dict[str, Any]:
    """Arm capture: report the page's own requests whose URL matches the regex `match`."""
    return {"type": "capture_ids", "match": match}


def capture_cancel_frame() -> dict[str, Any]:
    return {"type": "capture_cancel"}


def loads(text: str | bytes) -> Any:
    """`json.loads`, through orjson when it can (several times faster on the hot path); what
    orjson refuses (NaN, lone surrogate escapes, …) gets the standard library's verdict. One
    difference: orjson reads an integer beyond 64 bits as a float, so a frame with such a
    `seq` is malformed (dropped and counted) rather than waited for forever."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
