"""Relay benchmark: the gateway against the direct path, in one run (docs/benchmarks.md).

    python -m bench.relay                 # full: HTTP/1.1 and HTTP/2, Python worker, 1 and 3
                                          # tabs, 1/6/24/96 streams, 5 runs → docs/benchmarks.md
    python -m bench.relay --quick         # < 1 min: HTTP/2, 1 tab, 1 and 24 streams (printed)
    python -m bench.relay --driver playwright   # tabs driven by Playwright instead of raw CDP
    python -m bench.relay --phases user variant # only the user's view (docs/benchmarks.md)

Processes: the fake LMArena in fast mode (stamped `a0:` records, docs/fake-arena.md) over TLS,
one speaking HTTP/1.1 and one HTTP/2; `lmarenarev serve`; a Python fake worker process or
Chromium tabs running the served userscript on the fake page, driven over raw CDP (bench/cdp.py,
no Network-domain instrumentation) or by the Playwright harness (testkit/browser/). The same
stream is then read two ways: directly (the page's own `fetch`, or for the Python worker the
same httpx fetch without the gateway) and through the gateway by a light raw-HTTP SSE client
(bench/relay_client.py), whose own ceiling is measured in the same run. These "raw" runs measure
the relay's own cost: the fake mints at once and answers at once, and the tabs keep no tokens.

The user's view (bench/relay_user.py) then models the real waits (the reCAPTCHA mint, the
model's first token) and compares the page's own path with the gateway's, the tabs' token pools
off and on (phase "user"), and batching on and off in two set-ups: raw CDP with the raw client,
and Playwright with the official `openai` client (phase "variant").
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cdp import CdpBrowser, CdpTab
from bench.procs import (
    ArenaProcess,
    GatewayProcess,
    run_fast,
    set_arena_defaults,
    spawn,
    start_arena,
    start_gateway,
    start_worker,
    wait_for,
)
from bench.relay_client import GatewayClient, StreamResult, stream_direct
from bench.relay_page import clock_offset_us, stream_pages
from bench.relay_report import (
    Scenario,
    chart,
    latency_table,
    median,
    run_stats,
    targets,
    throughput_table,
)
from bench.relay_user import (
    FIRST_TOKEN_MS,
    RECAPTCHA_MS,
    SETUPS,
    Route,
    UserCase,
    UserSession,
    set_waits,
)
from bench.relay_user_report import (
    BATCHED,
    POOL_OFF,
    POOL_ON,
    UNBATCHED,
    user_table,
    user_targets,
    variant_table,
    where_table,
)
from testkit.browser import Browser, Tab
from testkit.fakes.arena import DEFAULT_MODELS, V3_SITE_KEY, model_id
from testkit.fakes.arena_bodies import CREATE_PATH, create_body
from testkit.support import write_home

ROOT = Path(__file__).resolve().parents[1]

TOKEN = "bench-worker-token"
MODEL = "fake-gpt"
PROTOCOLS = {"h1": "HTTP/1.1", "h2": "HTTP/2"}
WORKERS = ("python", "1 tab", "3 tabs")
DRIVERS = ("cdp", "playwright")
PHASES = ("raw", "user", "variant")
USER_ROUTES = (Route(POOL_OFF, 0), Route(POOL_ON, 1))
VARIANT_ROUTES = (Route(BATCHED, 1), Route(UNBATCHED, 1, batches=False))
AnyTab = CdpTab | Tab


@dataclass(frozen=True)
class Plan:
    protocols: tuple[str, ...]
    workers: tuple[str, ...]
    streams: tuple[int, ...]
    throughput_streams: tuple[int, ...]
    repeats: int
    paced_records: int
    delay_ms: float
    fast_records: int
    record_chars: int
    rss_requests: int
    driver: str = "cdp"
    phases: tuple[str, ...] = ("raw",)
    user_streams: tuple[int, ...] = (1, 6, 24)
    variant_records: int = 200
    variant_setups: tuple[str, ...] = ("cdp+raw", "playwright+openai")
    recaptcha_ms: float = RECAPTCHA_MS
    first_token_ms: float = FIRST_TOKEN_MS


def plan_from(args: argparse.Namespace) -> Plan:
    quick = args.quick
    return Plan(
        protocols=tuple(args.protocols or (["h2"] if quick else ["h1", "h2"])),
        workers=tuple(args.workers or (["1 tab"] if quick else list(WORKERS))),
        streams=tuple(args.streams or ([1, 24] if quick else [1, 6, 24, 96])),
        throughput_streams=tuple(args.throughput_streams or [24]),
        repeats=args.repeats or (2 if quick else 5),
        paced_records=args.records or (40 if quick else 50),
        delay_ms=args.delay_ms,
        fast_records=args.fast_records or (200 if quick else 300),
        record_chars=args.record_chars,
        rss_requests=args.rss_requests if args.rss_requests is not None else (0 if quick
                                                                              else 10_000),
        driver=args.driver,
        phases=tuple(args.phases or (["raw"] if quick else list(PHASES))),
        user_streams=tuple(args.user_streams or ([1, 24] if quick else [1, 6, 24])),
        variant_records=args.variant_records or (40 if quick else 200),
        variant_setups=tuple(args.variant_setups or ("cdp+raw", "playwright+openai")),
        recaptcha_ms=args.recaptcha_ms,
        first_token_ms=args.first_token_ms,
    )


class Bench:
    """Everything started once; `measure` runs one scenario on both paths."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.arenas: dict[str, ArenaProcess] = {}
        self.gateway: GatewayProcess | None = None
        self.browser: CdpBrowser | Browser | None = None
        self.counter = 0
        self.client: GatewayClient | None = None
        self.log: Callable[[str], None] = lambda text: print(text, flush=True)

    # -- set-up -----------------------------------------------------------------------------

    def start(self) -> None:
        protocols = list(self.plan.protocols)
        if {"user", "variant"} & set(self.plan.phases) and "h2" not in protocols:
            protocols.append("h2")  # the user's view is measured over HTTP/2
        for proto in protocols:
            self.arenas[proto] = start_arena(
                self.workdir, http2=proto == "h2", stamped_records=self.plan.paced_records,
                record_chars=self.plan.record_chars, delay_ms=self.plan.delay_ms,
                cert_dir=self.workdir / "tls")
        # The raw runs measure the relay's own cost: no token pool (the user's view has them).
        home = write_home(self.workdir / "home", DEFAULT_MODELS, config={"token_pool_size": 0})
        self.gateway = start_gateway(home, {
            "worker_token": TOKEN, "worker_capacity": 128, "model_catalog_refresh_minutes": 0,
            "account_check_minutes": 0,
        }, wait=True)
        if "raw" in self.plan.phases and any(kind != "python" for kind in self.plan.workers):
            ports = [arena.port for arena in self.arenas.values()]
            if self.plan.driver == "cdp":
                self.browser = CdpBrowser.start(arena_port=ports[0], public_ports=ports)
            else:
                self.browser = Browser.start(arena_port=ports[0], public_ports=ports)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.browser is not None:
            self.browser.close()
        if self.gateway is not None:
            self.gateway.stop()
        for arena in self.arenas.values():
            arena.stop()

    def health(self) -> dict[str, Any]:
        import httpx

        assert self.gateway is not None
        data: dict[str, Any] = httpx.get(f"{self.gateway.url}/health", timeout=10).json()
        return data

    def wait_workers(self, count: int) -> None:
        wait_for(lambda: len(self.health()["workers"]) == count, 30,
                 f"{count} worker(s) connected to the gateway", self.gateway)

    @contextmanager
    def python_worker(self, proto: str) -> Iterator[None]:
        assert self.gateway is not None
        worker = start_worker(self.workdir, gateway_url=self.gateway.url, token=TOKEN,
                              arena_url=self.arenas[proto].url, http2=proto == "h2",
                              capacity=128, name=f"worker-{proto}")
        try:
            self.wait_workers(1)
            yield
        finally:
            worker.stop()
            self.wait_workers(0)

    @contextmanager
    def tabs(self, proto: str, count: int) -> Iterator[list[AnyTab]]:
        assert self.browser is not None and self.gateway is not None
        import httpx

        script = httpx.get(f"{self.gateway.url}/bridge.user.js", timeout=10).text
        url = self.browser.arena_url("/?mode=direct", port=self.arenas[proto].port)
        opened: list[AnyTab] = []
        try:
            for _ in range(count):
                tab = self.browser.open_tab(url, userscript=script)
                opened.append(tab)
                tab.wait_for_title_prefix("✅", timeout=30)
            self.wait_workers(count)
            yield opened
        finally:
            for tab in opened:
                tab.close()
            self.wait_workers(0)

    # -- runs -------------------------------------------------------------------------------

    def set_reply(self, proto: str, records: int, delay_ms: float) -> None:
        set_arena_defaults(self.arenas[proto].url, stamped_records=records,
                           delay=delay_ms / 1000, record_chars=self.plan.record_chars)

    def prompts(self, count: int) -> list[str]:
        self.counter += 1
        return [f"bench run {self.counter} stream {index}" for index in range(count)]

    def via_gateway(self, count: int) -> tuple[list[StreamResult], float]:
        assert self.gateway is not None
        bodies = [{"model": MODEL, "stream": True,
                   "messages": [{"role": "user", "content": text}]}
                  for text in self.prompts(count)]
        client = self._client()
        client.prepare(count)  # the client's pool holds a connection per stream (not timed)
        before = self.gateway.cpu_seconds()
        results = client.run(bodies)
        return results, self.gateway.cpu_seconds() - before

    def _client(self) -> GatewayClient:
        assert self.gateway is not None
        if self.client is None:
            self.client = GatewayClient(self.gateway.port)
        return self.client

    def direct(self, proto: str, count: int, tabs: Sequence[AnyTab],
               offsets: Sequence[float]) -> list[StreamResult]:
        bodies = [create_body(model_id(MODEL), text, token=None) for text in self.prompts(count)]
        if not tabs:
            return run_fast(stream_direct(self.arenas[proto].url, bodies, http2=proto == "h2",
                                             site_key=V3_SITE_KEY))
        return stream_pages(tabs, offsets, bodies, site_key=V3_SITE_KEY, path=CREATE_PATH)

    def measure(self, proto: str, workers: str, count: int, records: int, delay_ms: float,
                tabs: Sequence[AnyTab]) -> Scenario:
        scenario = Scenario(PROTOCOLS[proto], workers, count, records, delay_ms)
        self.set_reply(proto, records, delay_ms)
        offsets = [clock_offset_us(tab) for tab in tabs]
        chars = self.plan.record_chars
        self.direct(proto, min(count, 6), tabs, offsets)  # warm-up: connections, caches
        self.via_gateway(min(count, 6))
        for rep in range(self.plan.repeats):
            order = ("direct", "gateway") if rep % 2 == 0 else ("gateway", "direct")
            for path in order:
                if path == "direct":
                    scenario.direct.append(run_stats(self.direct(proto, count, tabs, offsets),
                                                     chars))
                else:
                    results, cpu = self.via_gateway(count)
                    scenario.gateway.append(run_stats(results, chars, cpu))
        self.log(summary(scenario))
        return scenario

    def run_workers(self, proto: str, workers: str) -> list[Scenario]:
        plan = self.plan
        out: list[Scenario] = []
        with self._workers(proto, workers) as tabs:
            for count in plan.streams:
                out.append(self.measure(proto, workers, count, plan.paced_records, plan.delay_ms,
                                        tabs))
            for count in plan.throughput_streams:
                out.append(self.measure(proto, workers, count, plan.fast_records, 0, tabs))
        return out

    @contextmanager
    def _workers(self, proto: str, workers: str) -> Iterator[list[AnyTab]]:
        if workers == "python":
            with self.python_worker(proto):
                yield []
        else:
            with self.tabs(proto, 3 if workers == "3 tabs" else 1) as opened:
                yield opened

    def client_ceiling(self, count: int) -> float:
        """Records/s the SSE client itself reads from a server much faster than the gateway."""
        command = [sys.executable, "-m", "bench.relay_client", "ceiling-server",
                   "--records", str(self.plan.fast_records), "--chars", str(self.plan.record_chars)]
        server = spawn(command, self.workdir / "ceiling.log")
        try:
            wait_for(lambda: "ready" in server.log(), 20, "the ceiling server", server)
            port = int(server.log().split("ready ", 1)[1].split()[0].rsplit(":", 1)[1])
            body = {"model": MODEL, "stream": True, "messages": []}
            client = GatewayClient(port)
            rates = []
            try:
                for _ in range(self.plan.repeats):
                    client.prepare(count)
                    results = client.run([body] * count)
                    rates.append(run_stats(results, self.plan.record_chars).records_per_s)
            finally:
                client.close()
            return max(rates)
        finally:
            server.stop()

    def user_view(self) -> list[UserCase]:
        """The user's view over HTTP/2 (bench/relay_user.py): its own gateways and tabs, the
        fake's modelled waits on for the phase."""
        plan = self.plan
        arena = self.arenas["h2"]
        sessions: list[tuple[str, tuple[Route, ...], list[tuple[int, int, float]]]] = []
        if "user" in plan.phases:
            paced = [(n, plan.paced_records, plan.delay_ms) for n in plan.user_streams]
            sessions.append(("cdp+raw", USER_ROUTES, paced))
        if "variant" in plan.phases:
            scenarios = [(1, plan.variant_records, plan.delay_ms),
                         (24, plan.variant_records, plan.delay_ms), (24, plan.fast_records, 0.0)]
            sessions += [(setup, VARIANT_ROUTES, scenarios) for setup in plan.variant_setups]
        cases: list[UserCase] = []
        set_waits(arena, plan.recaptcha_ms, plan.first_token_ms)
        try:
            for setup, routes, scenarios in sessions:
                session = UserSession(arena, self.workdir, setup, routes,
                                      record_chars=plan.record_chars, log=self.log)
                try:
                    session.start()
                    cases += [session.case(n, records, delay, plan.repeats)
                              for n, records, delay in scenarios]
                finally:
                    session.close()
        finally:
            set_waits(arena, 0, 0)
        return cases

    def rss_phase(self, requests: int) -> tuple[int, int, int, int]:
        """(RSS after 1,000 warm-up requests, RSS after `requests` more in kB, requests,
        failed requests): the Python worker, 5 records per reply, 32 requests at a time."""
        proto = "h2" if "h2" in self.arenas else next(iter(self.arenas))
        assert self.gateway is not None
        self.set_reply(proto, 5, 0)
        with self.python_worker(proto):
            failed = self._drive(1000)
            warm = self.gateway.rss_kb()
            failed += self._drive(requests)
            return warm, self.gateway.rss_kb(), requests, failed

    def _drive(self, requests: int, batch: int = 32) -> int:
        """Send `requests` requests; the number that failed (a failure is reported, not fatal:
        the figures above are already measured)."""
        done = failed = 0
        while done < requests:
            count = min(batch, requests - done)
            results, _ = self.via_gateway(count)
            errors = [r.error for r in results if r.error]
            if errors and not failed:
                self.log(f"RSS phase: a request failed: {errors[0][:200]}")
            failed += len(errors)
            done += count
        return failed


def summary(s: Scenario) -> str:
    def med(values: Sequence[float]) -> float:
        found = median(values)
        return float("nan") if found is None else found

    first = [r.ttft_ms for r in s.gateway]
    text = (f"{s.protocol:8} {s.workers:6} n={s.streams:<3} {s.records}×{s.delay_ms:g}ms  "
            f"ΔTTFT {med(s.ttft_diff()):6.2f} ms (gw {med(first):.1f})  "
            f"total÷direct {med(s.total_ratio()):.3f}  "
            f"rec/s {med([r.records_per_s for r in s.direct]):,.0f} → "
            f"{med([r.records_per_s for r in s.gateway]):,.0f}  "
            f"cpu {med(s.cpu()):.1f} µs/rec")
    errors = s.errors()
    if errors:
        text += f"  ERRORS {len(errors)}: {errors[0][:200]}"
    return text


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True,
                                  text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "no Chromium"
    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}, {chromium}")


def report(plan: Plan, scenarios: list[Scenario], ceiling: float | None,
           rss: tuple[int, int, int, int] | None, command: str, seconds: float,
           chart_name: str | None, user: Sequence[UserCase] = ()) -> str:
    growth = None if rss is None else (rss[1] - rss[0]) / 1024
    judged = (targets(scenarios, growth) if "raw" in plan.phases else []) + (
        user_targets(user) if user else [])
    lines = [
        "## Results", "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}; "
        f"the whole run took {seconds:.0f} s.", "",
        f"    {command}", "",
        "### Targets (median run, one Chromium tab)", "",
        "| target | limit | measured | |", "|---|--:|--:|---|",
        *(t.row() for t in judged), "",
        *_user_sections(plan, user),
    ]
    if "raw" not in plan.phases:
        return "\n".join(lines)
    lines += [
        f"### Latency: {plan.paced_records} records per reply, {plan.delay_ms:g} ms apart, "
        f"{plan.record_chars} characters each", "",
        "Each cell is min / median / max over the runs.", "",
        *latency_table(scenarios), "",
        f"### Throughput: {plan.fast_records} records per reply, no delay", "",
        *throughput_table(scenarios, ceiling), "",
    ]
    if rss is not None:
        lines += ["### Memory", "",
                  f"Gateway RSS after 1,000 warm-up requests: {rss[0] / 1024:.1f} MB; after "
                  f"{rss[2]:,} more: {rss[1] / 1024:.1f} MB (growth {growth:+.1f} MB); "
                  f"{rss[3]} of them failed.", ""]
    if chart_name:
        lines += [f"![Δ TTFT and total time against direct]({chart_name})", ""]
    errors = [e for s in scenarios for e in s.errors()] + [e for c in user for e in c.errors()]
    if errors:
        lines += [f"**{len(errors)} stream(s) failed**; the first: `{errors[0][:300]}`", ""]
    return "\n".join(lines)


def _user_sections(plan: Plan, user: Sequence[UserCase]) -> list[str]:
    if not user:
        return []
    waits = (f"the fake's reCAPTCHA takes {plan.recaptcha_ms:g} ms to mint, the model "
             f"{plan.first_token_ms:g} ms to its first token")
    lines: list[str] = []
    table = user_table(user)
    if len(table) > 2:
        lines += [f"### The user's view: {plan.paced_records} records per reply, "
                  f"{plan.delay_ms:g} ms apart, HTTP/2, raw CDP + raw client", "",
                  f"With the modelled waits on ({waits}). Each cell is min / median / max "
                  "over the runs; Δ is the gateway's TTFT minus the page's in the same repeat.",
                  "", *table, ""]
    table = variant_table(user)
    if len(table) > 2:
        lines += ["### The user's view: batching on and off, two set-ups, HTTP/2", "",
                  f"Token pools on, the modelled waits on ({waits}). Each set-up against its "
                  "own page path in the same browser.", "", *table, ""]
    table = where_table(user)
    if len(table) > 2:
        lines += ["### Where the 24-stream TTFT goes", "",
                  "Medians over the runs of the means over the streams, ms from the run's "
                  "start: when the request left (the page: once its token was minted; the "
                  "gateway's client: when it sent the request), when the fake sent the first "
                  "record (its stamp), when the reader got it.", "", *table, ""]
    return lines


RESULTS_MARK = "<!-- results: written by bench/relay.py -->"


def write_doc(path: Path, results: str) -> None:
    """Replace everything after the results marker (the method above it is hand-written)."""
    text = path.read_text("utf-8") if path.exists() else f"# Benchmarks\n\n{RESULTS_MARK}\n"
    head = text.split(RESULTS_MARK, 1)[0]
    path.write_text(f"{head}{RESULTS_MARK}\n\n{results}\n", "utf-8")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a < 1 min check (printed only)")
    parser.add_argument("--protocols", nargs="+", choices=sorted(PROTOCOLS))
    parser.add_argument("--workers", nargs="+", choices=WORKERS)
    parser.add_argument("--streams", nargs="+", type=int, help="paced runs (default 1 6 24 96)")
    parser.add_argument("--throughput-streams", nargs="+", type=int,
                        help="unpaced runs (default 24)")
    parser.add_argument("--repeats", type=int, help="runs per scenario and path (default 5)")
    parser.add_argument("--records", type=int, help="records per paced reply (default 50)")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="between paced records")
    parser.add_argument("--fast-records", type=int, help="records per unpaced reply (300)")
    parser.add_argument("--record-chars", type=int, default=32)
    parser.add_argument("--rss-requests", type=int, help="requests of the memory phase (10000)")
    parser.add_argument("--driver", choices=DRIVERS, default="cdp",
                        help="how Chromium is driven: raw CDP without Network-domain events "
                        "(bench/cdp.py, default) or the Playwright e2e harness")
    parser.add_argument("--phases", nargs="+", choices=PHASES,
                        help="raw (the relay's own cost), user (the user's view, token pools off "
                        "and on), variant (batching on and off, raw CDP and Playwright + openai); "
                        "default all, --quick: raw")
    parser.add_argument("--user-streams", nargs="+", type=int,
                        help="streams of the user's view (default 1 6 24)")
    parser.add_argument("--variant-records", type=int,
                        help="records per paced reply of the variant (default 200)")
    parser.add_argument("--variant-setups", nargs="+", choices=SETUPS,
                        help="driver+reader set-ups of the variant (default cdp+raw "
                        "playwright+openai)")
    parser.add_argument("--recaptcha-ms", type=float, default=RECAPTCHA_MS,
                        help="the user's view: the fake's reCAPTCHA mint time (default 200)")
    parser.add_argument("--first-token-ms", type=float, default=FIRST_TOKEN_MS,
                        help="the user's view: the model's time to its first token (500)")
    parser.add_argument("--out", type=Path, help="markdown to update (default: the full run "
                        "writes docs/benchmarks.md, --quick prints only)")
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the `finally`s stop Chromium, the gateways, the fakes


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # e.g. `timeout`: Chromium leads its own
    args = parse(argv)
    plan = plan_from(args)
    everything = not args.quick and set(plan.phases) == set(PHASES)
    out = args.out or (ROOT / "docs" / "benchmarks.md" if everything else None)
    given = list(sys.argv[1:] if argv is None else argv)
    if not any(arg.startswith("--driver") for arg in given):
        given += ["--driver", args.driver]  # the record names the driver even by default
    command = "python -m bench.relay " + shlex.join(given)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lmarenarev-bench-") as tmp:
        bench = Bench(plan, Path(tmp))
        try:
            bench.start()
            scenarios: list[Scenario] = []
            ceiling, rss = None, None
            if "raw" in plan.phases:
                scenarios = [s for proto in plan.protocols for workers in plan.workers
                             for s in bench.run_workers(proto, workers)]
                ceiling = bench.client_ceiling(max(plan.throughput_streams, default=24))
                print(f"client ceiling: {ceiling:,.0f} records/s", flush=True)
                rss = bench.rss_phase(plan.rss_requests) if plan.rss_requests else None
            user = bench.user_view()
            problems = bench.gateway.log_problems() if bench.gateway else []
        finally:
            bench.close()
    chart_name = None
    if out is not None and scenarios:
        png = out.with_suffix(".png")
        chart_name = png.name if chart(scenarios, png) else None
    text = report(plan, scenarios, ceiling, rss, command.strip(), time.monotonic() - started,
                  chart_name, user)
    print(text)
    if problems:
        print("gateway log problems:\n" + "\n".join(problems[:20]))
    if out is not None:
        write_doc(out, text)
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
