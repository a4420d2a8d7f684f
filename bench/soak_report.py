"""The soak's verdict and its report, the markdown docs/soak.md holds (bench/soak.py)."""

from __future__ import annotations

import os
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.soak_driver import Loss, Options, Sample, Soak, per_request
from bench.soak_workload import Planned, accepted, label, scenarios

RSS_TARGET_MB = 10.0


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
