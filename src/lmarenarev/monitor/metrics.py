"""`/metrics`: the gateway in Prometheus' text format, from a registry of its own.

Counters and histograms are updated when a request ends (`observe.RequestObserver`); the gauges
(active requests, queue depth, workers, the log's queue) are read from the live state when
scraped, by `LiveCollector`. One `Metrics` per gateway: no default registry, no module state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120, 180, 300, 600)
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60, 120)
UNKNOWN_MODEL = "(unknown)"  # a model not configured: never a label of its own


@dataclass(frozen=True, slots=True)
class Live:
    """What the gauges show, read at scrape time."""

    active_requests: int
    jobs: int
    waiting: int
    workers: int
    busy_slots: int
    capacity: int
    log_queue: int
    log_dropped: int
    log_failed: int
    uptime_seconds: float
    socket_messages: int = 0
    socket_frames: int = 0
    sent_messages: int = 0
    sent_frames: int = 0
    token_hits: int = 0
    token_misses: int = 0
    token_expired: int = 0
    token_dropped: int = 0
    accounts: Mapping[str, int] = field(default_factory=dict)  # logged_in/anonymous/unknown
    pulses: Mapping[str, int] = field(default_factory=dict)  # worker id → LMArena's pulse
    cooling_down: int = 0  # tabs resting after "429 prompt failed"
    # Drift (arena/site.py): what LMArena sent that this version does not know.
    unknown_records: Mapping[str, int] = field(default_factory=dict)
    unknown_catalog_fields: Mapping[str, int] = field(default_factory=dict)
    refused_values: Mapping[str, int] = field(default_factory=dict)  # "mode=direct" → count


class LiveCollector(Collector):
    def __init__(self, read: Callable[[], Live]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        live = self.read()
        gauges = (
            ("lmarenarev_active_requests", "Chat requests in progress", live.active_requests),
            ("lmarenarev_active_jobs", "Jobs running in worker tabs", live.jobs),
            ("lmarenarev_queue_depth", "Requests waiting for a free tab", live.waiting),
            ("lmarenarev_workers", "Connected worker tabs", live.workers),
            ("lmarenarev_worker_busy_slots", "Busy job slots over all tabs", live.busy_slots),
            ("lmarenarev_worker_capacity", "Job slots over all tabs", live.capacity),
            ("lmarenarev_request_log_queue", "Records waiting for the log writer", live.log_queue),
            ("lmarenarev_uptime_seconds", "Seconds since the gateway started", live.uptime_seconds),
        )
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)
        yield CounterMetricFamily(
            "lmarenarev_request_log_dropped",
            "Records dropped because the log writer was behind",
            value=live.log_dropped,
        )
        yield CounterMetricFamily(
            "lmarenarev_worker_messages",
            "WebSocket messages received from worker tabs",
            value=live.socket_messages,
        )
        yield CounterMetricFamily(
            "lmarenarev_worker_frames",
            "Frames in those messages (a tab sends the chunks of one task as one batch)",
            value=live.socket_frames,
        )
        yield CounterMetricFamily(
            "lmarenarev_worker_messages_sent",
            "WebSocket messages sent to worker tabs",
            value=live.sent_messages,
        )
        yield CounterMetricFamily(
            "lmarenarev_worker_frames_sent",
            "Frames in those messages (a burst's jobs go to a tab as one batch)",
            value=live.sent_frames,
        )
        yield from _token_pool(live)
        yield CounterMetricFamily(
            "lmarenarev_request_log_failed",
            "Records the log writer could not write",
            value=live.log_failed,
        )
        yield from _accounts(live)
        yield from _drift(live)


def _by_label(
    family: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: Mapping[str, float],
) -> Metric:
    metric = family(name, documentation, labels=[label])
    for key, value in values.items():
        metric.add_metric([key], value)
    return metric


def _accounts(live: Live) -> Iterator[Metric]:
    yield _by_label(
        GaugeMetricFamily,
        "lmarenarev_worker_accounts",
        "Connected tabs by their LMArena account: logged_in, anonymous, unknown (/api/me)",
        "state",
        {state: live.accounts.get(state, 0) for state in ("logged_in", "anonymous", "unknown")},
    )
    yield _by_label(
        GaugeMetricFamily,
        "lmarenarev_worker_account_pulse",
        "LMArena's quota pulse (0..100) of each tab's account, where readable (/api/me/pulse)",
        "worker",
        live.pulses,
    )
    yield GaugeMetricFamily(
        "lmarenarev_workers_cooling_down",
        "Tabs getting no jobs after LMArena said their account's quota is used up",
        value=live.cooling_down,
    )


def _drift(live: Live) -> Iterator[Metric]:
    """What LMArena sent that this version does not know (arena/site.py `Drift`)."""
    yield _by_label(
        CounterMetricFamily,
        "lmarenarev_drift_unknown_records",
        "Stream records with a prefix this version does not know, by prefix",
        "prefix",
        live.unknown_records,
    )
    yield _by_label(
        CounterMetricFamily,
        "lmarenarev_drift_unknown_catalog_fields",
        "Catalogue reads that held a model field (or arena, 'arena:<name>') this version "
        "does not know",
        "field",
        live.unknown_catalog_fields,
    )
    refused = CounterMetricFamily(
        "lmarenarev_drift_refused_values",
        "Requests where LMArena refused our mode or modality value",
        labels=["field", "value"],
    )
    for key, count in live.refused_values.items():
        name, _, value = key.partition("=")
        refused.add_metric([name, value], count)
    yield refused


def _token_pool(live: Live) -> Iterator[Metric]:
    """The tabs' reCAPTCHA token pools (docs/worker-protocol.md "Token pool")."""
    counters = (
        ("hits", "Jobs that started with a token from their tab's pool", live.token_hits),
        ("misses", "Jobs that found their tab's pool empty and minted a token first",
         live.token_misses),
        ("expired", "Pooled tokens that aged out unused", live.token_expired),
        ("dropped", "Pooled tokens thrown away unused (a reCAPTCHA refusal, the page going "
         "away, the pool turned off)", live.token_dropped),
    )
    for name, documentation, value in counters:
        yield CounterMetricFamily(f"lmarenarev_token_pool_{name}", documentation, value=value)


class Metrics:
    def __init__(self, read_live: Callable[[], Live]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lmarenarev_requests",
            "Chat completion requests by model, outcome and error kind",
            ["model", "status", "error_kind"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "lmarenarev_api_requests",
            "Requests by API (chat, messages, responses, images) and outcome",
            ["api", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "lmarenarev_request_duration_seconds",
            "Time from a request's arrival to its end",
            ["model", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "lmarenarev_time_to_first_token_seconds",
            "Time from a request's arrival to its first content or reasoning",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "lmarenarev_retries",
            "Retries by what failed (an arena.errors kind, or 'worker')",
            ["kind"],
            registry=self.registry,
        )
        self.truncated = Counter(
            "lmarenarev_truncated_replies",
            "Replies whose body ended without LMArena's finish record (cut off), by model; "
            "every attempt counts, retried or not",
            ["model"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "lmarenarev_tokens",
            "Tokens by model, direction (prompt|completion) and source (upstream|tokenizer)",
            ["model", "direction", "source"],
            registry=self.registry,
        )
        self.ignored = Counter(
            "lmarenarev_ignored_parameters",
            "Chat completion parameters sent that LMArena cannot honour (accepted, ignored)",
            ["parameter"],
            registry=self.registry,
        )
        self.registry.register(LiveCollector(read_live))
        # `labels()` takes a lock and builds a key on every call; a request's end asks for the
        # same few children again and again (the labels are as bounded as the metrics' own).
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def count_ignored(self, parameters: list[str]) -> None:
        for name in parameters:
            self.child(self.ignored, name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
