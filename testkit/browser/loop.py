"""The harness thread: Playwright runs on its own event loop in a daemon thread, so the browser
keeps running (answering pings, streaming, long-polling) while a synchronous test blocks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class HarnessLoop:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # drain whatever is left so nothing complains about pending tasks
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def run(
        self, coro: Coroutine[Any, Any, T], timeout: float | None, what: str = "operation"
    ) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("the sync browser API cannot be used from the harness thread")
        if self.loop.is_closed() or not self.thread.is_alive():
            raise RuntimeError("the browser harness is closed")
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(
                f"browser harness: {what} did not finish within {timeout} s"
            ) from None

    def stop(self, join_timeout: float = 10) -> None:
        if self.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(join_timeout)
