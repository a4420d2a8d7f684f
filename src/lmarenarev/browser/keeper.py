"""The managed browser, kept running: started with the gateway, its tabs opened and watched, the
whole browser started again (with a growing delay) when it exits, closed with the gateway
(docs/browser.md). Everything it does shows in `snapshot()` (status, /monitor) and the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.browser_settings import PROFILE_DIR_NAME, ManagedBrowser
from .cdp import CdpClosed, CdpError
from .launch import (
    BrowserError,
    BrowserProcess,
    browser_args,
    display_problem,
    find_executable,
    last_output,
    launch,
)
from .tab import ManagedTab, TabPage, Timing, origin_of

log = logging.getLogger(__name__)

#: CDP names of the Local Network Access permission, newest first (Chrome 138+); a browser that
#: does not know one of them refuses the whole list, so they are tried one list at a time.
LNA_PERMISSIONS = (
    ["localNetworkAccess", "localNetwork", "loopbackNetwork"],
    ["localNetworkAccess"],
)


@dataclass(frozen=True)
class BrowserConfig:
    executable: str  # "" = search the usual places
    profile: Path
    tabs: int
    page_url: str
    headless: bool
    args: tuple[str, ...] = ()
    timing: Timing = field(default_factory=Timing)


class BrowserKeeper:
    """Runs the managed browser for as long as `run` runs (until `stop`)."""

    def __init__(self, config: BrowserConfig, *, is_worker_origin: Callable[[str], bool]) -> None:
        self.config = config
        self.is_worker_origin = is_worker_origin
        self.state = "stopped"
        self.pid: int | None = None
        self.executable: str | None = None
        self.version: str | None = None
        self.restarts = 0
        self.last_exit: str | None = None
        self.last_error: str | None = None
        self.started_at: float | None = None
        self.next_start_at: float | None = None
        self.tabs: list[ManagedTab] = []
        self._granted: set[str] = set()
        self._current: BrowserProcess | None = None
        self._stopping = asyncio.Event()

    async def run(self, script: Callable[[], str]) -> None:
        """Start the browser and keep it running until `stop` (or cancellation)."""
        quick_exits = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                await self._session(script)
            except (BrowserError, OSError) as exc:
                self.last_error = str(exc)
                log.error("managed browser: %s", exc)
            except Exception as exc:  # a bug here must not end the browser for good
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("managed browser failed")
            if self._stopping.is_set():
                break
            ran = time.monotonic() - began
            quick_exits = 0 if ran >= self.config.timing.stable_after else quick_exits + 1
            delay = restart_delay(self.config.timing, quick_exits)
            self.state, self.next_start_at = "restarting", time.monotonic() + delay
            log.warning("managed browser: starting it again in %.0f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if not self._stopping.is_set():
                self.restarts += 1
        self.state, self.next_start_at = "stopped", None

    async def stop(self) -> None:
        """Close the browser and everything it started; `run` then returns."""
        self._stopping.set()
        current = self._current
        if current is not None:
            await current.stop()

    async def _session(self, script: Callable[[], str]) -> None:
        """One run of the browser: start it, open the tabs, return when it exits."""
        config = self.config
        self.executable = find_executable(config.executable)
        problem = display_problem(config.headless)
        if problem is not None:
            raise BrowserError(problem)
        self.state, self.next_start_at, self.tabs = "starting", None, []
        args = browser_args(config.profile, headless=config.headless, extra=config.args)
        browser = await launch(self.executable, args, config.profile)
        self._current, self.pid, self.started_at = browser, browser.pid, time.monotonic()
        self._granted.clear()
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks = await self._open_tabs(browser, script)
            self.state, self.last_error = "running", None
            log.info("managed browser %s (pid %d) runs %d tab(s) on %s",
                     self.version, browser.pid, len(self.tabs), config.page_url)
            await self._until_exit(browser, tasks)
        except CdpError as exc:
            if not self._stopping.is_set():
                self.last_error = f"the browser stopped answering: {exc}"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await browser.stop()
            self._current, self.pid = None, None
            self._note_exit(browser)

    async def _open_tabs(
        self, browser: BrowserProcess, script: Callable[[], str]
    ) -> list[asyncio.Task[None]]:
        cdp = browser.cdp
        try:
            self.version = str((await cdp.call("Browser.getVersion", timeout=20))["product"])
        except CdpError as exc:  # it exited at once: say why if it said why
            said = last_output(self.config.profile)
            raise BrowserError(f"the browser did not start: {said or exc}") from None
        startup = await cdp.call("Target.getTargets")
        await cdp.call("Target.setDiscoverTargets", {"discover": True})
        cdp.listen(self._route)
        page = TabPage(self.config.page_url, script, self._is_page_origin, self._grant)
        self.tabs = [ManagedTab(i + 1, cdp, page, self.config.timing)
                     for i in range(self.config.tabs)]
        for tab in self.tabs:
            with contextlib.suppress(CdpError):  # `keep` opens it again
                await tab.open()
        # The window the browser started with (and any tab a profile restored), now that ours
        # are open: closing the last window first would end the browser.
        for info in startup.get("targetInfos", []):
            if info.get("type") == "page":
                with contextlib.suppress(CdpError):
                    await cdp.call("Target.closeTarget", {"targetId": info["targetId"]})
        return [asyncio.create_task(self._keep(tab), name=f"managed-tab-{tab.index}")
                for tab in self.tabs]

    async def _keep(self, tab: ManagedTab) -> None:
        with contextlib.suppress(CdpClosed):  # the browser is gone: `_session` sees it too
            await tab.keep()

    async def _until_exit(self, browser: BrowserProcess, tasks: list[asyncio.Task[None]]) -> None:
        exited = asyncio.create_task(browser.process.wait())
        closed = asyncio.create_task(browser.cdp.closed.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([exited, closed, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (exited, closed, stopping):
                waiter.cancel()

    def _note_exit(self, browser: BrowserProcess) -> None:
        code = browser.process.returncode
        if self._stopping.is_set():
            self.last_exit = "stopped with the gateway"
            log.info("managed browser closed")
            return
        self.last_exit = f"exited with code {code}" if code is not None and code >= 0 else (
            f"killed by signal {-code}" if code is not None else "stopped answering"
        )
        for tab in self.tabs:
            tab.state = "closed"
        log.warning("managed browser (pid %d) %s", browser.pid, self.last_exit)

    # -- DevTools events and permissions -------------------------------------------------------

    def _route(self, method: str, params: dict[str, Any], session: str | None) -> None:
        if not method.startswith("Target."):
            return
        target = params.get("targetId") or (params.get("targetInfo") or {}).get("targetId")
        for tab in self.tabs:
            if target is not None and target == tab.target_id:
                tab.on_event(method, params)

    def _is_page_origin(self, origin: str) -> bool:
        return origin == origin_of(self.config.page_url) or self.is_worker_origin(origin)

    async def _grant(self, origin: str) -> None:
        """Local Network Access for a worker page, so its WebSocket to the gateway on loopback
        is not blocked (what a person's "allow" gives a userscript tab; docs/browser.md)."""
        current = self._current
        if origin in self._granted or current is None:
            return
        self._granted.add(origin)
        for permissions in LNA_PERMISSIONS:
            try:
                await current.cdp.call(
                    "Browser.grantPermissions", {"permissions": permissions, "origin": origin}
                )
                return
            except CdpClosed:
                raise
            except CdpError as exc:
                log.debug("granting %s to %s: %s", permissions, origin, exc)
        log.info("this browser knows no Local Network Access permission (an older one "
                 "needs none)")

    # -- what status shows ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "state": self.state,
            "pid": self.pid,
            "executable": self.executable or self.config.executable or None,
            "version": self.version,
            "profile": str(self.config.profile),
            "headless": self.config.headless,
            "page_url": self.config.page_url,
            "restarts": self.restarts,
            "uptime_seconds": round(now - self.started_at, 1)
            if self.started_at is not None and self.pid is not None else None,
            "next_start_seconds": round(max(0.0, self.next_start_at - now), 1)
            if self.next_start_at is not None else None,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "tabs": [tab.snapshot() for tab in self.tabs],
        }


def restart_delay(timing: Timing, quick_exits: int) -> float:
    """How long to wait before starting the browser again: `restart_delay` after a browser that
    ran a while (`quick_exits` 0), doubled for each exit in a row that came quickly."""
    return min(timing.restart_max_delay, timing.restart_delay * 2.0 ** max(0, quick_exits - 1))


def browser_config(settings: ManagedBrowser, home: Path) -> BrowserConfig:
    """The settings' `browser` block, with the profile resolved against the data directory."""
    profile = Path(settings.profile_dir or PROFILE_DIR_NAME).expanduser()
    return BrowserConfig(
        executable=settings.executable,
        profile=profile if profile.is_absolute() else home / profile,
        tabs=settings.tabs,
        page_url=settings.page_url,
        headless=settings.headless,
        args=tuple(settings.args),
        timing=Timing(away_grace=settings.away_grace_seconds),
    )
