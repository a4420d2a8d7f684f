"""E2E tier: `lmarenarev serve` as a process, headless Chromium with the served userscript on
the fake LMArena page (reached as https://lmarena.ai:<port>, a public origin), and the official
`openai` client with `max_retries=0`.

The fake arena and Chromium are shared by the session (the fake is reset for every test); each
test opens its own tab, so its worker connects afresh.

The fake plays today's site, the "2026-10" era (docs/fake-arena.md), unless a test says
`@pytest.mark.era("2025")`: the tab then opens https://lmarena.ai:<port>/?mode=direct, the
older site's home, instead of https://arena.ai:<port>/text/direct.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from testkit.browser import Browser, Tab
from testkit.fakes.arena import ERA_2025, ERA_2026, FakeArena
from testkit.fakes.serving import ServerThread
from testkit.fakes.tls import make_self_signed
from testkit.support import free_port, stop_process, wait_until, write_home

from ..conftest import BOTH_ERAS as BOTH_ERAS  # the tier's tests import it from here

pytestmark = pytest.mark.e2e

# Screenshots and the like, outside the working tree (LMARENAREV_TEST_ARTIFACTS moves them).
ARTIFACTS = Path(
    os.environ.get("LMARENAREV_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "lmarenarev-test-artifacts"
)
# Where each era's tab opens (the browser maps both hosts to the fake): 2026's canonical
# origin and its chat page, or the older site's home (§1.1).
ERA_PAGES = {ERA_2025: ("lmarena.ai", "/?mode=direct"), ERA_2026: ("arena.ai", "/text/direct")}


def lmarenarev_command() -> list[str]:
    script = Path(sys.executable).with_name("lmarenarev")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lmarenarev"]


@dataclass
class GatewayProcess:
    """`lmarenarev serve` in its own process; its output is collected line by line."""

    home: Path
    port: int
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=kwargs.pop("api_key", "any"),
            max_retries=0,
            timeout=60,
            **kwargs,
        )

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key="any", max_retries=0, timeout=60, **kwargs
        )

    def userscript(self) -> str:
        return httpx.get(f"{self.url}/bridge.user.js", timeout=10).text

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=10).json()
        return data

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        stop_process(self.process)


def start_gateway_process(
    home: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None
) -> GatewayProcess:
    port = port or free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    # No catalogue read or account check when a tab connects (extra jobs per tab) unless a
    # test passes --set.
    environment["LMARENAREV_MODEL_CATALOG_REFRESH_MINUTES"] = "0"
    environment["LMARENAREV_ACCOUNT_CHECK_MINUTES"] = "0"
    # No test asks PyPI for a release (a test of the update check points it at a fake).
    environment["LMARENAREV_ENABLE_AUTO_UPDATE"] = "false"
    environment.update(env or {})
    process = subprocess.Popen(
        [*lmarenarev_command(), "serve", "--home", str(home), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    gateway = GatewayProcess(home, port, process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            gateway.lines.append(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"lmarenarev exited {process.returncode}:\n{gateway.output()}")
        try:
            return httpx.get(f"{gateway.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 30, "the gateway to answer /health")
    return gateway


@dataclass
class Arena:
    fake: FakeArena
    server: ServerThread


@pytest.fixture(scope="session")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    tls = make_self_signed(tmp_path_factory.mktemp("tls"))
    fake = FakeArena()
    with ServerThread(fake.app, ssl=tls) as server:
        yield Arena(fake, server)


@pytest.fixture(autouse=True)
def _fresh_arena(arena: Arena, era: str) -> None:
    arena.fake.reset()
    arena.fake.use_era(era)
    arena.fake.prompt_quota = None


@pytest.fixture(scope="session")
def browser(arena: Arena) -> Iterator[Browser]:
    with Browser.start(arena_port=arena.server.port) as started:
        yield started


StartGateway = Callable[..., GatewayProcess]


@pytest.fixture(scope="session")
def start_gateway(tmp_path_factory: pytest.TempPathFactory, arena: Arena) -> Iterator[StartGateway]:
    started: list[GatewayProcess] = []

    def start(
        *extra: str,
        config: dict[str, Any] | None = None,
        endpoint_map: dict[str, Any] | None = None,
    ) -> GatewayProcess:
        home = write_home(
            tmp_path_factory.mktemp("home"),
            arena.fake.models,
            config=config,
            endpoint_map=endpoint_map,
        )
        gateway = start_gateway_process(home, *extra)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="session")
def gateway(start_gateway: StartGateway) -> GatewayProcess:
    return start_gateway("--set", "worker_ping_interval_seconds=1")


OpenTab = Callable[..., Tab]


def era_url(browser: Browser, era: str, path: str | None = None) -> str:
    """The page a tab opens in `era` (its chat page, or `path` on the era's host)."""
    host, page = ERA_PAGES[era]
    return browser.arena_url(path or page, host=host)


@pytest.fixture
def open_tab(browser: Browser, gateway: GatewayProcess, era: str) -> Iterator[OpenTab]:
    """Open the fake arena in a tab with the served userscript; wait for ✅ (connected)."""
    tabs: list[Tab] = []

    def open_(
        target: GatewayProcess | None = None,
        *,
        grant_local_network: bool = True,
        path: str | None = None,
    ) -> Tab:
        served = (target or gateway).userscript()
        tab = browser.open_tab(
            era_url(browser, era, path), userscript=served,
            grant_local_network=grant_local_network,
        )
        tabs.append(tab)
        tab.wait_for_title_prefix("✅", timeout=20)
        return tab

    yield open_
    for tab in tabs:
        tab.close()
    wait_until(lambda: gateway.health()["workers"] == [], 15, "the tabs to disconnect")


SentFrames = list[tuple[float, dict[str, Any]]]


def record_sent_frames(
    tab: Tab,
    gateway: GatewayProcess,
    messages: list[list[dict[str, Any]]] | None = None,
    received: list[Any] | None = None,
) -> SentFrames:
    """Every frame the page sends over a gateway WebSocket opened from now on, timestamped
    (the frames of a batch share their message's time); `messages` gets each message's frames,
    `received` each message the page receives (a frame, or a batch: a list of frames).

    Playwright only reports sockets opened after the listener, so the tab is reloaded to
    connect afresh."""
    sent: SentFrames = []

    def on_socket(socket: Any) -> None:
        if socket.url.startswith(gateway.url.replace("http", "ws", 1)):
            socket.on("framesent", lambda data: record(json.loads(data)))
            if received is not None:
                socket.on("framereceived", lambda data: received.append(json.loads(data)))

    def record(message: Any) -> None:  # a frame, or a batch of frames (worker-protocol.md)
        now = time.monotonic()
        frames = message if isinstance(message, list) else [message]
        sent.extend((now, frame) for frame in frames)
        if messages is not None:
            messages.append(frames)

    async def install(page: Any) -> None:
        page.on("websocket", on_socket)

    tab.run(install)
    tab.reload()
    tab.wait_for_title_prefix("✅", timeout=20)
    wait_until(lambda: len(gateway.health()["workers"]) == 1, 10, "the old connection to go")
    wait_until(lambda: any(f["type"] == "hello" for _, f in sent), 5, "the hello frame")
    return sent
