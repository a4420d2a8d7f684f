"""The userscript's reCAPTCHA token pool in a real tab (docs/worker-protocol.md "Token pool"):
an idle tab mints nothing, a request on a tab with a pooled token reaches the fake LMArena
without a mint on its way, a refusal empties the pool; /metrics counts hits and misses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from testkit.fakes.arena import Reply
from testkit.support import wait_until

from .conftest import Arena, GatewayProcess, OpenTab

pytestmark = pytest.mark.e2e

POOL = "window.__lmarenarev.status().token_pool"


def _counter(gateway: GatewayProcess, name: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    line = next(li for li in text.splitlines()
                if li.startswith(f"lmarenarev_token_pool_{name}_total "))
    return float(line.split()[1])


def _ask(client: openai.OpenAI, text: str) -> str:
    reply = client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content or ""


def _stream_request(arena: Arena, text: str) -> Any:
    return next(r for r in arena.fake.requests
                if isinstance(r.body, dict) and text in str(r.body.get("userMessage")))


@pytest.fixture
def slow_mints(arena: Arena) -> Iterator[None]:
    """Let a test make the fake's reCAPTCHA take its time; restored after it (the fake and its
    defaults are shared by the session)."""
    yield
    arena.fake.set_defaults(recaptcha_delay=0.0)


def test_a_request_on_a_tab_with_a_pooled_token_reaches_the_fake_without_a_mint(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, slow_mints: None
) -> None:
    tab = open_tab()
    tab.wait_for(f"{POOL}.on === true", timeout=10)  # the gateway said what to keep
    assert tab.evaluate(f"() => {POOL}.minting") == 0 and arena.fake.issued_tokens == []
    client = gateway.client()
    hits, misses = _counter(gateway, "hits"), _counter(gateway, "misses")

    assert _ask(client, "first") == "Echo: first"  # nothing pooled yet: minted on its way
    tab.wait_for(f"{POOL}.held === 1", timeout=10)
    [pooled] = [t for t in arena.fake.issued_tokens if not t.used]
    arena.fake.set_defaults(recaptcha_delay=1.5)  # a mint on the request's way would show
    asked = time.time()

    assert _ask(client, "second") == "Echo: second"

    stream = _stream_request(arena, "second")
    assert stream.body["recaptchaV3Token"] == pooled.token and pooled.issued_at < asked
    assert [t for t in arena.fake.issued_tokens if asked <= t.issued_at <= stream.at] == []
    assert stream.at - asked < 1.5  # it did not wait for the (slow) refill
    wait_until(lambda: _counter(gateway, "hits") == hits + 1, 10, "the hit to be counted")
    assert _counter(gateway, "misses") == misses + 1
    tab.wait_for(f"{POOL}.held === 1", timeout=10)  # refilled for the next one


def test_a_refused_token_empties_the_pool_and_the_retry_mints_its_own(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    tab = open_tab()
    client = gateway.client()
    assert _ask(client, "warm up") == "Echo: warm up"
    tab.wait_for(f"{POOL}.held === 1", timeout=10)
    arena.fake.enqueue(Reply.recaptcha_failed())

    assert _ask(client, "refused once") == "Echo: refused once"

    attempts = [r for r in arena.fake.requests
                if isinstance(r.body, dict) and "refused once" in str(r.body.get("userMessage"))]
    assert [r.status for r in attempts] == [403, 200]
    retried = attempts[1].body["recaptchaV3Token"]
    issued = next(t for t in arena.fake.issued_tokens if t.token == retried)
    assert issued.issued_at > attempts[0].at  # minted after the refusal, not taken from before
    tab.wait_for(f"{POOL}.dropped >= 1", timeout=10)  # what it held, or was minting, went
