"""The Chrome DevTools Protocol over `--remote-debugging-pipe` (docs/browser.md "Why raw CDP").

The browser reads commands from its file descriptor 3 and writes replies and events to its
descriptor 4, each message one JSON object followed by a NUL byte. A pipe, rather than
`--remote-debugging-port`, opens no TCP port another local program could drive the logged-in
browser through, and the browser exits by itself when the pipe closes (the gateway died).
Sessions are "flat": a command for a page carries its `sessionId` on the same pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Largest message read from the browser (a screenshot would be the largest; we take none).
MAX_MESSAGE = 64 * 1024 * 1024
EventHandler = Callable[[str, dict[str, Any], str | None], None]


class CdpError(RuntimeError):
    """A command failed, timed out, or the connection is gone."""


class CdpClosed(CdpError):
    """The pipe is closed: the browser exited (or is exiting)."""


class CdpTimeout(CdpError):
    """A command got no answer in time (a hung page does not answer)."""


class CdpPipe:
    """One browser's DevTools connection: `call` a command, `listen` to events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.WriteTransport) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[EventHandler] = []
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read(), name="cdp-pipe-reader")

    @classmethod
    async def open(cls, read_fd: int, write_fd: int) -> CdpPipe:
        """Connect to the browser through our ends of the two pipes (both are taken over)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE)
        protocol = asyncio.StreamReaderProtocol(reader)
        # The transports own the files from here on and close them.
        reading = open(read_fd, "rb", buffering=0)  # noqa: SIM115
        writing = open(write_fd, "wb", buffering=0)  # noqa: SIM115
        await loop.connect_read_pipe(lambda: protocol, reading)
        writer, _ = await loop.connect_write_pipe(asyncio.Protocol, writing)
        return cls(reader, writer)

    def listen(self, handler: EventHandler) -> Callable[[], None]:
        """Call `handler(method, params, session_id)` for every event; returns the undo."""
        self._listeners.append(handler)
        return lambda: self._listeners.remove(handler) if handler in self._listeners else None

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its result; `CdpError` on an error or a timeout."""
        if self.closed.is_set():
            raise CdpClosed(f"{method}: the browser connection is closed")
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = reply
        try:
            self._writer.write(json.dumps(message).encode() + b"\0")
            async with asyncio.timeout(timeout):
                answer = await reply
        except TimeoutError:
            raise CdpTimeout(f"{method}: no answer within {timeout:g} s") from None
        except (OSError, RuntimeError) as exc:  # the pipe broke under the write
            raise CdpClosed(f"{method}: {exc}") from None
        finally:
            self._pending.pop(call_id, None)
        if "error" in answer:
            error = answer["error"]
            raise CdpError(f"{method}: {error.get('message', error)}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def _read(self) -> None:
        try:
            while True:
                raw = await self._reader.readuntil(b"\0")
                self._dispatch(raw[:-1])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            log.debug("browser pipe closed: %s", type(exc).__name__)
        finally:
            self._close_pending()

    def _dispatch(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.debug("dropped a malformed DevTools message")
            return
        call_id = message.get("id")
        if call_id is not None:
            waiter = self._pending.get(call_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            return
        method, params = message.get("method", ""), message.get("params") or {}
        for handler in list(self._listeners):
            try:
                handler(method, params, message.get("sessionId"))
            except Exception:  # a listener's bug must not stop the reader
                log.exception("DevTools event handler failed on %s", method)

    def _close_pending(self) -> None:
        self.closed.set()
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(CdpClosed("the browser connection closed"))
        self._pending.clear()

    async def aclose(self) -> None:
        """Close our end (the browser exits when it sees the pipe close)."""
        with contextlib.suppress(Exception):
            self._writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._close_pending()
