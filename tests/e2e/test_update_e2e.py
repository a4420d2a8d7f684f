"""The update check of `lmarenarev serve`, pointed at a local fake of PyPI's JSON API: with no
terminal (as under a service manager) the notice is logged, and the dashboard shows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lmarenarev import __version__
from testkit.browser import Browser
from testkit.fakes.serving import ServerThread
from testkit.support import wait_until, write_home

from .conftest import Arena, start_gateway_process

pytestmark = pytest.mark.e2e

NEWER = "99.1.0"


@pytest.fixture
def fake_pypi() -> Iterator[str]:
    async def project(request: Request) -> JSONResponse:
        return JSONResponse({"info": {"name": "lmarenarev", "version": NEWER}})

    app = Starlette(routes=[Route("/pypi/lmarenarev/json", project)])
    with ServerThread(app) as server:
        yield f"{server.url}/pypi/lmarenarev/json"


def test_a_newer_release_is_logged_and_shown_on_the_dashboard(
    tmp_path: Path, arena: Arena, browser: Browser, fake_pypi: str
) -> None:
    home = write_home(tmp_path / "home", arena.fake.models)
    env = {"LMARENAREV_ENABLE_AUTO_UPDATE": "notify", "LMARENAREV_UPDATE_URL": fake_pypi}
    gateway = start_gateway_process(home, env=env)  # stdout is a pipe, not a terminal
    try:
        expected = (
            f"lmarenarev {NEWER} is available (this is {__version__}): run `lmarenarev update`"
        )
        wait_until(lambda: expected in gateway.output(), 15, "the update notice in the log")
        stats = httpx.get(f"{gateway.url}/api/monitor/stats", timeout=10).json()
        assert stats["update"] == {"latest": NEWER, "notice": expected}
        tab = browser.open_tab(f"{gateway.url}/monitor")
        try:
            tab.wait_for("!document.getElementById('update-notice').hidden", timeout=10)
            assert tab.evaluate("document.getElementById('update-notice').textContent") == expected
        finally:
            tab.close()
    finally:
        gateway.stop()


def test_the_banner_prints_the_dashboards_url(tmp_path: Path, arena: Arena) -> None:
    gateway = start_gateway_process(write_home(tmp_path / "home", arena.fake.models))
    try:
        wait_until(lambda: "Dashboard:" in gateway.output(), 10, "the banner")
        (line,) = [line for line in gateway.lines if "Dashboard:" in line]
        assert line.split()[-1] == f"{gateway.url}/monitor"
        assert httpx.get(line.split()[-1], timeout=10).status_code == 200
    finally:
        gateway.stop()
