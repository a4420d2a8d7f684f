"""Mailbox: a one-consumer queue whose waits have a time limit and share one timer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from lmarenarev.workers.mailbox import Mailbox

T = TypeVar("T")


async def timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await awaitable
    return result, loop.time() - start


async def test_items_come_in_order_at_once_even_with_no_time_left() -> None:
    box: Mailbox[str] = Mailbox()
    box.put_nowait("a")
    box.put_nowait("b")
    assert not box.empty()
    assert await box.get(0) == "a"
    assert box.ready() == "b"
    assert box.ready() is None and box.empty()
    assert await box.get(0) is None
    with pytest.raises(IndexError):
        box.get_nowait()


async def test_nothing_within_the_limit_gives_none_after_the_limit() -> None:
    box: Mailbox[str] = Mailbox()
    result, took = await timed(box.get(0.05))
    assert result is None and 0.04 <= took < 2


async def test_an_item_that_comes_in_time_wakes_the_waiter() -> None:
    box: Mailbox[str] = Mailbox()
    asyncio.get_running_loop().call_later(0.02, box.put_nowait, "late")
    result, took = await timed(box.get(5))
    assert result == "late" and took < 2


async def test_without_a_limit_the_wait_lasts_until_an_item_comes() -> None:
    box: Mailbox[str] = Mailbox()
    asyncio.get_running_loop().call_later(0.1, box.put_nowait, "x")
    assert await box.get() == "x"


async def test_a_longer_wait_after_a_short_one_gets_its_whole_limit() -> None:
    box: Mailbox[str] = Mailbox()
    asyncio.get_running_loop().call_later(0.01, box.put_nowait, "x")
    assert await box.get(0.05) == "x"  # the timer stays armed for ~0.05 s
    result, took = await timed(box.get(0.3))  # it fires early, sees time left, moves on
    assert result is None and took >= 0.28


async def test_a_shorter_wait_after_a_long_one_ends_on_time() -> None:
    box: Mailbox[str] = Mailbox()
    asyncio.get_running_loop().call_later(0.01, box.put_nowait, "x")
    assert await box.get(30) == "x"
    result, took = await timed(box.get(0.05))
    assert result is None and took < 2  # not 30 s


async def test_an_item_landing_after_the_deadline_fired_but_before_the_wake_up_wins() -> None:
    box: Mailbox[str] = Mailbox()
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(box.get(0.05))
    await asyncio.sleep(0)  # waiting, its timer due in 0.05 s
    loop.call_at(loop.time() + 0.06, box.put_nowait, "just late")
    loop.call_soon(time.sleep, 0.1)  # block the loop: both timers are due at its next turn,
    # where the deadline fires first and the item lands before the waiter resumes
    assert await waiting == "just late"
    assert box.empty()


async def test_a_cancelled_waiter_leaves_the_box_usable() -> None:
    box: Mailbox[str] = Mailbox()
    task = asyncio.create_task(box.get(0.05))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    box.close()
    box.put_nowait("after")
    assert await box.get(1) == "after"
