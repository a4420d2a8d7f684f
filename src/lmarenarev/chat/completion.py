"""Serve one completion: render the events of a running relay (chat/run.py) as a stream or as
one answer, and report how it ended to the request log, the conversation store and the pools.

Chat completions and image generations both end here (chat/engine.py builds them), so every
request is logged, counted and remembered the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..arena.events import Event, Usage
from ..arena.requests import ArenaCall
from ..errors import GatewayError
from ..monitor.observe import RequestWatch
from ..render.common import Assembler, Correction, RenderOptions
from ..render.json import JSONRenderer
from ..render.sse import SSERenderer
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
    """What a stream is rendered by: an API's SSE renderer (render/: `SSERenderer`,
    `AnthropicSSE`, `ResponsesSSE`, `TextSSE` for /v1/completions)."""

    usage: Usage | None

    def feed_all(self, events: list[Event]) -> bytes: ...

    def finish(self) -> bytes: ...

    def fail(self, error: GatewayError) -> bytes:
        """The stream failed after it started: its API's error frame(s), the end."""
        ...

    def keepalive(self) -> bytes: ...

    def content(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Renderers:
    """An API's two renderers: the stream's, and the sink of a whole answer."""

    stream: Callable[[RenderOptions], StreamRenderer] = SSERenderer
    sink: Callable[[RenderOptions], Sink] = JSONRenderer
    reasoning_apart: bool = False  # the API has its own place for reasoning (never <think>)


@dataclass(slots=True)
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
    renderers: Renderers = field(default_factory=Renderers)
    corrections: int = 1  # corrective turns a botched tool call may still get (docs/tools.md)
    continuable: bool = True  # False once a corrective turn failed: LMArena's session is odd
    on_reply: Callable[[Any], None] | None = None  # the renderer of a delivered reply (storing)
    # The call of a corrective turn (chat/correction.py); None: none can be sent.
    follow_up: Callable[[ChatPlan, RelayOutcome, Correction], ArenaCall | None] | None = None

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
        renderer = renderer if renderer is not None else self.renderers.stream(self.options)
        item = first
        try:
            for notice in self.run.held if self.show_retries else ():
                yield _comment(notice), True
            while True:
                parts: list[bytes] = []
                while True:
                    item = self._recovered(renderer, item)
                    if item is None:
                        parts.append(renderer.keepalive())
                    elif isinstance(item, list):
                        self._saw_all(item)
                        parts.append(renderer.feed_all(item))
                    elif isinstance(item, Finished):
                        if self._corrects(renderer, item.outcome):
                            break  # the corrective turn's items follow
                        parts.append(renderer.finish())
                        yield b"".join(parts), False
                        self._done(renderer, item.outcome)
                        return
                    elif isinstance(item, Stopped):
                        self._failed(item.error, item.outcome)
                        parts.append(renderer.fail(item.error))
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
        sink = sink if sink is not None else self.renderers.sink(self.options)
        try:
            while True:
                item = self._recovered(sink, await self.run.next(self.keepalive_interval))
                if isinstance(item, Gone):
                    return None
                if isinstance(item, Finished):
                    if self._corrects(sink, item.outcome):
                        continue
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

    def _corrects(self, renderer: object, outcome: RelayOutcome) -> bool:
        """At the end of a reply with tools: whether a corrective turn now runs (its items
        follow in the same run) because the reply's calls were botched."""
        if self.plan.tools is None or not isinstance(renderer, Assembler):
            return False
        correction = renderer.reply_end(may_correct=self.corrections > 0)
        if correction is None:
            return False
        call = None if self.follow_up is None else self.follow_up(self.plan, outcome, correction)
        if call is None:
            renderer.give_up_correction()
            return False
        self.corrections -= 1
        log.info("[%s] the reply's tool call was botched: one corrective turn",
                 self.options.completion_id)
        renderer.begin_correction()
        self.run.follow(call)
        return True

    def _recovered(self, renderer: object, item: Item | None) -> Item | None:
        """A corrective turn that failed ends the reply as the first reply was written (the
        botched-call policy): the client gets a whole answer, not the correction's error."""
        if not (isinstance(item, Stopped) and isinstance(renderer, Assembler)):
            return item
        if not renderer.correcting:
            return item
        log.warning("[%s] the corrective turn failed (%s): the reply goes out as written",
                    self.options.completion_id, item.error.message)
        renderer.give_up_correction()
        self.continuable = False
        return Finished(item.outcome)

    def _answer(self, sink: Sink, outcome: RelayOutcome) -> Any:
        try:
            result = sink.result()
        except GatewayError as exc:
            self._failed(exc, outcome)
            raise
        self._done(sink, outcome)
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

    def _done(self, rendered: StreamRenderer | Sink, outcome: RelayOutcome) -> None:
        content, usage = rendered.content(), rendered.usage
        if self.on_reply is not None:
            self.on_reply(rendered)
        if self.watch is not None:
            self.watch.done(content, usage, outcome)
        cut = self.run.cut or not self.continuable  # LMArena's session holds what was not sent
        self.remember(self.plan, outcome, None if cut else content)
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
