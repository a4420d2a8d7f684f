"""Serve one completion: render the events of a running relay (chat/run.py) as a stream or as
one answer, and report how it ended to the request log, the conversation store and the pools.

Chat completions and image generations both end here (chat/engine.py builds them), so every
request is logged, counted and remembered the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..arena.events import Event, Usage
from ..errors import GatewayError
from ..monitor.observe import RequestWatch
from ..render.common import RenderOptions
from ..render.json import JSONRenderer
from ..render.sse import SSERenderer, keepalive
from .outcome import RelayOutcome
from .plan import ChatPlan
from .run import Finished, Gone, Item, Notice, RelayRun, Stopped

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What a non-streamed answer is assembled by (`JSONRenderer`, or an image collector)."""

    usage: Usage | None

    def feed(self, event: Event) -> None: ...

    def content(self) -> str:
        """The reply as the request log and the conversation store keep it."""
        ...

    def result(self) -> Any:
        """The answer; a `GatewayError` when the reply cannot be one (e.g. no image in it)."""
        ...


class StreamRenderer(Protocol):
    """What a stream is rendered by (`SSERenderer`; `render.text.TextSSE` for /v1/completions)."""

    usage: Usage | None

    def feed_all(self, events: list[Event]) -> bytes: ...

    def finish(self) -> bytes: ...

    def error(self, message: str, type: str, code: str | None) -> bytes: ...

    def content(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything one response needs; `remember` records a delivered reply for continuity."""

    run: RelayRun
    plan: ChatPlan
    options: RenderOptions
    keepalive_interval: float
    show_retries: bool
    remember: Callable[[ChatPlan, RelayOutcome, str | None], None]  # None: forget the session
    on_usage: Callable[[Usage], None] | None = None  # per-key token counts
    on_outcome: Callable[[ChatPlan, GatewayError | None], None] | None = None  # pools, errors
    watch: RequestWatch | None = None  # the request log, the dashboard, the metrics

    async def first(self) -> Item | None:
        """The first item if it comes within one keep-alive interval (errors keep their status).

        While no tab has ever connected the wait goes on until the relay got one or gave up
        (`first_tab_wait_seconds`): a gateway nobody has opened a tab for answers a stream
        with its 503, not with a 200 and an error frame. Retry notices do not count: they are
        held and shown once the stream has started."""
        pool = self.run.relay.pool
        deadline = time.monotonic() + self.keepalive_interval
        while True:
            item = await self.run.next(max(0.0, deadline - time.monotonic()))
            if item is None and not pool.ever_connected:
                deadline = time.monotonic() + self.keepalive_interval
                continue
            if not isinstance(item, Notice):
                return item
            self.run.held.append(item)

    async def stream(
        self, first: Item | None, renderer: StreamRenderer | None = None
    ) -> AsyncGenerator[tuple[bytes, bool], None]:
        """The SSE bytes, each with whether more follow; whatever the relay already produced
        goes out as one write, and the last one (the end, or an error) ends the response."""
        renderer = renderer if renderer is not None else SSERenderer(self.options)
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
                    elif isinstance(item, Finished):
                        parts.append(renderer.finish())
                        yield b"".join(parts), False
                        self._done(renderer.content(), renderer.usage, item.outcome)
                        return
                    elif isinstance(item, Stopped):
                        self._failed(item.error, item.outcome)
                        error = item.error
                        parts.append(renderer.error(error.message, error.type, error.code))
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

    async def complete(self, sink: Sink | None = None) -> Any | None:
        """The answer `sink` assembles (the completion's JSON by default); None when the
        client left first. A failure is raised as its `GatewayError`."""
        sink = sink if sink is not None else JSONRenderer(self.options)
        try:
            while True:
                item = await self.run.next(self.keepalive_interval)
                if isinstance(item, Gone):
                    return None
                if isinstance(item, Finished):
                    return self._answer(sink, item.outcome)
                if isinstance(item, Stopped):
                    self._failed(item.error, item.outcome)
                    raise item.error
                if isinstance(item, list):
                    self._saw_all(item)
                    for event in item:
                        sink.feed(event)
        finally:
            await self.close()

    def _answer(self, sink: Sink, outcome: RelayOutcome) -> Any:
        try:
            result = sink.result()
        except GatewayError as exc:
            self._failed(exc, outcome)
            raise
        self._done(sink.content(), sink.usage, outcome)
        return result

    async def refuse(self, stopped: Stopped) -> None:
        """The stream failed before its first byte: the route raises its error with its status."""
        self._failed(stopped.error, stopped.outcome)
        await self.close()

    async def close(self) -> None:
        """Stop the relay (which aborts the tab's fetch); the request has ended either way."""
        outcome: RelayOutcome | None = None
        try:
            outcome = await self.run.close()
        finally:
            if self.watch is not None:  # cancelled while closing: what it did until now
                self.watch.close(outcome or self.run.relay.outcome())

    def _saw_all(self, events: list[Event]) -> None:
        if self.watch is not None:
            self.watch.events(events)

    def _done(self, content: str, usage: Usage | None, outcome: RelayOutcome) -> None:
        if self.watch is not None:
            self.watch.done(content, usage, outcome)
        self.remember(self.plan, outcome, None if self.run.cut else content)
        if self.on_outcome is not None:
            self.on_outcome(self.plan, None)
        if usage is not None and self.on_usage is not None:
            self.on_usage(usage)
        log.info("[%s] done after %d attempt(s)", self.options.completion_id, outcome.attempts)

    def _failed(self, error: GatewayError, outcome: RelayOutcome) -> None:
        if self.watch is not None:
            self.watch.failed(error, outcome)
        if self.run.produced:  # LMArena's session holds a reply the client did not get
            self.remember(self.plan, outcome, None)
        if self.on_outcome is not None:
            self.on_outcome(self.plan, error)
        log.warning("[%s] failed: %s", self.options.completion_id, error.message)


def _comment(notice: Notice) -> bytes:
    return f": {' '.join(notice.text.split())}\n\n".encode()
