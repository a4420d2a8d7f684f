"""The :class:`Browser`: one headless Chromium launched and driven from the harness thread."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import httpx

from testkit.browser.chromium import (
    CHROMIUM_ENV,
    DEFAULT_HOSTS,
    chromium_executable,
    find_process_group_leader,
    launch_args,
    pid_alive,
)
from testkit.browser.loop import HarnessLoop
from testkit.browser.profile import Profile
from testkit.browser.tab import Tab
from testkit.browser.userscript import UserScript

T = TypeVar("T")

# Process-wide on purpose: every Browser still open is closed at exit, so no Chromium outlives
# the test run or the benchmark.
_live_browsers: weakref.WeakSet[Browser] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for b in list(_live_browsers):
        with contextlib.suppress(Exception):
            b.close()


_browser_ids = itertools.count(1)  # unique launch markers within the process


class Browser:
    """One headless Chromium, driven from a background thread. Use :meth:`start`."""

    def __init__(self) -> None:  # use Browser.start()
        self._loop: HarnessLoop | None = None
        self._pw: Any = None
        self._browser: Any = None
        self._http: httpx.AsyncClient | None = None
        self._profiles: list[Profile] = []
        self._closed = False
        self._lock = threading.Lock()
        self.chromium_pid: int | None = None
        self._marker = ""
        self.hosts: tuple[str, ...] = ()
        self.arena_port = 0
        self.public_ports: list[int] = []
        self.args: list[str] = []
        self.version = ""
        self.user_agent = ""

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        arena_port: int,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        public_ports: list[int] | None = None,
        executable_path: str | None = None,
        extra_args: Sequence[str] = (),
        block_other_hosts: bool = True,
        headless: bool = True,
        timeout: float = 60,
    ) -> Browser:
        """Launch Chromium with the fake arena at ``https://<host>:<arena_port>`` as "public".

        ``public_ports`` (default ``[arena_port]``) are the 127.0.0.1 ports Chromium puts in the
        public address space; everything else on 127.0.0.1 (the gateway) stays loopback.
        """
        exe = executable_path or chromium_executable()
        if not exe:
            raise RuntimeError(f"no Chromium found (set ${CHROMIUM_ENV} or install chromium)")
        self = cls()
        self.hosts = tuple(hosts)
        self.arena_port = arena_port
        self.public_ports = list(public_ports) if public_ports is not None else [arena_port]
        # An inert switch that lets us find (and, as a last resort, kill) our Chromium.
        self._marker = f"--lmarenarev-harness={os.getpid()}-{next(_browser_ids)}-{time.time_ns()}"
        self.args = [
            *launch_args(self.hosts, self.public_ports, block_other_hosts=block_other_hosts),
            *extra_args,
            self._marker,
        ]
        self._loop = HarnessLoop(f"e2e-browser-{arena_port}")
        _live_browsers.add(self)
        try:
            self._loop.run(self._astart(exe, headless), timeout, "launching Chromium")
        except BaseException:
            self.close()
            raise
        return self

    async def _astart(self, exe: str, headless: bool) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(
            executable_path=exe, headless=headless, args=self.args, timeout=30_000
        )
        self.version = self._browser.version
        major = self.version.split(".")[0]
        # The headless UA says "HeadlessChrome"; a user's tab does not.
        self.user_agent = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36"
        )
        self.chromium_pid = find_process_group_leader(self._marker)
        # One client for every GM_xmlhttpRequest of every tab; long-polls must not starve.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=10),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            verify=False,
            trust_env=False,
            headers={"User-Agent": self.user_agent},
        )

    def close(self) -> None:
        """Close every tab and Chromium, stop the thread. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _live_browsers.discard(self)
        loop = self._loop
        if loop is not None and not loop.loop.is_closed():
            with contextlib.suppress(BaseException):
                loop.run(self._aclose(), 30, "closing Chromium")
            loop.stop()
        self._kill_leftovers()

    async def _aclose(self) -> None:
        for profile in list(self._profiles):
            for tab in profile.tabs:
                tab._closed = True
            with contextlib.suppress(Exception):
                await profile.aclose()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._browser.close(), 15)
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pw.stop(), 15)

    def _kill_leftovers(self) -> None:
        """Last resort: SIGKILL the Chromium process group we launched if it survived."""
        pid = self.chromium_pid
        if not pid:
            return
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # Playwright starts Chromium in its own group
            deadline = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers ---------------------------------------------------------------------

    def arena_url(
        self, path: str = "/", *, host: str | None = None, port: int | None = None
    ) -> str:
        """``https://lmarena.ai:<arena_port><path>`` (or another mapped host/port)."""
        return f"https://{host or self.hosts[0]}:{port or self.arena_port}{path}"

    def run(self, fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``await fn()`` in the harness thread (for raw Playwright access) and return it."""
        assert self._loop is not None

        async def call() -> T:
            return await fn()

        return self._loop.run(call(), timeout, "Browser.run")

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        if self._closed or self._loop is None:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError("the browser is closed")
        return self._loop.run(coro, timeout, what)

    # ---- tabs ------------------------------------------------------------------------

    def open_tab(
        self,
        url: str,
        *,
        userscript: str | Sequence[str] | None = None,
        grant_local_network: bool = True,
        gm_allowed_hosts: Sequence[str] | None = ("127.0.0.1", "localhost"),
        wait_until: str = "load",
        timeout: float = 30,
    ) -> Tab:
        """Open ``url`` in a fresh browser context (its own cookies, permissions, sockets).

        ``grant_local_network`` grants the LNA permission to the page's origin and to the
        other mapped hosts on the same port (what the user's one-time "allow" does).
        ``userscript``: the source (or several sources) to run like Tampermonkey would.
        ``gm_allowed_hosts``: the harness refuses ``GM_xmlhttpRequest`` to any other host, on
        top of ``@connect`` (``None`` = no extra restriction), so tests never hit the internet.
        """
        sources = [userscript] if isinstance(userscript, str) else list(userscript or [])
        profile = Profile(self, [UserScript.parse(s) for s in sources], gm_allowed_hosts)
        tab = Tab(self, profile, owner=True)
        profile.tabs.append(tab)
        with self._lock:
            if self._closed:
                raise RuntimeError("the browser is closed")
            self._profiles.append(profile)

        async def aopen() -> None:
            await profile.setup(url, grant_local_network, timeout)
            await tab._aopen_page(url, wait_until)

        try:
            self._run(aopen(), timeout + 5, f"opening {url}")
        except BaseException:
            tab.close()
            raise
        return tab


def load_userscript(url: str, timeout: float = 10) -> str:
    """Fetch a served userscript (e.g. ``http://127.0.0.1:<port>/bridge.user.js``)."""
    r = httpx.get(url, timeout=timeout, trust_env=False)
    r.raise_for_status()
    return r.text
