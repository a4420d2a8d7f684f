"""The tabs' reCAPTCHA token pools, gateway side (docs/worker-protocol.md "Token pool"): what a
tab is told to keep, that a request on a tab with a pooled token reaches LMArena without a mint
on its way, single use, expiry, the drop after a refusal, no minting on an idle tab, /metrics.
The Python fake worker keeps tokens by the userscript's rules (testkit/fakes/worker_token_pool.py;
the userscript's own pool is tested under node, tests/js/tokenpool.test.js, and in the e2e tier).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from lmarenarev.workers.protocol import token_pool_frame
from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway, StartGateway


def _metric(gateway: RunningGateway, name: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    found = re.search(rf"^lmarenarev_token_pool_{name}_total (\S+)$", text, re.MULTILINE)
    assert found, f"lmarenarev_token_pool_{name}_total not in /metrics"
    return float(found.group(1))


def _pool_frames(worker: FakeWorker) -> list[dict[str, Any]]:
    return [frame for frame in worker.received if frame.get("type") == "token_pool"]


async def _ask(gateway: RunningGateway, text: str) -> str:
    answer = await gateway.client().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": text}]
    )
    return answer.choices[0].message.content or ""


def _presented(arena: Arena, text: str) -> str:
    """The token the stream request carrying `text` presented."""
    for request in arena.fake.requests:
        body = request.body if isinstance(request.body, dict) else {}
        if text in str(body.get("userMessage", {}).get("content", "")):
            return str(body["recaptchaV3Token"])
    raise AssertionError(f"no stream request carried {text!r}")


def _issued_at(arena: Arena, token: str) -> float:
    return next(t.issued_at for t in arena.fake.issued_tokens if t.token == token)


async def test_a_connecting_tab_is_told_which_tokens_to_keep_and_an_idle_tab_mints_none(
    gateway: RunningGateway, arena: Arena
) -> None:
    async with gateway.worker(arena) as worker:
        await worker.wait_until(lambda: bool(_pool_frames(worker)))
        assert _pool_frames(worker) == [token_pool_frame(
            site_key=arena.fake.site_key, action="chat_submit", size=1, max_age=90, warm=120)]
        # A pool mints when it is told to keep tokens and requests are coming; none came.
        assert worker.tokens.status()["on"] and worker.tokens.status()["minting"] == 0
        assert arena.fake.issued_tokens == []


async def test_a_request_on_a_tab_with_a_pooled_token_reaches_lmarena_without_a_mint(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    assert await _ask(gateway, "first") == "Echo: first"  # the pool was empty: it mints
    await worker.wait_until(lambda: worker.tokens.status()["held"] == 1)
    pooled = worker.tokens.tokens[0].token
    # From now on a mint takes a second: one on the request's way would show.
    arena.fake.set_defaults(recaptcha_delay=1.0)
    asked = time.time()

    assert await _ask(gateway, "second") == "Echo: second"

    assert _presented(arena, "second") == pooled
    assert _issued_at(arena, pooled) < asked
    stream = next(r for r in arena.fake.requests if "second" in str(r.body))
    assert [t for t in arena.fake.issued_tokens if asked <= t.issued_at <= stream.at] == []
    await worker.wait_until(lambda: worker.tokens.status()["held"] == 1, timeout=10)  # refilled
    assert (_metric(gateway, "hits"), _metric(gateway, "misses")) == (1, 1)


async def test_every_token_is_presented_once(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    for index in range(4):
        assert await _ask(gateway, f"turn {index}") == f"Echo: turn {index}"
        await worker.wait_until(lambda: worker.tokens.status()["minting"] == 0)

    presented = [_presented(arena, f"turn {index}") for index in range(4)]
    assert len(set(presented)) == 4
    assert all(t.redeemed_at is not None for t in arena.fake.issued_tokens if t.token in presented)
    assert _metric(gateway, "hits") == 3 and _metric(gateway, "misses") == 1


async def test_a_pooled_token_that_ages_out_is_never_presented_and_is_counted_expired(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(token_pool_max_age_seconds=0.5, token_pool_warm_seconds=0.1)
    async with gateway.worker(arena) as worker:
        await worker.wait_until(lambda: bool(_pool_frames(worker)))
        assert await _ask(gateway, "first") == "Echo: first"

        await worker.wait_until(lambda: _metric(gateway, "expired") == 1, timeout=10)
        # Requests stopped more than the warm time ago: no replacement is minted.
        assert worker.tokens.status()["held"] == 0 and worker.tokens.status()["minting"] == 0
        assert len(arena.fake.issued_tokens) == 2  # the request's own and the one that aged
        asked = time.time()

        assert await _ask(gateway, "second") == "Echo: second"

    presented = {_presented(arena, "first"), _presented(arena, "second")}
    aged = [t for t in arena.fake.issued_tokens if t.token not in presented and t.issued_at < asked]
    assert len(aged) == 1 and aged[0].redeemed_at is None
    assert (_metric(gateway, "hits"), _metric(gateway, "misses")) == (0, 2)


async def test_a_refused_token_empties_the_tabs_pool_and_the_retry_mints_a_fresh_one(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    assert await _ask(gateway, "warm up") == "Echo: warm up"
    await worker.wait_until(lambda: worker.tokens.status()["held"] == 1)
    arena.fake.enqueue(Reply.recaptcha_failed())

    assert await _ask(gateway, "refused once") == "Echo: refused once"  # retried

    drops = [f for f in worker.received if f.get("type") == "token_pool_drop"]
    assert len(drops) == 1
    attempts = [r for r in arena.fake.requests if "refused once" in str(r.body)]
    assert [r.status for r in attempts] == [403, 200]
    refused, retried = (str(r.body["recaptchaV3Token"]) for r in attempts)
    assert retried != refused
    # The retry did not take a token minted before the refusal (the pool was emptied).
    assert _issued_at(arena, retried) > attempts[0].at
    await worker.wait_until(lambda: _metric(gateway, "dropped") >= 1)


async def test_a_pool_of_size_0_is_off_every_request_mints_its_own(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(token_pool_size=0)
    async with gateway.worker(arena) as worker:
        await worker.wait_until(lambda: bool(_pool_frames(worker)))
        for index in range(2):
            assert await _ask(gateway, f"turn {index}") == f"Echo: turn {index}"
        assert not worker.tokens.status()["on"]
        assert len(arena.fake.issued_tokens) == 2  # one per request, none kept
    assert (_metric(gateway, "hits"), _metric(gateway, "misses")) == (0, 0)


async def test_an_older_script_is_not_told_about_tokens_and_still_answers(
    gateway: RunningGateway, arena: Arena
) -> None:
    async with gateway.worker(arena, token_pool=False) as worker:
        assert await _ask(gateway, "old script") == "Echo: old script"
        assert _pool_frames(worker) == []
        assert len(arena.fake.issued_tokens) == 1


async def test_a_reload_that_changes_the_pool_size_tells_the_connected_tabs(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    await worker.wait_until(lambda: len(_pool_frames(worker)) == 1)
    (gateway.gateway.home / "config.jsonc").write_text('{"token_pool_size": 2}', "utf-8")
    async with gateway.http() as http:
        reloaded = await http.post("/api/admin/reload", json={})
    assert reloaded.json()["changed"] == ["token_pool_size"]

    await worker.wait_until(lambda: len(_pool_frames(worker)) == 2)
    assert _pool_frames(worker)[-1]["size"] == 2
    assert worker.tokens.status()["size"] == 2
