"""Which mapping of a model's pool (model_endpoint_map.json) the legacy flow uses next.

`random` (LMArenaBridge) or `round_robin` (in the pool's order, per model). A mapping that fails
`threshold` times in a row is cooled down for `cooldown` seconds: the others are used meanwhile;
when every mapping of a pool is cooling down, the one that cools down first is used anyway.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..models.files import EndpointMapping

log = logging.getLogger(__name__)

Strategy = Literal["random", "round_robin"]
MappingKey = tuple[str, str]  # (session_id, message_id)
Choose = Callable[[Sequence[EndpointMapping]], EndpointMapping]


def mapping_key(mapping: EndpointMapping) -> MappingKey:
    return mapping.session_id, mapping.message_id


@dataclass
class _Health:
    failures: int = 0
    cooling_until: float = 0.0
    last_error: str = ""


class EndpointSelector:
    def __init__(
        self,
        *,
        strategy: Strategy = "random",
        threshold: int = 3,
        cooldown: float = 300.0,
        choose: Choose = random.choice,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.strategy = strategy
        self.threshold = threshold
        self.cooldown = cooldown
        self.choose = choose
        self.clock = clock
        self._next: dict[str, int] = {}
        self._health: dict[MappingKey, _Health] = {}

    def configure(self, strategy: Strategy, threshold: int, cooldown: float) -> None:
        self.strategy, self.threshold, self.cooldown = strategy, threshold, cooldown

    def cooling(self, mapping: EndpointMapping) -> bool:
        health = self._health.get(mapping_key(mapping))
        return health is not None and health.cooling_until > self.clock()

    def pick(self, model: str, pool: Sequence[EndpointMapping]) -> EndpointMapping:
        ready = tuple(m for m in pool if not self.cooling(m))
        if not ready:
            chosen = min(pool, key=lambda m: self._health[mapping_key(m)].cooling_until)
            log.warning("every mapping of %r is cooling down; using session %s anyway",
                        model, chosen.session_id)
            return chosen
        if self.strategy == "random":
            return self.choose(ready)
        start = self._next.get(model, 0)
        for offset in range(len(pool)):
            index = (start + offset) % len(pool)
            if not self.cooling(pool[index]):
                self._next[model] = index + 1
                return pool[index]
        raise AssertionError("unreachable: a ready mapping exists")

    def report(self, model: str, key: MappingKey, error: str | None) -> None:
        """The outcome of a request that used the mapping `key` (None: it worked)."""
        if error is None:
            self._health.pop(key, None)
            return
        health = self._health.setdefault(key, _Health())
        health.failures += 1
        health.last_error = error
        if self.threshold and health.failures >= self.threshold:
            health.cooling_until = self.clock() + self.cooldown
            health.failures = 0
            log.warning(
                "mapping session %s of %r failed %d times in a row (%s): cooling it down for "
                "%g s",
                key[0], model, self.threshold, error, self.cooldown,
            )

    def state(self, key: MappingKey) -> dict[str, Any]:
        """Failures in a row and the cooldown left, for `lmarenarev status`."""
        health = self._health.get(key) or _Health()
        left = max(0.0, health.cooling_until - self.clock())
        return {
            "failures_in_a_row": health.failures,
            "cooldown_seconds_left": round(left, 1),
            "last_error": health.last_error or None,
        }
