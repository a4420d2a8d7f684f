"""Near misses the security tests used to let through (issue 27's mutation audit): lookalike
hosts of LMArena, keys that are almost right, a WebSocket handshake without an Origin, and one
worker's frames for another worker's job. Each test fails on the slip it is named after."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from .conftest import TOKEN, RunningGateway, StartGateway

ADMIN = "adm-Very-Secret-1"
SEED = "sk-seed-DDDD-1234"  # api_key, named "default"
NAMED = "sk-named-BBBB-5678"  # an api_keys entry
DEADLINE = 5.0

# docs/security.md §3: https lmarena.ai, arena.ai and their subdomains; nothing that merely
# ends with those letters, contains them, or is them over http.
ORIGINS = [
    ("https://lmarena.ai", True),
    ("https://x.lmarena.ai", True),  # a subdomain is LMArena's own
    ("https://arena.ai", True),
    ("https://evillmarena.ai", False),  # ends with "lmarena.ai", no dot before it
    ("https://evilarena.ai", False),
    ("https://lmarena.ai.evil.example", False),
    ("http://lmarena.ai", False),
]


def near_misses(secret: str) -> dict[str, str]:
    """The secret, and keys that are almost it."""
    return {
        "exact": secret,
        "prefix": secret[:3],
        "one short": secret[:-1],
        "suffix": secret[3:],
        "one more": secret + "0",
        "empty": "",
    }


def ws_url(gateway: RunningGateway, token: str = TOKEN) -> str:
    return gateway.url.replace("http", "ws", 1) + f"/ws?token={token}"


async def handshake(gateway: RunningGateway, origin: str | None, token: str = TOKEN) -> int:
    """The HTTP status of a WebSocket handshake to /ws (101: accepted)."""
    try:
        async with connect(ws_url(gateway, token), origin=Origin(origin) if origin else None,
                           proxy=None, open_timeout=DEADLINE) as socket:
            assert socket.response is not None
            return socket.response.status_code
    except InvalidStatus as refused:
        return refused.response.status_code


def hello(capacity: int = 1) -> dict[str, Any]:
    return {"type": "hello", "protocol": 1, "page_url": "https://lmarena.ai/",
            "tab": uuid.uuid4().hex, "capacity": capacity}


# -- lookalike hosts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("origin", "accepted"), ORIGINS)
async def test_lookalike_hosts_of_lmarena_cannot_become_workers_on_either_transport(
    start_gateway: StartGateway, origin: str, accepted: bool
) -> None:
    """An origin check written `host.endswith("lmarena.ai")` lets `evillmarena.ai` in."""
    gateway = start_gateway()
    socket_status = await handshake(gateway, origin)
    async with gateway.http() as http:
        poll = await http.post(
            "/worker/connect", json=hello(), headers={"X-Worker-Token": TOKEN, "Origin": origin}
        )
    assert (socket_status, poll.status_code) == ((101, 200) if accepted else (403, 403))


async def test_a_websocket_with_the_token_but_no_origin_is_refused(
    start_gateway: StartGateway,
) -> None:
    """A browser always sends a page's Origin on a WebSocket: none means no page, no worker."""
    gateway = start_gateway()
    assert await handshake(gateway, None) == 403
    assert await handshake(gateway, "https://lmarena.ai") == 101
    assert gateway.gateway.pool.workers == {}


# -- keys that are almost right -------------------------------------------------------------------


async def accepted(
    gateway: RunningGateway, ways: dict[str, tuple[str, dict[str, str], dict[str, str]]],
    secret: str,
) -> set[tuple[str, str]]:
    """The (way, near miss) pairs of `secret` that GET `path` answers with 200 (others: 401)."""
    passed = set()
    async with gateway.http() as http:
        for way, (path, header, param) in ways.items():
            for miss, key in near_misses(secret).items():
                # "Bearer " with an empty key is not a legal header value: "Bearer" then.
                headers = {name: value.format(key=key).strip() for name, value in header.items()}
                params = {name: value.format(key=key) for name, value in param.items()}
                response = await http.get(path, headers=headers, params=params)
                assert response.status_code in (200, 401), (way, miss, response.text)
                if response.status_code == 200:
                    passed.add((way, miss))
    return passed


def only_exact(ways: dict[str, Any]) -> set[tuple[str, str]]:
    return {(way, "exact") for way in ways}


async def test_an_almost_right_admin_key_is_refused_on_every_way_it_is_sent(
    start_gateway: StartGateway,
) -> None:
    """A prefix check (`adm` for `adm-1`), on the header or on the install link's `?key=`."""
    gateway = start_gateway(admin_key=ADMIN, api_key=SEED)
    ways = {
        "X-Admin-Key": ("/api/monitor/performance", {"X-Admin-Key": "{key}"}, {}),
        "Authorization": ("/api/monitor/performance", {"Authorization": "Bearer {key}"}, {}),
        "?key= (install link)": ("/bridge.user.js", {}, {"key": "{key}"}),
    }
    assert await accepted(gateway, ways, ADMIN) == only_exact(ways)


@pytest.mark.parametrize("secret", [SEED, NAMED], ids=["api_key", "api_keys entry"])
async def test_an_almost_right_client_key_is_refused(
    start_gateway: StartGateway, secret: str
) -> None:
    gateway = start_gateway(api_key=SEED, api_keys=[{"name": "named", "key": NAMED}])
    ways = {"Authorization": ("/v1/models", {"Authorization": "Bearer {key}"}, {})}
    assert await accepted(gateway, ways, secret) == only_exact(ways)


async def test_an_almost_right_worker_token_is_refused_on_every_way_it_is_sent(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway(admin_key=ADMIN)  # so the userscript needs the token (or the key)
    ways = {"?token= (update link)": ("/bridge.user.js", {}, {"token": "{key}"})}
    assert await accepted(gateway, ways, TOKEN) == only_exact(ways)
    socket, poll = {}, {}
    async with gateway.http() as http:
        for miss, token in near_misses(TOKEN).items():
            socket[miss] = await handshake(gateway, "https://lmarena.ai", token)
            poll[miss] = (await http.post(
                "/worker/connect", json=hello(), headers={"X-Worker-Token": token}
            )).status_code
    assert {miss for miss, status in socket.items() if status != 403} == {"exact"}
    assert {miss for miss, status in poll.items() if status != 401} == {"exact"}
    assert (socket["exact"], poll["exact"]) == (101, 200)


# -- one worker's frames for another worker's job -------------------------------------------------


@asynccontextmanager
async def raw_worker(gateway: RunningGateway) -> AsyncIterator[ClientConnection]:
    """A worker the test drives frame by frame (it answers jobs only when told to)."""
    async with connect(ws_url(gateway), origin=Origin("https://lmarena.ai"), proxy=None,
                       ping_interval=None) as socket:
        await socket.send(json.dumps(hello()))
        assert json.loads(await asyncio.wait_for(socket.recv(), DEADLINE))["type"] == "welcome"
        yield socket


async def next_fetch(socket: ClientConnection) -> str:
    """The job id of the next `fetch` frame (pings and the like are skipped)."""
    async with asyncio.timeout(DEADLINE):
        while True:
            message = json.loads(await socket.recv())
            for frame in message if isinstance(message, list) else [message]:
                if frame.get("type") == "fetch":
                    return str(frame["job"])


async def dropped_frames(http: httpx.AsyncClient) -> int:
    performance = (await http.get("/api/monitor/performance")).json()
    return int(performance["state"]["dropped_frames"])


FORGED = {
    "status+chunk+done": lambda job: [
        {"type": "status", "job": job, "http_status": 200, "headers": {}},
        {"type": "chunk", "job": job, "seq": 0,
         "data": 'a0:"forged"\nad:{"finishReason":"stop"}\n'},
        {"type": "done", "job": job, "seq": 1},
    ],
    "error": lambda job: [{"type": "error", "job": job, "message": "forged failure"}],
}


async def forge(gateway: RunningGateway, forged: str, job: str) -> int:
    """Another connected worker sends the `forged` frames for `job`; how many it sent."""
    async with raw_worker(gateway) as other:
        frames = FORGED[forged](job)
        for frame in frames:
            await other.send(json.dumps(frame))
    return len(frames)


@pytest.mark.parametrize("forged", FORGED)
async def test_a_workers_frames_for_another_workers_job_are_dropped_and_counted(
    start_gateway: StartGateway, forged: str
) -> None:
    gateway = start_gateway()
    async with raw_worker(gateway) as mine, gateway.http() as http:
        before = await dropped_frames(http)
        asking = asyncio.ensure_future(http.post("/v1/chat/completions", json={
            "model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]}))
        try:
            job = await next_fetch(mine)
            sent = await forge(gateway, forged, job)
            deadline = time.monotonic() + DEADLINE
            while await dropped_frames(http) < before + sent:
                assert time.monotonic() < deadline, "the foreign frames were not dropped"
                await asyncio.sleep(0.01)
            for frame in FORGED["status+chunk+done"](job):
                if frame["type"] == "chunk":
                    frame["data"] = 'a0:"mine"\nad:{"finishReason":"stop"}\n'
                await mine.send(json.dumps(frame))
            response = await asyncio.wait_for(asking, DEADLINE)
        finally:
            asking.cancel()
        assert await dropped_frames(http) == before + sent
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "mine"
