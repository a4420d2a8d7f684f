"""The soak's workload: the scenarios, their weights and scripted upstream answers, the plan of
requests, and which outcomes are right for each (bench/soak.py; method in docs/soak.md)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lmarenarev.chat.retry import RetryPolicy
from testkit.fakes.arena import Reply

STREAM_TIMEOUT = 2.0  # default of --stream-timeout
FILLER = "the quick brown fox jumps over the lazy dog " * 5
CUT_AFTER_BYTES = 200  # past `af:` + `a2:` (~85 bytes): a few `a0:` records reach the client
LEFT_REPLY_DELAY = 0.08  # between the ~60 records of a reply the client leaves: ~5 s in all, so
# that a client slowed down by a busy machine still leaves long before the reply ends


Check = Literal["text", "reasoning", "image", "search"]


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: int  # per 100 requests
    model: str
    replies: Callable[[str], list[Reply]]  # tag → scripted upstream answers; [] = the default
    expect: str  # "ok", "client_gone" or the error code
    status: int = 200  # HTTP status of that error
    after_output: bool = False  # the error comes after content: a stream has already sent 200
    check: Check = "text"
    # How a "client_gone" client leaves: a stream after its first chunk and a non-streaming
    # client after CLIENT_GONE_AFTER s, or ("early") both after EARLY_GONE_AFTER s, before any
    # output.
    leave: Literal["first_chunk", "early"] = "first_chunk"


def scenarios(stream_timeout: float = STREAM_TIMEOUT) -> list[Scenario]:
    final_429s = RetryPolicy().rate_limit_retries + 1

    def slow(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", record_chars=4, delay=0.02)]

    def left(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", record_chars=4, delay=LEFT_REPLY_DELAY)]

    def left_early(tag: str) -> list[Reply]:
        return [Reply(text=f"{tag} {FILLER}", first_byte_delay=0.75 * stream_timeout,
                      record_chars=4, delay=LEFT_REPLY_DELAY)]

    return [
        Scenario("success", 56, "fake-gpt", lambda tag: [], "ok"),
        Scenario("success-claude", 2, "fake-claude", lambda tag: [], "ok"),
        Scenario("reasoning", 4, "fake-thinker", lambda tag: [], "ok", check="reasoning"),
        Scenario("image", 3, "fake-painter", lambda tag: [], "ok", check="image"),
        Scenario("search", 3, "fake-searcher", lambda tag: [], "ok", check="search"),
        Scenario("slow", 3, "fake-gpt", slow, "ok"),
        Scenario("429-then-ok", 4, "fake-gpt",
                 lambda tag: [Reply.rate_limited(retry_after=0)], "ok"),
        Scenario("429-final", 2, "fake-gpt",
                 lambda tag: [Reply.rate_limited(retry_after=0)] * final_429s,
                 "rate_limited", 429),
        Scenario("401", 3, "fake-gpt", lambda tag: [Reply.unauthorized()],
                 "lmarena_login_required", 401),
        Scenario("empty-then-ok", 3, "fake-gpt", lambda tag: [Reply.empty()], "ok"),
        Scenario("exhausted-then-ok", 3, "fake-gpt",
                 lambda tag: [Reply.resource_exhausted()], "ok"),
        Scenario("cut-mid-stream", 5, "fake-gpt",
                 lambda tag: [Reply(text=f"{tag} {FILLER}", cut_after_bytes=CUT_AFTER_BYTES)],
                 "upstream_error", 502, after_output=True),
        Scenario("stall", 2, "fake-gpt",
                 lambda tag: [Reply(first_byte_delay=stream_timeout + 1)], "timeout", 504),
        Scenario("client-gone", 5, "fake-gpt", left, "client_gone"),
        Scenario("client-gone-early", 2, "fake-gpt", left_early, "client_gone", leave="early"),
    ]


@dataclass(frozen=True)
class Planned:
    index: int
    scenario: Scenario
    stream: bool

    @property
    def tag(self) -> str:
        return f"[soak-{self.index:06d}]"


def plan(count: int, seed: int, stream_timeout: float) -> list[Planned]:
    """A reproducible mix: scenarios drawn by weight, streaming on every other request."""
    table = scenarios(stream_timeout)
    rng = random.Random(seed)
    picks = rng.choices(table, weights=[s.weight for s in table], k=count)
    return [Planned(i, scenario, i % 2 == 1) for i, scenario in enumerate(picks)]


@dataclass
class Observed:
    status: int = 0
    content: str = ""
    reasoning: str = ""
    error_code: str | None = None
    error_message: str = ""
    in_stream: bool = False  # the error came as an SSE frame after the 200
    complete: bool = False  # `[DONE]` seen, or a whole JSON body
    client_gone: bool = False
    failure: str | None = None  # the client itself failed (timeout, connection reset, …)


def content_ok(check: Check, tag: str, seen: Observed) -> bool:
    if check == "image":
        return "/__fake/images/" in seen.content
    if check == "reasoning":
        return tag in seen.reasoning and tag in seen.content
    if check == "search":
        return tag in seen.content and "example.com/search/1" in seen.content
    return tag in seen.content


def label(planned: Planned, seen: Observed) -> str:
    if seen.failure:
        return f"client {seen.failure}"
    if seen.client_gone:
        return "client_gone"
    if seen.error_code is not None or seen.status != 200:
        return f"{'200+frame' if seen.in_stream else seen.status} {seen.error_code}"
    if not seen.complete:
        return "200 unfinished"
    return "ok" if content_ok(planned.scenario.check, planned.tag, seen) else "ok, wrong content"


def accepted(planned: Planned, affected: bool) -> set[str]:
    """Every label that is right for this request. An error before any output keeps its HTTP
    status in a stream too (it comes well within the first keep-alive interval). A request hit
    by a worker loss may also end with worker_lost, or be retried: then with the default answer
    (its scripted one was used up) or, after a retry notice, its error as a frame."""
    s = planned.scenario
    if s.expect in ("ok", "client_gone"):
        labels = {s.expect}
    elif s.after_output and planned.stream:
        labels = {"200+frame " + s.expect}
    else:
        labels = {f"{s.status} {s.expect}"}
    if affected:
        labels |= {"ok", "502 worker_lost", "200+frame worker_lost"}
        if s.expect not in ("ok", "client_gone"):
            labels.add("200+frame " + s.expect)
    return labels
