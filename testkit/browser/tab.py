"""A :class:`Tab`: one page of a browser context, with a synchronous, thread-safe API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from testkit.browser.injection import SET_HIDDEN_FN
from testkit.browser.userscript import UserScript

if TYPE_CHECKING:
    from testkit.browser.browser import Browser
    from testkit.browser.profile import Profile

T = TypeVar("T")


class Tab:
    """A browser tab. Sync methods are safe from any thread except the harness thread.

    :meth:`Browser.open_tab` gives a tab in a fresh context (a separate "profile");
    :meth:`open_sibling` another tab of the same context (shared cookies, permissions,
    userscripts, like a second tab of the same user).
    """

    def __init__(self, browser: Browser, profile: Profile, *, owner: bool) -> None:
        self.browser = browser
        self._profile = profile
        self._owner = owner
        #: The Playwright page: use only inside the harness thread (``Browser.run``/``Tab.run``).
        self.page: Any = None
        self._console: list[str] = []
        self._closed = False

    @property
    def context(self) -> Any:
        """The Playwright browser context (harness thread only)."""
        return self._profile.context

    @property
    def scripts(self) -> list[UserScript]:
        return list(self._profile.scripts.values())

    async def _aopen_page(self, url: str, wait_until: str) -> None:
        self.page = await self._profile.context.new_page()
        self.page.on("console", lambda m: self._console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self._console.append(f"pageerror: {e}"))
        await self.page.goto(url, wait_until=wait_until)

    # ---- sync API ----------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the tab is closed")
        return self.browser._run(coro, timeout, what)

    def run(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``await fn(page)`` in the harness thread and return its result."""

        async def call() -> T:
            return await fn(self.page)

        return self._run(call(), timeout, "Tab.run")

    def open_sibling(
        self, url: str | None = None, *, wait_until: str = "load", timeout: float = 30
    ) -> Tab:
        """Open another tab in this tab's context (default URL: this tab's)."""
        tab = Tab(self.browser, self._profile, owner=False)
        self._profile.tabs.append(tab)
        target = url or self.url
        try:
            self._run(tab._aopen_page(target, wait_until), timeout + 5, f"opening {target}")
        except BaseException:
            tab.close()
            raise
        return tab

    @property
    def url(self) -> str:
        return str(self.page.url) if self.page is not None else ""

    def title(self) -> str:
        return str(self._run(self.page.title(), 15, "title()"))

    def evaluate(self, js: str, arg: Any = None, *, timeout: float = 30) -> Any:
        """``page.evaluate(js, arg)``: an expression, or a function (maybe async) of ``arg``."""
        return self._run(self.page.evaluate(js, arg), timeout, "evaluate()")

    async def _poll(self, check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                value = await check()
                if value is not None:
                    return value
                last = value
            except Exception as e:  # a navigation in progress destroys the context; retry
                last = e
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} within {timeout} s (last: {last!r})")
            await asyncio.sleep(0.05)

    def wait_for_title_prefix(self, prefix: str, timeout: float = 15) -> str:
        """Wait until ``document.title`` starts with ``prefix``; return the title."""

        async def check() -> str | None:
            t: str = await self.page.title()
            return t if t.startswith(prefix) else None

        return self._run(
            self._poll(check, timeout, f"title never started with {prefix!r}"),
            timeout + 5,
            "wait_for_title_prefix()",
        )

    def wait_for_title_without(self, prefix: str, timeout: float = 15) -> str:
        """Wait until ``document.title`` does not start with ``prefix``; return the title."""

        async def check() -> str | None:
            t: str = await self.page.title()
            return None if t.startswith(prefix) else t

        return self._run(
            self._poll(check, timeout, f"title kept starting with {prefix!r}"),
            timeout + 5,
            "wait_for_title_without()",
        )

    def wait_for(self, js: str, arg: Any = None, timeout: float = 15) -> Any:
        """Wait until ``page.evaluate(js, arg)`` is truthy (survives navigations); return it."""

        async def check() -> Any:
            v = await self.page.evaluate(js, arg)
            return v if v else None

        return self._run(
            self._poll(check, timeout, f"{js!r} never became truthy"), timeout + 5, "wait_for()"
        )

    def wait_for_console(self, substring: str, timeout: float = 15) -> str:
        """Wait until a collected console message contains ``substring``; return it."""

        async def check() -> str | None:
            return next((m for m in list(self._console) if substring in m), None)

        return self._run(
            self._poll(check, timeout, f"no console message with {substring!r}"),
            timeout + 5,
            "wait_for_console()",
        )

    def reload(self, *, wait_until: str = "load", timeout: float = 30) -> None:
        self._run(
            self.page.reload(wait_until=wait_until, timeout=timeout * 1000),
            timeout + 5,
            "reload()",
        )

    def goto(self, url: str, *, wait_until: str = "load", timeout: float = 30) -> None:
        self._run(
            self.page.goto(url, wait_until=wait_until, timeout=timeout * 1000),
            timeout + 5,
            f"goto({url})",
        )

    def grant_local_network(self, url: str | None = None) -> None:
        """Grant LNA to ``url``'s origin (default: the current page), like clicking "allow"."""
        self._run(self._profile.grant_local_network(url or self.url), 15, "grant_local_network()")

    def set_hidden(self, hidden: bool) -> None:
        """Emulate a background (``True``) or foreground tab.

        ``document.hidden``/``visibilityState``/``hasFocus()`` flip and ``visibilitychange``
        (plus ``blur``/``focus`` on window) is dispatched in every frame. The state persists
        across reloads of this tab (sessionStorage). Timers are *not* throttled.
        """

        async def apply() -> None:
            for frame in self.page.frames:
                with contextlib.suppress(Exception):
                    await frame.evaluate(f"(h) => window[{json.dumps(SET_HIDDEN_FN)}](h)", hidden)

        self._run(apply(), 15, "set_hidden()")

    def console_messages(self) -> list[str]:
        """Console messages so far, as ``"<type>: <text>"`` (page errors: ``"pageerror: …"``)."""
        return list(self._console)

    def gm_requests(self) -> list[dict[str, Any]]:
        """``GM_xmlhttpRequest`` calls of this context: method, url, ok/status/error/timeout."""
        return [dict(e) for e in self._profile.gm_log]

    def screenshot(self, path: str) -> None:
        self._run(self.page.screenshot(path=path), 30, "screenshot()")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the tab (the first tab of a context closes the whole context). Idempotent."""
        if self._closed:
            return
        profile = self._profile
        doomed = list(profile.tabs) if self._owner else [self]
        for tab in doomed:
            tab._closed = True
            with contextlib.suppress(ValueError):
                profile.tabs.remove(tab)
        b = self.browser
        with b._lock:
            if self._owner and profile in b._profiles:
                b._profiles.remove(profile)
        if b._closed or b._loop is None:
            return

        async def aclose() -> None:
            if self._owner:
                await profile.aclose()
            elif self.page is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.page.close(), 10)

        with contextlib.suppress(Exception):
            b._loop.run(aclose(), 20, "closing a tab")

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
