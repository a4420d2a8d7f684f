"""`lmarenarev login`: the managed profile in a window on the page, for a person to log in and
pass a challenge once; closed when they close the window or press Enter in the terminal
(docs/browser.md "Logging in")."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import Any

from .cdp import CdpError
from .keeper import BrowserConfig
from .launch import BrowserError, browser_args, display_problem, find_executable, launch


def enter_pressed(loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
    """Set `done` when the person presses Enter. A terminal that is not there (stdin at its
    end, as under nohup) never counts as Enter: then only closing the window ends the login."""

    def wait() -> None:
        with contextlib.suppress(OSError, ValueError):
            if sys.stdin.readline():
                loop.call_soon_threadsafe(done.set)

    # A daemon thread: a read of stdin cannot be cancelled, and must not hold up the exit.
    threading.Thread(target=wait, name="login-enter", daemon=True).start()


async def login(config: BrowserConfig, done: asyncio.Event) -> str:
    """Show `config.page_url` in the managed profile until the window is closed or `done` is
    set; close the browser (it writes the cookies) and say which of the two happened."""
    executable = find_executable(config.executable)
    problem = display_problem(headless=False)
    if problem is not None:
        raise BrowserError(problem)
    args = browser_args(config.profile, headless=False, extra=config.args,
                        start_url=config.page_url)
    browser = await launch(executable, args, config.profile)
    try:
        pages = await _open_pages(browser.cdp)
        windows_closed = asyncio.Event()

        def on_event(method: str, params: dict[str, Any], session: str | None) -> None:
            info = params.get("targetInfo") or {}
            if method == "Target.targetCreated" and info.get("type") == "page":
                pages.add(str(info["targetId"]))
            elif method == "Target.targetDestroyed":
                pages.discard(str(params.get("targetId")))
                if not pages:  # the last window is closed (a Mac browser does not exit then)
                    windows_closed.set()

        browser.cdp.listen(on_event)
        waits = [asyncio.create_task(done.wait()), asyncio.create_task(windows_closed.wait()),
                 asyncio.create_task(browser.process.wait())]
        finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waits:
            waiter.cancel()
        return "Enter pressed" if waits[0] in finished else "the window was closed"
    finally:
        await browser.stop()


async def _open_pages(cdp: Any) -> set[str]:
    try:
        await cdp.call("Target.setDiscoverTargets", {"discover": True}, timeout=20)
        found = await cdp.call("Target.getTargets")
    except CdpError as exc:
        raise BrowserError(f"the browser did not start: {exc}") from None
    return {str(t["targetId"]) for t in found.get("targetInfos", []) if t.get("type") == "page"}
