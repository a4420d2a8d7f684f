"""Light clients for bench/relay.py, and a server that shows the gateway client's own ceiling.

`GatewayClient` reads `/v1/chat/completions` SSE with a raw HTTP/1.1 `asyncio.Protocol`: no
HTTP library, no JSON parsing; it decodes the chunked body and finds the fake's send-time stamps
(`@t=<µs>;`, docs/fake-arena.md "Fast mode") in each complete HTTP chunk. The official `openai`
client tops out near 6,700 records/s on 2 cores, which would measure the client, not the relay.
Like that client (httpx's pool) it keeps its connections alive from one request to the next;
`stream_gateway` opens a connection per request instead (bench/hotpath.py).

`stream_direct` is the Python baseline for the Python fake worker: what that worker does (mint a
reCAPTCHA token on the page's endpoint, POST the create-evaluation body, read the stream) with the
same httpx settings, without the gateway.

    python -m bench.relay_client ceiling-server --records 400 --chars 16

serves an endless supply of gateway-shaped SSE replies (pre-rendered, one frame per HTTP chunk,
stamped per write batch) so the client can be timed against something faster than itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bench.procs import run_fast
from testkit.support import new_event_loop

STAMP = re.compile(rb"@t=(\d+);")
STAMP_TEXT = re.compile(r"@t=(\d+);")
STREAM_TIMEOUT = 120.0


@dataclass
class StreamResult:
    """One reply as a client saw it; times are `time.time()` seconds, latencies µs."""

    start: float
    first: float | None = None
    end: float | None = None
    records: int = 0
    latencies_us: list[float] = field(default_factory=list)
    error: str | None = None
    sent: float | None = None  # when the request left the client, when a reader knows it

    def see(self, now: float, stamps: list[bytes] | list[str]) -> None:
        if not stamps:
            return
        if self.first is None:
            self.first = now
        self.records += len(stamps)
        now_us = now * 1e6
        self.latencies_us.extend(now_us - int(stamp) for stamp in stamps)

    @classmethod
    def from_page(cls, data: dict[str, Any], offset_us: float) -> StreamResult:
        """A page's result (its clock is `performance.timeOrigin + now()`, `offset_us` ahead)."""

        def at(value: float | None) -> float | None:
            return None if value is None else (value - offset_us) / 1e6

        return cls(start=(data["start"] - offset_us) / 1e6, first=at(data["first"]),
                   end=at(data["end"]), records=int(data["records"]),
                   latencies_us=[lat - offset_us for lat in data["lat"]], error=data["error"],
                   sent=at(data.get("sent")))


class _SSEReader(asyncio.Protocol):
    """One HTTP/1.1 connection: sends a request, decodes its `Transfer-Encoding: chunked` reply
    and stamps each complete chunk. The connection serves the next request once a reply has
    ended (keep-alive), unless the reply failed or the server closed it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.result: StreamResult | None = None
        self.done: asyncio.Future[None] | None = None
        self.buffer = bytearray()
        self.in_body = False
        self.status_ok = True
        self.error_length: int | None = None  # an error reply's Content-Length
        self.open = False
        self.idle_since = time.monotonic()

    @property
    def reusable(self) -> bool:
        return self.open and self.result is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.open = True

    def send(self, request: bytes, result: StreamResult, done: asyncio.Future[None]) -> None:
        assert self.transport is not None and self.result is None
        self.result, self.done = result, done
        self.buffer.clear()
        self.in_body, self.status_ok, self.error_length = False, True, None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        result = self.result
        if result is None:
            return  # nothing asked
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.in_body:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            self.status_ok = buffer[9:12] == b"200"
            if not self.status_ok:
                match = CONTENT_LENGTH.search(bytes(buffer[:head_end]))
                self.error_length = int(match.group(1)) if match else None
            del buffer[:head_end + 4]
            self.in_body = True
        if not self.status_ok:
            if self.error_length is not None and len(buffer) >= self.error_length:
                result.error = bytes(buffer[:300]).decode("utf-8", "replace")
                self._finish(keep=False)
            return  # else collected until the connection closes
        pos = 0
        while True:
            line_end = buffer.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(buffer[pos:line_end].split(b";", 1)[0], 16)
            if size == 0:
                result.end = now
                self._finish(keep=True)
                return
            chunk_end = line_end + 2 + size
            if len(buffer) < chunk_end + 2:
                break
            payload = bytes(buffer[line_end + 2:chunk_end])
            pos = chunk_end + 2
            if b'"error"' in payload and b"@t=" not in payload:
                result.error = payload.decode("utf-8", "replace")[:300]
            result.see(now, STAMP.findall(payload))
        del buffer[:pos]

    def _finish(self, *, keep: bool) -> None:
        done = self.done
        self.result = self.done = None
        self.idle_since = time.monotonic()
        if not keep and self.transport is not None:
            self.open = False
            self.transport.close()
        if done is not None and not done.done():
            done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        result, done = self.result, self.done
        self.result = self.done = None
        if result is not None and done is not None and not done.done():
            if result.end is None:
                text = bytes(self.buffer[:300]).decode("utf-8", "replace")
                result.error = result.error or f"connection lost: {exc or text!r}"
            done.set_result(None)


CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


def chat_request(port: int, body: dict[str, Any], path: str = "/v1/chat/completions") -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nAuthorization: Bearer bench\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _exchange(connection: _SSEReader, request: bytes) -> StreamResult:
    result = StreamResult(start=time.time())
    result.sent = result.start  # written at once
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        connection.send(request, result, done)
        async with asyncio.timeout(STREAM_TIMEOUT):
            await done
    except (OSError, TimeoutError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        if connection.transport is not None:
            connection.transport.close()
    return result


class GatewayClient:
    """Runs of concurrent streams over kept-alive connections, as the official `openai` client
    (httpx's connection pool) and most HTTP clients do: before a run, not timed, the pool is
    topped up to one idle connection per stream; each stream then sends its request on its own
    connection. A connection idle for `max_idle` seconds is closed first (the gateway's uvicorn
    closes idle connections after 5 s)."""

    def __init__(self, port: int, path: str = "/v1/chat/completions", *,
                 max_idle: float = 3.0) -> None:
        self.port = port
        self.path = path
        self.max_idle = max_idle
        self._runner = asyncio.Runner(loop_factory=new_event_loop)
        self._idle: list[_SSEReader] = []

    def prepare(self, count: int) -> None:
        """Open connections until `count` are idle."""
        self._runner.run(self._prepare(count))

    def run(self, bodies: Sequence[dict[str, Any]]) -> list[StreamResult]:
        """Send every body at once; each result once its reply ended (or failed)."""
        return self._runner.run(self._run(bodies))

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()
        self._runner.close()

    async def _prepare(self, count: int) -> None:
        now = time.monotonic()
        for connection in self._idle:
            if connection.reusable and now - connection.idle_since > self.max_idle:
                assert connection.transport is not None
                connection.transport.close()
                connection.open = False
        self._idle = [connection for connection in self._idle if connection.reusable]
        loop = asyncio.get_running_loop()
        while len(self._idle) < count:
            _, connection = await loop.create_connection(_SSEReader, "127.0.0.1", self.port)
            self._idle.append(connection)

    async def _run(self, bodies: Sequence[dict[str, Any]]) -> list[StreamResult]:
        await self._prepare(len(bodies))
        requests = [chat_request(self.port, body, self.path) for body in bodies]
        connections = [self._idle.pop() for _ in bodies]
        pairs = zip(connections, requests, strict=True)
        results = await asyncio.gather(*(_exchange(connection, request)
                                         for connection, request in pairs))
        self._idle.extend(connection for connection in connections if connection.reusable)
        return list(results)


async def stream_gateway(port: int, bodies: Sequence[dict[str, Any]],
                         path: str = "/v1/chat/completions") -> list[StreamResult]:
    """Send every body at once, each on a new connection closed after its reply."""
    loop = asyncio.get_running_loop()

    async def one(body: dict[str, Any]) -> StreamResult:
        start = time.time()
        try:
            _, connection = await loop.create_connection(_SSEReader, "127.0.0.1", port)
        except OSError as exc:
            return StreamResult(start=start, error=f"{type(exc).__name__}: {exc}")
        result = await _exchange(connection, chat_request(port, body, path))
        result.start = start
        if connection.transport is not None:
            connection.transport.close()
        return result

    return list(await asyncio.gather(*(one(body) for body in bodies)))


async def stream_direct(arena_url: str, bodies: Sequence[dict[str, Any]], *, http2: bool,
                        site_key: str) -> list[StreamResult]:
    """The Python fake worker's fetch, without the gateway (one httpx client, like the worker)."""
    import httpx

    from testkit.fakes.arena_bodies import CREATE_PATH, TEXT_PLAIN

    async with httpx.AsyncClient(base_url=arena_url, http2=http2, verify=False, trust_env=False,
                                 timeout=httpx.Timeout(STREAM_TIMEOUT, connect=10)) as client:
        (await client.get("/?mode=direct")).raise_for_status()  # the auth cookie

        async def one(body: dict[str, Any]) -> StreamResult:
            result = StreamResult(start=time.time())
            try:
                minted = await client.post("/__fake/recaptcha/execute",
                                           json={"site_key": site_key, "action": "chat_submit"})
                content = json.dumps({**body, "recaptchaV3Token": minted.json()["token"]})
                async with client.stream("POST", CREATE_PATH, content=content,
                                         headers=TEXT_PLAIN) as response:
                    if response.status_code != 200:
                        result.error = f"HTTP {response.status_code}"
                        return result
                    tail = ""
                    async for text in response.aiter_text():
                        now = time.time()
                        text = tail + text
                        cut = text.rfind("\n") + 1
                        tail = text[cut:]
                        result.see(now, STAMP_TEXT.findall(text, 0, cut))
                result.end = time.time()
            except httpx.HTTPError as exc:
                result.error = f"{type(exc).__name__}: {exc}"
            return result

        return list(await asyncio.gather(*(one(body) for body in bodies)))


# -- the client's own ceiling ---------------------------------------------------------------


FRAME = ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,'
         '"model":"fake-gpt","choices":[{"index":0,"delta":{"content":"@t=%d;%s"},'
         '"finish_reason":null}]}\n\n')
WRITE_BATCH = 64


class _CeilingServer(asyncio.Protocol):
    """Answers each request on a connection in turn (keep-alive, as the gateway does)."""

    def __init__(self, records: int, filler: str) -> None:
        self.records = records
        self.filler = filler
        self.seen = bytearray()
        self.transport: asyncio.Transport | None = None
        self.replying: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.seen += data
        self._next()

    def _next(self) -> None:
        """Start the reply to the next complete request, when none is being written."""
        if self.replying is not None or self.transport is None:
            return
        head_end = self.seen.find(b"\r\n\r\n")
        if head_end < 0:
            return
        match = CONTENT_LENGTH.search(bytes(self.seen[:head_end]))
        end = head_end + 4 + (int(match.group(1)) if match else 0)
        if len(self.seen) < end:
            return
        del self.seen[:end]
        self.replying = asyncio.ensure_future(self._reply(self.transport))

    async def _reply(self, transport: asyncio.Transport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        for first in range(0, self.records, WRITE_BATCH):
            stamp = time.time_ns() // 1000
            parts = []
            for _ in range(min(WRITE_BATCH, self.records - first)):
                frame = (FRAME % (stamp, self.filler)).encode()
                parts.append(b"%x\r\n%s\r\n" % (len(frame), frame))
            transport.write(b"".join(parts))
            await asyncio.sleep(0)
        transport.write(b"0\r\n\r\n")
        self.replying = None
        self._next()


async def _serve_ceiling(port: int, records: int, chars: int) -> None:
    loop = asyncio.get_running_loop()
    filler = ("abcdefghijklmnopqrstuvwxyz" * (chars // 26 + 1))[:max(chars - 20, 0)]
    server = await loop.create_server(lambda: _CeilingServer(records, filler), "127.0.0.1", port)
    print(f"ready http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ceiling = sub.add_parser("ceiling-server")
    ceiling.add_argument("--port", type=int, default=0)
    ceiling.add_argument("--records", type=int, default=400)
    ceiling.add_argument("--chars", type=int, default=16)
    args = parser.parse_args(argv)
    run_fast(_serve_ceiling(args.port, args.records, args.chars))


if __name__ == "__main__":
    main()
