from __future__ import annotations

from lmarenarev.arena.errors import Kind, UpstreamProblem
from lmarenarev.chat.retry import RetryPolicy


def problem(kind: Kind, retry_after: float | None = None) -> UpstreamProblem:
    return UpstreamProblem(kind, "x", retry_after=retry_after)


def test_empty_replies_back_off_exponentially_up_to_the_cap_and_count() -> None:
    policy = RetryPolicy(empty_max_retries=5, empty_base_delay=1.0, empty_max_delay=5.0)
    delays = [policy.delay(problem(Kind.EMPTY), n) for n in range(6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, None]


def test_empty_retry_can_be_switched_off() -> None:
    assert RetryPolicy(empty_enabled=False).delay(problem(Kind.EMPTY), 0) is None


def test_rate_limits_honour_retry_after_capped() -> None:
    policy = RetryPolicy(rate_limit_max_wait=10.0)
    assert policy.delay(problem(Kind.RATE_LIMIT, 7), 0) == 7
    assert policy.delay(problem(Kind.RATE_LIMIT, 700), 0) == 10.0
    assert policy.delay(problem(Kind.RATE_LIMIT), 1) == 4.0
    assert policy.delay(problem(Kind.RATE_LIMIT, 1), 2) is None


def test_recaptcha_is_reminted_a_bounded_number_of_times() -> None:
    policy = RetryPolicy(recaptcha_retries=2)
    assert [policy.delay(problem(Kind.RECAPTCHA), n) for n in range(3)] == [0.0, 0.0, None]


def test_final_kinds_are_not_retried() -> None:
    for kind in (Kind.AUTH, Kind.TOO_LARGE, Kind.BAD_REQUEST, Kind.NOT_FOUND, Kind.REDIRECT):
        assert RetryPolicy().delay(problem(kind), 0) is None


def test_a_server_error_gets_one_more_try_at_once() -> None:
    # the relay gives it only on another tab with a free slot (tests/integration/test_server_errors)
    policy = RetryPolicy()
    assert [policy.delay(problem(Kind.SERVER_ERROR), n) for n in range(2)] == [0.0, None]
