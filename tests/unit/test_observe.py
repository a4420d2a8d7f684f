"""The request observer, the dashboard's summaries and the metrics, without a server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lmarenarev.arena.events import Finish, ReasoningDelta, TextDelta, Usage
from lmarenarev.errors import NoWorker, UpstreamFailure
from lmarenarev.messages import Message
from lmarenarev.monitor.metrics import Live, Metrics
from lmarenarev.monitor.observe import RequestObserver, RequestStart, call_name
from lmarenarev.monitor.stats import StatRow, per_model, percentile, summarize
from lmarenarev.store.records import RequestRecord
from lmarenarev.store.writer import Retention, StoreWriter


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.95, 7.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([float(n) for n in range(1, 101)], 0.95, 95.0),
        ([float(n) for n in range(1, 101)], 0.5, 50.0),
        ([1.0, 2.0], 0.95, 2.0),
    ],
)
def test_percentile_is_nearest_rank(
    values: list[float], fraction: float, expected: float | None
) -> None:
    assert percentile(values, fraction) == expected


def stat(model: str, status: str, ms: float, ttft: float | None = None) -> StatRow:
    return StatRow(model, status, ms, ttft, 10 if status == "ok" else None, 20, 0)


def test_summaries_count_latency_over_completed_requests_only() -> None:
    rows = [
        stat("a", "ok", 100, 10),
        stat("a", "ok", 300, 30),
        stat("a", "error", 5000),
        stat("b", "cancelled", 9000),
    ]
    total = summarize(rows)
    assert (total.requests, total.ok, total.errors, total.cancelled) == (4, 2, 1, 1)
    assert (total.error_rate, total.success_rate) == (0.25, 0.5)
    assert (total.avg_ms, total.p50_ms, total.p95_ms) == (200, 100, 300)
    assert (total.ttft_p50_ms, total.prompt_tokens, total.completion_tokens) == (10, 20, 80)
    models = per_model(rows)
    assert [(name, s.requests) for name, s in models] == [("a", 3), ("b", 1)]
    assert models[1][1].avg_ms is None and models[1][1].success_rate == 0
    empty = summarize([])
    assert (empty.requests, empty.error_rate, empty.p95_ms) == (0, None, None)


# --- the observer -------------------------------------------------------------------------------


@dataclass
class FakeRelay:
    attempts: int = 1
    retries: dict[str, int] = field(default_factory=dict)
    worker_id: str | None = "w1"
    bytes_received: int = 0
    last_failure: str | None = None
    truncated: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live() -> Live:
    return Live(0, 0, 0, 1, 0, 6, 0, 0, 0, 1.0)


def observer_for(tmp_path: Path, clock: Clock, *, bodies: bool = False) -> RequestObserver:
    writer = StoreWriter(tmp_path / "log.sqlite3", retention=lambda: Retention(30, 0))
    return RequestObserver(
        writer=writer,
        metrics=Metrics(live),
        log_bodies=lambda: bodies,
        max_age=lambda: 60.0,
        clock=clock,
        wall=lambda: 1_800_000_000.0,
    )


def queued(observer: RequestObserver) -> list[RequestRecord]:
    queue = observer.writer._queue
    return [queue.get_nowait() for _ in range(queue.qsize())]


START = RequestStart(
    id="chatcmpl-1", model="fake-gpt", key_name="alice", stream=True, flow="modern",
    call="create", messages=(Message("user", "hello there"),),
)


def test_a_completed_request(tmp_path: Path) -> None:
    clock = Clock()
    observer = observer_for(tmp_path, clock)
    relay = FakeRelay(attempts=2, retries={"empty": 1}, bytes_received=321)
    watch = observer.started(START, relay)
    assert list(observer.active) == ["chatcmpl-1"]
    clock.now += 0.4
    watch.event(TextDelta("Hi"))
    clock.now += 0.6
    watch.event(TextDelta(" you"))
    watch.event(Finish("stop", Usage(4, 2)))
    watch.done("Hi you", Usage(4, 2))
    watch.close()  # every path closes; a done request stays done
    assert observer.active == {}
    (record,) = queued(observer)
    assert (record.status, record.http_status, record.error_kind) == ("ok", 200, None)
    assert (record.ttft_ms, record.duration_ms) == pytest.approx((400, 1000))
    assert (record.prompt_tokens, record.completion_tokens, record.tokens_source) == (
        4, 2, "upstream"
    )
    assert (record.attempts, record.retries, record.bytes_in) == (2, 1, 321)
    assert record.finish_reason == "stop" and record.bodies is None and record.to_count is None


def test_no_usage_sends_the_texts_to_the_tokenizer(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    watch = observer.started(START, FakeRelay())
    watch.event(ReasoningDelta("hmm"))
    watch.done("Answer", None)
    (record,) = queued(observer)
    assert record.to_count is not None and record.tokens_source is None
    assert record.to_count.prompt == "hello there"
    assert record.to_count.completion == ("Answer", "hmm")


def test_a_failed_request_keeps_its_classification(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock(), bodies=True)
    watch = observer.started(START, FakeRelay(last_failure="rate_limit", retries={"rate_limit": 1}))
    watch.event(TextDelta("partial"))
    watch.failed(UpstreamFailure("LMArena rate limit", status=429, code="rate_limited"))
    watch.close()
    (record,) = queued(observer)
    assert (record.status, record.http_status) == ("error", 429)
    assert (record.error_kind, record.upstream_kind) == ("rate_limited", "rate_limit")
    assert record.prompt_tokens is None and record.to_count is None
    assert record.bodies is not None and record.bodies.reply == "partial"
    assert '"content": "hello there"' in record.bodies.prompt


def test_closed_without_an_outcome_is_cancelled(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    observer.started(START, FakeRelay()).close()
    (record,) = queued(observer)
    assert (record.status, record.http_status) == ("cancelled", 499)
    assert record.error_kind == "client_gone"
    assert observer.active == {}


def test_refused_requests_count_under_an_unknown_model(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    start = RequestStart(id="x", model="<b>bold</b>", key_name=None, stream=False,
                         flow="modern", call="", known_model=False)
    observer.refused(start, NoWorker("no tab"))
    (record,) = queued(observer)
    assert (record.model, record.worker_id, record.attempts, record.error_kind) == (
        "<b>bold</b>", None, 0, "no_worker"
    )
    text = observer.metrics.render().decode()
    assert 'model="(unknown)"' in text and "<b>" not in text


def test_lone_surrogates_in_a_model_name_are_repaired(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    start = RequestStart(id="x", model="odd\ud800", key_name=None, stream=False,
                         flow="modern", call="", known_model=False)
    watch = observer.started(start, FakeRelay())
    assert observer.active["x"].start.model == "odd\ufffd"
    watch.close()
    (record,) = queued(observer)
    assert record.model == "odd\ufffd"


def test_requests_lost_by_their_route_are_swept(tmp_path: Path) -> None:
    clock = Clock()
    observer = observer_for(tmp_path, clock)
    observer.started(START, FakeRelay())
    clock.now += 30
    assert observer.sweep() == 0
    clock.now += 31
    assert observer.sweep() == 1 and observer.active == {}
    (record,) = queued(observer)
    assert (record.status, record.error_kind) == ("cancelled", "abandoned")


async def test_changes_wake_their_waiters(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    changes = observer.changes
    seen = changes.version
    assert await changes.wait(seen, 0.01) == seen  # nothing moved: back after the timeout
    observer.started(START, FakeRelay())
    assert await changes.wait(seen, 5) == seen + 1


async def test_a_waiting_dashboard_wakes_when_a_request_starts_and_ends(tmp_path: Path) -> None:
    observer = observer_for(tmp_path, Clock())
    changes = observer.changes
    for _ in range(3):  # moves with no one waiting
        changes.bump()
    seen = changes.version
    waiters = [asyncio.ensure_future(changes.wait(seen, 5)) for _ in range(2)]
    await asyncio.sleep(0)  # both wait now
    assert not any(waiter.done() for waiter in waiters)
    watch = observer.started(START, FakeRelay())
    assert await asyncio.gather(*waiters) == [seen + 1, seen + 1]
    late = asyncio.ensure_future(changes.wait(seen + 1, 5))
    await asyncio.sleep(0)
    watch.close()  # the request ends (cancelled): the next waiter wakes too
    assert await late == seen + 2


def test_call_names() -> None:
    class CreateCall: ...

    class LegacyCall: ...

    assert (call_name(CreateCall()), call_name(LegacyCall())) == ("create", "legacy")


def test_metrics_have_their_own_registry() -> None:
    first, second = Metrics(live), Metrics(live)
    first.requests.labels("m", "ok", "").inc()
    families = {f.name: f for f in text_string_to_metric_families(second.render().decode())}
    assert families["lmarenarev_requests"].samples == []
    assert families["lmarenarev_workers"].samples[0].value == 1
    assert families["lmarenarev_worker_capacity"].samples[0].value == 6


def test_the_dashboard_template_escapes_what_it_is_given() -> None:
    from lmarenarev.api.monitor import templates
    from lmarenarev.monitor.page import context

    values = context('"><script>alert(1)</script>', "0.1.0")
    values["endpoints"] = (("GET /<b>x</b>", "<img src=x onerror=alert(1)>"),)
    html = templates().get_template("monitor.html").render(values)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
