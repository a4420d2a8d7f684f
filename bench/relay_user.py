"""The user's view for bench/relay.py (docs/benchmarks.md "The user's view").

What a user waits for on the real site is mostly what the relay does not cause: the page mints
a reCAPTCHA token before each request (a round trip to Google) and the model takes its time to
its first token. With those waits modelled by the fake (`recaptcha_delay`, `first_token_delay`,
docs/fake-arena.md), this measures the time from the client's request to the first content
chunk on the page's own path (mint, then fetch: bench/relay_page.py) and through the gateway,
with the tabs' token pools off and on, in one browser:

- **routes**: a gateway process of its own per route, each with one tab of its own (so a
  route's jobs all go to its tab), e.g. "pool off" (token_pool_size 0), "pool on" (1),
  "pool on, batching off" (the tab's `lmarenarev:batches` knob, docs/worker-protocol.md);
- **set-ups**: Chromium over raw CDP read by the raw HTTP client (bench/cdp.py,
  bench/relay_client.py), or Chromium driven by Playwright (its Network domain on, as in any
  Playwright or open-DevTools session) read by the official `openai` client in a process of its
  own (bench/relay_openai.py);
- each repeat runs the page's path and every route once, in an order that rotates.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.cdp import CdpBrowser, CdpTab
from bench.procs import ArenaProcess, GatewayProcess, set_arena_defaults, start_gateway, wait_for
from bench.relay_client import GatewayClient, StreamResult
from bench.relay_openai import OpenAIReader
from bench.relay_page import clock_offset_us, stream_pages
from bench.relay_report import RunStats, run_stats
from lmarenarev.store.db import db_path
from testkit.browser import Browser, Tab
from testkit.fakes.arena import DEFAULT_MODELS, V3_SITE_KEY, model_id
from testkit.fakes.arena_bodies import CREATE_PATH, create_body
from testkit.support import write_home

RECAPTCHA_MS = 200.0  # the modelled waits' defaults (docs/benchmarks.md says why)
FIRST_TOKEN_MS = 500.0
MODEL = "fake-gpt"
TOKEN = "bench-user-token"
PAGE = "page"  # the page's own path, in results
BATCHES_OFF_JS = "try { localStorage.setItem('lmarenarev:batches', 'off'); } catch (e) {}"
BATCHES_OFF_USERSCRIPT = (
    "// ==UserScript==\n// @name         lmarenarev bench: batching off\n"
    "// @match        https://lmarena.ai/*\n// @run-at       document-start\n"
    "// @grant        none\n// ==/UserScript==\n" + BATCHES_OFF_JS + "\n")
AnyTab = CdpTab | Tab
DRIVERS = {"cdp": "raw CDP", "playwright": "Playwright"}
READERS = {"raw": "raw client", "openai": "openai client"}
SETUPS = tuple(f"{driver}+{reader}" for driver in DRIVERS for reader in READERS)


def setup_name(setup: str) -> str:
    """"playwright+openai" → "Playwright + openai client"."""
    driver, reader = setup.split("+")
    return f"{DRIVERS[driver]} + {READERS[reader]}"


@dataclass(frozen=True)
class Route:
    """A way a user's request goes: a gateway with one tab of its own."""

    name: str
    pool: int  # token_pool_size
    batches: bool = True


@dataclass
class Lane:
    route: Route
    gateway: GatewayProcess
    tab: AnyTab
    home: Path
    client: GatewayClient | None = None  # the raw reader's connections to this gateway


@dataclass
class UserCase:
    """One scenario: the page's runs and each route's, in the same repeats."""

    setup: str
    streams: int
    records: int
    delay_ms: float
    runs: dict[str, list[RunStats]] = field(default_factory=dict)  # PAGE, then the routes
    pool_uses: dict[str, tuple[int, int]] = field(default_factory=dict)  # (hits, misses)
    # Per route and run, from the gateway's request log, ms from the run's start (means over
    # the streams): when its handler began the request, when it had the first token.
    marks: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def diff(self, route: str) -> list[float]:
        """Δ TTFT against the page, ms, per repeat."""
        return [r.ttft_ms - p.ttft_ms for p, r in zip(self.runs[PAGE], self.runs[route],
                                                         strict=False)]

    def ratio(self, route: str, metric: Callable[[RunStats], float]) -> list[float]:
        return [metric(r) / metric(p) for p, r in zip(self.runs[PAGE], self.runs[route],
                                                      strict=False) if metric(p)]

    def errors(self) -> list[str]:
        return [e for runs in self.runs.values() for run in runs for e in run.errors]


class UserSession:
    """One set-up (driver and reader) with its routes started; `case` measures a scenario."""

    def __init__(self, arena: ArenaProcess, workdir: Path, setup: str, routes: Sequence[Route],
                 *, record_chars: int, log: Callable[[str], None]) -> None:
        self.arena = arena
        self.workdir = workdir
        self.driver, self.reader_kind = setup.split("+")
        self.setup = setup_name(setup)
        self.slug = setup.replace("+", "-")  # names its gateways' homes and its reader's log
        self.routes = list(routes)
        self.record_chars = record_chars
        self.log = log
        self.browser: CdpBrowser | Browser | None = None
        self.lanes: list[Lane] = []
        self.reader: OpenAIReader | None = None
        self.counter = 0

    def start(self) -> None:
        start = CdpBrowser.start if self.driver == "cdp" else Browser.start
        self.browser = start(arena_port=self.arena.port, public_ports=[self.arena.port])
        if self.reader_kind == "openai":
            self.reader = OpenAIReader(self.workdir / f"openai-reader-{self.slug}.log")
        for index, route in enumerate(self.routes):
            self.lanes.append(self._lane(index, route))

    def _lane(self, index: int, route: Route) -> Lane:
        assert self.browser is not None
        # A home of its own per set-up: a gateway that remembers another set-up's requests
        # takes the same text sent again for a regenerate (chat_retry, minted on demand).
        home = write_home(self.workdir / f"user-{self.slug}-{index}", DEFAULT_MODELS,
                          config={"token_pool_size": route.pool})
        gateway = start_gateway(home, {"worker_token": TOKEN, "worker_capacity": 128,
                                       "model_catalog_refresh_minutes": 0}, wait=True)
        script = httpx.get(f"{gateway.url}/bridge.user.js", timeout=10).text
        url = self.browser.arena_url("/?mode=direct", port=self.arena.port)
        tab: AnyTab
        if isinstance(self.browser, CdpBrowser):
            before = () if route.batches else (BATCHES_OFF_JS,)
            tab = self.browser.open_tab(url, userscript=script, before=before)
        else:
            scripts = [script] if route.batches else [BATCHES_OFF_USERSCRIPT, script]
            tab = self.browser.open_tab(url, userscript=scripts)
        lane = Lane(route, gateway, tab, home)
        tab.wait_for_title_prefix("✅", timeout=30)
        wait_for(lambda: _workers(gateway) == 1, 30, f"the tab of route {route.name}", gateway)
        pool_on = "true" if route.pool else "false"
        _wait_in_tab(tab, f"window.__lmarenarev.status().token_pool.on === {pool_on}")
        return lane

    def close(self) -> None:
        for lane in self.lanes:
            if lane.client is not None:
                lane.client.close()
            lane.tab.close()
            lane.gateway.stop()
        if self.reader is not None:
            self.reader.close()
        if self.browser is not None:
            self.browser.close()

    # -- runs -------------------------------------------------------------------------------

    def case(self, streams: int, records: int, delay_ms: float, repeats: int) -> UserCase:
        set_arena_defaults(self.arena.url, stamped_records=records, delay=delay_ms / 1000,
                           record_chars=self.record_chars)
        page_tab = self.lanes[0].tab  # the page's own path runs in the first route's tab
        offset = clock_offset_us(page_tab)
        case = UserCase(self.setup, streams, records, delay_ms)
        paths: list[Lane | None] = [None, *self.lanes]  # None: the page's own path

        def run(path: Lane | None, count: int) -> list[StreamResult]:
            return self._page(page_tab, offset, count) if path is None else self._gateway(
                path, count)

        run(None, min(streams, 6))  # warm-up: the page's connection
        for lane in self.lanes:  # warm-up: the client's connections; the pools fill
            run(lane, streams)
        before = {lane.route.name: _pool_uses(lane.gateway) for lane in self.lanes}
        windows: dict[str, list[tuple[float, float]]] = {}
        for rep in range(repeats):
            turn = rep % len(paths)
            for path in paths[turn:] + paths[:turn]:
                name = PAGE if path is None else path.route.name
                results = run(path, streams)
                case.runs.setdefault(name, []).append(run_stats(results, self.record_chars))
                if path is not None:
                    windows.setdefault(name, []).append(
                        (min(r.start for r in results), max(r.end or r.start for r in results)))
        for lane in self.lanes:
            case.marks[lane.route.name] = _marks(lane.home, windows[lane.route.name], streams)
        for lane in self.lanes:
            hits, misses = _pool_uses(lane.gateway)
            was = before[lane.route.name]
            case.pool_uses[lane.route.name] = (hits - was[0], misses - was[1])
        self.log(_summary(case))
        return case

    def _bodies(self, count: int) -> list[str]:
        self.counter += 1
        return [f"user run {self.counter} stream {index}" for index in range(count)]

    def _page(self, tab: AnyTab, offset: float, count: int) -> list[StreamResult]:
        bodies = [create_body(model_id(MODEL), text, token=None) for text in self._bodies(count)]
        return stream_pages([tab], [offset], bodies, site_key=V3_SITE_KEY, path=CREATE_PATH)

    def _gateway(self, lane: Lane, count: int) -> list[StreamResult]:
        bodies = [{"model": MODEL, "stream": True, "messages": [{"role": "user", "content": t}]}
                  for t in self._bodies(count)]
        if self.reader is not None:
            return self.reader.run(f"{lane.gateway.url}/v1", bodies)
        if lane.client is None:
            lane.client = GatewayClient(lane.gateway.port)
        lane.client.prepare(count)
        return lane.client.run(bodies)


def _marks(home: Path, windows: Sequence[tuple[float, float]], streams: int,
           timeout: float = 10) -> list[tuple[float, float]]:
    """For each run's window: (when the gateway began the requests, when it had their first
    token), means over the run's requests in ms from the window's start; read from its request
    log (`started_at`, `ttft_ms`) once the log writer has them all."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{db_path(home)}?mode=ro", uri=True) as conn:
            rows = [conn.execute("SELECT started_at, ttft_ms FROM requests WHERE started_at "
                                 "BETWEEN ? AND ?", (start - 0.001, end)).fetchall()
                    for start, end in windows]
        complete = all(len(found) >= streams for found in rows)
        if complete or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    marks = []
    for (start, _), found in zip(windows, rows, strict=True):
        good = [(began, ttft) for began, ttft in found if ttft is not None]
        if not good:
            marks.append((float("nan"), float("nan")))
            continue
        marks.append((statistics.fmean(began - start for began, _ in good) * 1000,
                      statistics.fmean(began + ttft / 1000 - start for began, ttft in good)
                      * 1000))
    return marks


def set_waits(arena: ArenaProcess, recaptcha_ms: float, first_token_ms: float) -> None:
    set_arena_defaults(arena.url, recaptcha_delay=recaptcha_ms / 1000,
                       first_token_delay=first_token_ms / 1000)


def _workers(gateway: GatewayProcess) -> int:
    health: dict[str, Any] = httpx.get(f"{gateway.url}/health", timeout=10).json()
    return len(health["workers"])


def _wait_in_tab(tab: AnyTab, condition: str, timeout: float = 20) -> None:
    if isinstance(tab, CdpTab):
        tab._poll(f"() => {condition}", bool, timeout, f"tab condition {condition}")
    else:
        tab.wait_for(condition, timeout=timeout)


def _pool_uses(gateway: GatewayProcess) -> tuple[int, int]:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text

    def counter(name: str) -> int:
        found = re.search(rf"^lmarenarev_token_pool_{name}_total (\S+)$", text, re.MULTILINE)
        return int(float(found.group(1))) if found else 0

    return counter("hits"), counter("misses")


def _summary(case: UserCase) -> str:
    page = statistics.median(r.ttft_ms for r in case.runs[PAGE])
    parts = [f"{case.setup:26} n={case.streams:<3} {case.records}×{case.delay_ms:g}ms  "
             f"page TTFT {page:.0f} ms"]
    for name in case.runs:
        if name == PAGE:
            continue
        diffs = case.diff(name)
        hits, misses = case.pool_uses.get(name, (0, 0))
        parts.append(f"{name}: Δ {statistics.median(diffs):+.1f} ms"
                     f" (pool {hits}/{hits + misses})" if diffs else f"{name}: –")
    errors = case.errors()
    if errors:
        parts.append(f"ERRORS {len(errors)}: {errors[0][:200]}")
    return "  ".join(parts)
