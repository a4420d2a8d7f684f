"""The worker endpoint: token and origin checks, served userscript, liveness."""

from __future__ import annotations

import pytest

from testkit.fakes.worker import FakeWorker, WorkerRejected
from testkit.support import wait_until

from .conftest import Arena, RunningGateway


async def test_a_wrong_token_is_refused(gateway: RunningGateway, arena: Arena) -> None:
    with pytest.raises(WorkerRejected):
        async with gateway.worker(arena, token="wrong"):
            pass
    assert gateway.gateway.pool.workers == {}


async def test_a_foreign_origin_is_refused(gateway: RunningGateway, arena: Arena) -> None:
    with pytest.raises(WorkerRejected):
        async with gateway.worker(arena, origin="https://evil.example"):
            pass
    assert gateway.gateway.pool.workers == {}


async def test_a_wrong_token_cannot_use_the_long_poll_transport(
    gateway: RunningGateway, arena: Arena
) -> None:
    with pytest.raises(WorkerRejected):
        async with gateway.worker(arena, token="wrong", transport="poll"):
            pass


async def test_workers_come_and_go(gateway: RunningGateway, arena: Arena) -> None:
    async with gateway.worker(arena), gateway.worker(arena):
        assert len(gateway.gateway.pool.workers) == 2
    wait_until(lambda: gateway.gateway.pool.workers == {}, what="workers to be removed")


async def test_a_tab_that_stops_answering_pings_is_dropped(start_gateway, arena: Arena) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = start_gateway(
        worker_ping_interval_seconds=0.1, worker_ping_timeout_seconds=0.5
    )
    worker: FakeWorker
    async with gateway.worker(arena) as worker:
        worker.respond_to_pings = False
        import asyncio

        for _ in range(100):
            if not gateway.gateway.pool.workers:
                break
            await asyncio.sleep(0.05)
        assert gateway.gateway.pool.workers == {}


async def test_the_userscript_is_served_with_the_gateway_baked_in(gateway: RunningGateway) -> None:
    async with gateway.http() as http:
        response = await http.get("/bridge.user.js")
    script = response.text
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert (
        f"// @updateURL    {gateway.url}/bridge.user.js" in script
        or f"@updateURL {gateway.url}/bridge.user.js" in " ".join(script.split())
    )
    assert (
        "@match        https://lmarena.ai/*" in script
        or "@match https://lmarena.ai/*" in " ".join(script.split())
    )
    assert "@grant GM_xmlhttpRequest" in " ".join(script.split())
    from lmarenarev import __version__

    assert f"@version {__version__}" in " ".join(script.split())
    assert "integration-worker-token" in script and "__LMARENAREV_" not in script
