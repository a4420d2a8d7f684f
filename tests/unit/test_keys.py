"""Client keys: config shape, constant-time matching, per-minute limits, usage."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from lmarenarev.api.keys import KeyRing
from lmarenarev.arena.events import Usage
from lmarenarev.config.keys import ApiKeyEntry, check_entries
from lmarenarev.config.settings import Settings
from lmarenarev.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ring(*entries: dict[str, Any], api_key: str = "", clock: Clock | None = None) -> KeyRing:
    parsed = [ApiKeyEntry.model_validate(entry) for entry in entries]
    check_entries(api_key, parsed)
    clocks = {"clock": clock, "wall_clock": clock} if clock else {}
    return KeyRing.from_config(api_key, parsed, **clocks)


def test_a_key_is_found_by_its_value() -> None:
    keys = ring({"name": "alice", "key": "sk-alice"}, {"name": "bob", "key": "sk-bob"})
    found = keys.match("sk-bob")
    assert found is not None and found.name == "bob"


def test_a_key_given_as_sha256_is_found_by_its_value() -> None:
    digest = hashlib.sha256(b"sk-hidden").hexdigest().upper()
    found = ring({"name": "carol", "sha256": digest}).match("sk-hidden")
    assert found is not None and found.name == "carol"


@pytest.mark.parametrize("given", ["", "sk-alic", "sk-alice ", "SK-ALICE", "sk-alice\x00"])
def test_anything_but_the_exact_key_matches_nothing(given: str) -> None:
    assert ring({"name": "alice", "key": "sk-alice"}).match(given) is None


def test_the_seed_api_key_is_the_key_named_default() -> None:
    found = ring(api_key="sk-seed").match("sk-seed")
    assert found is not None and found.name == "default"


def test_no_keys_means_no_key_is_required() -> None:
    assert not ring().required


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "a"},
        {"name": "a", "key": "k", "sha256": "0" * 64},
        {"name": "a", "sha256": "abc"},
        {"name": "a b", "key": "k"},
        {"name": "", "key": "k"},
        {"name": "a", "key": "k", "rpm": 0},
        {"name": "a", "key": "k", "color": "red"},
    ],
)
def test_a_malformed_key_entry_is_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ApiKeyEntry.model_validate(entry)


@pytest.mark.parametrize(
    ("api_key", "entries", "message"),
    [
        ("", [{"name": "a", "key": "1"}, {"name": "a", "key": "2"}], "two keys are named 'a'"),
        ("seed", [{"name": "default", "key": "2"}], "the name of api_key"),
        ("seed", [{"name": "b", "key": "seed"}], "same key"),
    ],
)
def test_key_names_and_keys_are_unique(
    api_key: str, entries: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Settings.model_validate({"api_key": api_key, "api_keys": entries})
    assert caught.value.errors()[0]["loc"] == ("api_keys",)


def test_a_settings_error_never_shows_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"api_keys": [{"name": "x", "key": "sk-topsecret", "rpm": -1}]})
    assert "sk-topsecret" not in str([e["msg"] for e in caught.value.errors()])


def test_a_key_over_its_rpm_gets_429_with_retry_after_until_the_minute_passed() -> None:
    clock = Clock()
    keys = ring({"name": "alice", "key": "k", "rpm": 2}, clock=clock)
    alice = keys.match("k")
    assert alice is not None
    keys.admit(alice)
    clock.now += 20
    keys.admit(alice)
    clock.now += 10
    with pytest.raises(RateLimited) as caught:
        keys.admit(alice)
    assert caught.value.status == 429
    assert caught.value.headers == {"Retry-After": "30"}
    assert "2 requests per minute" in caught.value.message
    clock.now += 30
    keys.admit(alice)
    assert (keys.usage["alice"].requests, keys.usage["alice"].rate_limited) == (3, 1)


def test_several_requests_at_once_fit_all_or_none() -> None:
    clock = Clock()
    keys = ring({"name": "alice", "key": "k", "rpm": 4}, clock=clock)
    alice = keys.match("k")
    assert alice is not None
    keys.admit(alice)  # at 1000
    clock.now += 10
    keys.admit(alice, 2)  # at 1010: 3 of 4 used
    with pytest.raises(RateLimited) as caught:
        keys.admit(alice, 2)
    assert "(2 asked for at once)" in caught.value.message
    assert caught.value.headers == {"Retry-After": "50"}  # the first leaves the window at 1060
    assert keys.usage["alice"].requests == 3
    keys.admit(alice)  # nothing was counted for the refused two
    clock.now += 60
    keys.admit(alice, 4)
    with pytest.raises(RateLimited):
        keys.admit(alice, 5)  # more than the key may ever send at once


def test_a_key_without_rpm_is_never_limited() -> None:
    keys = ring({"name": "free", "key": "k"})
    free = keys.match("k")
    assert free is not None
    for _ in range(1000):
        keys.admit(free)
    assert keys.usage["free"].requests == 1000


def test_models_restrict_what_a_key_may_use() -> None:
    keys = ring({"name": "a", "key": "k", "models": ["gpt-5"]}, {"name": "b", "key": "j"})
    a, b = keys.match("k"), keys.match("j")
    assert a is not None and b is not None
    assert (a.allows("gpt-5"), a.allows("claude"), b.allows("claude")) == (True, False, True)


def test_usage_counts_tokens_and_the_last_use_and_never_shows_the_key() -> None:
    clock = Clock()
    keys = ring({"name": "alice", "key": "sk-alice-secret", "rpm": 5}, clock=clock)
    alice = keys.match("sk-alice-secret")
    assert alice is not None
    keys.admit(alice)
    keys.usage_recorder("alice")(Usage(prompt_tokens=7, completion_tokens=3))
    (row,) = keys.report()
    assert row == {
        "name": "alice",
        "enabled": True,
        "rpm": 5,
        "models": None,
        "requests": 1,
        "rate_limited": 0,
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "last_used": 1000.0,
    }
    digest = hashlib.sha256(b"sk-alice-secret").hexdigest()
    assert "sk-alice-secret" not in repr(keys.report()) + repr(alice)
    assert digest not in repr(keys.report()) + repr(alice)
