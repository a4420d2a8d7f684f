"""The fake worker's reCAPTCHA token pool: the rules of the userscript's
(src/lmarenarev/userscript/tokenpool.js, docs/worker-protocol.md "Token pool") in Python, so
the integration tier sees what a tab does.

- up to `size` tokens for one site key and action, minted while requests are coming: a job that
  took from the pool is running, or one arrived or ended within `warm_ms`; an idle worker mints
  nothing and its tokens age out; a job's refill starts after the job has gone on;
- a token is used once and only while younger than `max_age_ms`, counted from its mint's start;
- a job for another site key or action gets nothing (neither hit nor miss) and mints its own;
- `drop` empties the pool (a refusal, the page going away); a mint under way then is not kept;
  the pool reports tokens it throws away unused (`report(expired, dropped)`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

log = logging.getLogger(__name__)

MAX_SIZE = 8


@dataclass(frozen=True)
class PoolConfig:
    site_key: str
    action: str
    size: int
    max_age: float  # seconds
    warm: float


def parse_config(frame: Any) -> PoolConfig | None:
    """The gateway's `token_pool` frame, or None (off) for size 0 or anything not understood."""
    if not isinstance(frame, dict):
        return None
    site_key, action, size = frame.get("site_key"), frame.get("action"), frame.get("size")
    max_age, warm = frame.get("max_age_ms"), frame.get("warm_ms")
    if not (isinstance(site_key, str) and site_key and isinstance(action, str) and action):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return None
    if not (_number(max_age) and _number(warm)) or not (max_age > 0 and warm >= 0):
        return None
    return PoolConfig(site_key, action, min(size, MAX_SIZE), max_age / 1000, warm / 1000)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class _Held:
    token: str
    at: float
    timer: asyncio.TimerHandle | None = None


class TokenPool:
    def __init__(
        self,
        mint: Callable[[str, str], Awaitable[str]],
        report: Callable[[int, int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mint = mint
        self.report = report  # (expired, dropped)
        self.clock = clock
        self.config: PoolConfig | None = None
        self.tokens: list[_Held] = []
        self.minting = 0
        self.generation = 0
        self.last_activity = float("-inf")
        self.running = 0
        self.counts = {"hits": 0, "misses": 0, "expired": 0, "dropped": 0, "minted": 0, "failed": 0}
        self._tasks: set[asyncio.Task[None]] = set()
        self._refill_soon: asyncio.Handle | None = None

    def configure(self, frame: Any) -> None:
        new = parse_config(frame)
        old = self.config
        same = old is not None and new is not None and (
            (new.site_key, new.action, new.max_age) == (old.site_key, old.action, old.max_age))
        if not same:
            self.generation += 1
            self._count("dropped", self._remove_all())
        self.config = new
        if new is not None:
            while len(self.tokens) > new.size:
                self._cancel(self.tokens.pop())
                self._count("dropped", 1)
            self._refill()

    def take(self, site_key: str, action: str) -> tuple[str | None, str | None]:
        """(token or None, "hit" | "miss" | None); follow every call with one `done()`."""
        self.last_activity = self.clock()
        self.running += 1
        config = self.config
        if config is None or (site_key, action) != (config.site_key, config.action):
            self._later()
            return None, None
        self._drop_stale()
        held = self.tokens.pop(0) if self.tokens else None
        if held is not None:
            self._cancel(held)
        self.counts["hits" if held else "misses"] += 1
        self._later()
        return (held.token, "hit") if held else (None, "miss")

    def done(self) -> None:
        self.running = max(0, self.running - 1)
        self.last_activity = self.clock()

    def drop(self) -> None:
        self.generation += 1
        self._count("dropped", self._remove_all())

    def status(self) -> dict[str, Any]:
        on = self.config is not None
        return {"on": on, "size": self.config.size if self.config else 0,
                "held": len(self.tokens), "minting": self.minting, **self.counts}

    async def close(self) -> None:
        if self._refill_soon is not None:
            self._refill_soon.cancel()
            self._refill_soon = None
        self.configure(None)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- inside -----------------------------------------------------------------------------

    def _later(self) -> None:
        """Refill after the job that took has gone on (its fetch first), as the userscript."""
        if self._refill_soon is None:
            self._refill_soon = asyncio.get_running_loop().call_soon(self._refill_now)

    def _refill_now(self) -> None:
        self._refill_soon = None
        self._refill()

    def _warm(self, config: PoolConfig) -> bool:
        return self.running > 0 or self.clock() - self.last_activity <= config.warm

    def _refill(self) -> None:
        config = self.config
        if config is None or not self._warm(config):
            return
        while len(self.tokens) + self.minting < config.size:
            self.minting += 1
            task = asyncio.ensure_future(self._mint(config, self.clock(), self.generation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _mint(self, config: PoolConfig, at: float, generation: int) -> None:
        try:
            token = await self.mint(config.site_key, config.action)
        except Exception as exc:  # the next job tries again
            self.counts["failed"] += 1
            log.info("token pool: mint failed: %r", exc)
            return
        finally:
            self.minting -= 1
        self.counts["minted"] += 1
        self._keep(token, at, generation)

    def _keep(self, token: str, at: float, generation: int) -> None:
        config = self.config
        if generation != self.generation or config is None or len(self.tokens) >= config.size:
            self._count("dropped", 1)
            return
        left = at + config.max_age - self.clock()
        if left <= 0:
            self._count("expired", 1)
            return
        held = _Held(token, at)
        held.timer = asyncio.get_running_loop().call_later(left, self._expire, held)
        self.tokens.append(held)

    def _expire(self, held: _Held) -> None:
        if held in self.tokens:
            self.tokens.remove(held)
            self._count("expired", 1)
            self._refill()

    def _drop_stale(self) -> None:
        config = self.config
        assert config is not None
        now = self.clock()
        stale = [held for held in self.tokens if now - held.at >= config.max_age]
        for held in stale:
            self._cancel(held)
            self.tokens.remove(held)
        self._count("expired", len(stale))

    def _remove_all(self) -> int:
        held, self.tokens = self.tokens, []
        for item in held:
            self._cancel(item)
        return len(held)

    @staticmethod
    def _cancel(held: _Held) -> None:
        if held.timer is not None:
            held.timer.cancel()

    def _count(self, field: str, n: int) -> None:
        if n:
            self.counts[field] += n
            self.report(n if field == "expired" else 0, n if field == "dropped" else 0)
