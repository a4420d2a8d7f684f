"""Job frame ordering and least-loaded scheduling, without sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from lmarenarev.errors import NoWorker
from lmarenarev.workers.jobs import Data, End, Failed, Job, Lost, Status
from lmarenarev.workers.pool import WorkerPool
from lmarenarev.workers.protocol import (
    ChunkFrame,
    DoneFrame,
    ErrorFrame,
    FrameError,
    Hello,
    StatusFrame,
    parse_worker_frame,
)
from testkit.support import wait_until_async


def drain(job: Job) -> list[Any]:
    out = []
    while not job.signals.empty():
        out.append(job.signals.get_nowait())
    return out


def test_chunks_are_delivered_in_seq_order_and_done_waits_for_the_missing_ones() -> None:
    job = Job("j", "w")
    job.deliver(StatusFrame("j", 200, {}))
    job.deliver(StatusFrame("j", 200, {}))  # a re-sent push repeats it: ignored
    job.deliver(ChunkFrame("j", 2, "c"))
    job.deliver(DoneFrame("j", 3))
    job.deliver(ChunkFrame("j", 0, "a"))
    assert drain(job) == [Status(200, {}), Data("a")]
    job.deliver(ChunkFrame("j", 0, "a"))  # duplicate
    job.deliver(ChunkFrame("j", 1, "b"))
    assert drain(job) == [Data("b"), Data("c"), End()]
    assert job.finished


def test_an_error_or_a_lost_worker_ends_the_job_once() -> None:
    job = Job("j", "w")
    job.deliver(ErrorFrame("j", "network error", None))
    job.lose("tab closed")
    job.deliver(ChunkFrame("j", 0, "late"))
    assert drain(job) == [Failed("network error", None)]
    other = Job("k", "w")
    other.lose("tab closed")
    assert drain(other) == [Lost("tab closed")]


@pytest.mark.parametrize(
    "frame",
    [None, [], {"type": "chunk", "job": "j", "seq": -1, "data": "x"},
     {"type": "chunk", "job": "j", "seq": True, "data": "x"}, {"type": "status", "job": 1},
     {"type": "nope"}],
)
def test_malformed_frames_are_rejected(frame: Any) -> None:
    with pytest.raises(FrameError):
        parse_worker_frame(frame)


class NullLink:
    kind = "test"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)

    async def close(self, reason: str) -> None:
        pass

    def gone(self, now: float) -> bool:
        return False


def hello(capacity: int = 2) -> Hello:
    return Hello(type="hello", protocol=1, capacity=capacity)


async def test_the_least_loaded_worker_with_room_gets_the_job() -> None:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30)
    first = await pool.add(hello(2), NullLink())
    second = await pool.add(hello(2), NullLink())
    picks = []
    for _ in range(4):
        worker = await pool.acquire(0)
        pool.start_job(worker)
        picks.append(worker.id)
    assert picks == [first.id, second.id, first.id, second.id]
    with pytest.raises(NoWorker, match="busy"):
        await pool.acquire(0)


async def test_without_workers_the_message_says_what_to_do() -> None:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30)
    with pytest.raises(NoWorker, match="userscript"):
        await pool.acquire(0)


async def test_before_any_tab_connected_a_request_waits_only_the_first_tab_wait() -> None:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30, first_tab_wait=0.05)
    started = time.monotonic()
    with pytest.raises(NoWorker) as caught:
        await pool.acquire(30)
    assert time.monotonic() - started < 5
    error = caught.value
    assert "no browser tab is connected yet (waited 0.05 s)" in error.message
    assert error.status == 503 and error.headers is not None
    assert error.headers["x-should-retry"] == "false" and error.headers["Retry-After"].isdigit()


async def test_once_a_tab_connected_and_left_a_request_waits_the_whole_wait() -> None:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30, first_tab_wait=0)
    worker = await pool.add(hello(), NullLink())
    await pool.remove(worker, "closed")
    waiting = asyncio.ensure_future(pool.acquire(30))
    # first_tab_wait=0 would fail it at once: it waits, as a tab may be reloading
    await wait_until_async(lambda: pool.waiting == 1, 5, "the request to wait")
    again = await pool.add(hello(1), NullLink())
    assert await asyncio.wait_for(waiting, 5) is again
    pool.start_job(again)
    with pytest.raises(NoWorker) as caught:
        await pool.acquire(0)  # connected, but full: retrying soon may help
    assert caught.value.headers is not None and "x-should-retry" not in caught.value.headers


async def test_a_removed_worker_loses_its_jobs_and_releasing_forgets_everything() -> None:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30)
    link = NullLink()
    worker = await pool.add(hello(), link)
    job = pool.start_job(worker)
    await pool.remove(worker, "closed")
    assert drain(job) == [Lost("closed")]
    await pool.release(job, abort=True)
    assert pool.jobs == {} and pool.workers == {}
    assert [f["type"] for f in link.sent] == ["welcome"]
