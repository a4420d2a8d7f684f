"""One managed worker tab: opened in a window of its own on the page, with the served userscript
put into every document it loads, watched, and opened again when it crashes, hangs, is closed
or stays on another site (docs/browser.md "Keeping the tabs alive")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .cdp import CdpClosed, CdpError, CdpPipe, CdpTimeout

log = logging.getLogger(__name__)

#: What a probe reads from the page: where it is and what the userscript says about itself
#: (`window.__lmarenarev`, bridge.user.js). Its answer is also the proof the page is not hung.
PROBE = """(() => {
  let bridge = null;
  try { bridge = window.__lmarenarev ? window.__lmarenarev.status() : null; } catch (e) {}
  return {href: String(location.href), title: String(document.title),
          visibility: String(document.visibilityState), bridge};
})()"""


@dataclass(frozen=True)
class Timing:
    """How often a tab is looked at and how long things may take (tests make them short)."""

    probe_interval: float = 5.0
    hung_after: float = 20.0  # a page that does not answer a probe this long is hung
    away_grace: float = 120.0
    reopen_delay: float = 1.0  # doubled after each failed opening, up to reopen_max_delay
    reopen_max_delay: float = 30.0
    restart_delay: float = 1.0  # the browser's: doubled after each quick exit, up to the max
    restart_max_delay: float = 60.0
    stable_after: float = 60.0  # a browser that ran this long restarts after restart_delay


@dataclass(frozen=True)
class TabPage:
    """What a managed tab shows and runs."""

    url: str
    script: Callable[[], str]  # the served userscript, rendered afresh for every opening
    is_worker_origin: Callable[[str], bool]
    grant: Callable[[str], Awaitable[None]]  # Local Network Access for a worker origin


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else url


def page_script(userscript: str) -> str:
    """The userscript as the page runs it: in the top document only, as its `@noframes` asks
    (a DevTools init script runs in every frame)."""
    return f"if (window.top === window) {{\n{userscript}\n}}\n"


class ManagedTab:
    """One tab of the managed browser (`index` counts from 1)."""

    def __init__(self, index: int, cdp: CdpPipe, page: TabPage, timing: Timing) -> None:
        self.index = index
        self.cdp = cdp
        self.page = page
        self.timing = timing
        self.target_id: str | None = None
        self.session_id: str | None = None
        self.state = "opening"
        self.url = ""
        self.title = ""
        self.worker: str | None = None  # the gateway's worker id, as the userscript reports it
        self.transport: str | None = None
        self.visibility: str | None = None  # "visible" unless minimized (docs/browser.md)
        self.reopened = 0
        self.last_reason: str | None = None
        self.opened_at = time.monotonic()
        self._gone: str | None = None  # why the target went away, set by DevTools events
        self._wake = asyncio.Event()

    # -- events (the keeper routes the browser's Target events here) ---------------------------

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Target.targetCrashed":
            self._lost(f"the page crashed ({params.get('status', 'unknown')})")
        elif method in ("Target.targetDestroyed", "Target.detachedFromTarget"):
            self._lost("the tab was closed")
        elif method == "Target.targetInfoChanged":
            info = params.get("targetInfo") or {}
            self.url = str(info.get("url") or self.url)

    def _lost(self, reason: str) -> None:
        if self._gone is None:
            self._gone = reason
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def keep(self) -> None:
        """Watch the tab, open it again whenever it is lost (first opening it, when it is not
        open); until cancelled or the browser goes away (`CdpClosed`)."""
        failures = 0
        while True:
            try:
                if self.target_id is None:
                    await self.open()
                failures = 0
                reason = await self._watch()
            except CdpClosed:
                raise
            except CdpError as exc:
                failures += 1
                reason = f"it could not be opened: {exc}"
            self.reopened += 1
            self.last_reason = reason
            self.state = "reopening"
            log.warning("managed tab %d: %s; opening it again", self.index, reason)
            await self.close()
            delay = self.timing.reopen_delay * 2.0 ** max(0, failures - 1)
            await asyncio.sleep(min(self.timing.reopen_max_delay, delay))

    async def open(self) -> None:
        """A new window on the page, with the userscript in every document it loads."""
        self.state, self.worker, self.transport, self._gone = "opening", None, None, None
        self.visibility = None
        self._wake.clear()
        self.opened_at = time.monotonic()
        created = await self.cdp.call(
            "Target.createTarget", {"url": "about:blank", "newWindow": True}
        )
        self.target_id = str(created["targetId"])
        try:
            await self._prepare()
        except CdpError:
            await self.close()
            raise

    async def _prepare(self) -> None:
        assert self.target_id is not None
        attached = await self.cdp.call(
            "Target.attachToTarget", {"targetId": self.target_id, "flatten": True}
        )
        self.session_id = str(attached["sessionId"])
        script = page_script(self.page.script())
        await self._call("Page.enable")  # init scripts run only with the Page domain on
        await self._call("Page.addScriptToEvaluateOnNewDocument", {"source": script})
        await self._call("Runtime.evaluate", {"expression": script})  # the current document
        # Always focused as far as the page can tell (docs/browser.md "Background throttling").
        await self._call("Emulation.setFocusEmulationEnabled", {"enabled": True})
        await self.page.grant(origin_of(self.page.url))
        self.state = "loading"
        navigated = await self._call("Page.navigate", {"url": self.page.url}, timeout=60)
        if navigated.get("errorText"):
            raise CdpError(f"{self.page.url}: {navigated['errorText']}")

    async def close(self) -> None:
        """Close the tab's window (a crashed or hung page included). Never raises for a tab
        that is already gone."""
        target, self.target_id, self.session_id = self.target_id, None, None
        if target is not None:
            with contextlib.suppress(CdpError):
                await self.cdp.call("Target.closeTarget", {"targetId": target}, timeout=10)

    async def _watch(self) -> str:
        """Probe the page until it must be opened again; return why."""
        away_since: float | None = None
        while True:
            # Often while the page loads and connects (status shows it at once), then calmly.
            pause = self.timing.probe_interval if self.state == "connected" else min(
                self.timing.probe_interval, 0.5
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            if self._gone is not None:
                return self._gone
            try:
                found = await self._call(
                    "Runtime.evaluate",
                    {"expression": PROBE, "returnByValue": True},
                    timeout=self.timing.hung_after,
                )
            except CdpTimeout:
                return f"the page stopped answering for {self.timing.hung_after:g} s (hung)"
            except CdpClosed:
                raise
            except CdpError:  # between two documents (a navigation): look again next time
                continue
            if self._gone is not None:
                return self._gone
            away_since = await self._look(found.get("result", {}).get("value") or {}, away_since)
            if away_since is not None and time.monotonic() - away_since >= self.timing.away_grace:
                return f"it stayed on {origin_of(self.url)} for {self.timing.away_grace:g} s"

    async def _look(self, seen: dict[str, Any], away_since: float | None) -> float | None:
        """Take in a probe's answer; return since when the tab has been away (None: home)."""
        self.url = str(seen.get("href") or self.url)
        self.title = str(seen.get("title") or "")[:200]
        self.visibility = str(seen.get("visibility") or "") or None
        bridge = seen.get("bridge") if isinstance(seen.get("bridge"), dict) else None
        self.worker = str(bridge["worker"]) if bridge and bridge.get("worker") else None
        self.transport = str(bridge["transport"]) if bridge and bridge.get("transport") else None
        origin = origin_of(self.url)
        if origin == origin_of(self.page.url) or self.page.is_worker_origin(origin):
            await self.page.grant(origin)  # a redirect (lmarena.ai → arena.ai) needs it too
            connected = bool(bridge and bridge.get("connected"))
            self.state = "connected" if connected else "not connected" if bridge else "loading"
            return None
        self.state = "away"
        return away_since if away_since is not None else time.monotonic()

    async def evaluate(self, expression: str, *, timeout: float = 10.0) -> Any:
        """The JSON value of `expression` in the tab's page (`CdpError` when it throws)."""
        reply = await self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            raise CdpError(f"the page threw: {reply['exceptionDetails'].get('text')}")
        return reply.get("result", {}).get("value")

    async def _call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        return await self.cdp.call(method, params, session=self.session_id, timeout=timeout)

    def snapshot(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "state": self.state,
            "url": self.url,
            "title": self.title,
            "worker": self.worker,
            "transport": self.transport,
            "visibility": self.visibility,
            "reopened": self.reopened,
            "last_reason": self.last_reason,
            "open_seconds": round(time.monotonic() - self.opened_at, 1),
        }
