"""Mailbox: the hot path's queue, one consumer, a time limit per wait without a timer per wait.

The relay waits for a job's signals, and the response for the relay's batches, once per chunk,
each time with a limit (LMArena's silence, the SSE keep-alive). `asyncio.Queue.get` looks up
the running loop on every call and `asyncio.timeout` arms and cancels a timer on every wait.
A Mailbox keeps its items in a deque, wakes its one waiter through a future of its own, and
keeps at most one timer, armed for the earliest limit and moved on lazily when it fires early.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """`put_nowait` from anywhere on the loop; `get(limit)` from one consumer at a time: the
    next item, or None when none came within `limit` seconds (None: no limit). `close()` drops
    the timer when done."""

    __slots__ = ("_due", "_items", "_loop", "_timer", "_timer_at", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._due: float | None = None  # when the wait under way runs out; None: no limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def get_nowait(self) -> T:
        """The next item; IndexError when there is none."""
        return self._items.popleft()

    def ready(self) -> T | None:
        """The next item if there is one already, else None (never waits)."""
        return self._items.popleft() if self._items else None

    async def get(self, limit: float | None = None) -> T | None:
        items = self._items
        if items:
            return items.popleft()
        if limit is not None and limit <= 0:
            return None
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        if limit is not None:
            due = self._due = loop.time() + limit
            if self._timer is None or self._timer_at > due:
                if self._timer is not None:
                    self._timer.cancel()
                self._arm(loop, due)
        try:
            await waiter
        finally:
            self._waiter = None
            self._due = None
        return items.popleft() if items else None  # nothing: the limit ran out

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer = loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer = None
        due, waiter, loop = self._due, self._waiter, self._loop
        if due is None or waiter is None or waiter.done() or loop is None:
            return  # no timed wait under way: the next one arms a timer again
        if loop.time() < due:
            self._arm(loop, due)  # the wait under way began after this timer was set
            return
        waiter.set_result(None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
