"""The request observer: what every chat completion did, for the log, the dashboard and metrics.

`Completion` (completions.py) reports to a `RequestWatch`: each event (the first content or
reasoning is the time to first token), then `done`, `failed` or, on every path, `close` (a
request closed before either is "cancelled": the client went away). The relay's facts
(attempts, retries by kind, the worker, the bytes) are read from it when the request ends.
While it runs a request is in `RequestObserver.active`; whatever ends it, it leaves (a request
never closed at all is swept out after its budget). Its record goes to the store's writer,
its counts to the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ..arena.events import Event, Finish, ImageOut, ReasoningDelta, TextDelta, Usage
from ..chat.outcome import RelayOutcome
from ..errors import GatewayError
from ..messages import Message
from ..render.common import well_formed
from ..store.records import Bodies, RequestRecord, Status, ToCount, TokenSource
from ..store.writer import StoreWriter
from .metrics import UNKNOWN_MODEL, Metrics

log = logging.getLogger(__name__)

BODY_LIMIT = 1_000_000  # characters kept of each body
CLIENT_GONE_STATUS = 499
SWEEP_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RequestStart:
    id: str
    model: str
    key_name: str | None
    stream: bool
    flow: str
    call: str
    messages: Sequence[Message] = ()
    conversation: str = ""  # new | folded | continued | regenerated (chat/conversation.py)
    known_model: bool = True
    body: str | None = None  # a request refused before its messages were read: as it came
    api: str = "chat"  # which API the request used (the log's `api` column)


class Changes:
    """A version that moves whenever something the dashboard shows changed; waiters wake up."""

    def __init__(self) -> None:
        self.version = 0
        self._moved = asyncio.Event()
        self._waiting = 0  # with none, a bump (twice per request) allocates nothing

    def bump(self) -> None:
        self.version += 1
        if self._waiting:
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    async def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from `seen`, or after `timeout` seconds."""
        if self.version == seen:
            self._waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._moved.wait(), timeout)
            finally:
                self._waiting -= 1
        return self.version


def _cap(text: str) -> str:
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "\n[… truncated]"


def prompt_json(messages: Sequence[Message]) -> str:
    """The messages as kept in the log: roles and text; attachments by name, type and size."""
    return json.dumps(
        [
            {
                "role": message.role,
                "content": message.text,
                "attachments": [
                    {"name": a.name, "type": a.content_type, "size": a.size}
                    for a in message.attachments
                ],
            }
            for message in messages
        ],
        ensure_ascii=False,
    )


class RequestWatch:
    """One request while it runs."""

    def __init__(self, observer: RequestObserver, start: RequestStart) -> None:
        self.observer = observer
        self.start = start
        self.worker_id: str | None = None  # the tab of the attempt running now
        self.attempts = 0
        self.started_at = observer.wall()
        self.started_mono = observer.clock()
        self.first_token_at: float | None = None
        self.finish_reason: str | None = None
        self.ended = False
        self._reply: list[str] = []
        self._reasoning: list[str] = []
        self._kept = 0
        self.keep_reply = observer.log_bodies()

    def attempt(self, worker_id: str, attempt: int) -> None:
        """The relay sent attempt number `attempt` to a tab (the dashboard's active requests)."""
        self.worker_id = worker_id
        self.attempts = attempt

    def event(self, event: Event) -> None:
        self.events((event,))

    def events(self, events: Iterable[Event]) -> None:
        """Each event in order: the first output is the time to first token; text and
        reasoning are kept (up to BODY_LIMIT) for the log; a finish gives the reason."""
        for event in events:
            if isinstance(event, TextDelta):
                if self.first_token_at is None:
                    self.first_token_at = self.observer.clock()
                if self.keep_reply and self._kept < BODY_LIMIT:
                    self._keep(self._reply, event.text)
            elif isinstance(event, ReasoningDelta):
                if self.first_token_at is None:
                    self.first_token_at = self.observer.clock()
                self._keep(self._reasoning, event.text)
            elif isinstance(event, ImageOut):
                if self.first_token_at is None:
                    self.first_token_at = self.observer.clock()
            elif isinstance(event, Finish):
                self.finish_reason = event.reason

    def _keep(self, parts: list[str], text: str) -> None:
        if self._kept < BODY_LIMIT:
            parts.append(text)
            self._kept += len(text)

    def done(self, content: str, usage: Usage | None, outcome: RelayOutcome) -> None:
        self.observer.end(self, "ok", outcome, content=content, usage=usage)

    def failed(self, error: GatewayError, outcome: RelayOutcome) -> None:
        self.observer.end(self, "error", outcome, error=error)

    def close(self, outcome: RelayOutcome) -> None:
        """Every path ends here; a request neither done nor failed was cancelled."""
        if not self.ended:
            self.observer.end(self, "cancelled", outcome)

    def reasoning(self) -> str:
        return "".join(self._reasoning)

    def partial_reply(self) -> str:
        return "".join(self._reply)


class RequestObserver:
    def __init__(
        self,
        *,
        writer: StoreWriter,
        metrics: Metrics,
        log_bodies: Callable[[], bool],
        max_age: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.metrics = metrics
        self.log_bodies = log_bodies
        self.max_age = max_age  # a request older than this was lost by its route: swept
        self.clock = clock
        self.wall = wall
        self.active: dict[str, RequestWatch] = {}
        self.changes = Changes()
        writer.listeners.append(self._written)

    def started(self, start: RequestStart) -> RequestWatch:
        model = well_formed(start.model)  # JSON may hold lone surrogates
        if model is not start.model:
            start = replace(start, model=model)
        watch = RequestWatch(self, start)
        self.active[start.id] = watch
        self.changes.bump()
        return watch

    def refused(self, start: RequestStart, error: GatewayError) -> None:
        """A request refused before any call was made (an unknown model, a bad request)."""
        start = replace(start, model=well_formed(start.model))
        self.end(RequestWatch(self, start), "error", RelayOutcome(), error=error)

    def end(
        self,
        watch: RequestWatch,
        status: Status,
        outcome: RelayOutcome,
        *,
        content: str = "",
        usage: Usage | None = None,
        error: GatewayError | None = None,
        why: str | None = None,
    ) -> None:
        if watch.ended:
            return
        watch.ended = True
        self.active.pop(watch.start.id, None)
        record = self._record(watch, status, outcome, content, usage, error)
        if why is not None:
            record = replace(record, error_kind=why)
        self._count(record, watch.start)
        if outcome.truncated:
            self._count_truncated(watch.start, outcome.truncated)
        self.writer.submit(record)
        self.changes.bump()

    def _record(
        self,
        watch: RequestWatch,
        status: Status,
        outcome: RelayOutcome,
        content: str,
        usage: Usage | None,
        error: GatewayError | None,
    ) -> RequestRecord:
        start, now = watch.start, self.clock()
        ttft = None if watch.first_token_at is None else watch.first_token_at - watch.started_mono
        reply = content if status == "ok" else watch.partial_reply()
        tokens = _tokens(status, usage, start, (reply, watch.reasoning()))
        return RequestRecord(
            id=start.id,
            started_at=watch.started_at,
            model=start.model[:200],
            key_name=start.key_name,
            stream=start.stream,
            flow=start.flow,
            call=start.call,
            conversation=start.conversation,
            worker_id=outcome.worker_id,
            status=status,
            http_status=_http_status(status, error),
            error_kind=_error_kind(status, error),
            upstream_kind=None if status == "ok" else outcome.last_failure,
            error_message=None if error is None else error.message[:2000],
            finish_reason=watch.finish_reason,
            ttft_ms=None if ttft is None else ttft * 1000,
            duration_ms=(now - watch.started_mono) * 1000,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            tokens_source=_token_source(status, usage),
            attempts=outcome.attempts,
            retry_kinds=dict(outcome.retries),
            bytes_in=outcome.bytes_received,
            bodies=self._bodies(watch, reply) if watch.keep_reply else None,
            to_count=tokens[2],
            api=start.api,
        )

    def _bodies(self, watch: RequestWatch, reply: str) -> Bodies:
        start = watch.start
        return Bodies(
            prompt=_cap(prompt_json(start.messages) if start.body is None else start.body),
            reply=_cap(reply),
            reasoning=_cap(watch.reasoning()),
        )

    def _count(self, record: RequestRecord, start: RequestStart) -> None:
        metrics = self.metrics
        model = start.model if start.known_model else UNKNOWN_MODEL
        child = metrics.child
        child(metrics.requests, model, record.status, record.error_kind or "").inc()
        child(metrics.api_requests, record.api, record.status).inc()
        child(metrics.duration, model, record.status).observe(record.duration_ms / 1000)
        if record.ttft_ms is not None:
            child(metrics.first_token, model).observe(record.ttft_ms / 1000)
        for kind, count in record.retry_kinds.items():
            child(metrics.retries, kind).inc(count)
        if record.tokens_source == "upstream":
            self._count_tokens(model, record)

    def _count_truncated(self, start: RequestStart, replies: int) -> None:
        # Every cut reply, retried or final: if LMArena stops sending finish records, this
        # climbs with every request (a format drift), not only when a connection breaks.
        model = start.model if start.known_model else UNKNOWN_MODEL
        self.metrics.child(self.metrics.truncated, model).inc(replies)

    def _count_tokens(self, model: str, record: RequestRecord) -> None:
        source = record.tokens_source or ""
        child, tokens = self.metrics.child, self.metrics.tokens
        child(tokens, model, "prompt", source).inc(record.prompt_tokens or 0)
        child(tokens, model, "completion", source).inc(record.completion_tokens or 0)

    def _written(self, records: list[RequestRecord]) -> None:
        for record in records:
            if record.tokens_source == "tokenizer":  # completed, so its model is configured
                self._count_tokens(record.model, record)
        self.changes.bump()

    # -- upkeep --------------------------------------------------------------------------------

    def sweep(self) -> int:
        """End (as cancelled) the requests older than `max_age`: their route lost them."""
        now, max_age = self.clock(), self.max_age()
        stale = [w for w in self.active.values() if now - w.started_mono > max_age]
        for watch in stale:
            log.warning("[%s] never closed: ending it in the request log", watch.start.id)
            self.end(watch, "cancelled", RelayOutcome(watch.attempts, worker_id=watch.worker_id),
                     why="abandoned")
        return len(stale)

    async def run(self) -> None:
        """The writer, and the sweeper (cancel to stop; the writer flushes first).

        Not `gather`: cancelled, it would end as soon as the sweeper ended, with the writer
        still flushing, and the shutdown would then cut the flush short."""
        sweeper = asyncio.ensure_future(self._sweep_loop())
        try:
            await self.writer.run()  # returns only when there is no log to write
            await sweeper
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            self.sweep()


def _http_status(status: Status, error: GatewayError | None) -> int:
    if error is not None:
        return error.status
    return 200 if status == "ok" else CLIENT_GONE_STATUS


def _error_kind(status: Status, error: GatewayError | None) -> str | None:
    if error is not None:
        return error.code or error.type
    return "client_gone" if status == "cancelled" else None


def _token_source(status: Status, usage: Usage | None) -> TokenSource | None:
    if usage is None or status != "ok":
        return None
    return "tokenizer" if usage.counted else "upstream"


def _tokens(
    status: Status, usage: Usage | None, start: RequestStart, completion: tuple[str, ...]
) -> tuple[int | None, int | None, ToCount | None]:
    """Upstream usage for a completed request; else texts for the offline tokenizer."""
    if status != "ok":
        return None, None, None
    if usage is not None:
        return usage.prompt_tokens, usage.completion_tokens, None
    prompt = "\n\n".join(message.text for message in start.messages)
    return None, None, ToCount(prompt=prompt, completion=completion)


def call_name(call: object) -> str:
    """`CreateCall` → "create": which upstream route a request took."""
    return type(call).__name__.removesuffix("Call").lower()
