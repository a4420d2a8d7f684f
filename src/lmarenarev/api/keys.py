"""Client API keys: their config shape, matching in constant time, per-key limits and usage.

A key is kept as its sha256 digest only; a request's key is hashed and compared with every
configured digest by `secrets.compare_digest` (no early exit), so neither the comparison nor
which key matched leaks through timing. Key *names* may be logged; keys never are.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..arena.events import Usage
from ..config.keys import DEFAULT_KEY_NAME, ApiKeyEntry, digest
from ..errors import RateLimited

RATE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ClientKey:
    name: str
    digest: bytes = field(repr=False)
    rpm: int | None = None
    models: frozenset[str] | None = None
    enabled: bool = True

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


@dataclass(slots=True)
class KeyUsage:
    requests: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_used: float | None = None  # wall-clock seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "last_used": self.last_used,
        }


class KeyRing:
    """The configured keys, their request windows and their usage: counted in memory, restored
    from the store at start (`restore`) and handed to `on_change` after every change (the
    gateway saves it, so totals survive a restart)."""

    def __init__(
        self,
        keys: Iterable[ClientKey],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = tuple(keys)
        self.clock = clock
        self.wall_clock = wall_clock
        self.usage: dict[str, KeyUsage] = {key.name: KeyUsage() for key in self.keys}
        self._windows: dict[str, deque[float]] = {key.name: deque() for key in self.keys}
        self.on_change: Callable[[str, KeyUsage], None] | None = None

    def restore(self, saved: Mapping[str, KeyUsage]) -> None:
        """Start from the totals saved by an earlier run, for the keys configured now."""
        for name, usage in saved.items():
            current = self.usage.get(name)
            if current is not None:
                current.requests, current.rate_limited = usage.requests, usage.rate_limited
                current.prompt_tokens = usage.prompt_tokens
                current.completion_tokens = usage.completion_tokens
                current.last_used = usage.last_used

    def _changed(self, name: str) -> None:
        if self.on_change is not None:
            self.on_change(name, self.usage[name])

    @classmethod
    def from_config(cls, api_key: str, entries: Iterable[ApiKeyEntry], **clocks: Any) -> KeyRing:
        keys = [ClientKey(DEFAULT_KEY_NAME, digest(api_key))] if api_key else []
        for entry in entries:
            models = frozenset(entry.models) if entry.models is not None else None
            keys.append(ClientKey(entry.name, entry.digest(), entry.rpm, models, entry.enabled))
        return cls(keys, **clocks)

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def match(self, given: str) -> ClientKey | None:
        wanted = digest(given)
        found: ClientKey | None = None
        for key in self.keys:  # every key is compared: the time does not depend on which one
            if secrets.compare_digest(wanted, key.digest):
                found = key
        return found

    def admit(self, key: ClientKey, count: int = 1) -> None:
        """Count `count` requests (a chat completion's extra choices count too) against the
        key's per-minute limit, all or none; RateLimited when they do not fit."""
        usage = self.usage[key.name]
        usage.last_used = self.wall_clock()
        if key.rpm is not None:
            now = self.clock()
            window = self._windows[key.name]
            while window and now - window[0] >= RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) + count > key.rpm:
                usage.rate_limited += 1
                aging = len(window) + count - key.rpm  # must leave the window first
                last = window[aging - 1] if aging <= len(window) else now
                wait = RATE_WINDOW_SECONDS - (now - last)
                self._changed(key.name)
                more = "" if count == 1 else f" ({count} asked for at once)"
                raise RateLimited(
                    f"API key {key.name!r} is limited to {key.rpm} requests per minute{more}; "
                    f"try again in {math.ceil(wait)} s",
                    retry_after=max(1, math.ceil(wait)),
                )
            window.extend([now] * count)
        usage.requests += count
        self._changed(key.name)

    def usage_recorder(self, name: str) -> Callable[[Usage], None]:
        """Adds a reply's token counts (as LMArena reported them) to the key's usage."""
        usage = self.usage[name]

        def record(reported: Usage) -> None:
            usage.prompt_tokens += reported.prompt_tokens
            usage.completion_tokens += reported.completion_tokens
            self._changed(name)

        return record

    def report(self) -> list[dict[str, Any]]:
        """Every key's settings and usage, never the key or its digest."""
        return [
            {
                "name": key.name,
                "enabled": key.enabled,
                "rpm": key.rpm,
                "models": sorted(key.models) if key.models is not None else None,
                **self.usage[key.name].as_dict(),
            }
            for key in self.keys
        ]
