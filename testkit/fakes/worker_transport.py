"""The fake worker's two transports (docs/worker-protocol.md): WebSocket and long-poll.

Each takes an `on_frame` coroutine for gateway → worker frames and an `on_lost(code, reason)`
callback for a connection the gateway ended; neither is called after our own `close`/`drop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

log = logging.getLogger(__name__)

Frame = dict[str, Any]
FrameHandler = Callable[[Frame], Awaitable[None]]
LostHandler = Callable[[int | None, str], None]

PROTOCOL = 1


class WorkerRejected(Exception):
    """The gateway refused the worker or dropped it before `welcome`."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"worker rejected ({code}): {reason}")
        self.code = code
        self.reason = reason


def backoff(attempt: int) -> float:
    return float(min(1.0, 0.05 * 2 ** max(0, attempt - 1)))


class Transport(Protocol):
    async def open(self, hello: Frame) -> None: ...
    async def send(self, frame: Frame) -> None: ...
    async def close(self) -> None: ...
    async def drop(self) -> None: ...


class SocketTransport:
    def __init__(
        self, url: str, origin: str, verify_tls: bool, on_frame: FrameHandler, on_lost: LostHandler
    ) -> None:
        self._url = url
        self._origin = origin
        self._verify_tls = verify_tls
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.message_sizes: list[int] = []  # frames per message received (a batch: several)

    async def open(self, hello: Frame) -> None:
        ssl_context = None
        if self._url.startswith("wss:") and not self._verify_tls:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        try:
            self._conn = await connect(
                self._url,
                origin=Origin(self._origin),
                ssl=ssl_context,
                proxy=None,
                ping_interval=None,  # browsers never ping; the gateway's pings are protocol frames
                max_size=None,
                compression=None,
            )
        except InvalidStatus as exc:  # refused before accept (wrong token or origin)
            raise WorkerRejected(exc.response.status_code, "handshake refused") from exc
        await self._conn.send(json.dumps(hello))
        self._reader = asyncio.create_task(self._read_loop(self._conn))

    async def _read_loop(self, conn: ClientConnection) -> None:
        try:
            async for message in conn:
                data = json.loads(message)
                frames = data if isinstance(data, list) else [data]  # a batch, in order
                self.message_sizes.append(len(frames))
                for frame in frames:
                    await self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            if not self._closing:
                self._on_lost(conn.close_code, conn.close_reason or "connection closed")

    async def send(self, frame: Frame) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(ConnectionClosed):  # like ws.send on a closed socket: lost
            await self._conn.send(json.dumps(frame, ensure_ascii=False))

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            await self._conn.close()
        await self._stop_reader()

    async def drop(self) -> None:
        self._closing = True
        if self._conn is not None:
            self._conn.transport.abort()
        await self._stop_reader()

    async def _stop_reader(self) -> None:
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


class PollTransport:
    def __init__(
        self,
        base_url: str,
        token: str,
        verify_tls: bool,
        on_frame: FrameHandler,
        on_lost: LostHandler,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-Worker-Token": token},
            verify=verify_tls,
            trust_env=False,
            timeout=10.0,
        )
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._worker = ""
        self._poll_timeout = 25.0
        self._outbox: list[Frame] = []
        self._pusher: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self, hello: Frame) -> None:
        response = await self._client.post("/worker/connect", json=hello)
        if response.status_code != 200:
            raise WorkerRejected(response.status_code, response.text)
        answer = response.json()
        self._worker = answer["worker"]
        self._poll_timeout = float(answer.get("poll_timeout") or 25.0)
        self._poller = asyncio.create_task(self._poll_loop())
        # The connect answer is this transport's welcome.
        await self._on_frame({"type": "welcome", "worker": self._worker, "protocol": PROTOCOL})

    async def _poll_loop(self) -> None:
        failures = 0
        while not self._closing:
            try:
                response = await self._client.post(
                    "/worker/poll", json={"worker": self._worker}, timeout=self._poll_timeout + 10
                )
            except httpx.HTTPError:
                failures += 1
                await asyncio.sleep(backoff(failures))
                continue
            if response.status_code == 404:
                self._lose(404, "unknown worker")
                return
            if response.status_code != 200:
                failures += 1
                await asyncio.sleep(backoff(failures))
                continue
            failures = 0
            for frame in response.json().get("frames", []):
                await self._on_frame(frame)

    async def send(self, frame: Frame) -> None:
        if self._closing:
            return
        self._outbox.append(frame)
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_loop())

    async def _push_loop(self) -> None:
        """One push in flight; whatever queued meanwhile goes in the next one, in order."""
        while self._outbox:
            frames, self._outbox = self._outbox, []
            for attempt in range(1, 4):
                try:
                    response = await self._client.post(
                        "/worker/push", json={"worker": self._worker, "frames": frames}
                    )
                except httpx.HTTPError as exc:
                    log.warning("push failed (attempt %s): %r", attempt, exc)
                    await asyncio.sleep(backoff(attempt))
                    continue
                if response.status_code == 404:
                    self._lose(404, "unknown worker")
                    return
                break

    def _lose(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._outbox.clear()
            self._on_lost(code, reason)

    async def close(self) -> None:
        pusher = self._pusher
        if pusher is not None and not pusher.done() and pusher is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pusher), 5.0)
        await self.drop()

    async def drop(self) -> None:
        self._closing = True
        for task in (self._poller, self._pusher):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._client.aclose()
