"""Batches (docs/worker-protocol.md): a worker sends several frames as one JSON array."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from testkit.fakes.worker import FakeWorker
from testkit.fakes.worker_transport import Frame, SocketTransport, Transport

from .conftest import Arena, RunningGateway

JOB_FRAMES = {"status", "chunk", "done", "error"}


class BatchingTransport(SocketTransport):
    """Holds a job's frames and sends them, with one malformed element, as a single array
    when the job ends (the userscript batches what queued up while a send was in flight)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.pending: list[Frame] = []
        self.batches = 0

    async def send(self, frame: Frame) -> None:
        if frame.get("type") not in JOB_FRAMES:
            await super().send(frame)
            return
        self.pending.append(frame)
        if frame["type"] in ("done", "error") and self._conn is not None:
            batch, self.pending = [*self.pending, {"type": "chunk", "job": 7}], []
            self.batches += 1
            await self._conn.send(json.dumps(batch, ensure_ascii=False))


class BatchingWorker(FakeWorker):
    transport_used: BatchingTransport | None = None

    def _new_transport(self) -> Transport:
        rest = self.gateway_url.split(":", 1)[1]
        url = f"ws:{rest}/ws?token={quote(self.token, safe='')}"
        link = BatchingTransport(url, self.origin, self.verify_tls, self._on_frame,
                                 self._on_lost)
        self.transport_used = link
        return link


async def test_a_batch_is_handled_frame_by_frame(gateway: RunningGateway, arena: Arena) -> None:
    pool = gateway.gateway.pool
    async with BatchingWorker(gateway.url, "integration-worker-token", arena.url) as worker:
        client = gateway.client()
        stream = await client.chat.completions.create(
            model="fake-gpt",
            messages=[{"role": "user", "content": "stream me a fairly long answer please"}],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Echo: stream me a fairly long answer please"
        assert chunks[-1].choices[0].finish_reason == "stop"
        completion = await client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "and whole"}]
        )
        assert completion.choices[0].message.content == "Echo: and whole"
        assert worker.transport_used is not None and worker.transport_used.batches == 2
    assert pool.dropped_frames == 2  # the malformed element of each batch, nothing else


async def _concurrent_echoes(gateway: RunningGateway, count: int) -> list[str]:
    client = gateway.client()

    async def ask(i: int) -> str:
        completion = await client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": f"echo {i}"}]
        )
        return completion.choices[0].message.content or ""

    return list(await asyncio.gather(*(ask(i) for i in range(count))))


async def test_a_worker_that_does_not_take_batches_gets_one_frame_per_message(
    gateway: RunningGateway, arena: Arena
) -> None:
    """An older userscript says nothing about batches in its hello: every gateway → worker
    frame still comes as a message of its own."""
    async with gateway.worker(arena, capacity=6, batches=False) as worker:
        assert await _concurrent_echoes(gateway, 6) == [f"Echo: echo {i}" for i in range(6)]
        assert len([f for f in worker.received if f["type"] == "fetch"]) == 6
        assert worker.message_sizes and set(worker.message_sizes) == {1}
    assert [f.get("batches") for f in worker.sent if f["type"] == "hello"] == [False]


async def test_a_worker_that_takes_batches_gets_every_frame_once(
    gateway: RunningGateway, arena: Arena
) -> None:
    """The fake worker says `batches` as the userscript does: whatever shape the messages take,
    each frame arrives once, each reply is whole, and /metrics' counts are what it received."""
    pool = gateway.gateway.pool
    sent_before = (pool.sent_messages, pool.sent_frames)
    async with gateway.worker(arena, capacity=6) as worker:
        assert await _concurrent_echoes(gateway, 6) == [f"Echo: echo {i}" for i in range(6)]
        fetches = [f["job"] for f in worker.received if f["type"] == "fetch"]
        assert len(fetches) == len(set(fetches)) == 6
        assert pool.sent_messages - sent_before[0] == len(worker.message_sizes)
        assert pool.sent_frames - sent_before[1] == len(worker.received)
