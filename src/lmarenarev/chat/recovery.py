"""What a relay does about a failed attempt besides waiting and trying again: the moves that
depend on what LMArena said (protocol §1.1, §1.3, §3.5, §4.1 as of 2026).

- a 4xx refusing our `mode` or `modality` by name → the alternative value, once per request,
  remembered per site when it works (arena/site.py);
- `429 prompt failed` (this account's quota) → the tab is cooled down and the job moves to
  another tab; with none left, a 429 saying so;
- a redirect of a stream request (never followed: the 405 trap) → the tab is moved to the
  canonical origin (lmarena.ai → arena.ai) or reloaded, once; then an error naming the origin;
- a model LMArena dropped (404/410) → the caller's `on_gone` turns it into a 404 naming
  alternatives.

One `Recovery` per relay (per client request); the site state and the pool are the gateway's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..arena.errors import Kind, UpstreamProblem
from ..arena.page import CHAT_PAGE, canonical_page
from ..arena.requests import UpstreamRequest
from ..arena.site import DEFAULT_CHOICES, Choices, SiteState, refused_field
from ..errors import GatewayError, UpstreamFailure
from ..workers.pool import Worker, WorkerPool

log = logging.getLogger(__name__)

DEFAULT_QUOTA_COOLDOWN = 3600.0


class Move(Enum):
    RETRY_NOW = "retry now"  # something changed (a value, the tab): no backoff
    AS_USUAL = "as usual"  # nothing special: the retry policy decides


@dataclass
class Recovery:
    pool: WorkerPool
    site: SiteState | None = None
    quota_cooldown: float = DEFAULT_QUOTA_COOLDOWN
    on_gone: Callable[[UpstreamProblem], GatewayError] | None = None
    override: dict[str, str] = field(default_factory=dict)  # tried instead of the site's value
    refused: dict[str, str] = field(default_factory=dict)  # the value refused first, by key
    moved: bool = False  # a tab was sent to another origin in this request

    def choices(self, worker: Worker) -> Choices:
        if self.site is None:
            return DEFAULT_CHOICES
        return self.site.choices(worker.origin, self.override)

    def succeeded(self, worker: Worker, request: UpstreamRequest) -> None:
        """An attempt got its answer: alternatives it carried work on this site."""
        if self.site is None:
            return
        for key, value in self.override.items():
            if request.sent.get(key) == value:
                self.site.worked(worker.origin, key, value)
                log.info("%s takes %s=%s: using it from now on", worker.origin, key, value)

    async def handle(
        self, problem: UpstreamProblem, worker: Worker | None, request: UpstreamRequest | None
    ) -> Move:
        """Act on `problem`; raise the final error when nothing else can be tried."""
        kind = problem.kind
        if kind is Kind.BAD_REQUEST and request is not None:
            return self._refused(problem, request)
        if kind is Kind.QUOTA and worker is not None:
            return self._quota(problem, worker)
        if kind is Kind.REDIRECT and worker is not None:
            return await self._redirected(problem, worker)
        if kind is Kind.MODEL_GONE and self.on_gone is not None:
            raise self.on_gone(problem)
        return Move.AS_USUAL

    def _refused(self, problem: UpstreamProblem, request: UpstreamRequest) -> Move:
        name = refused_field(problem)
        if name is None or self.site is None:
            return Move.AS_USUAL
        key = next((k for k in request.sent if k == name or k.startswith(name + ":")), None)
        if key is None:
            return Move.AS_USUAL
        value = request.sent[key]
        self.site.refusal(name, value)
        alternative = self.site.alternative(name, value)
        if alternative is None or key in self.override:
            first = self.refused.get(key)
            values = f"{first!r}, then {value!r}" if first else repr(value)
            raise UpstreamFailure(
                f"{problem.message}: LMArena refused {name} {values}. Set "
                f"{_setting(name)} to the value LMArena's own page sends now, and run "
                "`lmarenarev doctor`",
                status=400,
                code="upstream_bad_request",
            )
        log.warning("LMArena refused %s=%s; trying %s", name, value, alternative)
        self.refused[key] = value
        self.override[key] = alternative
        return Move.RETRY_NOW

    def _quota(self, problem: UpstreamProblem, worker: Worker) -> Move:
        self.pool.cool_down(worker, self.quota_cooldown, "429 prompt failed (account quota)")
        if self.pool.usable(worker):
            return Move.RETRY_NOW  # another tab (account) takes the job
        raise quota_used_up(self.quota_cooldown, f"{problem.message}, and no other tab can "
                            "take the request")

    async def _redirected(self, problem: UpstreamProblem, worker: Worker) -> Move:
        target = canonical_page(worker.hello.page_url)
        if self.moved:
            where = target or f"LMArena at its current address (https://arena.ai{CHAT_PAGE})"
            raise UpstreamFailure(
                f"{problem.message}. The tab is on {worker.origin or '?'}, which LMArena "
                f"redirects: open {where} in that tab",
                status=502,
                code="upstream_redirect",
            )
        self.moved = True
        url = target or worker.hello.page_url  # a reload follows the site's own redirect
        await self.pool.navigate(worker, url, "LMArena redirected its request")
        return Move.RETRY_NOW


def quota_used_up(seconds: float, what: str = "LMArena said so") -> UpstreamFailure:
    """The 429 of a request no tab can take: every tab's account has used its quota."""
    minutes = max(1, round(seconds / 60))
    return UpstreamFailure(
        f"{what}: every connected tab's LMArena account has used its quota (the first is "
        f"free again in {minutes} min). Open a tab logged in to another LMArena account, or "
        "try again later",
        status=429,
        code="account_quota_exhausted",
        retry_after=seconds,
    )


def _setting(name: str) -> str:
    return "arena_chat_mode" if name == "mode" else "arena_modalities"
