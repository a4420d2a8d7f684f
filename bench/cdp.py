"""A minimal raw-CDP Chromium driver for the relay benchmark, so the tab runs like a user's.

Playwright (testkit/browser/) enables the CDP Network domain on every page, so Chromium
reports every fetch body chunk and every WebSocket frame (with its payload) to the driver:
about 250 µs of CPU per streamed record on a 2-core machine, which a user's browser does not
spend and which skews gateway path against direct path. This driver speaks CDP itself and only
uses the Target, Page and Runtime domains (never `Network.enable`, nor `Runtime.enable`).

It mirrors the Playwright harness where it matters: the same Chromium flags and host resolver
rules (`https://lmarena.ai:<port>` → 127.0.0.1), certificate errors ignored (the harness's
`ignore_https_errors`; here `--ignore-certificate-errors`), the renderer-backgrounding switches
Playwright also passes, one browser context per tab, the hidden-tab shim and the userscript
injected as init scripts. It does *not* put the fake arena in the "public" address space
(`--ip-address-space-overrides`): the page stays loopback, so Local Network Access never
blocks its `ws://127.0.0.1` connection; the benchmark does not test LNA. There is no
`GM_xmlhttpRequest` backend (the harness's Playwright binding): the userscript's WebSocket
transport does not need it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from testkit.browser import (
    DEFAULT_HOSTS,
    build_injection,
    chromium_executable,
    hidden_shim,
    launch_args,
    parse_userscript,
)

#: Switches Playwright adds that keep tabs unthrottled (kept so both drivers compare alike).
PLAYWRIGHT_LIKE_FLAGS = (
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-dev-shm-usage",
)


class CdpError(RuntimeError):
    """A CDP call failed, or the page threw."""


class _Connection:
    """One CDP WebSocket; `call` is thread-safe (a lock around send + wait for its reply)."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, max_size=None, open_timeout=10)
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.lock:
            call_id = next(self.ids)
            self.ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
            while True:  # events (no "id") and late replies of timed-out calls are skipped
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"CDP {method} got no reply within {timeout} s")
                try:
                    message = json.loads(self.ws.recv(timeout=left))
                except TimeoutError:
                    raise TimeoutError(f"CDP {method} got no reply within {timeout} s") from None
                if message.get("id") == call_id:
                    break
        if "error" in message:
            raise CdpError(f"CDP {method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


class CdpTab:
    """A page in its own browser context, with its own CDP connection."""

    def __init__(self, browser: CdpBrowser, context_id: str, target_id: str) -> None:
        self.browser = browser
        self.context_id = context_id
        self.target_id = target_id
        self.cdp = _Connection(f"ws://127.0.0.1:{browser.port}/devtools/page/{target_id}")
        self.closed = False

    def evaluate(self, js: str, arg: Any = None, *, timeout: float = 30) -> Any:
        """Call the JS function source `js` with `arg` (JSON), await it, return its JSON value."""
        expression = f"({js})({json.dumps(arg)})"
        reply = self.cdp.call("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
        }, timeout)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"evaluate() threw: {text}")
        return reply.get("result", {}).get("value")

    def _poll(self, js: str, accept: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = self.evaluate(js, timeout=max(1.0, deadline - time.monotonic()))
                if accept(last):
                    return last
            except (CdpError, TimeoutError) as e:  # a navigation may destroy the context
                last = e
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} within {timeout} s (last: {last!r})")
            time.sleep(0.05)

    def wait_for_title_prefix(self, prefix: str, timeout: float = 15) -> str:
        """Wait until `document.title` starts with `prefix`; return the title."""
        title: str = self._poll("() => document.title",
                                lambda t: isinstance(t, str) and t.startswith(prefix), timeout,
                                f"title never started with {prefix!r}")
        return title

    def close(self) -> None:
        """Close the tab and its browser context. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.cdp.close()
        with contextlib.suppress(Exception):
            self.browser.cdp.call("Target.disposeBrowserContext",
                                  {"browserContextId": self.context_id}, 10)


class CdpBrowser:
    """One headless Chromium driven over raw CDP. Use `start`."""

    def __init__(self, process: subprocess.Popen[bytes], profile: Path, port: int,
                 browser_path: str, arena_port: int, hosts: Sequence[str]) -> None:
        self.process = process
        self.profile = profile
        self.port = port
        self.arena_port = arena_port
        self.hosts = tuple(hosts)
        self.cdp = _Connection(f"ws://127.0.0.1:{port}{browser_path}")
        self.tabs: list[CdpTab] = []

    @classmethod
    def start(cls, arena_port: int, public_ports: Sequence[int] = (), *,
              hosts: Sequence[str] = DEFAULT_HOSTS, timeout: float = 30) -> CdpBrowser:
        """Launch Chromium. `public_ports` is accepted for parity with `Browser.start` and
        ignored: no page is put in the public address space (see the module docstring)."""
        exe = chromium_executable()
        if not exe:
            raise RuntimeError("no Chromium found (set $LMARENAREV_CHROMIUM or install chromium)")
        profile = Path(tempfile.mkdtemp(prefix="lmarenarev-cdp-"))
        args = [exe, "--headless=new", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", "--ignore-certificate-errors",
                *launch_args(hosts, []), *PLAYWRIGHT_LIKE_FLAGS, "about:blank"]
        log = (profile / "chromium.log").open("wb")
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            port, path = _devtools_port(profile / "DevToolsActivePort", process, timeout)
            return cls(process, profile, port, path, arena_port, hosts)
        except BaseException:
            _kill(process)
            shutil.rmtree(profile, ignore_errors=True)
            raise

    def arena_url(self, path: str = "/", *, host: str | None = None,
                  port: int | None = None) -> str:
        """`https://lmarena.ai:<arena_port><path>`, as `Browser.arena_url`."""
        return f"https://{host or self.hosts[0]}:{port or self.arena_port}{path}"

    def open_tab(self, url: str, *, userscript: str, before: Sequence[str] = (),
                 timeout: float = 30) -> CdpTab:
        """Open `url` in a fresh browser context with `userscript` injected; wait for load.
        `before`: scripts run in every document ahead of it (e.g. a localStorage knob)."""
        context = self.cdp.call("Target.createBrowserContext")["browserContextId"]
        target = self.cdp.call("Target.createTarget",
                               {"url": "about:blank", "browserContextId": context})["targetId"]
        tab = CdpTab(self, context, target)
        self.tabs.append(tab)
        try:
            tab.cdp.call("Page.enable")
            for source in (*before, hidden_shim(), build_injection(parse_userscript(userscript))):
                tab.cdp.call("Page.addScriptToEvaluateOnNewDocument", {"source": source})
            navigated = tab.cdp.call("Page.navigate", {"url": url}, timeout)
            if navigated.get("errorText"):
                raise CdpError(f"navigating to {url}: {navigated['errorText']}")
            tab._poll("() => location.href !== 'about:blank' && document.readyState",
                      lambda state: state == "complete", timeout, f"{url} never loaded")
        except BaseException:
            tab.close()
            raise
        return tab

    def close(self) -> None:
        """Close every tab, kill Chromium's process group, remove the profile. Idempotent."""
        for tab in self.tabs:
            tab.close()
        self.cdp.close()
        _kill(self.process)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> CdpBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _devtools_port(path: Path, process: subprocess.Popen[bytes],
                   timeout: float) -> tuple[int, str]:
    """(port, browser WebSocket path) from Chromium's `DevToolsActivePort` file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with {process.returncode}; see its log")
        with contextlib.suppress(OSError, ValueError):
            lines = path.read_text().split("\n")
            if len(lines) >= 2 and lines[1].startswith("/"):
                return int(lines[0]), lines[1].strip()
        time.sleep(0.05)
    raise TimeoutError(f"Chromium wrote no {path.name} within {timeout} s")


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM Chromium's process group (it leads its own session), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
