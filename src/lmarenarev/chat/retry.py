"""The one retry policy: given a failed attempt's problem, how long to wait before the next.

Pure: the relay counts attempts per kind and sleeps; this module only decides. Applies only
while nothing has reached the client yet (afterwards every failure is final).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arena.errors import Kind, UpstreamProblem


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    empty_enabled: bool = True
    empty_max_retries: int = 5
    empty_base_delay: float = 1.0
    empty_max_delay: float = 30.0
    recaptcha_retries: int = 2
    rate_limit_retries: int = 2
    rate_limit_max_wait: float = 60.0
    worker_retries: int = 3
    cloudflare_retries: int = 2
    server_error_retries: int = 1  # and only on another tab with a free slot (relay.py)

    def delay(self, problem: UpstreamProblem, previous: int) -> float | None:
        """Seconds to wait before retry number `previous + 1` of this kind, or None to give up."""
        kind = problem.kind
        if kind in (Kind.EMPTY, Kind.TRUNCATED, Kind.ARENA_ERROR):  # a cut before any text, too
            if not self.empty_enabled or previous >= self.empty_max_retries:
                return None
            return min(self.empty_base_delay * 2.0**previous, self.empty_max_delay)
        if kind is Kind.RECAPTCHA:
            return 0.0 if previous < self.recaptcha_retries else None
        if kind is Kind.CLOUDFLARE:  # the tab is reloaded to pass the challenge; then again
            return 0.0 if previous < self.cloudflare_retries else None
        if kind is Kind.SERVER_ERROR:  # LMArena's 5xx before any output: once more, elsewhere
            return 0.0 if previous < self.server_error_retries else None
        if kind is Kind.RATE_LIMIT:
            if previous >= self.rate_limit_retries:
                return None
            wait = problem.retry_after if problem.retry_after is not None else 2.0 * 2**previous
            return min(wait, self.rate_limit_max_wait)
        return None

    def worker_delay(self, previous: int) -> float | None:
        """A job lost with its tab (or failed in the browser) before any output: run it again."""
        return 0.0 if previous < self.worker_retries else None
