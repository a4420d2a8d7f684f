"""The whole gateway in one process for programs that are not Python tests (Claude Code, Codex
CLI, any HTTP client): the fake LMArena, the gateway and the Python fake worker, each on a real
socket, served from background threads.

    with agent_stack(tmp_path) as stack:      # stack.url: the gateway, e.g. http://127.0.0.1:…
        stack.arena.enqueue(Reply(text="…"))
        subprocess.run([...], env={"ANTHROPIC_BASE_URL": stack.url, ...})
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmarenarev.app import create_app
from lmarenarev.gateway import Gateway, build_gateway
from testkit.fakes.arena import FakeArena
from testkit.fakes.serving import ServerThread
from testkit.fakes.worker import FakeWorker
from testkit.support import new_event_loop, wait_until, write_home

TOKEN = "stack-worker-token"


@dataclass
class Stack:
    arena: FakeArena
    gateway: Gateway
    url: str


@contextlib.contextmanager
def agent_stack(home: Path, overrides: Mapping[str, Any] | None = None) -> Iterator[Stack]:
    """A running gateway with one fake worker connected, over a fresh fake LMArena."""
    arena = FakeArena()
    with ServerThread(arena.app) as arena_server:
        write_home(home, arena.models)
        settings = {"worker_token": TOKEN, "model_catalog_refresh_minutes": 0,
                    "retry_timeout_seconds": 10, **(overrides or {})}
        gateway = build_gateway(home, overrides=settings)
        with ServerThread(create_app(gateway)) as server:
            stop = threading.Event()
            thread = threading.Thread(
                target=_run_worker, args=(server.url, arena_server.url, stop), daemon=True)
            thread.start()
            try:
                wait_until(lambda: len(gateway.pool.workers) == 1, 20, "the fake worker")
                yield Stack(arena, gateway, server.url)
            finally:
                stop.set()
                thread.join(10)


def _run_worker(gateway_url: str, arena_url: str, stop: threading.Event) -> None:
    async def main() -> None:
        async with FakeWorker(gateway_url, TOKEN, arena_url):
            while not stop.is_set():
                await asyncio.sleep(0.05)

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
