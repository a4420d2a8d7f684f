"""Figures for bench/relay.py: per-run statistics, the targets, the markdown and the chart."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.relay_client import StreamResult


@dataclass(frozen=True)
class RunStats:
    """One run of N concurrent streams on one path (direct or through the gateway)."""

    ttft_ms: float  # mean over the streams of (first record − request start)
    total_ms: float  # last stream's end − first stream's start
    p50_us: float  # per record: client receive time − the fake's send time
    p99_us: float
    records: int
    chars: int
    errors: tuple[str, ...] = ()
    cpu_us_per_record: float | None = None  # the gateway's, for runs through it
    # Where the TTFT went, means over the streams from the run's start: the fake sent the
    # first record (its stamp) at `first_sent_ms`; the client had sent its request at
    # `request_sent_ms` (when the reader knows it).
    first_sent_ms: float | None = None
    request_sent_ms: float | None = None

    @property
    def records_per_s(self) -> float:
        return self.records / (self.total_ms / 1000) if self.total_ms else 0.0

    @property
    def chars_per_s(self) -> float:
        return self.chars / (self.total_ms / 1000) if self.total_ms else 0.0


def run_stats(results: Sequence[StreamResult], record_chars: int,
              cpu_seconds: float | None = None) -> RunStats:
    errors = tuple(r.error for r in results if r.error)
    good = [r for r in results if r.first is not None and r.end is not None]
    latencies = sorted(lat for r in good for lat in r.latencies_us)
    records = sum(r.records for r in good)
    if not good:
        return RunStats(0, 0, 0, 0, 0, 0, errors or ("no stream finished",))
    # Both from the run's start: a path's own per-stream set-up (the page minting one token
    # after another, the client writing one request after another) is part of its time.
    start = min(r.start for r in results)
    ttft = statistics.fmean((r.first or 0) - start for r in good) * 1000
    total = (max(r.end or 0 for r in good) - start) * 1000
    cpu = None if cpu_seconds is None or not records else cpu_seconds * 1e6 / records
    stamped = [(r.first or 0) - r.latencies_us[0] / 1e6 - start for r in good if r.latencies_us]
    first_sent = statistics.fmean(stamped) * 1000 if len(stamped) == len(good) else None
    sent = [r.sent - start for r in good if r.sent is not None]
    request_sent = statistics.fmean(sent) * 1000 if len(sent) == len(good) else None
    return RunStats(ttft, total, _quantile(latencies, 0.50), _quantile(latencies, 0.99),
                    records, records * record_chars, errors, cpu, first_sent, request_sent)


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class Scenario:
    protocol: str  # "HTTP/1.1" | "HTTP/2"
    workers: str  # "python" | "1 tab" | "3 tabs"
    streams: int
    records: int
    delay_ms: float
    direct: list[RunStats] = field(default_factory=list)
    gateway: list[RunStats] = field(default_factory=list)

    @property
    def paced(self) -> bool:
        return self.delay_ms > 0

    def pairs(self) -> list[tuple[RunStats, RunStats]]:
        return list(zip(self.direct, self.gateway, strict=False))

    def ttft_diff(self) -> list[float]:
        return [g.ttft_ms - d.ttft_ms for d, g in self.pairs()]

    def total_ratio(self) -> list[float]:
        return [g.total_ms / d.total_ms for d, g in self.pairs() if d.total_ms]

    def rate_ratio(self) -> list[float]:
        return [g.records_per_s / d.records_per_s for d, g in self.pairs() if d.records_per_s]

    def cpu(self) -> list[float]:
        return [g.cpu_us_per_record for g in self.gateway if g.cpu_us_per_record is not None]

    def errors(self) -> list[str]:
        return [e for run in self.direct + self.gateway for e in run.errors]


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """min / median / max."""
    if not values:
        return "–"
    if len(values) == 1:
        return fmt.format(values[0])
    parts = (min(values), statistics.median(values), max(values))
    return " / ".join(fmt.format(v) for v in parts)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float
    unit: str
    higher_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def row(self) -> str:
        verdict = {True: "✅ met", False: "❌ missed", None: "– not run"}[self.met]
        value = "–" if self.value is None else f"{self.value:.2f} {self.unit}"
        sign = "≥" if self.higher_is_better else "≤"
        return f"| {self.name} | {sign} {self.limit:g} {self.unit} | {value} | {verdict} |"


def find(scenarios: Sequence[Scenario], protocol: str, workers: str, streams: int,
         paced: bool) -> Scenario | None:
    for s in scenarios:
        if (s.protocol, s.workers, s.streams, s.paced) == (protocol, workers, streams, paced):
            return s
    return None


def targets(scenarios: Sequence[Scenario], rss_growth_mb: float | None) -> list[Target]:
    """The issue's targets, judged on the median run of one real Chromium tab."""

    def pick(protocol: str, streams: int, paced: bool,
             metric: Callable[[Scenario], list[float]]) -> float | None:
        scenario = find(scenarios, protocol, "1 tab", streams, paced)
        return None if scenario is None else median(metric(scenario))

    one_stream = pick("HTTP/2", 1, True, Scenario.ttft_diff)
    if one_stream is None:
        one_stream = pick("HTTP/1.1", 1, True, Scenario.ttft_diff)
    return [
        Target("TTFT over direct, 1 stream", one_stream, 3, "ms"),
        Target("TTFT over direct, 24 streams, HTTP/2", pick("HTTP/2", 24, True,
                                                            Scenario.ttft_diff), 20, "ms"),
        Target("total time ÷ direct, 24 streams × 5 ms/record, HTTP/2",
               pick("HTTP/2", 24, True, Scenario.total_ratio), 1.10, "×"),
        Target("records/s through 1 tab ÷ direct, 24 streams, no delay, HTTP/2",
               pick("HTTP/2", 24, False, Scenario.rate_ratio), 0.5, "×", higher_is_better=True),
        Target("gateway CPU per record, 24 streams, no delay, HTTP/2",
               pick("HTTP/2", 24, False, Scenario.cpu), 15, "µs"),
        Target("gateway RSS growth over 10,000 requests", rss_growth_mb, 10, "MB"),
    ]


def latency_table(scenarios: Sequence[Scenario]) -> list[str]:
    lines = [
        "| protocol | workers | streams | TTFT direct ms | TTFT gateway ms | Δ TTFT ms "
        "| total direct ms | total gateway ms | total ÷ direct | record latency direct p50/p99 ms "
        "| record latency gateway p50/p99 ms | gateway CPU µs/record |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        if not s.paced:
            continue
        lines.append(
            f"| {s.protocol} | {s.workers} | {s.streams} "
            f"| {spread([r.ttft_ms for r in s.direct])} | {spread([r.ttft_ms for r in s.gateway])} "
            f"| {spread(s.ttft_diff())} | {spread([r.total_ms for r in s.direct], '{:.0f}')} "
            f"| {spread([r.total_ms for r in s.gateway], '{:.0f}')} "
            f"| {spread(s.total_ratio(), '{:.3f}')} | {_latency(s.direct)} | {_latency(s.gateway)} "
            f"| {spread(s.cpu())} |")
    return lines


def throughput_table(scenarios: Sequence[Scenario], ceiling: float | None) -> list[str]:
    lines = [
        "| protocol | workers | streams | records/s direct | records/s gateway | gateway ÷ direct "
        "| chars/s gateway | gateway CPU µs/record |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        if s.paced:
            continue
        lines.append(
            f"| {s.protocol} | {s.workers} | {s.streams} "
            f"| {spread([r.records_per_s for r in s.direct], '{:,.0f}')} "
            f"| {spread([r.records_per_s for r in s.gateway], '{:,.0f}')} "
            f"| {spread(s.rate_ratio(), '{:.2f}')} "
            f"| {spread([r.chars_per_s for r in s.gateway], '{:,.0f}')} | {spread(s.cpu())} |")
    if ceiling is not None:
        lines.append(f"| – | the client alone (its ceiling) | 24 | – | {ceiling:,.0f} "
                     "| – | – | – |")
    return lines


def _latency(runs: Sequence[RunStats]) -> str:
    p50 = median([r.p50_us / 1000 for r in runs])
    p99 = median([r.p99_us / 1000 for r in runs])
    return "–" if p50 is None or p99 is None else f"{p50:.2f} / {p99:.2f}"


def chart(scenarios: Sequence[Scenario], path: Path) -> bool:
    """Δ TTFT and total ÷ direct against streams, one line per protocol × workers; False
    when matplotlib is missing (`pip install -e '.[bench]'`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[tuple[str, str], list[Scenario]] = {}
    for s in scenarios:
        if s.paced:
            series.setdefault((s.protocol, s.workers), []).append(s)
    for (protocol, workers), items in sorted(series.items()):
        items.sort(key=lambda s: s.streams)
        xs = [s.streams for s in items]
        label = f"{workers}, {protocol}"
        left.plot(xs, [median(s.ttft_diff()) or 0 for s in items], marker="o", label=label)
        right.plot(xs, [median(s.total_ratio()) or 0 for s in items], marker="o", label=label)
    left.axhline(3, color="grey", linestyle=":", linewidth=1)
    left.axhline(20, color="grey", linestyle="--", linewidth=1)
    right.axhline(1.10, color="grey", linestyle="--", linewidth=1)
    for axis, title, unit in ((left, "time to first token over direct", "ms"),
                              (right, "total time ÷ direct", "×")):
        axis.set_xscale("log", base=2)
        axis.set_xticks([1, 6, 24, 96], labels=["1", "6", "24", "96"])
        axis.set_xlabel("concurrent streams (5 ms per record)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
