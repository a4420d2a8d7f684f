"""Start-up of the managed browser (docs/browser.md, docs/benchmarks.md "The managed browser").

    python -m bench.browser_startup [--runs 5]

1. `lmarenarev serve --browser --headless` against the fake LMArena (https, public address
   space, like the real site): from the command to the gateway answering /health, to the first
   managed tab connected, to the first chat answer (one request sent as soon as /health
   answers; it waits for the tab). The first run starts on a new profile, the others on the
   profile the first one left.
2. The DevTools driver alone, raw CDP over a pipe (what the gateway uses) against Playwright
   driving the same Chromium: from nothing to a page that evaluated `1`, then closed.

Prints markdown. Needs the test extras (Playwright, for the comparison) and Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.procs import clean_env
from lmarenarev.browser.launch import browser_args, launch
from testkit.browser import chromium_executable, managed_browser_args
from testkit.fakes.arena import FakeArena
from testkit.fakes.serving import ServerThread
from testkit.fakes.tls import make_self_signed, spki_sha256
from testkit.support import free_port, stop_process, wait_until, write_home

_SCRIPT = Path(sys.executable).with_name("lmarenarev")
LMARENAREV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "lmarenarev"]


def serve_once(home: Path, *flags: str) -> tuple[float, float | None, float]:
    """Seconds from the command to /health, to the first managed tab connected (None without
    --browser), to the first answer (a request sent once the tab is there)."""
    port = free_port()
    began = time.monotonic()
    process = subprocess.Popen(
        [*LMARENAREV, "serve", "--home", str(home), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), 60, "/health")
        health = time.monotonic() - began
        if not flags:
            return health, None, health
        wait_until(lambda: any(w["managed"] for w in _status(url)["workers"]), 60, "a tab")
        tab = time.monotonic() - began
        answer = httpx.post(f"{url}/v1/chat/completions", timeout=60, json={
            "model": "fake-gpt", "messages": [{"role": "user", "content": "first"}],
        })
        assert answer.json()["choices"][0]["message"]["content"] == "Echo: first", answer.text
        return health, tab, time.monotonic() - began
    finally:
        stop_process(process)


def _status(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/api/admin/status", timeout=5).json()
    return answer


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def raw_cdp(exe: str) -> tuple[float, float]:
    """Seconds to a page that evaluated 1, then to the browser closed."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as profile:
        browser = await launch(exe, browser_args(Path(profile), headless=True, extra=[]),
                               Path(profile))
        try:
            target = await browser.cdp.call("Target.createTarget", {"url": "about:blank"})
            session = await browser.cdp.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
            found = await browser.cdp.call(
                "Runtime.evaluate", {"expression": "1", "returnByValue": True},
                session=session["sessionId"])
            assert found["result"]["value"] == 1
            ready = time.monotonic() - began
        finally:
            await browser.stop()
    return ready, time.monotonic() - began - ready


async def playwright(exe: str) -> tuple[float, float]:
    from playwright.async_api import async_playwright

    began = time.monotonic()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=exe, headless=True)
        page = await browser.new_page()
        assert await page.evaluate("1") == 1
        ready = time.monotonic() - began
        await browser.close()
    return ready, time.monotonic() - began - ready


def timed(runs: int, fn: Callable[[], Awaitable[tuple[float, float]]]) -> list[tuple[float, float]]:
    return [asyncio.run(fn()) for _ in range(runs)]  # type: ignore[arg-type]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    exe = chromium_executable()
    if exe is None:
        raise SystemExit("no Chromium (set $LMARENAREV_CHROMIUM or install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        tls = make_self_signed(Path(tmp) / "tls")
        arena = FakeArena()
        with ServerThread(arena.app, ssl=tls) as server:
            home = write_home(Path(tmp) / "home", arena.models, config={
                "model_catalog_refresh_minutes": 0,
                "browser": {
                    "executable": exe,
                    "page_url": f"https://lmarena.ai:{server.port}/?mode=direct",
                    "args": managed_browser_args(server.port, spki_sha256(tls.certfile)),
                },
            })
            serves = [serve_once(home, "--browser", "--headless") for _ in range(runs)]
            plain = [serve_once(home)[0] for _ in range(runs)]
    print("| `lmarenarev serve` | /health | managed tab connected | first answer |")
    print("|---|--:|--:|--:|")
    first = serves[0]
    print(f"| `--browser --headless`, new profile (run 1) | {first[0]:.2f} s | "
          f"{first[1]:.2f} s | {first[2]:.2f} s |")
    rest = serves[1:] or serves
    print("| `--browser --headless`, existing profile (median of the others) | "
          + " | ".join(f"{statistics.median(float(r[i] or 0) for r in rest):.2f} s"
                       for i in range(3)) + " |")
    print(f"| no browser (median) | {statistics.median(plain):.2f} s | – | – |")
    print()
    print("| driver (median of the runs, min–max) | Chromium started, a page evaluated 1 | "
          "closed |")
    print("|---|--:|--:|")
    for name, fn in (("raw CDP over a pipe (lmarenarev)", raw_cdp),
                     ("Playwright for Python (its Node.js driver)", playwright)):
        times = timed(runs, lambda fn=fn: fn(exe))  # type: ignore[misc]
        print(f"| {name} | {summary([t[0] for t in times])} | "
              f"{summary([t[1] for t in times])} |")


if __name__ == "__main__":
    main()
