"""TimedGet: a queue wait with a time limit and at most one timer per queue."""

from __future__ import annotations

import asyncio

import pytest

from lmarenarev.timed_queue import Expired, TimedGet


def timed() -> TimedGet[str]:
    queue: asyncio.Queue[str | Expired] = asyncio.Queue()
    return TimedGet(queue)


async def elapsed(coro: object) -> tuple[object, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await coro  # type: ignore[misc]
    return result, loop.time() - start


async def test_an_item_already_queued_comes_at_once_even_with_no_time_left() -> None:
    get = timed()
    get.queue.put_nowait("a")
    assert await get.get(0) == "a"
    assert await get.get(0) is None


async def test_nothing_within_the_limit_gives_none_after_the_limit() -> None:
    get = timed()
    result, took = await elapsed(get.get(0.05))
    assert result is None and 0.04 <= took < 2
    assert get.queue.empty()  # the Expired that woke the wait was taken by it


async def test_an_item_that_comes_in_time_is_returned() -> None:
    get = timed()
    asyncio.get_running_loop().call_later(0.02, get.queue.put_nowait, "late")
    result, took = await elapsed(get.get(5))
    assert result == "late" and took < 2


async def test_a_longer_wait_after_a_short_one_gets_its_whole_limit() -> None:
    get = timed()
    asyncio.get_running_loop().call_later(0.01, get.queue.put_nowait, "x")
    assert await get.get(0.05) == "x"  # the timer stays armed for ~0.05 s
    result, took = await elapsed(get.get(0.3))  # it fires early, sees time left, moves on
    assert result is None and took >= 0.28


async def test_a_shorter_wait_after_a_long_one_ends_on_time() -> None:
    get = timed()
    asyncio.get_running_loop().call_later(0.01, get.queue.put_nowait, "x")
    assert await get.get(30) == "x"
    result, took = await elapsed(get.get(0.05))
    assert result is None and took < 2  # not 30 s


async def test_an_expired_that_lost_the_race_to_an_item_is_skipped_later() -> None:
    get = timed()
    get.queue.put_nowait("first")
    assert await get.get(1) == "first"
    get.queue.put_nowait(Expired(1))  # as if that wait's timer had fired just after the item
    get.queue.put_nowait("second")
    assert await get.get(1) == "second"
    get.queue.put_nowait(Expired(2))
    assert get.ready() is None  # ready() skips it too


async def test_cancelling_the_waiter_cancels_and_close_drops_the_timer() -> None:
    get = timed()
    task = asyncio.create_task(get.get(0.05))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    get.close()
    await asyncio.sleep(0.1)  # the timer would have fired by now
    assert get.queue.empty()
