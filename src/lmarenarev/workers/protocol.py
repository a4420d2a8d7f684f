"""The gateway ⇄ userscript messages, version 1 (docs/worker-protocol.md).

`hello` is validated with pydantic (it is the trust boundary where a worker describes itself).
The per-job frames are on the hot path, so they are checked by `parse_job_frame` with plain
type checks into small dataclasses; anything malformed is rejected with `FrameError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    capacity: int = Field(default=6, ge=1, le=64)
    script_srcs: list[str] = Field(default_factory=list, max_length=200)
    title: str = Field(default="", max_length=512)


@dataclass(frozen=True, slots=True)
class StatusFrame:
    job: str
    http_status: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class PongFrame:
    t: float


@dataclass(frozen=True, slots=True)
class ByeFrame:
    """The page is going away (long-poll only; a WebSocket just closes)."""


JobFrame = StatusFrame | ChunkFrame | DoneFrame | ErrorFrame


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


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): str(v) for k, v in value.items()}


def parse_worker_frame(frame: Any) -> JobFrame | PongFrame | ByeFrame:
    """A worker → gateway frame other than `hello`."""
    if not isinstance(frame, dict):
        raise FrameError("a frame must be a JSON object")
    kind = frame.get("type")
    if kind == "chunk":
        return ChunkFrame(_str(frame, "job"), _int(frame, "seq"), _str(frame, "data"))
    if kind == "status":
        return StatusFrame(
            _str(frame, "job"), _int(frame, "http_status"), _headers(frame.get("headers"))
        )
    if kind == "done":
        return DoneFrame(_str(frame, "job"), _int(frame, "seq"))
    if kind == "error":
        status = frame.get("http_status")
        return ErrorFrame(
            _str(frame, "job"),
            str(frame.get("message") or "worker error")[:2000],
            status if isinstance(status, int) and not isinstance(status, bool) else None,
        )
    if kind == "pong":
        t = frame.get("t")
        return PongFrame(float(t) if isinstance(t, int | float) else 0.0)
    if kind == "bye":
        return ByeFrame()
    raise FrameError(f"unknown frame type {kind!r}")


def fetch_frame(
    job: str,
    *,
    url: str,
    method: str,
    headers: dict[str, str],
    body: str | None,
    recaptcha: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "type": "fetch",
        "job": job,
        "url": url,
        "method": method,
        "headers": headers,
        "body": body,
        "recaptcha": recaptcha,
    }


def abort_frame(job: str) -> dict[str, Any]:
    return {"type": "abort", "job": job}


def ping_frame(t: float) -> dict[str, Any]:
    return {"type": "ping", "t": t}


def welcome_frame(worker: str) -> dict[str, Any]:
    return {"type": "welcome", "worker": worker, "protocol": PROTOCOL_VERSION}


def reload_frame() -> dict[str, Any]:
    return {"type": "reload"}
