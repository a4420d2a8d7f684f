"""A relay running in a task of its own, handing out what it produced, in order.

The relay runs as its own task feeding a mailbox, so the response side can send SSE keep-alives
while it waits (for a tab, for a retry), show retries as SSE comments, and cancel the relay
(which aborts the fetch in the tab) the moment the client goes away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ..arena.events import Event, ImageOut
from ..arena.requests import ArenaCall
from ..errors import GatewayError, UpstreamFailure
from ..workers.mailbox import Mailbox
from .outcome import RelayOutcome
from .prefill import RepeatedPrefix
from .relay import Relay
from .reply_limits import ReplyLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a streaming client as an SSE comment (e.g. a retry)."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The relay delivered the whole reply."""

    outcome: RelayOutcome


@dataclass(frozen=True, slots=True)
class Stopped:
    """The relay failed with `error` (before or after some output)."""

    error: GatewayError
    outcome: RelayOutcome


@dataclass(frozen=True, slots=True)
class Gone:
    """The client went away: the response stops (and closing it stops the relay)."""


# A list: the events the relay had at once (`Relay.batches`), rendered into one write.
Item = list[Event] | Notice | Finished | Stopped | Gone


class ReplyShaping:
    """What happens to the relay's events before anyone sees them: a repeated prefill dropped
    (prefill.py), then the stop sequences and the token budget (reply_limits.py)."""

    def __init__(self, extends: str | None, limits: ReplyLimits | None, side: str) -> None:
        self.prefix = None if not extends else RepeatedPrefix(extends, side)
        self.limits = limits if limits is not None and limits.active else None

    @property
    def reached(self) -> str | None:
        """"stop" | "length" once the client's reply is over (the fetch is then aborted)."""
        return None if self.limits is None else self.limits.reached

    def feed(self, events: list[Event]) -> list[Event]:
        if self.prefix is not None:
            events = self.prefix.feed(events)
        return events if self.limits is None else self.limits.feed(events)

    def end(self) -> list[Event]:
        events = [] if self.prefix is None else self.prefix.end()
        if self.limits is None:
            return events
        return self.limits.feed(events) + self.limits.end()


class RelayRun:
    """The relay running in a task (from `start`); `next()` hands out what it produced, in order."""

    def __init__(
        self,
        relay: Relay,
        call: ArenaCall,
        image_url: Callable[[str], Awaitable[str]] | None = None,
        shaping: ReplyShaping | None = None,
    ) -> None:
        self.relay = relay
        self.image_url = image_url  # what a generated image's URL becomes (images/service.py)
        self.shaping = shaping
        self.produced = False  # some output reached the queue (LMArena's session has it)
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

    @property
    def cut(self) -> bool:
        """The gateway ended the reply (a stop sequence, max_tokens) and aborted the fetch."""
        return self.shaping is not None and self.shaping.reached is not None

    async def _produce(self, call: ArenaCall) -> None:
        try:
            await self._relay(call)
            self.queue.put_nowait(Finished(self.relay.outcome()))
        except GatewayError as exc:
            self.queue.put_nowait(Stopped(exc, self.relay.outcome()))
        except Exception as exc:  # a bug must end this request, not hang it
            log.exception("[%s] relay crashed", self.relay.request_id)
            error = UpstreamFailure(f"internal error: {type(exc).__name__}")
            self.queue.put_nowait(Stopped(error, self.relay.outcome()))

    async def _relay(self, call: ArenaCall) -> None:
        shaping = self.shaping
        batches = self.relay.batches(call)
        try:
            async for batch in batches:
                if self.image_url is not None:
                    for index, event in enumerate(batch):
                        if type(event) is ImageOut:
                            batch[index] = replace(event, url=await self.image_url(event.url))
                self._put(batch if shaping is None else shaping.feed(batch))
                if shaping is not None and shaping.reached is not None:
                    return  # closing the relay's iteration aborts the tab's fetch
            if shaping is not None:
                self._put(shaping.end())
        finally:
            await batches.aclose()

    def _put(self, batch: list[Event]) -> None:
        if batch:
            self.produced = True
            self.queue.put_nowait(batch)

    def follow(self, call: ArenaCall) -> None:
        """Run `call` next (a corrective turn), once the previous call has finished: its items
        come after the previous call's `Finished`."""
        self.call = call
        self.task = asyncio.create_task(self._produce(call))

    def client_gone(self) -> None:
        """Tell the response the client left; it sees this after what is already queued."""
        self.queue.put_nowait(Gone())

    def ready(self) -> Item | None:
        """The next item if there is one already, else None (never waits)."""
        return self.queue.ready()

    async def next(self, timeout: float) -> Item | None:
        """The next item, or None when nothing came within `timeout` seconds."""
        return await self.queue.get(timeout)  # not wait_for: see Relay._next

    async def close(self) -> RelayOutcome:
        """Stop the relay (which aborts the tab's fetch); what it did, once it stopped."""
        self.queue.close()
        task = self.task
        if task is None:
            await self.relay.abandon()
            return self.relay.outcome()
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
        return self.relay.outcome()

    def _abandon_later(self, _task: asyncio.Task[None]) -> None:
        self._abandoning = asyncio.ensure_future(self.relay.abandon())
