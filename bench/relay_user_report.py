"""Figures of bench/relay.py's user view (bench/relay_user.py): its tables and targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.relay_report import RunStats, Target, median, spread
from bench.relay_user import PAGE, UserCase, setup_name

POOL_OFF, POOL_ON = "pool off", "pool on"
BATCHED, UNBATCHED = "batching on", "batching off"


def _ttft(runs: Sequence[RunStats]) -> str:
    return spread([r.ttft_ms for r in runs], "{:.0f}")


def _pooled(case: UserCase, route: str) -> str:
    hits, misses = case.pool_uses.get(route, (0, 0))
    return "–" if not hits + misses else f"{hits} of {hits + misses}"


def user_table(cases: Sequence[UserCase]) -> list[str]:
    """The user's view: page, pool off, pool on (raw CDP + raw client)."""
    lines = [
        "| streams | TTFT page (mint, then fetch) ms | TTFT gateway, pool off ms "
        "| Δ pool off ms | TTFT gateway, pool on ms | Δ pool on ms | pool on ÷ page "
        "| jobs with a pooled token |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for case in cases:
        if POOL_ON not in case.runs:
            continue
        ratio = case.ratio(POOL_ON, lambda r: r.ttft_ms)
        lines.append(
            f"| {case.streams} | {_ttft(case.runs[PAGE])} | {_ttft(case.runs[POOL_OFF])} "
            f"| {spread(case.diff(POOL_OFF))} | {_ttft(case.runs[POOL_ON])} "
            f"| {spread(case.diff(POOL_ON))} | {spread(ratio, '{:.3f}')} "
            f"| {_pooled(case, POOL_ON)} |")
    return lines


def variant_table(cases: Sequence[UserCase]) -> list[str]:
    """Batching on and off, each set-up against its own page path."""
    lines = [
        "| set-up | streams × records | TTFT page ms | total page ms "
        "| Δ TTFT batching on ms | total ÷ page, on | Δ TTFT batching off ms "
        "| total ÷ page, off | records/s ÷ page, on / off |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def total(r: RunStats) -> float:
        return r.total_ms

    def rate(r: RunStats) -> float:
        return r.records_per_s

    for case in cases:
        if BATCHED not in case.runs:
            continue
        pace = f"{case.delay_ms:g} ms apart" if case.delay_ms else "no delay"
        rates = (median(case.ratio(BATCHED, rate)), median(case.ratio(UNBATCHED, rate)))
        page_total = spread([r.total_ms for r in case.runs[PAGE]], "{:.0f}")
        lines.append(
            f"| {case.setup} | {case.streams} × {case.records}, {pace} "
            f"| {_ttft(case.runs[PAGE])} | {page_total} "
            f"| {spread(case.diff(BATCHED))} | {spread(case.ratio(BATCHED, total), '{:.3f}')} "
            f"| {spread(case.diff(UNBATCHED))} | {spread(case.ratio(UNBATCHED, total), '{:.3f}')} "
            f"| {_num(rates[0])} / {_num(rates[1])} |")
    return lines


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _find(cases: Sequence[UserCase], setup: str, streams: int, paced: bool,
          route: str) -> UserCase | None:
    for case in cases:
        if (case.setup, case.streams, case.delay_ms > 0) == (setup, streams, paced) and (
                route in case.runs):
            return case
    return None


def user_targets(cases: Sequence[UserCase]) -> list[Target]:
    """The issue's targets for the user's view, judged on medians."""
    raw, playwright = setup_name("cdp+raw"), setup_name("playwright+openai")

    def pick(setup: str, streams: int, paced: bool, route: str,
             metric: Callable[[UserCase], list[float]]) -> float | None:
        case = _find(cases, setup, streams, paced, route)
        return None if case is None else median(metric(case))

    def on_minus_off(case: UserCase) -> list[float]:
        return [on - off for on, off in zip(case.diff(BATCHED), case.diff(UNBATCHED),
                                            strict=False)]

    def on_over_off(case: UserCase) -> list[float]:
        return [on.total_ms / off.total_ms
                for on, off in zip(case.runs[BATCHED], case.runs[UNBATCHED], strict=False)
                if off.total_ms]

    return [
        Target("user's view, pool on: TTFT over the page's (mint, then fetch), 1 stream",
               pick(raw, 1, True, POOL_ON, lambda c: c.diff(POOL_ON)), 0, "ms"),
        Target("user's view, pool on: TTFT over the page's, 6 streams",
               pick(raw, 6, True, POOL_ON, lambda c: c.diff(POOL_ON)), 0, "ms"),
        Target("user's view, pool on: TTFT ÷ the page's, 24 streams",
               pick(raw, 24, True, POOL_ON, lambda c: c.ratio(POOL_ON, lambda r: r.ttft_ms)),
               1.05, "×"),
        Target("Playwright + openai, 24 streams × 5 ms, HTTP/2: TTFT over the page's",
               pick(playwright, 24, True, BATCHED, lambda c: c.diff(BATCHED)), 20, "ms"),
        Target("Playwright + openai, 24 streams × 5 ms, HTTP/2: total ÷ the page's",
               pick(playwright, 24, True, BATCHED,
                    lambda c: c.ratio(BATCHED, lambda r: r.total_ms)), 1.10, "×"),
        Target("Playwright + openai, 24 streams × 5 ms: TTFT, batching on − off",
               pick(playwright, 24, True, BATCHED, on_minus_off), 0, "ms"),
        Target("Playwright + openai, 24 streams × 5 ms: total, batching on ÷ off",
               pick(playwright, 24, True, BATCHED, on_over_off), 1.0, "×"),
    ]


def where_table(cases: Sequence[UserCase], streams: int = 24) -> list[str]:
    """Where the TTFT goes at `streams` paced streams: medians over the runs of the means over
    the streams, ms from the run's start."""
    lines = [
        "| set-up | path | request left | the gateway began it | the fake sent the first "
        "record | the gateway had it | first token at the reader | the first record's way "
        "back |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]

    def med(runs: Sequence[RunStats], value: Callable[[RunStats], float | None]) -> str:
        found = [v for r in runs if (v := value(r)) is not None]
        return _ms(median(found) if len(found) == len(runs) else None)

    for case in cases:
        if case.streams != streams or not case.delay_ms:
            continue
        for name, runs in case.runs.items():
            path = "page (after its mint)" if name == PAGE else f"gateway, {name}"
            marks = case.marks.get(name, [])
            began = _ms(median([m[0] for m in marks])) if marks else "–"
            had = _ms(median([m[1] for m in marks])) if marks else "–"
            lines.append(
                f"| {case.setup} | {path} | {med(runs, lambda r: r.request_sent_ms)} | {began} "
                f"| {med(runs, lambda r: r.first_sent_ms)} | {had} "
                f"| {med(runs, lambda r: r.ttft_ms)} | {med(runs, _way_back)} |")
    return lines


def _ms(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.1f}"  # None or NaN: –


def _way_back(run: RunStats) -> float | None:
    return None if run.first_sent_ms is None else run.ttft_ms - run.first_sent_ms
