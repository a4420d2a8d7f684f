"""`RelayRun.start`: a request's job leaves from the request's own task (the first attempt),
the relay's task carries on with it; a run closed before its task ran frees what was begun."""

from __future__ import annotations

import asyncio
from typing import Any

from lmarenarev.arena.events import Finish, TextDelta
from lmarenarev.arena.requests import CreateCall, Recaptcha
from lmarenarev.chat.relay import Relay, RelayConfig
from lmarenarev.chat.run import Finished, RelayRun
from lmarenarev.workers.pool import Worker, WorkerPool
from lmarenarev.workers.protocol import ChunkFrame, DoneFrame, StatusFrame
from tests.unit.test_workers import NullLink, hello

CALL = CreateCall("model-1", "text", "hello", (), Recaptcha("site-key-0123456789abc", "submit"))
CONFIG = RelayConfig(wait_for_worker=5, first_byte_timeout=5, chunk_timeout=5)


def of_type(link: NullLink, kind: str) -> list[dict[str, Any]]:
    return [frame for frame in link.sent if frame["type"] == kind]


async def tab(capacity: int = 4) -> tuple[WorkerPool, Worker, NullLink]:
    pool = WorkerPool(default_capacity=capacity, ping_interval=10, ping_timeout=30)
    link = NullLink()
    worker = await pool.add(hello(capacity), link)
    return pool, worker, link


def answer(pool: WorkerPool, worker: Worker, job: str, text: str) -> None:
    pool.on_frame(worker, StatusFrame(job, 200, {}))
    record = f'a0:"{text}"\nad:{{"finishReason":"stop"}}\n'
    pool.on_frame(worker, ChunkFrame(job, 0, record))
    pool.on_frame(worker, DoneFrame(job, 1))


async def items(run: RelayRun) -> list[Any]:
    out: list[Any] = []
    while not out or not isinstance(out[-1], Finished):
        item = await run.next(5)
        assert item is not None, f"nothing came; so far {out}"
        out.append(item)
    return out


async def test_the_job_leaves_before_start_returns_and_the_relay_streams_that_job() -> None:
    pool, worker, link = await tab()
    run = RelayRun(Relay(pool, CONFIG, request_id="r1"), CALL)
    # Other requests' tasks, ready before this one's relay task: none of them runs in between.
    others_ran: list[int] = []
    for index in range(3):
        asyncio.get_running_loop().call_soon(others_ran.append, index)
    await run.start()
    assert others_ran == []
    [fetch] = of_type(link, "fetch")
    assert fetch["method"] == "POST" and "create-evaluation" in fetch["url"]
    answer(pool, worker, fetch["job"], "hi")
    got = await items(run)
    assert [event for batch in got[:-1] for event in batch] == [
        TextDelta("hi"), Finish("stop")]
    assert len(of_type(link, "fetch")) == 1  # the relay went on with the job begun, no second one
    await run.close()
    assert pool.jobs == {} and worker.jobs == set()


async def test_a_run_closed_before_its_task_ran_frees_the_slot_and_aborts_the_fetch() -> None:
    pool, worker, link = await tab()
    run = RelayRun(Relay(pool, CONFIG, request_id="r2"), CALL)
    await run.start()
    [fetch] = of_type(link, "fetch")
    assert worker.jobs == {fetch["job"]}
    await run.close()  # the relay's task is cancelled before its first step
    assert pool.jobs == {} and worker.jobs == set()
    assert of_type(link, "abort") == [{"type": "abort", "job": fetch["job"]}]


async def test_without_a_free_slot_the_relay_waits_for_one_and_sends_the_job_itself() -> None:
    pool, worker, link = await tab(capacity=1)
    busy = pool.start_job(worker)
    run = RelayRun(Relay(pool, CONFIG, request_id="r3"), CALL)
    await run.start()
    assert of_type(link, "fetch") == []
    await pool.release(busy, abort=False)
    for _ in range(100):
        if of_type(link, "fetch"):
            break
        await asyncio.sleep(0)
    [fetch] = of_type(link, "fetch")
    answer(pool, worker, fetch["job"], "late")
    got = await items(run)
    assert [event for batch in got[:-1] for event in batch] == [TextDelta("late"), Finish("stop")]
    await run.close()
    assert pool.jobs == {}
