"""Run an arena call on a worker and turn the reply into events, retrying what can be retried.

One `Relay` per client request. `events()` yields the parsed events of the side the call
expects; a failure before any output is retried per `RetryPolicy` with a freshly built request
(new ids); a failure after output ends the iteration with a `GatewayError`. What LMArena's
answer asks for besides a retry (another value, another tab, another origin) is `recovery.py`'s.

A stream job never follows a redirect (`redirect: "manual"`, protocol §1.1: the 405 trap); the
request is built once a tab is chosen, with the `mode`/`modality` that tab's site takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from ..arena.errors import (
    Kind,
    UpstreamProblem,
    classify_http,
    classify_in_band,
    empty_reply,
    truncated_reply,
)
from ..arena.events import ArenaError, Event, Finish, join_text
from ..arena.requests import ArenaCall, UpstreamRequest
from ..arena.site import SiteState
from ..arena.stream import StreamParser
from ..errors import GatewayError, Timeout
from ..workers.jobs import Data, End, Job, Signal, Status
from ..workers.mailbox import Mailbox
from ..workers.pool import Worker, WorkerPool
from .attempt import Retryable, server_error, stream_job, utf8_size, worker_failure
from .conversation import SessionRef
from .outcome import RelayOutcome
from .recovery import DEFAULT_QUOTA_COOLDOWN, Move, Recovery, quota_used_up
from .retry import RetryPolicy

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class RelayConfig:
    wait_for_worker: float
    first_byte_timeout: float
    chunk_timeout: float
    total_timeout: float = 600.0
    recaptcha_site_key: str = ""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    quota_cooldown: float = DEFAULT_QUOTA_COOLDOWN


# Sees each attempt's request and every signal of its answer, as they come (the doctor's
# bug-report bundle records the start of each body).
Tap = Callable[[UpstreamRequest, Signal], None]


class Relay:
    def __init__(
        self,
        pool: WorkerPool,
        config: RelayConfig,
        *,
        request_id: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[str], None] | None = None,
        on_attempt: Callable[[str, int], None] | None = None,
        site: SiteState | None = None,
        on_gone: Callable[[UpstreamProblem], GatewayError] | None = None,
        tap: Tap | None = None,
    ) -> None:
        self.pool = pool
        self.config = config
        self.site = site
        self.recovery = Recovery(pool, site, config.quota_cooldown, on_gone)
        self.tap = tap
        self.unknown_records: dict[str, int] = {}  # record prefixes the parser did not know
        self.request_id = request_id
        self.sleep = sleep
        self.clock = clock
        self.on_retry = on_retry
        self.on_attempt = on_attempt
        self._request: UpstreamRequest | None = None
        self._output_started = False
        self._attempts = 0
        self._retries: dict[str, int] = {}
        self._worker_id: str | None = None  # the worker of the latest attempt
        self._bytes_received = 0  # of LMArena's answers, over all attempts
        self._last_failure: str | None = None  # the latest failure's Kind, or "worker"
        self._truncated = 0  # replies cut off (no finish record), over all attempts
        self._begun: tuple[Worker, Job] | None = None  # sent by `begin`, not yet taken over
        self._avoid: Worker | None = None  # the tab whose attempt LMArena answered with a 5xx
        self.deadline = clock() + config.total_timeout

    def outcome(self) -> RelayOutcome:
        """What it did so far (the request's outcome once it stopped)."""
        request = self._request
        session = None if request is None else SessionRef(
            request.session_id, request.assistant_message_id
        )
        return RelayOutcome(
            attempts=self._attempts,
            retries=dict(self._retries),
            worker_id=self._worker_id,
            bytes_received=self._bytes_received,
            last_failure=self._last_failure,
            session=session,
            truncated=self._truncated,
        )

    async def events(self, call: ArenaCall) -> AsyncIterator[Event]:
        async for batch in self.batches(call):
            for event in batch:
                yield event

    async def batches(self, call: ArenaCall) -> AsyncGenerator[list[Event], None]:
        """The events of `events()`, in order, as the non-empty lists that arrived together
        (what one or more chunks already received held): one hand-over each, never a wait.
        A relay may run a second call after the first (a corrective turn, chat/correction.py):
        it is retried before its own output like the first."""
        self._output_started = False
        while True:
            begun, self._begun = self._begun, None
            if begun is None:
                self._attempts += 1
                resting = self.pool.resting_for()
                if resting is not None:  # every tab's account used its quota: no use waiting
                    raise quota_used_up(resting)
                avoid, self._avoid = self._avoid, None
                worker = None if avoid is None else self.pool.pick(avoid)
                worker = worker or await self.pool.acquire(self._wait_for_worker())
                self._request = call.build(self.recovery.choices(worker))
                begun = await self._dispatch(worker, self._request)
            assert self._request is not None
            try:
                # aclosing: when the reader stops early (a stop sequence, max_tokens) the
                # attempt's clean-up, which aborts the tab's fetch, runs right then.
                async with contextlib.aclosing(self._attempt(*begun, self._request)) as attempt:
                    async for batch in attempt:
                        yield batch
                self.recovery.succeeded(begun[0], self._request)
                return
            except Retryable as failure:
                self._last_failure = failure.problem.kind.value if failure.problem else "worker"
                if self._output_started:
                    log.warning("[%s] failed after output: %s", self.request_id,
                                failure.final.message)
                    raise failure.final from None
                if server_error(failure):  # one more try, on another tab when one is free
                    if self.pool.pick(failure.worker) is None:
                        raise failure.final from None
                    self._avoid = failure.worker
                if await self._recovered(failure):
                    continue
                delay = self._retry_delay(failure)
                problem = failure.problem
                rate_limited = problem is not None and problem.kind is Kind.RATE_LIMIT
                if delay is None or (rate_limited and self.clock() + delay >= self.deadline):
                    raise failure.final from None  # a 429 stays a 429, with its Retry-After
                if self.clock() + delay >= self.deadline:
                    last = f"; the last attempt failed: {failure.final.message}"
                    raise self._over_budget(last) from None
                await self._before_retry(failure, delay)

    async def _recovered(self, failure: Retryable) -> bool:
        """True when recovery changed something worth trying again at once (raises the final
        error when nothing is left to try)."""
        problem = failure.problem
        if problem is None:
            return False
        move = await self.recovery.handle(problem, failure.worker, self._request)
        if move is not Move.RETRY_NOW:
            return False
        key = problem.kind.value
        self._retries[key] = self._retries.get(key, 0) + 1
        reason = failure.final.message
        log.info("[%s] retry %d now: %s", self.request_id, self._attempts, reason)
        if self.on_retry is not None:
            self.on_retry(f"retry {self._attempts} now: {reason}")
        return True

    async def _before_retry(self, failure: Retryable, delay: float) -> None:
        reason = failure.final.message
        log.info("[%s] retry %d in %.1fs: %s", self.request_id, self._attempts, delay, reason)
        if self.on_retry is not None:
            self.on_retry(f"retry {self._attempts} in {delay:.1f}s: {reason}")
        cloudflare = failure.problem is not None and failure.problem.kind is Kind.CLOUDFLARE
        if cloudflare and failure.worker is not None:
            await self.pool.reload(failure.worker, "Cloudflare challenge")
        await self.sleep(delay)

    def _retry_delay(self, failure: Retryable) -> float | None:
        key = failure.problem.kind.value if failure.problem else "worker"
        previous = self._retries.get(key, 0)
        self._retries[key] = previous + 1
        policy = self.config.policy
        if failure.problem is None:
            return policy.worker_delay(previous)
        return policy.delay(failure.problem, previous)

    def _wait_for_worker(self) -> float:
        return min(self.config.wait_for_worker, max(0.0, self.deadline - self.clock()))

    async def begin(self, call: ArenaCall) -> None:
        """Send the first attempt's job now when a tab has a free slot, from the caller's task.

        For a burst of requests: the event loop runs its ready tasks in order, so a job sent
        by a task `batches` runs in would leave only once every request of the burst had been
        read. `batches` carries on with the job begun here (or starts its own when none was);
        `abandon` frees it when `batches` never ran."""
        worker = self.pool.pick()
        if worker is None or self._attempts:
            return  # `batches` waits for a slot, as ever
        self._request = call.build(self.recovery.choices(worker))
        self._attempts = 1
        self._begun = await self._dispatch(worker, self._request)

    async def abandon(self) -> None:
        """Free the job `begin` sent when `batches` never took it over (cancelled first)."""
        begun, self._begun = self._begun, None
        if begun is not None:
            _worker, job = begun
            job.signals.close()
            await self.pool.release(job, abort=not job.finished)

    async def _dispatch(self, worker: Worker, request: UpstreamRequest) -> tuple[Worker, Job]:
        job = self.pool.start_job(worker)
        self._worker_id = worker.id
        if self.on_attempt is not None:
            self.on_attempt(worker.id, self._attempts)
        log.debug(
            "[%s] job %s on worker %s: %s %s",
            self.request_id,
            job.id,
            worker.id,
            request.method,
            request.url,
        )
        try:
            frame = stream_job(job.id, worker, request, self.config.recaptcha_site_key)
            if not await self.pool.send(worker, frame):
                job.lose("the worker's connection failed")
        except BaseException:  # cancelled while sending: nothing else will free the slot
            job.signals.close()
            await self.pool.release(job, abort=True)
            raise
        return worker, job

    async def _attempt(
        self, worker: Worker, job: Job, request: UpstreamRequest
    ) -> AsyncGenerator[list[Event], None]:
        signals = job.signals
        tap = self.tap
        try:
            first = await self._next(signals, self.config.first_byte_timeout)
            if tap is not None:
                tap(request, first)
            if not isinstance(first, Status):
                worker_failure(first)
            if not 200 <= first.http_status < 300 or first.response_type != "basic":
                body = await self._collect_body(signals, request)
                problem = classify_http(
                    first.http_status, first.headers, body, first.response_type
                )
                if problem is None:  # a 2xx of another response type: nothing to read
                    problem = empty_reply()
                raise Retryable(problem, problem.to_error())
            async for batch in self._stream(signals, request):
                yield batch
        except Retryable as failure:
            failure.worker = worker
            if failure.problem is not None and failure.problem.kind is Kind.RECAPTCHA:
                await self.pool.drop_tokens(worker)  # its pooled tokens are suspect too
            raise
        finally:
            signals.close()
            await self.pool.release(job, abort=not job.finished)

    async def _stream(
        self, signals: Mailbox[Signal], request: UpstreamRequest
    ) -> AsyncIterator[list[Event]]:
        """A batch per wake-up: the events of every signal already queued (never waits for
        more), its text and reasoning records joined (`join_text`); whatever ends the stream
        comes after the events before it. Record prefixes the parser did not know are reported
        at the end."""
        parser = StreamParser()
        side, tap = request.side, self.tap
        produced = False
        finished = False  # the side's finish record came: the reply is whole
        try:
            while True:
                signal: Signal | None = await self._next(signals, self.config.chunk_timeout)
                batch: list[Event] = []
                while signal is not None:
                    if tap is not None:
                        tap(request, signal)
                    if type(signal) is Data:
                        text = signal.text
                        self._bytes_received += utf8_size(text)
                        events = parser.feed(text)
                    elif type(signal) is End:
                        events = parser.close()
                    else:
                        if batch:
                            yield join_text(batch)
                        worker_failure(signal)
                    for event in events:
                        if type(event) is ArenaError:  # a JSON error line has no side of its own
                            if batch:
                                yield join_text(batch)
                            problem = classify_in_band(event.message)
                            raise Retryable(problem, problem.to_error())
                        if event.side != side:
                            continue
                        if type(event) is Finish:
                            finished = True
                        else:
                            produced = True
                            self._output_started = True
                        batch.append(event)
                    if type(signal) is End:
                        if batch:
                            yield join_text(batch)
                        self._check_whole(produced, finished, parser.records)
                        return
                    signal = signals.ready()
                if batch:
                    yield join_text(batch)
        finally:
            if parser.unknown:
                self._unknown(parser.unknown)

    def _unknown(self, unknown: dict[str, int]) -> None:
        """Record prefixes LMArena sent that this version does not know: drift (arena/site)."""
        for prefix, count in unknown.items():
            self.unknown_records[prefix] = self.unknown_records.get(prefix, 0) + count
        if self.site is not None:
            self.site.drift.records(unknown)
        log.warning("[%s] LMArena sent records this version does not know: %s",
                    self.request_id, ", ".join(f"{p}: ×{n}" for p, n in unknown.items()))

    def _check_whole(self, produced: bool, finished: bool, records: int) -> None:
        """At the body's clean end: a reply without its finish record was cut off, however
        normal the end looked (LMArena, or a hop on the way, ended the body mid-reply); one
        without output is empty. Before any output both are retried; after it, it fails."""
        if produced and finished:
            return
        if finished or not records:
            problem = empty_reply()
        else:
            self._truncated += 1
            problem = truncated_reply(produced)
        raise Retryable(problem, problem.to_error())

    async def _next(self, signals: Mailbox[Signal], timeout: float) -> Signal:
        # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that arrives together
        # with a chunk, and the client-gone abort would be lost. Nor asyncio.timeout: a timer
        # armed and cancelled per chunk (a Mailbox keeps one per job).
        remaining = self.deadline - self.clock()
        signal = await signals.get(min(timeout, remaining))
        if signal is not None:
            return signal
        if remaining <= timeout:
            raise self._over_budget()
        raise Timeout(f"LMArena sent nothing for {timeout:g} seconds")

    def _over_budget(self, detail: str = "") -> Timeout:
        budget = self.config.total_timeout
        return Timeout(f"the request took longer than its {budget:g} s budget{detail}")

    async def _collect_body(self, signals: Mailbox[Signal], request: UpstreamRequest) -> str:
        parts: list[str] = []
        size = 0
        while True:
            signal = await self._next(signals, self.config.chunk_timeout)
            if self.tap is not None:
                self.tap(request, signal)
            if isinstance(signal, Data):
                self._bytes_received += utf8_size(signal.text)
                if size < ERROR_BODY_LIMIT:
                    parts.append(signal.text)
                    size += len(signal.text)
            elif isinstance(signal, End):
                return "".join(parts)[:ERROR_BODY_LIMIT]
            else:
                return "".join(parts)
