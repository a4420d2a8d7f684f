"""`POST /v1/chat/completions` at the ASGI boundary: what the server is asked to write.

The app runs in the test's loop with a tab on the pool (a `NullLink` that records the fetch);
the test answers the job as the tab would and records every ASGI message the route sends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lmarenarev.app import create_app
from lmarenarev.gateway import Gateway, build_gateway
from lmarenarev.workers.pool import Worker
from lmarenarev.workers.protocol import ChunkFrame, DoneFrame, StatusFrame
from testkit.fakes.arena import DEFAULT_MODELS
from testkit.support import write_home
from tests.unit.test_workers import NullLink, hello

MODEL = str(DEFAULT_MODELS[0]["publicName"])
Message = dict[str, Any]


def gateway(home: Path) -> Gateway:
    write_home(home, DEFAULT_MODELS)
    overrides = {"worker_token": "t" * 24, "model_catalog_refresh_minutes": 0,
                                   "account_check_minutes": 0}
    return build_gateway(home, overrides=overrides)


def chat_scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "root_path": "", "query_string": b"", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip


class Exchange:
    """One request to the app: its body, then `http.disconnect` once `leave()` is called."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.body = json.dumps(payload).encode()
        self.sent: list[Message] = []
        self._read = False
        self._left = asyncio.Event()

    async def receive(self) -> Message:
        if not self._read:
            self._read = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self._left.set()

    def bodies(self) -> list[Message]:
        return [m for m in self.sent if m["type"] == "http.response.body"]

    def run(self, app: Callable[..., Awaitable[None]]) -> asyncio.Task[None]:
        return asyncio.create_task(app(chat_scope(self.body), self.receive, self.send))


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)
    assert condition(), what


async def fetched(link: NullLink) -> str:
    await wait_for(lambda: any(f["type"] == "fetch" for f in link.sent), "the job left")
    job: str = next(f["job"] for f in link.sent if f["type"] == "fetch")
    return job


def stream_request() -> dict[str, Any]:
    return {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class Streaming:
    """A streamed request whose job has answered `Hel`, already written to the client."""

    def __init__(self, gw: Gateway, worker: Worker, link: NullLink, exchange: Exchange,
                 task: asyncio.Task[None], job: str) -> None:
        self.gw, self.worker, self.link = gw, worker, link
        self.exchange, self.task, self.job = exchange, task, job

    @classmethod
    async def start(cls, home: Path) -> Streaming:
        gw = gateway(home)
        link = NullLink()
        worker: Worker = await gw.pool.add(hello(4), link)
        exchange = Exchange(stream_request())
        task = exchange.run(create_app(gw))
        job = await fetched(link)
        gw.pool.on_frame(worker, StatusFrame(job, 200, {}))
        gw.pool.on_frame(worker, ChunkFrame(job, 0, 'a0:"Hel"\n'))
        await wait_for(lambda: len(exchange.bodies()) == 1, "the first chunk was written")
        return cls(gw, worker, link, exchange, task, job)


async def test_the_last_event_and_the_end_of_the_body_go_in_one_write(tmp_path: Path) -> None:
    run = await Streaming.start(tmp_path / "home")
    last_records = 'a0:"lo"\nad:{"finishReason":"stop"}\n'
    run.gw.pool.on_frame(run.worker, ChunkFrame(run.job, 1, last_records))
    run.gw.pool.on_frame(run.worker, DoneFrame(run.job, 2))
    await asyncio.wait_for(run.task, 5)

    bodies = run.exchange.bodies()
    assert [m["more_body"] for m in bodies] == [True, False]
    last = bodies[-1]["body"].decode()
    assert '"content":"lo"' in last and '"finish_reason":"stop"' in last
    assert last.endswith("data: [DONE]\n\n")


async def test_a_client_that_leaves_mid_stream_still_gets_the_body_ended(tmp_path: Path) -> None:
    run = await Streaming.start(tmp_path / "home")
    run.exchange.leave()
    await asyncio.wait_for(run.task, 5)

    bodies = run.exchange.bodies()
    assert [m["more_body"] for m in bodies] == [True, False]
    assert bodies[-1]["body"] == b""  # no [DONE]: the reply did not end
    assert any(f["type"] == "abort" and f["job"] == run.job for f in run.link.sent)  # tab stops
