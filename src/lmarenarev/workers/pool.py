"""Connected workers, least-loaded scheduling, job routing and liveness.

A worker is reached through a `Link` (WebSocket or long-poll); the pool never cares which.
Every job is in `jobs` from `submit` until `release`; every worker in `workers` from `add`
until `remove`. Nothing else holds per-request state here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..arena.account import Account
from ..arena.ids import random_hex
from ..arena.page import discover_recaptcha_site_key, is_challenge_title, origin_of
from ..errors import NoWorker, QueueFull
from .jobs import Job
from .protocol import (
    CapturedFrame,
    ChunkFrame,
    ErrorFrame,
    Hello,
    JobFrame,
    PongFrame,
    StatusFrame,
    TokenPoolReportFrame,
    abort_frame,
    navigate_frame,
    ping_frame,
    reload_frame,
    token_pool_drop_frame,
    welcome_frame,
)

log = logging.getLogger(__name__)

NO_TAB_RETRY_AFTER = 10  # seconds: about what opening a tab with the userscript takes


class Link(Protocol):
    kind: str

    async def send(self, frame: dict[str, Any]) -> None: ...

    async def close(self, reason: str) -> None: ...

    def gone(self, now: float) -> bool:
        """Known dead without waiting for a ping timeout."""
        ...


@dataclass(eq=False)
class Worker:
    id: str
    hello: Hello
    link: Link
    capacity: int
    connected_at: float
    last_seen: float
    order: int
    jobs: set[str] = field(default_factory=set)
    recaptcha_site_key: str | None = None
    reloading: bool = False
    origin: str = ""  # of the page the tab is on
    # No jobs until then (monotonic): LMArena said this tab's account used its quota.
    cooled_until: float = 0.0
    cooled_reason: str = ""
    account: Account = field(default_factory=Account)

    @property
    def load(self) -> float:
        return len(self.jobs) / self.capacity

    def describe(self) -> str:
        tab = self.hello.tab or "?"
        return f"worker {self.id} ({self.link.kind}, tab {tab}, {self.hello.page_url})"


class WorkerPool:
    def __init__(
        self,
        *,
        default_capacity: int,
        ping_interval: float,
        ping_timeout: float,
        max_waiting: int = 100,
        first_tab_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, Job] = {}
        self.default_capacity = default_capacity
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.clock = clock
        self.dropped_frames = 0
        # WebSocket messages and the frames in them (a batch carries several): how well the
        # tabs batch, shown in /metrics.
        self.socket_messages = 0
        self.socket_frames = 0
        self.sent_messages = 0  # WebSocket messages to workers, and the frames in them
        self.sent_frames = 0
        # The tabs' reCAPTCHA token pools (docs/worker-protocol.md "Token pool"), for /metrics:
        # jobs that took a pooled token or found none, pooled tokens thrown away unused.
        self.token_hits = 0
        self.token_misses = 0
        self.token_expired = 0
        self.token_dropped = 0
        self.max_waiting = max_waiting
        self.waiting = 0
        # Until a first tab connects, a request waits at most `first_tab_wait`: the user has
        # not installed the userscript yet, and a 503 that says so beats a minute of silence.
        self.first_tab_wait = first_tab_wait
        self.ever_connected = False
        # Replaced (and set) on every change; waiters hold the one current when they looked.
        # An Event needs no lock, so a cancelled waiter can never leave one held.
        self._changed = asyncio.Event()
        self._order = itertools.count()
        # Called (synchronously) when a worker connects and when a page reports a request.
        self.connect_listeners: list[Callable[[Worker], None]] = []
        # What to do when no tab is connected (the managed browser says its own).
        self.no_worker_hint = (
            "install the lmarenarev userscript (the URL `lmarenarev userscript` prints) and open "
            "https://arena.ai/text/direct in that browser (its title starts with ✅ when connected)"
        )
        self.capture_listeners: list[Callable[[Worker, CapturedFrame], None]] = []

    # -- workers -------------------------------------------------------------------------------

    async def add(self, hello: Hello, link: Link) -> Worker:
        now = self.clock()
        worker = Worker(
            id=uuid.uuid4().hex[:12],
            hello=hello,
            link=link,
            capacity=min(hello.capacity, self.default_capacity),
            connected_at=now,
            last_seen=now,
            order=next(self._order),
            recaptcha_site_key=discover_recaptcha_site_key(hello.script_srcs),
            # A tab showing Cloudflare's challenge gets no jobs; it reconnects once past it.
            reloading=is_challenge_title(hello.title),
            origin=origin_of(hello.page_url),
        )
        self.workers[worker.id] = worker
        self.ever_connected = True
        await link.send(welcome_frame(worker.id))
        log.info("%s connected (script %s)", worker.describe(), hello.script_version)
        if worker.reloading:
            log.warning("%s shows a Cloudflare challenge: no jobs until it is passed",
                        worker.describe())
        for listener in self.connect_listeners:
            listener(worker)
        await self._notify()
        return worker

    async def remove(self, worker: Worker, reason: str) -> None:
        if self.workers.pop(worker.id, None) is None:
            return
        for job_id in list(worker.jobs):
            job = self.jobs.get(job_id)
            if job is not None:
                job.lose(reason)
        worker.jobs.clear()
        log.info("%s disconnected: %s", worker.describe(), reason)
        await self._notify()

    def on_frame(
        self, worker: Worker, frame: JobFrame | PongFrame | CapturedFrame | TokenPoolReportFrame
    ) -> None:
        worker.last_seen = self.clock()
        if type(frame) is not ChunkFrame:  # the hot path's frame goes straight to its job
            if isinstance(frame, PongFrame):
                return
            if isinstance(frame, CapturedFrame):
                for listener in self.capture_listeners:
                    listener(worker, frame)
                return
            if isinstance(frame, TokenPoolReportFrame):
                self.token_expired += frame.expired
                self.token_dropped += frame.dropped
                return
            if isinstance(frame, StatusFrame | ErrorFrame) and frame.pool is not None:
                if frame.pool == "hit":
                    self.token_hits += 1
                else:
                    self.token_misses += 1
        job = self.jobs.get(frame.job)
        if job is None or job.worker_id != worker.id:
            self.dropped_frames += 1
            return
        job.deliver(frame)

    # -- jobs ----------------------------------------------------------------------------------

    def pick(self, avoid: Worker | None = None) -> Worker | None:
        """The least-loaded worker with a free slot now, if any (other than `avoid`; never a
        tab resting after its account's quota was used up)."""
        now = self.clock()
        free = [
            w for w in self.workers.values()
            if len(w.jobs) < w.capacity and not w.reloading and w is not avoid
            and w.cooled_until <= now
        ]
        if not free:
            return None
        return min(free, key=lambda w: (w.load, len(w.jobs), w.order))

    async def acquire(self, wait: float) -> Worker:
        """The least-loaded worker with a free slot, waiting up to `wait` seconds for one
        (`first_tab_wait` at most while no tab has ever connected)."""
        worker = self.pick()
        if worker is not None:
            return worker
        if not self.ever_connected:
            wait = min(wait, self.first_tab_wait)
        if wait > 0 and self.waiting >= self.max_waiting:
            raise QueueFull(
                f"{self.waiting} requests are already waiting for an LMArena tab; "
                "try again shortly (or open more tabs)",
                retry_after=max(1, round(self.ping_interval)),
            )
        deadline = self.clock() + wait
        self.waiting += 1
        try:
            while True:
                worker = self.pick()
                if worker is not None:
                    return worker
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise self._no_worker(wait)
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await changed.wait()
        finally:
            self.waiting -= 1

    def _no_worker(self, waited: float) -> NoWorker:
        after = f" (waited {waited:g} s)" if waited > 0 else ""
        if not self.workers:  # retrying will not help until the user opens a tab
            never = "" if self.ever_connected else " yet"
            return NoWorker(
                f"no browser tab is connected{never}{after}: {self.no_worker_hint}, then send "
                "the request again",
                retry_after=NO_TAB_RETRY_AFTER,
                retry=False,
            )
        return NoWorker(
            f"every connected LMArena tab is busy{after}; try again shortly or open another tab",
            retry_after=max(1, round(self.ping_interval)),
        )

    def usable(self, besides: Worker | None) -> list[Worker]:
        """Connected tabs other than `besides` that may get jobs (busy or not)."""
        now = self.clock()
        return [
            w for w in self.workers.values()
            if w is not besides and not w.reloading and w.cooled_until <= now
        ]

    def resting_for(self) -> float | None:
        """When every connected tab rests (its account's quota is used up): the seconds until
        the first may take jobs again; else None."""
        now = self.clock()
        workers = list(self.workers.values())
        if not workers or any(w.cooled_until <= now for w in workers):
            return None
        return min(w.cooled_until for w in workers) - now

    def cool_down(self, worker: Worker, seconds: float, reason: str) -> None:
        """No jobs on this tab for `seconds` (its account's quota is used up)."""
        worker.cooled_until = self.clock() + seconds
        worker.cooled_reason = reason
        log.warning("%s gets no jobs for %g s: %s", worker.describe(), seconds, reason)

    async def navigate(self, worker: Worker, url: str, reason: str) -> None:
        """Send the tab to `url` (its origin moved); it reconnects from there. A script that
        cannot is reloaded instead (a reload follows the site's own redirect of its page)."""
        if worker.reloading or worker.id not in self.workers:
            return
        worker.reloading = True
        if worker.hello.navigate:
            log.warning("moving %s to %s: %s", worker.describe(), url, reason)
            await self.send(worker, navigate_frame(url))
        else:
            log.warning("reloading %s (its script cannot move it): %s", worker.describe(), reason)
            await self.send(worker, reload_frame())

    def retire(self, worker: Worker, reason: str) -> None:
        """The tab is leaving (reload, navigation): schedule nothing more on it."""
        if not worker.reloading:
            worker.reloading = True
            log.info("%s is leaving: %s", worker.describe(), reason)

    async def drop_tokens(self, worker: Worker) -> None:
        """LMArena refused a token this tab minted: its pooled tokens go too (they come from the
        same page, and a refusal can be about the page's score)."""
        if worker.hello.token_pool and worker.id in self.workers:
            await self.send(worker, token_pool_drop_frame())

    async def reload(self, worker: Worker, reason: str) -> None:
        """Reload the tab (fresh page state); it gets no new jobs until it reconnects."""
        if worker.reloading or worker.id not in self.workers:
            return
        worker.reloading = True
        log.warning("reloading %s: %s", worker.describe(), reason)
        await self.send(worker, reload_frame())

    def start_job(self, worker: Worker) -> Job:
        job = Job(random_hex(), worker.id)
        self.jobs[job.id] = job
        worker.jobs.add(job.id)
        return job

    async def send(self, worker: Worker, frame: dict[str, Any]) -> bool:
        try:
            await worker.link.send(frame)
        except Exception as exc:  # a dead socket: the receive loop removes the worker
            log.debug("send to %s failed: %s", worker.id, exc)
            return False
        return True

    async def release(self, job: Job, *, abort: bool) -> None:
        """Forget the job; tell its worker to abort the fetch when it is still running."""
        self.jobs.pop(job.id, None)
        worker = self.workers.get(job.worker_id)
        if worker is None:
            return
        worker.jobs.discard(job.id)
        await self._notify()  # the slot is free before anything below can be interrupted
        if abort and not job.finished:
            await self.send(worker, abort_frame(job.id))

    async def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- liveness ------------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Ping every worker; close the ones not heard from within the timeout. Runs forever."""
        while True:
            await asyncio.sleep(self.ping_interval)
            now = self.clock()
            for worker in list(self.workers.values()):
                if worker.link.gone(now):
                    await self.remove(worker, "its connection is gone")
                    await worker.link.close("gone")
                elif now - worker.last_seen > self.ping_timeout:
                    await self.remove(worker, "stopped answering pings")
                    await worker.link.close("ping timeout")
                else:
                    await self.send(worker, ping_frame(time.time()))
