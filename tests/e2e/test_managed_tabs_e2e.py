"""The managed browser's keeper in-process, with headless Chromium on a plain test page: the
script reaches every page before the page's own scripts (top document only), and a tab that
crashes, hangs, is closed or stays on another site is opened again; a killed browser is started
again; stopping leaves no process. (The whole product path, `lmarenarev serve --browser` on the
fake LMArena, is test_managed_browser_e2e.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from lmarenarev.browser.cdp import CdpError
from lmarenarev.browser.keeper import BrowserConfig, BrowserKeeper
from lmarenarev.browser.launch import group_members, profile_processes
from lmarenarev.browser.tab import ManagedTab, Timing
from testkit.browser import chromium_executable
from testkit.fakes.serving import ServerThread
from testkit.support import wait_until_async

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_executable() is None, reason="no Chromium"),
]

PAGE = """<!doctype html><title>worker page</title>
<script>window.bridgeBeforePage = Boolean(window.__lmarenarev);</script>
<iframe src="/frame"></iframe>"""
FRAME = "<!doctype html><title>frame</title><p>a frame"
#: A stand-in for the served userscript: the keeper only needs `window.__lmarenarev.status()`.
SCRIPT = """window.scriptRuns = (window.scriptRuns || 0) + 1;
window.__lmarenarev = {status: () => ({connected: true, transport: 'ws',
                                       worker: 'w' + Math.round(performance.timeOrigin)})};"""
FAST = Timing(
    probe_interval=0.2, hung_after=2.0, away_grace=1.0, reopen_delay=0.1,
    restart_delay=0.2, stable_after=30.0,
)


@pytest.fixture(scope="module")
def page_server() -> Iterator[ServerThread]:
    app = Starlette(routes=[
        Route("/", lambda request: HTMLResponse(PAGE)),
        Route("/frame", lambda request: HTMLResponse(FRAME)),
    ])
    with ServerThread(app) as server:
        yield server


@pytest.fixture
async def keeper(tmp_path: Path, page_server: ServerThread) -> AsyncIterator[BrowserKeeper]:
    exe = chromium_executable()
    assert exe is not None
    config = BrowserConfig(
        executable=exe, profile=tmp_path / "profile", tabs=1, page_url=page_server.url + "/",
        headless=True, args=("--disable-gpu",), timing=FAST,
    )
    kept = BrowserKeeper(config, is_worker_origin=lambda origin: False)
    task = asyncio.create_task(kept.run(lambda: SCRIPT))
    try:
        await connected(kept)
        yield kept
    finally:
        await kept.stop()
        await asyncio.wait_for(task, 30)


async def connected(kept: BrowserKeeper, timeout: float = 30) -> ManagedTab:
    await wait_until_async(
        lambda: bool(kept.tabs) and all(t.state == "connected" for t in kept.tabs),
        timeout, f"the managed tab to connect (tabs: {[t.snapshot() for t in kept.tabs]})",
    )
    return kept.tabs[0]


async def reopened(tab: ManagedTab, times: int = 1) -> None:
    await wait_until_async(
        lambda: tab.reopened >= times and tab.state == "connected", 30,
        f"the tab to be opened again ({tab.snapshot()})",
    )


async def test_the_script_runs_first_in_the_top_document_of_a_page_that_is_not_told_it_is_automated(
    keeper: BrowserKeeper,
) -> None:
    tab = keeper.tabs[0]
    assert await tab.evaluate("window.bridgeBeforePage") is True
    assert await tab.evaluate("window.scriptRuns") == 1
    frame_runs = await tab.evaluate(
        "new Promise(r => { const f = document.querySelector('iframe');"
        " const look = () => r(f.contentWindow.scriptRuns === undefined ? 'none' : 'ran');"
        " f.contentDocument.readyState === 'complete' ? look() : f.onload = look; })"
    )
    assert frame_runs == "none"
    assert tab.snapshot()["worker"] and tab.snapshot()["visibility"] == "visible"
    assert await tab.evaluate("navigator.webdriver") is False  # as in a person's browser


async def test_a_crashed_tab_is_opened_again(keeper: BrowserKeeper) -> None:
    tab = keeper.tabs[0]
    worker = tab.worker
    with contextlib.suppress(CdpError):  # the renderer dies without answering
        await tab.cdp.call("Page.crash", session=tab.session_id, timeout=2)
    await reopened(tab)
    assert tab.last_reason is not None and "crashed" in tab.last_reason
    assert tab.worker != worker  # a fresh page connected


async def test_a_hung_tab_is_opened_again(keeper: BrowserKeeper) -> None:
    tab = keeper.tabs[0]
    await tab.evaluate("setTimeout(() => { for (;;) {} }, 0), 1")
    await reopened(tab)
    assert tab.last_reason is not None and "hung" in tab.last_reason


async def test_a_closed_tab_is_opened_again(keeper: BrowserKeeper) -> None:
    tab = keeper.tabs[0]
    await tab.cdp.call("Target.closeTarget", {"targetId": tab.target_id})
    await reopened(tab)
    assert tab.last_reason == "the tab was closed"


async def test_a_tab_that_stays_on_another_site_is_brought_back(
    keeper: BrowserKeeper, page_server: ServerThread
) -> None:
    tab = keeper.tabs[0]
    elsewhere = f"http://localhost:{page_server.port}/frame"  # another origin (host differs)
    await tab.cdp.call("Page.navigate", {"url": elsewhere}, session=tab.session_id)
    await wait_until_async(lambda: tab.state == "away", 10, "the tab to be seen away")
    await reopened(tab)
    assert tab.last_reason is not None and f"localhost:{page_server.port}" in tab.last_reason
    assert tab.url == keeper.config.page_url


async def test_a_killed_browser_is_started_again_with_its_tabs(keeper: BrowserKeeper) -> None:
    first = keeper.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_until_async(lambda: keeper.state == "restarting", 10, "the exit to be seen")
    assert keeper.last_exit == "killed by signal 9"
    await wait_until_async(lambda: keeper.pid not in (None, first), 20, "a new browser")
    await connected(keeper)
    assert keeper.restarts == 1
    assert group_members(first) == []


async def test_stopping_leaves_no_browser_process(
    tmp_path: Path, page_server: ServerThread
) -> None:
    exe = chromium_executable()
    assert exe is not None
    config = BrowserConfig(exe, tmp_path / "profile", 2, page_server.url + "/", True,
                           ("--disable-gpu",), FAST)
    kept = BrowserKeeper(config, is_worker_origin=lambda origin: False)
    task = asyncio.create_task(kept.run(lambda: SCRIPT))
    await connected(kept)
    pid = kept.pid
    assert pid is not None and len(kept.tabs) == 2
    await kept.stop()
    await asyncio.wait_for(task, 30)
    assert kept.state == "stopped" and kept.last_exit == "stopped with the gateway"
    assert group_members(pid) == []
    assert profile_processes(config.profile) == []


async def test_a_browser_that_cannot_start_is_tried_again_later(tmp_path: Path) -> None:
    config = BrowserConfig("/bin/false", tmp_path / "profile", 1, "http://127.0.0.1:9/", True,
                           (), FAST)
    kept = BrowserKeeper(config, is_worker_origin=lambda origin: False)
    task = asyncio.create_task(kept.run(lambda: SCRIPT))
    try:
        await wait_until_async(lambda: kept.restarts >= 2, 20, "two more attempts")
        assert kept.last_error is not None and "did not start" in kept.last_error
        assert kept.state in ("starting", "restarting")
    finally:
        await kept.stop()
        await asyncio.wait_for(task, 30)
