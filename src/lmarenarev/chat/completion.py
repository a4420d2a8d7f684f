"""Serve one chat completion: run the relay in a task, render its events, watch the client.

The relay runs as its own task feeding a queue, so the response side can send SSE keep-alives
while it waits (for a tab, for a retry), show retries as SSE comments, and cancel the relay
(which aborts the fetch in the tab) the moment the client goes away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..arena.events import Event, ImageOut, Usage
from ..arena.requests import ArenaCall
from ..errors import GatewayError, UpstreamFailure
from ..monitor.observe import RequestWatch
from ..render.common import RenderOptions
from ..render.json import JSONRenderer
from ..render.sse import SSERenderer, keepalive
from ..workers.mailbox import Mailbox
from .conversation import SessionRef
from .plan import ChatPlan
from .relay import Relay

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a streaming client as an SSE comment (e.g. a retry)."""

    text: str


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Gone:
    """The client went away: the response stops (and closing it stops the relay)."""


# A list: the events the relay had at once (`Relay.batches`), rendered into one write.
Item = list[Event] | Notice | GatewayError | End | Gone


class RelayRun:
    """The relay running in a task (from `start`); `next()` hands out what it produced, in order."""

    def __init__(
        self,
        relay: Relay,
        call: ArenaCall,
        image_url: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.relay = relay
        self.image_url = image_url  # what a generated image's URL becomes (images/service.py)
        self.queue: Mailbox[Item] = Mailbox()
        self.held: list[Notice] = []  # retry notices seen before the response started
        relay.on_retry = lambda text: self.queue.put_nowait(Notice(text))
        self.call = call
        self.task: asyncio.Task[None] | None = None
        self._abandoning: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """The first job leaves from the caller's task (`Relay.begin`), the rest in the relay's."""
        try:
            await self.relay.begin(self.call)
        finally:
            self.task = asyncio.create_task(self._produce(self.call))

    async def _produce(self, call: ArenaCall) -> None:
        try:
            async for batch in self.relay.batches(call):
                if self.image_url is not None:
                    for index, event in enumerate(batch):
                        if type(event) is ImageOut:
                            batch[index] = replace(event, url=await self.image_url(event.url))
                self.queue.put_nowait(batch)
            self.queue.put_nowait(End())
        except GatewayError as exc:
            self.queue.put_nowait(exc)
        except Exception as exc:  # a bug must end this request, not hang it
            log.exception("[%s] relay crashed", self.relay.request_id)
            self.queue.put_nowait(UpstreamFailure(f"internal error: {type(exc).__name__}"))

    def client_gone(self) -> None:
        """Tell the response the client left; it sees this after what is already queued."""
        self.queue.put_nowait(Gone())

    def ready(self) -> Item | None:
        """The next item if there is one already, else None (never waits)."""
        return self.queue.ready()

    async def next(self, timeout: float) -> Item | None:
        """The next item, or None when nothing came within `timeout` seconds."""
        return await self.queue.get(timeout)  # not wait_for: see Relay._next

    async def close(self) -> None:
        self.queue.close()
        task = self.task
        if task is None:
            await self.relay.abandon()
            return
        if not task.done():
            task.cancel()
        try:
            # Shielded: if whoever closes is cancelled again meanwhile, the relay still finishes
            # its own clean-up (freeing the slot, aborting the tab's fetch) in its task.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                task.add_done_callback(self._abandon_later)
                raise
        await self.relay.abandon()  # a task cancelled before it ran never took `begin`'s job

    def _abandon_later(self, _task: asyncio.Task[None]) -> None:
        self._abandoning = asyncio.ensure_future(self.relay.abandon())


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything one response needs; `remember` records a delivered reply for continuity."""

    run: RelayRun
    plan: ChatPlan
    options: RenderOptions
    keepalive_interval: float
    show_retries: bool
    remember: Callable[[ChatPlan, Relay, str], None]
    on_usage: Callable[[Usage], None] | None = None  # per-key token counts
    on_outcome: Callable[[ChatPlan, GatewayError | None], None] | None = None  # pools, errors
    watch: RequestWatch | None = None  # the request log, the dashboard, the metrics

    async def first(self) -> Item | None:
        """The first item if it comes within one keep-alive interval (errors keep their status).

        Retry notices do not count: they are held and shown once the stream has started."""
        deadline = time.monotonic() + self.keepalive_interval
        while True:
            item = await self.run.next(max(0.0, deadline - time.monotonic()))
            if not isinstance(item, Notice):
                return item
            self.run.held.append(item)

    async def stream(self, first: Item | None) -> AsyncIterator[tuple[bytes, bool]]:
        """The SSE bytes, each with whether more follow; whatever the relay already produced
        goes out as one write, and the last one (the end, or an error) ends the response."""
        renderer = SSERenderer(self.options)
        item = first
        try:
            for notice in self.run.held if self.show_retries else ():
                yield _comment(notice), True
            while True:
                parts: list[bytes] = []
                while True:
                    if item is None:
                        parts.append(keepalive())
                    elif isinstance(item, list):
                        self._saw_all(item)
                        parts.append(renderer.feed_all(item))
                    elif isinstance(item, End):
                        parts.append(renderer.finish())
                        yield b"".join(parts), False
                        self._done(renderer.content(), renderer.usage)
                        return
                    elif isinstance(item, GatewayError):
                        self._failed(item)
                        parts.append(renderer.error(item.message, item.type, item.code))
                        yield b"".join(parts), False
                        return
                    elif isinstance(item, Gone):
                        log.info("[%s] the client went away", self.options.completion_id)
                        return
                    elif self.show_retries:  # a Notice
                        parts.append(_comment(item))
                    item = self.run.ready()
                    if item is None:
                        break
                frames = b"".join(parts)
                if frames:
                    yield frames, True
                item = await self.run.next(self.keepalive_interval)
        finally:
            await self.close()

    async def complete(self) -> dict[str, Any] | None:
        """The completion's JSON; None when the client left first."""
        renderer = JSONRenderer(self.options)
        try:
            while True:
                item = await self.run.next(self.keepalive_interval)
                if isinstance(item, Gone):
                    return None
                if isinstance(item, End):
                    self._done(renderer.content(), renderer.usage)
                    return renderer.result()
                if isinstance(item, GatewayError):
                    self._failed(item)
                    raise item
                if isinstance(item, list):
                    self._saw_all(item)
                    for event in item:
                        renderer.feed(event)
        finally:
            await self.close()

    async def refuse(self, error: GatewayError) -> None:
        """The stream failed before its first byte: the route raises `error` with its status."""
        self._failed(error)
        await self.close()

    async def close(self) -> None:
        """Stop the relay (which aborts the tab's fetch); the request has ended either way."""
        try:
            await self.run.close()
        finally:
            if self.watch is not None:
                self.watch.close()

    def _saw_all(self, events: list[Event]) -> None:
        if self.watch is not None:
            self.watch.events(events)

    def _done(self, content: str, usage: Usage | None) -> None:
        if self.watch is not None:
            self.watch.done(content, usage)
        self.remember(self.plan, self.run.relay, content)
        if self.on_outcome is not None:
            self.on_outcome(self.plan, None)
        if usage is not None and self.on_usage is not None:
            self.on_usage(usage)
        log.info("[%s] done after %d attempt(s)", self.options.completion_id,
                 self.run.relay.attempts)

    def _failed(self, error: GatewayError) -> None:
        if self.watch is not None:
            self.watch.failed(error)
        if self.on_outcome is not None:
            self.on_outcome(self.plan, error)
        log.warning("[%s] failed: %s", self.options.completion_id, error.message)


def _comment(notice: Notice) -> bytes:
    return f": {' '.join(notice.text.split())}\n\n".encode()


def remember_session(store_remember: Callable[[str, list[Any], str, SessionRef], None],
                     modern: bool) -> Callable[[ChatPlan, Relay, str], None]:
    def remember(plan: ChatPlan, relay: Relay, content: str) -> None:
        request = relay.request
        if request is None or not modern:
            return
        ref = SessionRef(request.session_id, request.assistant_message_id)
        store_remember(plan.model.name, plan.messages, content, ref)

    return remember
