"""Soak: many requests of mixed outcomes through `lmarenarev serve`; is memory bounded?

    python -m bench.soak [--requests 10000] [--concurrency 16] [--workers 3] [--out docs/soak.md]
    python -m bench.soak --quick          # 500 requests, a smoke run (report printed only)

The fake LMArena runs in a thread of this process, the gateway as its own process (so its RSS,
read from /proc/<pid>/status, is the gateway's alone), and the Python fake workers on this
process's event loop (all over WebSocket but one over long-poll). Every request has a distinct
prompt tag `[soak-NNNNNN]` and its upstream answer is scripted for that tag, so its outcome is
known in advance whatever the interleaving. Method and targets: docs/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from bench.procs import GatewayProcess, start_gateway
from lmarenarev.chat.retry import RetryPolicy
from lmarenarev.config.settings import Settings
from testkit.fakes.arena import FakeArena, Reply
from testkit.fakes.serving import ServerThread
from testkit.fakes.worker import FakeWorker, WorkerRejected
from testkit.support import write_home

ROOT = Path(__file__).resolve().parents[1]

TOKEN = "soak-worker-token"
STREAM_TIMEOUT = 2.0  # default of --stream-timeout
RSS_TARGET_MB = 10.0
FILLER = "the quick brown fox jumps over the lazy dog " * 5
CUT_AFTER_BYTES = 200  # past `af:` + `a2:` (~85 bytes): a few `a0:` records reach the client
CLIENT_GONE_AFTER = 0.5  # a non-streaming client gives up after this many seconds
EARLY_GONE_AFTER = 0.3  # … or, in "client-gone-early", any client (before the first byte)
LEFT_REPLY_DELAY = 0.08  # between the ~60 records of a reply the client leaves: ~5 s in all, so
# that a client slowed down by a busy machine still leaves long before the reply ends
REQUEST_DEADLINE = 60.0  # no scripted request takes more than a few seconds: longer is a hang
SETTLE_TIMEOUT = 30.0
TAG = re.compile(r"\[soak-\d{6}\]")
# `/health` → `state`: every size but these is per-request, so 0 when idle (new ones included)
NOT_PER_REQUEST = {"workers", "poll_links", "conversations", "dropped_frames"}
ABANDONED = ("client-gone", "client-gone-early", "stall")  # their upstream fetch must be aborted

BASE_SETTINGS: dict[str, Any] = {
    "worker_token": TOKEN,
    "retry_timeout_seconds": 5,
    "empty_response_retry": {"enabled": True, "max_retries": 2, "base_delay_ms": 1,
                             "max_delay_ms": 5, "show_retry_info_to_client": False},
    "worker_ping_interval_seconds": 1,
    "worker_ping_timeout_seconds": 3,
}
# Used when the gateway knows them (they are newer than the soak).
OPTIONAL_SETTINGS: dict[str, Any] = {
    "request_timeout_seconds": 60,
    "keepalive_interval_seconds": 5,
    "rate_limit_max_wait_seconds": 1,
    "max_waiting_requests": 200,
}


# -- what is sent, and what must come back ---------------------------------------------------

Check = Literal["text", "reasoning", "image", "search"]


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: int  # per 100 requests
    model: str
    replies: Callable[[str], list[Reply]]  # tag → scripted upstream answers; [] = the default
    expect: str  # "ok", "client_gone" or the error code
    status: int = 200  # HTTP status of that error
    after_output: bool = False  # the error comes after content: a stream has already sent 200
    check: Check = "text"
    # How a "client_gone" client leaves: a stream after its first chunk and a non-streaming
    # client after CLIENT_GONE_AFTER s, or ("early") both after EARLY_GONE_AFTER s, before any
    # output.
    leave: Literal["first_chunk", "early"] = "first_chunk"


def scenarios(stream_timeout: float = STREAM_TIMEOUT) -> list[Scenario]:
    final_429s = RetryPolicy().rate_limit_retries + 1

    def slow(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", record_chars=4, delay=0.02)]

    def left(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", record_chars=4, delay=LEFT_REPLY_DELAY)]

    def left_early(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", first_byte_delay=0.75 * stream_timeout,
                      record_chars=4, delay=LEFT_REPLY_DELAY)]

    return [
        Scenario("success", 56, "fake-gpt", lambda tag: [], "ok"),
        Scenario("success-claude", 2, "fake-claude", lambda tag: [], "ok"),
        Scenario("reasoning", 4, "fake-thinker", lambda tag: [], "ok", check="reasoning"),
        Scenario("image", 3, "fake-painter", lambda tag: [], "ok", check="image"),
        Scenario("search", 3, "fake-searcher", lambda tag: [], "ok", check="search"),
        Scenario("slow", 3, "fake-gpt", slow, "ok"),
        Scenario("429-then-ok", 4, "fake-gpt",
                 lambda tag: [Reply.rate_limited(retry_after=0)], "ok"),
        Scenario("429-final", 2, "fake-gpt",
                 lambda tag: [Reply.rate_limited(retry_after=0)] * final_429s,
                 "rate_limited", 429),
        Scenario("401", 3, "fake-gpt", lambda tag: [Reply.unauthorized()],
                 "lmarena_login_required", 401),
        Scenario("empty-then-ok", 3, "fake-gpt", lambda tag: [Reply.empty()], "ok"),
        Scenario("exhausted-then-ok", 3, "fake-gpt",
                 lambda tag: [Reply.resource_exhausted()], "ok"),
        Scenario("cut-mid-stream", 5, "fake-gpt",
                 lambda tag: [Reply(text=f"{tag} {FILLER}", cut_after_bytes=CUT_AFTER_BYTES)],
                 "upstream_error", 502, after_output=True),
        Scenario("stall", 2, "fake-gpt",
                 lambda tag: [Reply(first_byte_delay=stream_timeout + 1)], "timeout", 504),
        Scenario("client-gone", 5, "fake-gpt", left, "client_gone"),
        Scenario("client-gone-early", 2, "fake-gpt", left_early, "client_gone", leave="early"),
    ]


@dataclass(frozen=True)
class Planned:
    index: int
    scenario: Scenario
    stream: bool

    @property
    def tag(self) -> str:
        return f"[soak-{self.index:06d}]"


def plan(count: int, seed: int, stream_timeout: float) -> list[Planned]:
    """A reproducible mix: scenarios drawn by weight, streaming on every other request."""
    table = scenarios(stream_timeout)
    rng = random.Random(seed)
    picks = rng.choices(table, weights=[s.weight for s in table], k=count)
    return [Planned(i, scenario, i % 2 == 1) for i, scenario in enumerate(picks)]


@dataclass
class Observed:
    status: int = 0
    content: str = ""
    reasoning: str = ""
    error_code: str | None = None
    error_message: str = ""
    in_stream: bool = False  # the error came as an SSE frame after the 200
    complete: bool = False  # `[DONE]` seen, or a whole JSON body
    client_gone: bool = False
    failure: str | None = None  # the client itself failed (timeout, connection reset, …)


def content_ok(check: Check, tag: str, seen: Observed) -> bool:
    if check == "image":
        return "/__fake/images/" in seen.content
    if check == "reasoning":
        return tag in seen.reasoning and tag in seen.content
    if check == "search":
        return tag in seen.content and "example.com/search/1" in seen.content
    return tag in seen.content


def label(planned: Planned, seen: Observed) -> str:
    if seen.failure:
        return f"client {seen.failure}"
    if seen.client_gone:
        return "client_gone"
    if seen.error_code is not None or seen.status != 200:
        return f"{'200+frame' if seen.in_stream else seen.status} {seen.error_code}"
    if not seen.complete:
        return "200 unfinished"
    return "ok" if content_ok(planned.scenario.check, planned.tag, seen) else "ok, wrong content"


def accepted(planned: Planned, affected: bool) -> set[str]:
    """Every label that is right for this request. An error before any output keeps its HTTP
    status in a stream too (it comes well within the first keep-alive interval). A request hit
    by a worker loss may also end with worker_lost, or be retried: then with the default answer
    (its scripted one was used up) or, after a retry notice, its error as a frame."""
    s = planned.scenario
    if s.expect in ("ok", "client_gone"):
        labels = {s.expect}
    elif s.after_output and planned.stream:
        labels = {"200+frame " + s.expect}
    else:
        labels = {f"{s.status} {s.expect}"}
    if affected:
        labels |= {"ok", "502 worker_lost", "200+frame worker_lost"}
        if s.expect not in ("ok", "client_gone"):
            labels.add("200+frame " + s.expect)
    return labels


# -- the client ------------------------------------------------------------------------------


def request_body(planned: Planned) -> dict[str, Any]:
    prompt = f"soak {planned.tag} {planned.scenario.name}"
    return {"model": planned.scenario.model, "stream": planned.stream,
            "messages": [{"role": "user", "content": prompt}]}


def read_error(seen: Observed, body: bytes) -> None:
    try:
        error = json.loads(body)["error"]
        seen.error_code, seen.error_message = error.get("code"), str(error.get("message"))
    except (ValueError, KeyError, TypeError):
        seen.error_message = body[:200].decode("utf-8", "replace")


def read_delta(seen: Observed, chunk: dict[str, Any]) -> None:
    if "error" in chunk:
        seen.in_stream = True
        seen.error_code = chunk["error"].get("code")
        seen.error_message = str(chunk["error"].get("message"))
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        seen.content += delta.get("content") or ""
        seen.reasoning += delta.get("reasoning_content") or ""


async def send_streaming(client: httpx.AsyncClient, planned: Planned) -> Observed:
    seen = Observed()
    async with client.stream("POST", "/v1/chat/completions", json=request_body(planned)) as r:
        seen.status = r.status_code
        if r.status_code != 200:
            read_error(seen, await r.aread())
            return seen
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                seen.complete = True
                break
            read_delta(seen, json.loads(line[6:]))
    return seen


async def send_whole(client: httpx.AsyncClient, planned: Planned) -> Observed:
    seen = Observed()
    r = await client.post("/v1/chat/completions", json=request_body(planned))
    seen.status = r.status_code
    if r.status_code != 200:
        read_error(seen, r.content)
        return seen
    message = r.json()["choices"][0]["message"]
    seen.content = message.get("content") or ""
    seen.reasoning = message.get("reasoning_content") or ""
    seen.complete = True
    return seen


def leave_after(planned: Planned) -> float | None:
    """When a "client gone" client hangs up: after that many seconds, or (None) as soon as
    its stream sent a chunk."""
    if planned.scenario.leave == "early":
        return EARLY_GONE_AFTER
    return None if planned.stream else CLIENT_GONE_AFTER


async def send_and_leave(port: int, planned: Planned) -> Observed:
    """A client that goes away, on a raw socket: it really closes its connection then (httpx
    may keep a timed-out connection open until its pool next needs it, so the gateway would
    not see the client go)."""
    payload = json.dumps(request_body(planned)).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(head.encode() + payload)
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(leave_after(planned)):
                while b"\r\n\r\n" not in received or b"data: " not in received:
                    data = await reader.read(65536)
                    if not data:  # the gateway answered (and closed) before the client left
                        return answered_early(received)
                    received += data
    finally:
        writer.close()
    return Observed(client_gone=True)


def answered_early(raw: bytes) -> Observed:
    """The whole answer came before the client left (fine only for a retried request)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    seen = Observed(status=int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0)
    if seen.status != 200 or b"chunked" in head.lower():
        read_error(seen, body)
        seen.error_message = f"answered before the client left: {seen.error_message}"
        return seen
    message = json.loads(body)["choices"][0]["message"]
    seen.content, seen.complete = message.get("content") or "", True
    return seen


async def send(client: httpx.AsyncClient, planned: Planned) -> Observed:
    try:
        if planned.scenario.expect == "client_gone":
            return await send_and_leave(int(str(client.base_url.port)), planned)
        if planned.stream:
            return await send_streaming(client, planned)
        return await send_whole(client, planned)
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return Observed(failure=type(exc).__name__, error_message=str(exc))


# -- the gateway process ---------------------------------------------------------------------


def gateway_settings(stream_timeout: float) -> tuple[dict[str, Any], list[str]]:
    """The settings to pass, and the optional ones this gateway does not know (skipped)."""
    timeouts = {"stream_response_timeout_seconds": stream_timeout,
                "first_byte_timeout_seconds": stream_timeout}
    wanted = {**OPTIONAL_SETTINGS, **timeouts}
    known = {f.alias or name for name, f in Settings.model_fields.items()}
    present = {k: v for k, v in wanted.items() if k in known}
    return {**BASE_SETTINGS, **present}, sorted(set(wanted) - set(present))


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Sample:
    done: int
    seconds: float
    rss_kb: int
    state: dict[str, int]
    note: str = ""


@dataclass
class Loss:
    done: int
    transport: str
    running_jobs: int
    in_flight: int


@dataclass
class Options:
    requests: int
    concurrency: int
    workers: int
    warmup: int
    sample_every: int
    kill_every: int
    seed: int
    stream_timeout: float


@dataclass
class Soak:
    options: Options
    arena: FakeArena
    arena_url: str
    gateway: GatewayProcess
    client: httpx.AsyncClient
    workers: list[FakeWorker] = field(default_factory=list)
    all_workers: list[FakeWorker] = field(default_factory=list)  # crashed ones too
    observed: dict[int, Observed] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    affected: set[str] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    problems: list[str] = field(default_factory=list)  # a hang stops the run (and fails it)
    loss_window: bool = False  # a tab crashed and the gateway has not noticed yet
    crashed_jobs: set[str] = field(default_factory=set)  # running in a tab when it crashed
    _kill_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def health(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self.client.get("/health", timeout=10)).json()
        return data

    async def state(self) -> dict[str, int]:
        health = await self.health()
        if "state" not in health:
            raise RuntimeError("GET /health answered without `state` (the admin view)")
        state: dict[str, int] = health["state"]
        return state

    async def sample(self, note: str = "") -> None:
        done, elapsed, rss_kb = self.done, time.monotonic() - self.started, self.gateway.rss_kb()
        self.samples.append(Sample(done, elapsed, rss_kb, await self.state(), note))
        self.trim_worker_logs()

    def trim_worker_logs(self) -> None:
        """The fake workers keep every frame for tests; the soak needs only their fetches."""
        for worker in self.workers:
            worker.sent.clear()
            worker.received.clear()

    def fetched_tags(self) -> set[str]:
        """The requests that reached a tab (a request can be dropped while it waits for one)."""
        return {job_tag(f) for worker in self.all_workers for f in worker.jobs_seen}

    def aborted_tags(self) -> set[str]:
        """The requests whose fetch the gateway told a tab to abort (or that died with it)."""
        return {job_tag(f) for worker in self.all_workers for f in worker.jobs_seen
                if f.get("job") in worker.aborted or f.get("job") in self.crashed_jobs}

    async def new_worker(self, transport: Literal["ws", "poll"]) -> FakeWorker:
        worker = FakeWorker(self.gateway.url, TOKEN, self.arena_url, transport=transport)
        await worker.start()
        self.all_workers.append(worker)
        return worker

    async def start_workers(self) -> None:
        polls = 1 if self.options.workers > 1 else 0
        kinds: list[Literal["ws", "poll"]] = ["ws"] * (self.options.workers - polls)
        self.workers = [await self.new_worker(kind) for kind in kinds + ["poll"] * polls]

        async def all_connected() -> bool:
            return (await self.state()).get("workers") == len(self.workers)

        await until(all_connected, 10, "the workers to connect")

    async def lose_worker(self, number: int) -> None:
        """Crash a WebSocket tab while it runs jobs, then open a replacement tab."""
        async with self._kill_lock:
            sockets = [w for w in self.workers if w.transport == "ws"]
            victim = sockets[number % len(sockets)]
            with contextlib.suppress(TimeoutError):  # near the end of a short run: crash anyway
                await victim.wait_until(lambda: bool(victim.running_jobs), timeout=10)
            # Which requests the crash hits is the gateway's business (a fetch may be on its way
            # to the tab, a finished job's frames still in its socket buffer): every request in
            # flight now or started before the gateway notices may be hit.
            self.loss_window = True
            self.affected |= self.in_flight
            self.crashed_jobs |= victim.running_jobs
            self.losses.append(Loss(self.done, victim.transport, len(victim.running_jobs),
                                    len(self.in_flight)))
            await victim.close_abruptly()
            await self.expect(until(lambda: self.forgot(victim), SETTLE_TIMEOUT,
                                    "the gateway to notice the crashed tab"))
            self.loss_window = False
            self.workers.remove(victim)
            try:
                self.workers.append(await self.new_worker("ws"))
            except (OSError, TimeoutError, WorkerRejected, httpx.HTTPError) as exc:
                self.problems.append(f"the tab replacing crashed tab {number + 1} could not "
                                     f"connect: {exc!r}")

    async def forgot(self, worker: FakeWorker) -> bool:
        return all(w["id"] != worker.worker_id for w in (await self.health())["workers"])

    async def run_one(self, planned: Planned) -> None:
        for reply in planned.scenario.replies(planned.tag):
            self.arena.enqueue_for(planned.tag, reply)
        self.in_flight.add(planned.tag)
        if self.loss_window:
            self.affected.add(planned.tag)
        try:
            async with asyncio.timeout(REQUEST_DEADLINE):
                self.observed[planned.index] = await send(self.client, planned)
        except TimeoutError:
            self.observed[planned.index] = Observed(failure="hung")
            self.problems.append(f"{planned.tag} ({planned.scenario.name}, stream="
                                 f"{planned.stream}) got no answer within "
                                 f"{REQUEST_DEADLINE:g} s; no further requests were sent")
        finally:
            self.in_flight.discard(planned.tag)
        self.done += 1
        if self.done == self.options.warmup:
            await self.sample("warm-up done")
        elif self.done % self.options.sample_every == 0 and self.done < self.options.requests:
            await self.sample()

    async def drive(self, planned: list[Planned]) -> None:
        queue: Iterator[Planned] = iter(planned)
        losses: list[asyncio.Task[None]] = []

        async def runner() -> None:
            for item in queue:
                if self.problems:
                    return
                if item.index and item.index % self.options.kill_every == 0:
                    losses.append(asyncio.create_task(self.lose_worker(len(losses))))
                await self.run_one(item)

        await asyncio.gather(*(runner() for _ in range(self.options.concurrency)))
        await asyncio.gather(*losses)

    async def settle(self) -> dict[str, int]:
        """Wait until nothing is in flight (gateway and fake LMArena), then the idle sample."""
        async def idle() -> bool:
            state = await self.state()
            return all(value == 0 for value in per_request(state).values())

        await self.expect(until(idle, SETTLE_TIMEOUT, "the gateway to become idle"))
        await self.expect(self.arena.wait_for_async(lambda: self.arena.open_streams == 0,
                                                    timeout=SETTLE_TIMEOUT))
        await self.sample("end, idle")
        return await self.state()

    async def wait_for_aborts(self, abandoned: set[str]) -> set[str]:
        """The abandoned requests whose fetch was aborted (an abort frame may trail the
        request's end by a moment)."""
        async def all_aborted() -> bool:
            return abandoned <= self.aborted_tags()

        with contextlib.suppress(TimeoutError):
            await until(all_aborted, 5, "the aborts")
        return abandoned & self.aborted_tags()

    async def expect(self, waiting: Awaitable[None]) -> None:
        """Wait for a condition; when it does not come, note it and carry on to the report."""
        try:
            await waiting
        except TimeoutError as exc:
            self.problems.append(str(exc))

    async def close_workers(self) -> dict[str, int]:
        """Every tab goes away (the long-poll one abruptly); per-worker state must follow."""
        for worker in self.workers:
            if worker.transport == "poll":
                await worker.close_abruptly()
            else:
                await worker.stop()

        async def forgotten() -> bool:
            state = await self.state()
            return state.get("workers", 0) == 0 and state.get("poll_links", 0) == 0

        await self.expect(until(forgotten, SETTLE_TIMEOUT, "the gateway to forget the workers"))
        return await self.state()


def per_request(state: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in state.items() if key not in NOT_PER_REQUEST}


def job_tag(frame: dict[str, Any]) -> str:
    found = TAG.search(str(frame.get("body") or ""))
    return found.group(0) if found else ""


# -- the verdict and the report --------------------------------------------------------------


@dataclass
class Verdict:
    options: Options
    command: str
    gateway_command: str
    skipped_settings: list[str]
    seconds: float
    samples: list[Sample]
    rows: list[Row]
    mismatches: list[str]
    idle_state: dict[str, int]
    closed_state: dict[str, int]
    losses: list[Loss]
    affected: int
    abandoned: int  # client gone or stalled, on a tab that did not crash
    fetched: int  # … that reached a tab
    aborted: int  # … whose fetch the gateway then told the tab to abort
    not_aborted: list[str]
    disconnected: int
    pending_replies: int
    log_problems: list[str]
    conversation_cap: int
    problems: list[str]
    sent: int
    load_start: tuple[float, float, float]

    @property
    def warm(self) -> Sample:
        return next(s for s in self.samples if s.done >= self.options.warmup)

    @property
    def growth_mb(self) -> float:
        after = [s.rss_kb for s in self.samples if s.done >= self.options.warmup]
        return (max(after) - self.warm.rss_kb) / 1024

    @property
    def idle_growth_mb(self) -> float:
        return (self.samples[-1].rss_kb - self.warm.rss_kb) / 1024

    @property
    def lru_full(self) -> Sample | None:
        cap = self.conversation_cap
        return next((s for s in self.samples if s.state.get("conversations") == cap), None)

    @property
    def trend_mb_per_1000(self) -> float:
        """Least-squares slope of RSS over requests, from warm-up to the last loaded sample."""
        points = [(s.done, s.rss_kb / 1024) for s in self.samples[:-1]
                  if s.done >= self.options.warmup]
        if len(points) < 2:
            return 0.0
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
        variance = sum((x - mean_x) ** 2 for x, _ in points)
        return 1000 * covariance / variance if variance else 0.0

    def rss_summary(self) -> str:
        warm = self.warm
        text = (f"Warm-up sample ({warm.done} requests): {warm.rss_kb / 1024:.1f} MB; highest "
                f"after it: {self.growth_mb:+.1f} MB; idle at the end: "
                f"{self.idle_growth_mb:+.1f} MB; trend after warm-up: "
                f"{self.trend_mb_per_1000:+.3f} MB per 1000 requests.")
        full = self.lru_full
        if full is not None:
            peak = max(s.rss_kb for s in self.samples if s.done >= full.done)
            text += (f" The conversation LRU reached its cap of {self.conversation_cap} at "
                     f"{full.done} requests ({full.rss_kb / 1024:.1f} MB); highest after that: "
                     f"{(peak - full.rss_kb) / 1024:+.1f} MB.")
        return text

    def checks(self) -> list[tuple[str, bool, str]]:
        maps = per_request(self.idle_state)
        closed = {k: self.closed_state.get(k) for k in ("workers", "poll_links")}
        conversations = self.idle_state.get("conversations", 0)
        return [
            ("the run finished: every request answered, nothing stuck", not self.problems,
             f"{len(self.problems)} problems (see below), first: {self.problems[0]}"
             if self.problems else f"{self.sent} of {self.options.requests} answered"),
            ("every outcome as scripted", not self.mismatches,
             f"{len(self.mismatches)} mismatches"),
            (f"RSS growth after warm-up ≤ {RSS_TARGET_MB:g} MB", self.growth_mb <= RSS_TARGET_MB,
             f"{self.growth_mb:+.1f} MB (peak after warm-up − warm-up sample)"),
            ("per-request maps empty when idle", all(v == 0 for v in maps.values()),
             ", ".join(f"{k}={v}" for k, v in maps.items())),
            ("per-worker maps empty once the tabs are gone", all(v == 0 for v in closed.values()),
             ", ".join(f"{k}={v}" for k, v in closed.items())),
            ("conversation memory within its cap", conversations <= self.conversation_cap,
             f"{conversations} ≤ {self.conversation_cap}"),
            ("the tab's fetch aborted for every abandoned request",
             self.aborted == self.fetched,
             f"{self.aborted} of {self.fetched} (the other {self.abandoned - self.fetched} "
             "never reached a tab)"),
            ("no error or traceback in the gateway log", not self.log_problems,
             f"{len(self.log_problems)} lines"),
        ]

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks())


@dataclass
class Row:
    """One scenario's outcomes; `got[True]` counts the streaming requests."""

    scenario: str
    expected: set[str] = field(default_factory=set)
    got: dict[bool, Counter[str]] = field(default_factory=lambda: {False: Counter(),
                                                                   True: Counter()})
    mismatches: int = 0

    @property
    def requests(self) -> int:
        return sum(sum(counts.values()) for counts in self.got.values())


def judge(planned: list[Planned], soak: Soak) -> tuple[list[Row], list[str]]:
    rows = {scenario.name: Row(scenario.name) for scenario in scenarios()}  # names only
    mismatches: list[str] = []
    for p in planned:
        if p.index not in soak.observed:  # the run stopped early
            continue
        row, seen = rows[p.scenario.name], soak.observed[p.index]
        outcome, ok = label(p, seen), accepted(p, p.tag in soak.affected)
        row.got[p.stream][outcome] += 1
        row.expected |= accepted(p, False)
        if outcome not in ok:
            row.mismatches += 1
            mismatches.append(f"{p.tag} {p.scenario.name} stream={p.stream}: expected "
                              f"{' | '.join(sorted(ok))}, got {outcome!r} "
                              f"{seen.error_message[:160]!r} {seen.content[:80]!r}")
    return list(rows.values()), mismatches


def machine() -> list[tuple[str, str]]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [("CPUs (nproc)", str(len(os.sched_getaffinity(0)))), ("CPU model", cpu),
            ("Python", platform.python_version()), ("OS", platform.platform())]


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in values)


def report(v: Verdict) -> str:
    o = v.options
    rate = v.sent / v.seconds if v.seconds else 0.0
    lines = [
        "# Soak test: bounded memory",
        "",
        "Generated by `bench/soak.py` (see \"How it is measured\" below). Targets: gateway RSS "
        f"grows at most {RSS_TARGET_MB:g} MB after warm-up, and every per-request structure is "
        "empty when the gateway is idle.",
        "",
        "## Result",
        "",
        "| check | result | figure |",
        "|---|---|---|",
        *[f"| {name} | {'PASS' if ok else 'FAIL'} | {figure} |" for name, ok, figure in v.checks()],
        *(["", "Problems:", "", *[f"- {problem}" for problem in v.problems]] if v.problems else []),
        "",
        "## Machine and command",
        "",
        *[f"- {name}: {value}" for name, value in machine()],
        f"- load average (1, 5, 15 min) at the start: {_load(v.load_start)}, at the end: "
        f"{_load(os.getloadavg())} (other work on the machine slows the fakes too)",
        f"- command: `{v.command}`",
        f"- gateway: `{v.gateway_command}`",
    ]
    if v.skipped_settings:
        lines.append(f"- settings this gateway does not know yet (not passed): "
                     f"{', '.join(v.skipped_settings)}")
    lines += [
        "",
        "## Run",
        "",
        f"- {v.sent} of {o.requests} requests sent, concurrency {o.concurrency}, {o.workers} "
        f"fake workers ({o.workers - (1 if o.workers > 1 else 0)} WebSocket, "
        f"{1 if o.workers > 1 else 0} long-poll), seed {o.seed}",
        f"- duration {v.seconds:.1f} s, {rate:.1f} requests/s",
        f"- worker losses: {len(v.losses)} (a WebSocket tab crashed every {o.kill_every} "
        f"requests with {sum(x.running_jobs for x in v.losses)} jobs running in all; "
        f"{v.affected} requests were in flight while a crash was not yet noticed)",
        f"- {v.abandoned} requests abandoned (client gone or stalled, not on a crashed tab), "
        f"{v.fetched} of them reached a tab, {v.aborted} were aborted there; the fake LMArena "
        f"saw {v.disconnected} upstream streams end by disconnect",
        f"- scripted replies never used: {v.pending_replies}",
        "",
        "## Outcomes",
        "",
        "Labels: `ok` (complete reply with the request's own content), `<status> <code>` (an "
        "OpenAI error envelope), `200+frame <code>` (a stream that ended with an error frame and "
        "`[DONE]`), `client_gone` (the client left on purpose).",
        "",
        "| scenario | requests | expected | got, non-streaming | got, streaming | mismatches |",
        "|---|---|---|---|---|---|",
    ]
    for row in v.rows:
        got = [", ".join(f"{k} ×{n}" for k, n in row.got[stream].most_common())
               for stream in (False, True)]
        lines.append(f"| {row.scenario} | {row.requests} | {' / '.join(sorted(row.expected))} "
                     f"| {got[0]} | {got[1]} | {row.mismatches} |")
    lines += ["", "## Gateway RSS over time", "",
              "| requests done | seconds | RSS MB | jobs | conversations | note |",
              "|---|---|---|---|---|---|"]
    for s in v.samples:
        lines.append(f"| {s.done} | {s.seconds:.1f} | {s.rss_kb / 1024:.1f} | "
                     f"{s.state.get('jobs', '?')} | {s.state.get('conversations', '?')} | "
                     f"{s.note} |")
    lines += [
        "",
        v.rss_summary(),
        "",
        "## Gateway state at the end (`GET /health` → `state`)",
        "",
        "| structure | idle, tabs connected | after the tabs left |",
        "|---|---|---|",
        *[f"| {k} | {v.idle_state.get(k)} | {v.closed_state.get(k)} |" for k in v.idle_state],
        "",
        f"`conversations` is the bounded LRU of delivered replies (cap "
        f"`conversation_cache_size` = {v.conversation_cap}), not per-request state; "
        "`dropped_frames` is a counter (frames for jobs already released, e.g. after an abort).",
        "",
        METHOD,
    ]
    return "\n".join(lines) + "\n"


METHOD = """## How it is measured

- The fake LMArena (`testkit/fakes/arena.py`) is served by uvicorn in a thread of the soak
  process; `lmarenarev serve` runs as a separate process with a fresh home (`write_home`) and
  short timeouts (`--set`, see the gateway command above), so the RSS read from
  `/proc/<pid>/status` (`VmRSS`) is the gateway's alone.
- The fake workers (`testkit/fakes/worker.py`) run on the soak's event loop: all over WebSocket
  but one over long-poll. A raw `httpx.AsyncClient` sends the requests at the given concurrency,
  half streaming, each with a distinct tag `[soak-NNNNNN]` in its prompt; its upstream answer is
  scripted with `enqueue_for(tag, ...)`, so each request's outcome is known whatever the
  interleaving. The mix (per 100): 58 plain successes, 10 reasoning/image/search models, 3 slow
  replies, 4 × 429 then success, 2 × 429 until the gateway gives up, 3 × 401, 3 × empty then
  success, 3 × "resource exhausted" then success, 5 × a reply cut mid-body after some text,
  2 × a stall (first byte later than `stream_response_timeout_seconds`), 5 × client gone (a
  stream closed after its first chunk, or a non-streaming client that gives up after 0.5 s
  while the reply is still coming), 2 × client gone early (the client hangs up after 0.3 s,
  before the upstream's first byte, which comes at ¾ of the first-byte timeout). The replies
  these clients leave take about 5 s, so a client slowed down by a busy machine still leaves
  long before they end. These clients use a raw socket and close it: an httpx client that
  times out may keep its connection open until its pool needs it again, and then the gateway
  cannot tell that the client left.
- Worker loss: every `kill_every` requests a WebSocket tab that is running jobs is crashed
  (`close_abruptly`, no close handshake) and a new tab is opened. A request in flight between
  the crash and the moment `/health` no longer lists the tab may have been on it: it may end
  with `worker_lost` (output had started), succeed on a retry with the default answer, or,
  retried, report its error as a frame (after a retry notice); these are accepted for those
  requests only. The long-poll tab is crashed only at the end: with
  `stream_response_timeout_seconds` shorter than the ping timeout its jobs would time out
  before the loss is noticed, which is a property of the test settings, not of the gateway.
- RSS is sampled at the start (workers connected, no request yet), every `sample_every`
  requests, after the warm-up and once more when the gateway is idle at the end. The growth
  figure is the highest sample after warm-up minus the warm-up sample.
- At the end the soak waits (polling `/health` with a deadline) until every per-request size
  in `state` is 0 (all but `workers`, `poll_links`, `conversations` and the `dropped_frames`
  counter) and the fake LMArena has no open stream, then closes every tab and waits until
  `workers` and `poll_links` are 0 as well. A request without an answer after 60 s stops the
  run (a hang), and the report says so. An abandoned request (client gone, stall) must have
  its fetch aborted: the fake tab that ran it received an `abort` frame for its job (or the
  tab crashed while the job ran).
"""


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, help="default 10000 (500 with --quick)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="fake tabs (one long-poll)")
    parser.add_argument("--quick", action="store_true", help="500 requests, no report file")
    parser.add_argument("--out", type=Path, help="report file (default docs/soak.md)")
    parser.add_argument("--warmup", type=int, help="requests before the reference sample")
    parser.add_argument("--sample-every", type=int, help="requests between RSS samples")
    parser.add_argument("--kill-every", type=int, help="requests between worker losses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stream-timeout", type=float, default=STREAM_TIMEOUT,
                        help="the gateway's first-byte and chunk timeouts; raise it on a busy "
                        "machine, where a starved fake can miss 2 s (default %(default)s)")
    args = parser.parse_args(argv)
    requests = args.requests or (500 if args.quick else 10000)
    options = Options(
        requests=requests,
        concurrency=args.concurrency,
        workers=args.workers,
        warmup=args.warmup or min(1000, requests // 5),
        sample_every=args.sample_every or max(1, min(250, requests // 10)),
        kill_every=args.kill_every or min(500, max(50, requests // 5)),
        seed=args.seed,
        stream_timeout=args.stream_timeout,
    )
    out = args.out or (None if args.quick else ROOT / "docs" / "soak.md")
    return options, out


async def soak(options: Options, home: Path, arena: FakeArena, arena_url: str) -> Verdict:
    load_start = os.getloadavg()
    settings, skipped = gateway_settings(options.stream_timeout)
    gateway = start_gateway(home, settings)
    limits = httpx.Limits(max_connections=options.concurrency + 8)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, limits=limits, trust_env=False,
                                     timeout=httpx.Timeout(60, connect=10)) as client:
            run = Soak(options, arena, arena_url, gateway, client)

            async def up() -> bool:
                if gateway.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited: {gateway.log_path.read_text()}")
                try:
                    return (await client.get("/health", timeout=1)).status_code == 200
                except httpx.HTTPError:
                    return False

            await until(up, 30, "the gateway to answer /health")
            await run.start_workers()
            planned = plan(options.requests, options.seed, options.stream_timeout)
            run.started = time.monotonic()
            await run.sample("start")
            await run.drive(planned)
            seconds = time.monotonic() - run.started
            idle = await run.settle()
            abandoned = {p.tag for p in planned if p.scenario.name in ABANDONED
                         and p.tag not in run.affected and p.index in run.observed}
            fetched = abandoned & run.fetched_tags()
            aborted = await run.wait_for_aborts(fetched)
            closed = await run.close_workers()
            rows, mismatches = judge(planned, run)
    finally:
        gateway.stop()
    return Verdict(
        options=options,
        command=shlex.join(["python", "-m", "bench.soak", *sys.argv[1:]]),
        gateway_command=shlex.join(["lmarenarev", *gateway.command[3:]]).replace(str(home),
                                                                                 "<tmp home>"),
        skipped_settings=skipped,
        seconds=seconds,
        samples=run.samples,
        rows=rows,
        mismatches=mismatches,
        idle_state=idle,
        closed_state=closed,
        losses=run.losses,
        affected=len(run.affected),
        abandoned=len(abandoned),
        fetched=len(fetched),
        aborted=len(aborted),
        not_aborted=[f"{p.tag} {p.scenario.name} stream={p.stream}: "
                     f"{label(p, run.observed[p.index])}"
                     for p in planned if p.tag in fetched - aborted],
        disconnected=arena.disconnected_streams,
        pending_replies=arena.pending_replies,
        log_problems=gateway.log_problems(),
        conversation_cap=int(Settings.model_fields["conversation_cache_size"].default),
        problems=run.problems,
        sent=len(run.observed),
        load_start=load_start,
    )


def main(argv: list[str] | None = None) -> int:
    options, out = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="lmarenarev-soak-"))
    arena = FakeArena()
    write_home(home, arena.models)
    # The fakes' own noise (cut replies, fetches cut short by a crash) goes to a file.
    logging.basicConfig(filename=home / "fakes.log", level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with ServerThread(arena.app) as server:
        verdict = asyncio.run(soak(options, home, arena, server.url))
    text = report(verdict)
    print(text)
    if out is not None:
        out.write_text(text, "utf-8")
        print(f"report written to {out}")
    for line in verdict.mismatches[:20]:
        print("MISMATCH", line)
    for line in verdict.log_problems[:10]:
        print("GATEWAY LOG", line)
    for line in verdict.problems:
        print("PROBLEM", line)
    for line in verdict.not_aborted[:20]:
        print("NOT ABORTED", line)
    if verdict.passed:
        shutil.rmtree(home, ignore_errors=True)
        return 0
    print(f"FAILED; gateway home and log kept in {home}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
