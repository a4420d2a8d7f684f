"""Integration tier: the real app on a real socket, the Python fake worker over the real
WebSocket (or long-poll), and the fake LMArena. Every test gets its own data directory.

The fake plays today's site, the "2026-10" era, unless a test names another with
`@pytest.mark.era("2025")`; `BOTH_ERAS` runs a test on both (docs/fake-arena.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lmarenarev.app import create_app
from lmarenarev.gateway import Gateway, build_gateway
from testkit.fakes.arena import FakeArena
from testkit.fakes.serving import ServerThread
from testkit.fakes.worker import FakeWorker
from testkit.support import write_home

from ..conftest import BOTH_ERAS as BOTH_ERAS  # the tier's tests import it from here

TOKEN = "integration-worker-token"


@dataclass
class Arena:
    fake: FakeArena
    url: str


@dataclass
class RunningGateway:
    gateway: Gateway
    url: str
    server: ServerThread | None = None

    def stop(self) -> None:
        """Stop it as a shutdown does (the lifespan ends: the store's writer flushes)."""
        if self.server is not None:
            self.server.stop()

    def client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.url}/v1",
            api_key=kwargs.pop("api_key", "any"),
            max_retries=0,
            **kwargs,
        )

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    def worker(self, arena: Arena, **kwargs: Any) -> FakeWorker:
        return FakeWorker(self.url, kwargs.pop("token", TOKEN), arena.url, **kwargs)


@pytest.fixture
def arena(era: str) -> Iterator[Arena]:
    fake = FakeArena(era=era)
    with ServerThread(fake.app) as server:
        yield Arena(fake, server.url)


StartGateway = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(tmp_path: Path, arena: Arena) -> Iterator[StartGateway]:
    servers: list[ServerThread] = []

    def start(
        *,
        endpoint_map: dict[str, Any] | None = None,
        models: list[dict[str, Any]] | None = None,
        home: Path | None = None,
        **overrides: Any,
    ) -> RunningGateway:
        """A gateway on a new data directory (`models`: what its models.json lists, default
        every model of the fake arena), or on `home` (one started before, say)."""
        if home is None:
            home = write_home(
                tmp_path / f"home{len(servers)}",
                arena.fake.models if models is None else models,
                endpoint_map=endpoint_map,
            )
        # No catalogue read or account check on connect unless a test asks: each would be a
        # job of its own.
        overrides = {"worker_token": TOKEN, "model_catalog_refresh_minutes": 0,
                     "account_check_minutes": 0, **overrides}
        gateway = build_gateway(home, overrides=overrides)
        server = ServerThread(create_app(gateway)).start()
        servers.append(server)
        return RunningGateway(gateway, server.url, server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def gateway(start_gateway: StartGateway) -> RunningGateway:
    return start_gateway(retry_timeout_seconds=5)


@pytest.fixture
async def worker(gateway: RunningGateway, arena: Arena) -> AsyncIterator[FakeWorker]:
    async with gateway.worker(arena) as connected:
        yield connected


@pytest.fixture
def client(gateway: RunningGateway) -> openai.AsyncOpenAI:
    return gateway.client()
