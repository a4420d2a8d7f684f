"""The userscript's connection: ✅ in the title, logs, and reconnecting after a gateway restart."""

from __future__ import annotations

import asyncio
import re

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from testkit.browser import Browser
from testkit.support import wait_until

from .conftest import GatewayProcess, OpenTab, StartGateway, start_gateway_process

pytestmark = pytest.mark.e2e


def test_the_gateway_logs_workers_as_they_come_and_go(
    gateway: GatewayProcess, open_tab: OpenTab
) -> None:
    tab = open_tab()
    wait_until(lambda: "connected (script" in gateway.output(), 10, "a connect log line")
    (worker,) = gateway.health()["workers"]
    assert worker["page_url"].startswith("https://arena.ai:")
    tab.close()
    wait_until(lambda: "disconnected" in gateway.output(), 10, "a disconnect log line")


def test_the_tab_reconnects_when_the_gateway_comes_back(
    start_gateway: StartGateway, browser: Browser
) -> None:
    first = start_gateway()
    tab = browser.open_tab(browser.arena_url("/?mode=direct"), userscript=first.userscript())
    try:
        tab.wait_for_title_prefix("✅", timeout=20)
        first.stop()
        tab.wait_for_title_without("✅", timeout=20)
        again = start_gateway_process(first.home, port=first.port)
        try:
            tab.wait_for_title_prefix("✅", timeout=40)
            wait_until(lambda: len(again.health()["workers"]) == 1, 10, "the worker to be back")
            reply = again.client().chat.completions.create(
                model="fake-gpt", messages=[{"role": "user", "content": "back again"}]
            )
            assert reply.choices[0].message.content == "Echo: back again"
        finally:
            again.stop()
    finally:
        tab.close()


def test_the_worker_socket_declines_compression(gateway: GatewayProcess) -> None:
    """The tab's socket runs over loopback, where permessage-deflate would only cost CPU on both
    ends for every message: a client offering it (as browsers do) gets a plain socket."""
    found = re.search(r'const TOKEN = "([^"]+)"', gateway.userscript())
    assert found is not None

    async def handshake() -> str | None:
        url = f"ws://127.0.0.1:{gateway.port}/ws?token={found.group(1)}"
        async with connect(url, origin=Origin("https://lmarena.ai")) as ws:  # offers deflate
            assert ws.request is not None and ws.response is not None
            assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    assert asyncio.run(handshake()) is None
