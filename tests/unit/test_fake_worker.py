"""The fake worker against a tiny stand-in gateway and stand-in LMArena (both in this file).

The stand-in gateway speaks docs/worker-protocol.md on both transports and simply hands frames
between the test and the worker through two queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from testkit.fakes.worker import NAVIGATED_AWAY, FakeWorker, WorkerRejected

TOKEN = "worker-secret"
POLL_TIMEOUT = 0.3
BODY = 'a0:"héllo wörld"\nad:{"finishReason":"stop"}\n'.encode()
SPLIT_AT = BODY.index("é".encode()) + 1  # inside the two bytes of "é"

Frame = dict[str, Any]


class StandInGateway:
    """Gateway side of one worker connection, driven by the test."""

    def __init__(self) -> None:
        self.to_worker: asyncio.Queue[Frame] = asyncio.Queue()
        self.from_worker: asyncio.Queue[Frame] = asyncio.Queue()
        self.hellos: list[Frame] = []
        self.origins: list[str | None] = []
        self.push_batches: list[list[Frame]] = []
        self.disconnect_codes: list[int] = []
        self.poll_worker = ""

    async def send(self, frame: Frame) -> None:
        await self.to_worker.put(frame)

    async def recv(self, timeout: float = 3.0) -> Frame:
        return await asyncio.wait_for(self.from_worker.get(), timeout)

    async def recv_job(self, job: str) -> list[Frame]:
        """Frames of `job` up to and including its `done` or `error`."""
        frames: list[Frame] = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frame = await self.recv()
            if frame.get("job") == job:
                frames.append(frame)
        return frames

    async def websocket(self, ws: WebSocket) -> None:
        if ws.query_params.get("token") != TOKEN:
            await ws.close(code=4401)
            return
        await ws.accept()
        self.hellos.append(json.loads(await ws.receive_text()))
        self.origins.append(ws.headers.get("origin"))
        await ws.send_json({"type": "welcome", "worker": "w-1", "protocol": 1})
        pump = asyncio.create_task(self._pump(ws))
        try:
            while True:
                await self.from_worker.put(json.loads(await ws.receive_text()))
        except WebSocketDisconnect as exc:
            self.disconnect_codes.append(exc.code)
        finally:
            pump.cancel()

    async def _pump(self, ws: WebSocket) -> None:
        while True:
            await ws.send_text(json.dumps(await self.to_worker.get()))

    async def connect(self, request: Request) -> Response:
        if request.headers.get("x-worker-token") != TOKEN:
            return JSONResponse({"error": "bad worker token"}, status_code=401)
        self.hellos.append(await request.json())
        self.poll_worker = f"p-{len(self.hellos)}"
        return JSONResponse({"worker": self.poll_worker, "poll_timeout": POLL_TIMEOUT})

    async def poll(self, request: Request) -> Response:
        if (await request.json()).get("worker") != self.poll_worker:
            return JSONResponse({"error": "unknown worker"}, status_code=404)
        frames: list[Frame] = []
        with contextlib.suppress(TimeoutError):
            frames.append(await asyncio.wait_for(self.to_worker.get(), POLL_TIMEOUT))
        while not self.to_worker.empty():
            frames.append(self.to_worker.get_nowait())
        return JSONResponse({"frames": frames})

    async def push(self, request: Request) -> Response:
        data = await request.json()
        if data.get("worker") != self.poll_worker:
            return JSONResponse({"error": "unknown worker"}, status_code=404)
        self.push_batches.append(data["frames"])
        for frame in data["frames"]:
            await self.from_worker.put(frame)
        return JSONResponse({"ok": True})


class StandInArena:
    """Just enough LMArena: a page that sets the auth cookie, a token minter, streams."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], str]] = []
        self.stream_closed = asyncio.Event()

    async def page(self, request: Request) -> Response:
        html = '<html><head><script src="/_next/static/chunks/main.js"></script></head></html>'
        response = HTMLResponse(html)
        response.set_cookie("arena-auth-prod-v1", "base64-session")
        return response

    async def mint(self, request: Request) -> Response:
        data = await request.json()
        return JSONResponse({"token": f"token-{data['site_key']}-{data['action']}"})

    async def stream(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), (await request.body()).decode()))

        async def parts() -> AsyncIterator[bytes]:
            for part in (BODY[:SPLIT_AT], BODY[SPLIT_AT:]):
                yield part
                await asyncio.sleep(0.02)  # two separate reads on the worker side

        headers = {"set-cookie": "x=1", "x-upstream": "yes"}
        return StreamingResponse(parts(), media_type="text/plain", headers=headers)

    async def hang(self, request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            try:
                yield b'a0:"first"\n'
                await asyncio.sleep(60)
            finally:
                self.stream_closed.set()

        return StreamingResponse(parts(), media_type="text/plain")

    async def cut(self, request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b'a0:"partial"\n'
            await asyncio.sleep(0.02)
            raise RuntimeError("upstream died mid-stream")

        return StreamingResponse(parts(), status_code=502, media_type="text/plain")


def build_app(gateway: StandInGateway, arena: StandInArena) -> Starlette:
    return Starlette(
        routes=[
            WebSocketRoute("/ws", gateway.websocket),
            Route("/worker/connect", gateway.connect, methods=["POST"]),
            Route("/worker/poll", gateway.poll, methods=["POST"]),
            Route("/worker/push", gateway.push, methods=["POST"]),
            Route("/", arena.page),
            Route("/__fake/recaptcha/execute", arena.mint, methods=["POST"]),
            Route("/stream", arena.stream, methods=["POST"]),
            Route("/hang", arena.hang),
            Route("/cut", arena.cut),
        ]
    )


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, log_level="critical", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(5):
        while not server.started:
            await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def gateway() -> StandInGateway:
    return StandInGateway()


@pytest.fixture
def arena() -> StandInArena:
    return StandInArena()


@pytest.fixture
async def base_url(gateway: StandInGateway, arena: StandInArena) -> AsyncIterator[str]:
    async with serve(build_app(gateway, arena)) as url:
        yield url


def fetch(job: str, url: str = "/stream", **extra: Any) -> Frame:
    frame: Frame = {
        "type": "fetch",
        "job": job,
        "url": url,
        "method": "GET",
        "headers": {},
        "body": None,
        "recaptcha": None,
    }
    return {**frame, **extra}


STREAM_JOB = fetch(
    "j1",
    method="POST",
    headers={"Accept": "*/*", "Cookie": "forged=1"},
    body='{"prompt":"hi"}',
    recaptcha={"site_key": "KEY", "action": "chat_submit", "body_field": "recaptchaV3Token"},
)


async def test_hello_then_welcome(gateway: StandInGateway, base_url: str) -> None:
    async with FakeWorker(base_url, TOKEN, base_url, tab="tab-1", capacity=3) as worker:
        assert worker.worker_id == "w-1"
        assert worker.connected
        hello = gateway.hellos[0]
        assert hello["type"] == "hello"
        assert hello["protocol"] == 1
        assert (hello["tab"], hello["capacity"]) == ("tab-1", 3)
        assert hello["page_url"] == f"{base_url}/?mode=direct"
        assert hello["script_srcs"] == [f"{base_url}/_next/static/chunks/main.js"]
        assert gateway.origins == ["https://lmarena.ai"]


@pytest.mark.parametrize("transport", ["ws", "poll"])
async def test_fetch_job_streams_back(
    gateway: StandInGateway, arena: StandInArena, base_url: str, transport: Any
) -> None:
    async with FakeWorker(base_url, TOKEN, base_url, transport=transport) as worker:
        await gateway.send(STREAM_JOB)
        frames = await gateway.recv_job("j1")
    status, *chunks, done = frames
    assert status["type"] == "status"
    assert status["http_status"] == 200
    assert status["headers"]["x-upstream"] == "yes"
    assert "set-cookie" not in status["headers"]
    assert [c["type"] for c in chunks] == ["chunk"] * len(chunks)
    assert len(chunks) >= 2
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["data"] for c in chunks) == BODY.decode()
    assert done == {"type": "done", "job": "j1", "seq": len(chunks)}
    assert worker.jobs_seen == [STREAM_JOB]


async def test_request_looks_like_the_page_fetch(
    gateway: StandInGateway, arena: StandInArena, base_url: str
) -> None:
    async with FakeWorker(base_url, TOKEN, base_url):
        await gateway.send(STREAM_JOB)
        await gateway.recv_job("j1")
    headers, body = arena.requests[0]
    assert json.loads(body) == {"prompt": "hi", "recaptchaV3Token": "token-KEY-chat_submit"}
    assert headers["cookie"] == "arena-auth-prod-v1=base64-session"  # the forged one is dropped
    assert headers["content-type"] == "text/plain;charset=UTF-8"
    assert headers["origin"] == base_url
    assert headers["referer"] == f"{base_url}/?mode=direct"


async def test_poll_transport_batches_pushes(gateway: StandInGateway, base_url: str) -> None:
    async with FakeWorker(base_url, TOKEN, base_url, transport="poll") as worker:
        assert worker.worker_id == "p-1"
        for n in range(3):
            await gateway.send(fetch(f"j{n}", method="POST", body="{}"))
        for _ in range(3 * 4):  # status + 2 chunks + done per job
            await gateway.recv()
    assert sum(len(batch) for batch in gateway.push_batches) == 12
    assert len(gateway.push_batches) < 12


async def test_abort_cancels_the_upstream_request(
    gateway: StandInGateway, arena: StandInArena, base_url: str
) -> None:
    async with FakeWorker(base_url, TOKEN, base_url) as worker:
        await gateway.send(fetch("j1", url="/hang"))
        assert (await gateway.recv())["type"] == "status"
        assert (await gateway.recv())["type"] == "chunk"
        await gateway.send({"type": "abort", "job": "j1"})
        await asyncio.wait_for(arena.stream_closed.wait(), 3)
        await gateway.send({"type": "ping", "t": 7})
        assert await gateway.recv() == {"type": "pong", "t": 7}  # nothing more for j1
        assert worker.aborted == {"j1"}
        assert worker.running_jobs == set()


async def test_ping_pong_and_a_hung_tab(gateway: StandInGateway, base_url: str) -> None:
    async with FakeWorker(base_url, TOKEN, base_url) as worker:
        await gateway.send({"type": "ping", "t": 1.5})
        assert await gateway.recv() == {"type": "pong", "t": 1.5}
        worker.respond_to_pings = False
        await gateway.send({"type": "ping", "t": 2})
        await worker.wait_until(lambda: worker.pings == 2)
        assert gateway.from_worker.empty()


async def test_broken_stream_is_an_error_with_the_status(
    gateway: StandInGateway, base_url: str
) -> None:
    async with FakeWorker(base_url, TOKEN, base_url):
        await gateway.send(fetch("j1", url="/cut"))
        frames = await gateway.recv_job("j1")
    assert [f["type"] for f in frames] == ["status", "chunk", "error"]
    assert frames[-1]["http_status"] == 502


async def test_stop_fails_running_jobs(gateway: StandInGateway, base_url: str) -> None:
    async with FakeWorker(base_url, TOKEN, base_url):
        await gateway.send(fetch("j1", url="/hang"))
        await gateway.recv()  # status
        await gateway.recv()  # chunk
    assert await gateway.recv() == {"type": "error", "job": "j1", "message": NAVIGATED_AWAY}


async def test_close_abruptly_sends_nothing(gateway: StandInGateway, base_url: str) -> None:
    worker = FakeWorker(base_url, TOKEN, base_url)
    await worker.start()
    await gateway.send(fetch("j1", url="/hang"))
    await gateway.recv()  # status
    await gateway.recv()  # chunk
    await worker.close_abruptly()
    async with asyncio.timeout(3):
        while not gateway.disconnect_codes:
            await asyncio.sleep(0.01)
    assert gateway.disconnect_codes != [1000]
    assert gateway.from_worker.empty()


async def test_reload_reconnects_as_the_same_tab(gateway: StandInGateway, base_url: str) -> None:
    async with FakeWorker(base_url, TOKEN, base_url, transport="poll") as worker:
        await gateway.send({"type": "reload"})
        await worker.wait_until(lambda: len(gateway.hellos) == 2 and worker.connected)
        assert worker.reloads == 1
        assert gateway.hellos[0]["tab"] == gateway.hellos[1]["tab"] == worker.tab
        assert worker.worker_id == "p-2"


@pytest.mark.parametrize("transport", ["ws", "poll"])
async def test_wrong_token_is_rejected(base_url: str, transport: Any) -> None:
    worker = FakeWorker(base_url, "wrong", base_url, transport=transport)
    with pytest.raises(WorkerRejected):
        await worker.start()
    await worker.stop()
