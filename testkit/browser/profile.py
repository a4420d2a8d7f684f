"""What the tabs of one browser context share: the context, the userscripts and the
``GM_xmlhttpRequest`` plumbing (performed in Python with httpx, so Local Network Access does not
apply to it, like the extension's privileged background request)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from testkit.browser.chromium import LNA_PERMISSION, origin_of
from testkit.browser.injection import (
    GM_ABORT_BINDING,
    GM_XHR_BINDING,
    build_injection,
    hidden_shim,
    next_script_id,
)
from testkit.browser.userscript import UserScript, connect_allowed

if TYPE_CHECKING:
    from testkit.browser.browser import Browser
    from testkit.browser.tab import Tab


class Profile:
    """What the tabs of one browser context share: the context, userscripts, GM plumbing."""

    def __init__(
        self, browser: Browser, scripts: list[UserScript], gm_allowed_hosts: Sequence[str] | None
    ) -> None:
        self.browser = browser
        self.scripts = {next_script_id(): s for s in scripts}
        self.gm_allowed_hosts = (
            None if gm_allowed_hosts is None else {h.lower() for h in gm_allowed_hosts}
        )
        self.context: Any = None
        self.gm_log: list[dict[str, Any]] = []
        self.gm_tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.tabs: list[Tab] = []

    async def setup(self, first_url: str, grant: bool, timeout: float) -> None:
        b = self.browser
        self.context = await b._browser.new_context(
            ignore_https_errors=True, user_agent=b.user_agent
        )
        self.context.set_default_timeout(timeout * 1000)
        if grant:
            await self.grant_local_network(first_url)
        await self.context.add_init_script(hidden_shim())
        if self.scripts:
            await self.context.expose_binding(GM_XHR_BINDING, self._gm_xhr)
            await self.context.expose_binding(GM_ABORT_BINDING, self._gm_abort)
            for script_id, script in self.scripts.items():
                await self.context.add_init_script(build_injection(script, script_id))

    async def grant_local_network(self, url: str) -> None:
        parts = urlsplit(url)
        origins = {origin_of(url)}
        if parts.hostname in self.browser.hosts:
            for h in self.browser.hosts:
                origins.add(f"{parts.scheme}://{h}" + (f":{parts.port}" if parts.port else ""))
        for o in sorted(origins):
            await self.context.grant_permissions([LNA_PERMISSION], origin=o)

    async def aclose(self) -> None:
        for task in list(self.gm_tasks.values()):
            task.cancel()
        if self.context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.context.close(), 10)

    # ---- GM_xmlhttpRequest (harness thread) ------------------------------------------

    def gm_refusal(self, url: str, page_url: str, connects: Sequence[str]) -> str | None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            return f"unsupported URL {url!r}"
        page_host = urlsplit(page_url).hostname
        if not connect_allowed(p.hostname, connects, page_host):
            return f"refused: {p.hostname} is not in @connect {list(connects)}"
        if self.gm_allowed_hosts is not None and p.hostname.lower() not in self.gm_allowed_hosts:
            return f"refused by the test harness: {p.hostname} is not in gm_allowed_hosts"
        return None

    async def _gm_xhr(self, source: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        page_url = ""
        with contextlib.suppress(Exception):
            page_url = source["frame"].url
        script = self.scripts.get(int(req.get("script") or 0))
        connects = script.connects if script else ()
        entry: dict[str, Any] = {"method": req.get("method"), "url": req.get("url")}
        self.gm_log.append(entry)
        task = asyncio.ensure_future(self._gm_perform(req, page_url, connects))
        self.gm_tasks[req["id"]] = task
        try:
            await asyncio.wait({task})
        finally:
            self.gm_tasks.pop(req["id"], None)
            if not task.done():
                task.cancel()
        if task.cancelled():
            result: dict[str, Any] = {"ok": False, "error": "aborted"}
        elif (exc := task.exception()) is not None:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            result = task.result()
        entry.update(
            {k: result.get(k) for k in ("ok", "status", "error", "timeout") if k in result}
        )
        return result

    async def _gm_perform(
        self, req: dict[str, Any], page_url: str, connects: Sequence[str]
    ) -> dict[str, Any]:
        http = self.browser._http
        assert http is not None
        url = str(req.get("url"))
        method = str(req.get("method") or "GET")
        headers = dict(req.get("headers") or {})
        data = req.get("data")
        timeout_ms = float(req.get("timeout") or 0)

        async def perform() -> dict[str, Any]:
            nonlocal url, method, data
            for _hop in range(10):
                refusal = self.gm_refusal(url, page_url, connects)
                if refusal:
                    return {"ok": False, "error": refusal}
                try:
                    resp = await http.request(
                        method,
                        url,
                        headers=headers,
                        content=None if data is None else str(data).encode(),
                    )
                except httpx.HTTPError as e:
                    return {"ok": False, "error": f"{type(e).__name__}: {e}"}
                if resp.is_redirect and req.get("redirect", "follow") == "follow":
                    url = str(resp.url.join(resp.headers["location"]))
                    if resp.status_code == 303 or (
                        resp.status_code in (301, 302) and method == "POST"
                    ):
                        method, data = ("HEAD" if method == "HEAD" else "GET"), None
                    continue
                text = resp.content.decode(resp.encoding or "utf-8", errors="replace")
                return {
                    "ok": True,
                    "status": resp.status_code,
                    "statusText": resp.reason_phrase,
                    "responseHeaders": "".join(
                        f"{k.lower()}: {v}\r\n" for k, v in resp.headers.multi_items()
                    ),
                    "responseText": text,
                    "finalUrl": str(resp.url),
                }
            return {"ok": False, "error": "too many redirects"}

        if timeout_ms > 0:
            try:
                return await asyncio.wait_for(perform(), timeout_ms / 1000)
            except TimeoutError:
                return {"ok": False, "timeout": True, "error": "timeout"}
        return await perform()

    async def _gm_abort(self, source: dict[str, Any], req_id: str) -> None:
        task = self.gm_tasks.get(req_id)
        if task is not None and not task.done():
            task.cancel()
