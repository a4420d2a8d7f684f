"""Pools of model_endpoint_map.json: random or round robin, and the cooldown of failing ones."""

from __future__ import annotations

from collections.abc import Sequence

from lmarenarev.chat.endpoint_pools import EndpointSelector, mapping_key
from lmarenarev.models.files import EndpointMapping


def m(name: str) -> EndpointMapping:
    return EndpointMapping(f"s-{name}", f"m-{name}", None, None, None)


POOL = (m("1"), m("2"), m("3"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def names(picks: Sequence[EndpointMapping]) -> list[str]:
    return [p.session_id for p in picks]


def test_round_robin_goes_in_order_per_model() -> None:
    selector = EndpointSelector(strategy="round_robin")
    picks = [selector.pick("gpt", POOL) for _ in range(4)]
    assert names(picks) == ["s-1", "s-2", "s-3", "s-1"]
    assert selector.pick("other", POOL).session_id == "s-1"  # its own counter


def test_random_uses_the_choice_function_on_the_ready_ones() -> None:
    seen: list[Sequence[EndpointMapping]] = []

    def last(ready: Sequence[EndpointMapping]) -> EndpointMapping:
        seen.append(ready)
        return ready[-1]

    selector = EndpointSelector(strategy="random", choose=last)
    assert selector.pick("gpt", POOL) == POOL[2]
    assert seen == [POOL]


def test_a_mapping_failing_threshold_times_is_skipped_during_its_cooldown() -> None:
    clock = Clock()
    selector = EndpointSelector(strategy="round_robin", threshold=2, cooldown=60, clock=clock)
    selector.report("gpt", mapping_key(POOL[0]), "upstream_not_found: gone")
    assert not selector.cooling(POOL[0])  # one failure is not enough
    selector.report("gpt", mapping_key(POOL[0]), "upstream_not_found: gone")
    assert selector.cooling(POOL[0])
    assert names([selector.pick("gpt", POOL) for _ in range(4)]) == ["s-2", "s-3", "s-2", "s-3"]
    state = selector.state(mapping_key(POOL[0]))
    assert state["cooldown_seconds_left"] == 60
    assert state["last_error"] == "upstream_not_found: gone"
    clock.now += 61
    assert not selector.cooling(POOL[0])
    assert selector.pick("gpt", POOL).session_id == "s-1"


def test_a_success_resets_the_count() -> None:
    selector = EndpointSelector(threshold=2)
    key = mapping_key(POOL[0])
    selector.report("gpt", key, "x")
    selector.report("gpt", key, None)
    selector.report("gpt", key, "x")
    assert not selector.cooling(POOL[0])


def test_when_all_cool_down_the_one_that_ends_first_is_used() -> None:
    clock = Clock()
    selector = EndpointSelector(threshold=1, cooldown=60, clock=clock)
    for index, mapping in enumerate(POOL):
        clock.now = 100.0 + index
        selector.report("gpt", mapping_key(mapping), "x")
    assert selector.pick("gpt", POOL) == POOL[0]


def test_threshold_zero_never_cools_down() -> None:
    selector = EndpointSelector(threshold=0)
    for _ in range(10):
        selector.report("gpt", mapping_key(POOL[0]), "x")
    assert not selector.cooling(POOL[0])
