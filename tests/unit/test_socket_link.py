"""`SocketLink`: a worker that takes batches gets the frames of one burst as one message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from lmarenarev.workers.links import SocketLink
from lmarenarev.workers.pool import WorkerPool


class Socket:
    """The link's side of a WebSocket: the messages it was given, in order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.hold: asyncio.Event | None = None  # set: the next send waits for it

    async def send_text(self, text: str) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.messages.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def link(batches: bool) -> tuple[SocketLink, Socket, WorkerPool]:
    socket = Socket()
    pool = WorkerPool(default_capacity=4, ping_interval=10, ping_timeout=30)
    made = SocketLink(socket, pool)  # type: ignore[arg-type]
    made.batches = batches
    return made, socket, pool


def fetch(job: str) -> dict[str, Any]:
    return {"type": "fetch", "job": job, "url": "/x", "method": "POST", "body": "{}"}


async def settle() -> None:
    for _ in range(5):  # the flush task and anything it started
        await asyncio.sleep(0)


async def test_frames_sent_by_tasks_ready_together_leave_as_one_array_in_order() -> None:
    made, socket, pool = link(batches=True)
    await asyncio.gather(*(made.send(fetch(f"j{i}")) for i in range(5)))  # one pass: 5 handlers
    await settle()
    assert socket.messages == [[fetch(f"j{i}") for i in range(5)]]
    assert (pool.sent_messages, pool.sent_frames) == (1, 5)


async def test_a_lone_frame_leaves_as_itself_not_in_an_array() -> None:
    made, socket, pool = link(batches=True)
    await made.send(fetch("alone"))
    await settle()
    await made.send({"type": "ping", "t": 1})
    await settle()
    assert socket.messages == [fetch("alone"), {"type": "ping", "t": 1}]
    assert (pool.sent_messages, pool.sent_frames) == (2, 2)


async def test_frames_queued_while_a_message_is_written_follow_it_in_order() -> None:
    made, socket, _pool = link(batches=True)
    socket.hold = asyncio.Event()
    await made.send(fetch("a"))
    await settle()  # the flush is writing "a" (held)
    await made.send(fetch("b"))
    await made.send({"type": "abort", "job": "a"})
    await settle()
    assert socket.messages == []
    socket.hold.set()
    await settle()
    assert socket.messages == [fetch("a"), [fetch("b"), {"type": "abort", "job": "a"}]]


async def test_a_worker_without_batches_gets_each_frame_at_once() -> None:
    made, socket, pool = link(batches=False)
    await asyncio.gather(*(made.send(fetch(f"j{i}")) for i in range(3)))
    assert socket.messages == [fetch("j0"), fetch("j1"), fetch("j2")]  # before send returned
    assert (pool.sent_messages, pool.sent_frames) == (3, 3)


async def test_a_failed_batch_is_dropped_quietly_for_the_receive_loop_to_notice() -> None:
    made, socket, pool = link(batches=True)

    async def broken(text: str) -> None:
        raise RuntimeError("socket closed")

    socket.send_text = broken  # type: ignore[method-assign]
    await made.send(fetch("lost"))
    await settle()
    assert pool.sent_messages == 0
    await made.send(fetch("next"))  # a new batch starts: the link is not stuck
    await settle()
    assert not made._flushes  # every flush task finished
