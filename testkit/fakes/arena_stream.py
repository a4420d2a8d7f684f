"""The ASGI response that plays one scripted upstream answer (status, headers, body pieces).

Unlike Starlette's `StreamingResponse` it can (a) wait before sending anything
(`first_byte_delay`), (b) pause between writes, (c) drop the connection without finishing the
body (`abort`, used for `Reply.cut_after_bytes`: uvicorn then closes the socket, so an HTTP client
sees an incomplete chunked body; with `cut_when` only once that event is set) and (d) tell the
fake how the stream ended: "completed" (reported just before the terminating frame),
"disconnected" (the client went away first; noticed through `http.disconnect` on `receive`,
because uvicorn's `send` silently drops writes after a disconnect) or "cut".

Stamped plans (`StreamPlan.stamped`, the benchmark fast mode): every piece holding
`STAMP_PLACEHOLDER` is one record, sent in its own `send`; just before that `send` the placeholder
becomes `@t=<time.time_ns() // 1000>;` plus filler letters up to `record_chars` characters.
Pieces before the first stamped record and after the last go out without delay; the first
stamped record waits `first_token_delay` (the model's time to its first token) after the pieces
before it; stamped record i goes out at t0 + i * delay (t0: when the first one was sent), so
lateness does not add up; with delay 0 the writer still yields to the loop after every record so
streams interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Outcome = str  # "completed" | "disconnected" | "cut"
Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

# NUL never occurs unescaped in JSON text, so this cannot collide with real record content.
STAMP_PLACEHOLDER = "\x00stamp\x00"
STAMP_BYTES = STAMP_PLACEHOLDER.encode()
FILLER = string.ascii_lowercase
CUT_WHEN_LIMIT = 30.0  # a `cut_when` never set: cut anyway, the test has failed by then


@dataclass(frozen=True, slots=True)
class StreamPlan:
    status: int
    headers: tuple[tuple[str, str], ...]
    pieces: tuple[bytes, ...]
    delay: float = 0.0
    first_byte_delay: float = 0.0
    abort: bool = False
    cut_when: threading.Event | None = None  # the abort waits for it (set by a test's thread)
    stamped: bool = False  # fill STAMP_PLACEHOLDER at send time, one record per send
    record_chars: int = 0  # length of a stamped record's string (stamp + filler)
    first_token_delay: float = 0.0  # stamped plans: before the first stamped record


def stamp(record_chars: int, now_us: int | None = None) -> str:
    """`@t=<µs>;` + filler letters, `record_chars` characters in all (never cut the stamp)."""
    head = f"@t={time.time_ns() // 1000 if now_us is None else now_us};"
    return head + _filler(record_chars - len(head))


@functools.lru_cache(maxsize=64)
def _filler(count: int) -> str:
    return (FILLER * (count // len(FILLER) + 1))[:max(count, 0)]


class PlannedResponse:
    """Plays a `StreamPlan`; `on_start()` / `on_end(outcome)` bracket the stream."""

    def __init__(
        self,
        plan: StreamPlan,
        on_start: Callable[[], None] | None = None,
        on_end: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.plan = plan
        self.status_code = plan.status
        self._on_start = on_start or (lambda: None)
        self._on_end = on_end or (lambda outcome: None)
        self._ended = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._on_start()
        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
        outcome = "disconnected"
        try:
            done, _ = await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:
                writer.result()
                outcome = "cut" if self.plan.abort else "completed"
        finally:
            for task in (writer, watcher):
                task.cancel()
            for task in (writer, watcher):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            self._end(outcome)

    def _end(self, outcome: Outcome) -> None:
        """Report the outcome once (a completed stream reports before its last frame)."""
        if not self._ended:
            self._ended = True
            self._on_end(outcome)

    async def _write(self, send: Send) -> None:
        plan = self.plan
        if plan.first_byte_delay:
            await asyncio.sleep(plan.first_byte_delay)
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                   for name, value in plan.headers]
        await send({"type": "http.response.start", "status": plan.status, "headers": headers})
        if plan.stamped:
            await self._write_stamped(send)
        else:
            for index, piece in enumerate(plan.pieces):
                if index and plan.delay:
                    await asyncio.sleep(plan.delay)
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        if plan.cut_when is not None:
            await _until_set(plan.cut_when)
        if not plan.abort:
            # Counted before the terminating frame, so a client that has read the whole body
            # already sees `completed_streams` incremented.
            self._end("completed")
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write_stamped(self, send: Send) -> None:
        plan, loop = self.plan, asyncio.get_running_loop()
        first: float | None = None
        sent = 0
        for piece in plan.pieces:
            if STAMP_BYTES in piece:
                if first is None:
                    if plan.first_token_delay:
                        await asyncio.sleep(plan.first_token_delay)
                    first = loop.time()
                else:
                    wait = first + sent * plan.delay - loop.time() if plan.delay else 0.0
                    await asyncio.sleep(max(wait, 0.0))
                sent += 1
                piece = piece.replace(STAMP_BYTES, stamp(plan.record_chars).encode())
            await send({"type": "http.response.body", "body": piece, "more_body": True})


async def _until_set(event: threading.Event, limit: float = CUT_WHEN_LIMIT) -> None:
    """Poll `event` (a thread sets it; this loop cannot be woken from there), `limit` at most."""
    deadline = time.monotonic() + limit
    while not event.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
