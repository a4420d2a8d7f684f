"""Serve one chat completion: run the relay in a task, render its events, watch the client.

The relay runs as its own task feeding a queue, so the response side can send SSE keep-alives
while it waits (for a tab, for a retry), show retries as SSE comments, and cancel the relay
(which aborts the fetch in the tab) the moment the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .arena.events import Event
from .arena.requests import ArenaCall
from .chat import ChatPlan
from .conversation import SessionRef
from .errors import GatewayError, UpstreamFailure
from .relay import Relay
from .render.common import RenderOptions
from .render.json import JSONRenderer
from .render.sse import SSERenderer, keepalive

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a streaming client as an SSE comment (e.g. a retry)."""

    text: str


@dataclass(frozen=True, slots=True)
class End:
    pass


Item = Event | Notice | GatewayError | End


class RelayRun:
    """The relay running in a task; `next()` hands out what it produced, in order."""

    def __init__(self, relay: Relay, call: ArenaCall) -> None:
        self.relay = relay
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        relay.on_retry = lambda text: self.queue.put_nowait(Notice(text))
        self.task = asyncio.create_task(self._produce(call))

    async def _produce(self, call: ArenaCall) -> None:
        try:
            async for event in self.relay.events(call):
                self.queue.put_nowait(event)
            self.queue.put_nowait(End())
        except GatewayError as exc:
            self.queue.put_nowait(exc)
        except Exception as exc:  # a bug must end this request, not hang it
            log.exception("[%s] relay crashed", self.relay.request_id)
            self.queue.put_nowait(UpstreamFailure(f"internal error: {type(exc).__name__}"))

    async def next(self, timeout: float) -> Item | None:
        """The next item, or None when nothing came within `timeout` seconds."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything one response needs; `remember` records a delivered reply for continuity."""

    run: RelayRun
    plan: ChatPlan
    options: RenderOptions
    keepalive_interval: float
    show_retries: bool
    remember: Callable[[ChatPlan, Relay, str], None]

    async def first(self) -> Item | None:
        """The first item if it comes within one keep-alive interval (errors keep their status)."""
        return await self.run.next(self.keepalive_interval)

    async def stream(self, first: Item | None) -> AsyncIterator[bytes]:
        renderer = SSERenderer(self.options)
        item = first
        try:
            while True:
                if item is None:
                    yield keepalive()
                elif isinstance(item, End):
                    yield renderer.finish()
                    self._done(renderer.content())
                    return
                elif isinstance(item, GatewayError):
                    self._failed(item)
                    yield renderer.error(item.message, item.type, item.code)
                    return
                elif isinstance(item, Notice):
                    if self.show_retries:
                        yield f": {' '.join(item.text.split())}\n\n".encode()
                else:
                    frame = renderer.feed(item)
                    if frame:
                        yield frame
                item = await self.run.next(self.keepalive_interval)
        finally:
            await self.run.close()

    async def complete(self) -> dict[str, Any]:
        renderer = JSONRenderer(self.options)
        try:
            while True:
                item = await self.run.next(self.keepalive_interval)
                if isinstance(item, End):
                    self._done(renderer.content())
                    return renderer.result()
                if isinstance(item, GatewayError):
                    self._failed(item)
                    raise item
                if item is not None and not isinstance(item, Notice):
                    renderer.feed(item)
        finally:
            await self.run.close()

    def _done(self, content: str) -> None:
        self.remember(self.plan, self.run.relay, content)
        log.info("[%s] done after %d attempt(s)", self.options.completion_id,
                 self.run.relay.attempts)

    def _failed(self, error: GatewayError) -> None:
        log.warning("[%s] failed: %s", self.options.completion_id, error.message)


def remember_session(store_remember: Callable[[str, list[Any], str, SessionRef], None],
                     modern: bool) -> Callable[[ChatPlan, Relay, str], None]:
    def remember(plan: ChatPlan, relay: Relay, content: str) -> None:
        request = relay.request
        if request is None or not modern:
            return
        ref = SessionRef(request.session_id, request.assistant_message_id)
        store_remember(plan.model.name, plan.messages, content, ref)

    return remember


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def until_client_gone(receive: Receive) -> None:
    """Returns when the HTTP client disconnects (the request body must be read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def race_client(work: Awaitable[Any], receive: Receive) -> tuple[bool, Any]:
    """(True, result) when `work` finished first; (False, None) when the client left first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(until_client_gone(receive))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # its cleanup aborts the job in the tab
    if task.cancelled():
        return False, None
    return True, task.result()
