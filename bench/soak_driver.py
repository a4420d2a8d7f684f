"""The soak's run against one gateway process: the fake workers (and their losses), the requests
at the given concurrency, the RSS samples, and waiting for the gateway to become idle
(bench/soak.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from bench.procs import GatewayProcess
from bench.soak_client import send
from bench.soak_workload import Observed, Planned
from lmarenarev.config.settings import Settings
from testkit.fakes.arena import FakeArena
from testkit.fakes.worker import FakeWorker, WorkerRejected

TOKEN = "soak-worker-token"
REQUEST_DEADLINE = 60.0  # no scripted request takes more than a few seconds: longer is a hang
SETTLE_TIMEOUT = 30.0
TAG = re.compile(r"\[soak-\d{6}\]")
# `/health` → `state`: every size but these is per-request, so 0 when idle (new ones included)
NOT_PER_REQUEST = {"workers", "poll_links", "conversations", "dropped_frames"}

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
