"""Waiting on an asyncio.Queue with a time limit, without a timer per wait.

The hot path waits on a queue once per chunk, each time with a limit (LMArena's silence, the
SSE keep-alive). `asyncio.timeout` arms and cancels a timer for every wait; `TimedGet` keeps at
most one timer per queue, armed for the earliest limit and moved on lazily when it fires
early. When a wait runs out, the timer puts `Expired` into the queue, which wakes the waiter;
each wait has its own generation, so an `Expired` that lost the race with a real item is
skipped by the next wait instead of ending it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class Expired:
    """Put into a queue by `TimedGet` when the wait of `generation` ran out."""

    generation: int


T = TypeVar("T")


class TimedGet(Generic[T]):
    """`get(limit)`: the next item of `queue`, or None when none came within `limit` seconds.

    One waiter at a time (the queue's consumer); `close()` drops the timer when done."""

    __slots__ = ("_due", "_generation", "_loop", "_timer", "_timer_at", "queue")

    def __init__(self, queue: asyncio.Queue[T | Expired]) -> None:
        self.queue = queue
        self._generation = 0
        self._due: float | None = None  # when the wait under way runs out; None: no wait
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    async def get(self, limit: float) -> T | None:
        self._generation += 1
        generation = self._generation
        queue = self.queue
        while True:
            if not queue.empty():
                item = queue.get_nowait()
            elif limit <= 0:
                return None
            else:
                item = await self._wait(limit)
            if type(item) is not Expired:
                return item  # type: ignore[return-value]  # not Expired, so a T
            if item.generation == generation:
                return None
            # an Expired of an earlier wait that a real item beat: skip it

    def ready(self) -> T | None:
        """The next item already queued, or None (never waits; skips a stale Expired)."""
        queue = self.queue
        while not queue.empty():
            item = queue.get_nowait()
            if type(item) is not Expired:
                return item  # type: ignore[return-value]  # not Expired, so a T
        return None

    async def _wait(self, limit: float) -> T | Expired:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        due = loop.time() + limit
        self._due = due
        if self._timer is None or self._timer_at > due:
            if self._timer is not None:
                self._timer.cancel()
            self._arm(loop, due)
        try:
            return await self.queue.get()
        finally:
            self._due = None

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer = loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer = None
        due = self._due
        if due is None or self._loop is None:
            return  # nobody waits: the next wait arms a timer again
        if self._loop.time() < due:
            self._arm(self._loop, due)  # the wait under way began after this timer was set
            return
        self._due = None  # one Expired per wait
        self.queue.put_nowait(Expired(self._generation))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = None
