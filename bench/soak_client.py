"""The soak's clients: a request as sent, read back whole or as a stream, and the clients that
hang up on purpose (bench/soak.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

from bench.soak_workload import Observed, Planned

CLIENT_GONE_AFTER = 0.5  # a non-streaming client gives up after this many seconds
EARLY_GONE_AFTER = 0.3  # … or, in "client-gone-early", any client (before the first byte)


def request_body(planned: Planned) -> dict[str, Any]:
    prompt = f"soak {planned.tag} {planned.scenario.name}"
    return {"model": planned.scenario.model, "stream": planned.stream,
            "messages": [{"role": "user", "content": prompt}]}


def read_error(seen: Observed, body: bytes) -> None:
    try:
        error = json.loads(body)["error"]
        seen.error_code, seen.error_message = error.get("code"), str(error.get("message"))
    except (ValueError, KeyError, TypeError):
        seen.error_message = body[:200].decode("utf-8", "replace")


def read_delta(seen: Observed, chunk: dict[str, Any]) -> None:
    if "error" in chunk:
        seen.in_stream = True
        seen.error_code = chunk["error"].get("code")
        seen.error_message = str(chunk["error"].get("message"))
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        seen.content += delta.get("content") or ""
        seen.reasoning += delta.get("reasoning_content") or ""


async def send_streaming(client: httpx.AsyncClient, planned: Planned) -> Observed:
    seen = Observed()
    async with client.stream("POST", "/v1/chat/completions", json=request_body(planned)) as r:
        seen.status = r.status_code
        if r.status_code != 200:
            read_error(seen, await r.aread())
            return seen
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                seen.complete = True
                break
            read_delta(seen, json.loads(line[6:]))
    return seen


async def send_whole(client: httpx.AsyncClient, planned: Planned) -> Observed:
    seen = Observed()
    r = await client.post("/v1/chat/completions", json=request_body(planned))
    seen.status = r.status_code
    if r.status_code != 200:
        read_error(seen, r.content)
        return seen
    message = r.json()["choices"][0]["message"]
    seen.content = message.get("content") or ""
    seen.reasoning = message.get("reasoning_content") or ""
    seen.complete = True
    return seen


def leave_after(planned: Planned) -> float | None:
    """When a "client gone" client hangs up: after that many seconds, or (None) as soon as
    its stream sent a chunk."""
    if planned.scenario.leave == "early":
        return EARLY_GONE_AFTER
    return None if planned.stream else CLIENT_GONE_AFTER


async def send_and_leave(port: int, planned: Planned) -> Observed:
    """A client that goes away, on a raw socket: it really closes its connection then (httpx
    may keep a timed-out connection open until its pool next needs it, so the gateway would
    not see the client go)."""
    payload = json.dumps(request_body(planned)).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(head.encode() + payload)
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(leave_after(planned)):
                while b"\r\n\r\n" not in received or b"data: " not in received:
                    data = await reader.read(65536)
                    if not data:  # the gateway answered (and closed) before the client left
                        return answered_early(received)
                    received += data
    finally:
        writer.close()
    return Observed(client_gone=True)


def answered_early(raw: bytes) -> Observed:
    """The whole answer came before the client left (fine only for a retried request)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    seen = Observed(status=int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0)
    if seen.status != 200 or b"chunked" in head.lower():
        read_error(seen, body)
        seen.error_message = f"answered before the client left: {seen.error_message}"
        return seen
    message = json.loads(body)["choices"][0]["message"]
    seen.content, seen.complete = message.get("content") or "", True
    return seen


async def send(client: httpx.AsyncClient, planned: Planned) -> Observed:
    try:
        if planned.scenario.expect == "client_gone":
            return await send_and_leave(int(str(client.base_url.port)), planned)
        if planned.stream:
            return await send_streaming(client, planned)
        return await send_whole(client, planned)
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return Observed(failure=type(exc).__name__, error_message=str(exc))
