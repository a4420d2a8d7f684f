"""Concurrent calls for the same key share one run (downloads, uploads)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """`run(key, work)`: the first caller runs `work`; callers arriving meanwhile get its result
    or its error. `cancelled()` is the error they get when the first caller is cancelled, so
    they never see that cancellation as their own."""

    def __init__(self, cancelled: Callable[[], Exception]) -> None:
        self.cancelled = cancelled
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await work()
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else self.cancelled())
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(value)
        return value
