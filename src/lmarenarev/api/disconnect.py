"""Noticing that an HTTP client went away while its request runs (ASGI `http.disconnect`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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


def watch_client(receive: Receive, on_gone: Callable[[], None]) -> asyncio.Future[None]:
    """Calls `on_gone` when the client disconnects (the request body must be read already)."""
    def done(task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            task.exception()  # a failed receive also means the client is gone: seen, not raised
            on_gone()

    gone = asyncio.ensure_future(until_client_gone(receive))
    gone.add_done_callback(done)
    return gone
