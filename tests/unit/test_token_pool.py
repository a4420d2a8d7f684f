"""The gateway's side of the tabs' reCAPTCHA token pools (docs/worker-protocol.md "Token pool"),
without sockets: the frames both ways, what a tab is told to keep, the counts /metrics shows,
the drop after LMArena refuses a tab's token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lmarenarev.arena.page import DEFAULT_RECAPTCHA_SITE_KEY, recaptcha_site_key
from lmarenarev.arena.requests import CreateCall, Recaptcha
from lmarenarev.chat.relay import Relay, RelayConfig
from lmarenarev.chat.retry import RetryPolicy
from lmarenarev.chat.token_pool import configure_tab, pool_frame
from lmarenarev.config.settings import Settings
from lmarenarev.errors import UpstreamFailure
from lmarenarev.monitor.metrics import Live, Metrics
from lmarenarev.workers.pool import WorkerPool
from lmarenarev.workers.protocol import (
    ChunkFrame,
    DoneFrame,
    ErrorFrame,
    Hello,
    StatusFrame,
    TokenPoolReportFrame,
    parse_worker_frame,
    token_pool_frame,
)
from tests.unit.test_workers import NullLink

PAGE_KEY = "6Lpage0000000000000000000000000000000000"
SCRIPTS = [f"https://www.google.com/recaptcha/enterprise.js?render={PAGE_KEY}"]


def pool_hello(*, token_pool: bool = True) -> Hello:
    return Hello(type="hello", protocol=1, capacity=4, token_pool=token_pool, script_srcs=SCRIPTS)


async def tab(*, token_pool: bool = True) -> tuple[WorkerPool, Any, NullLink]:
    pool = WorkerPool(default_capacity=4, ping_interval=10, ping_timeout=30)
    link = NullLink()
    worker = await pool.add(pool_hello(token_pool=token_pool), link)
    return pool, worker, link


def test_a_jobs_first_answer_says_whether_its_token_came_from_the_pool() -> None:
    status = parse_worker_frame({"type": "status", "job": "j", "http_status": 200,
                                 "headers": {}, "pool": "hit"})
    error = parse_worker_frame({"type": "error", "job": "j", "message": "x", "pool": "miss"})
    assert status == StatusFrame("j", 200, {}, "hit")
    assert error == ErrorFrame("j", "x", None, "miss")
    for odd in ("HIT", 1, None, "pooled"):  # anything else: not said
        frame = parse_worker_frame({"type": "status", "job": "j", "http_status": 200, "pool": odd})
        assert isinstance(frame, StatusFrame) and frame.pool is None


def test_a_report_counts_tokens_thrown_away_and_ignores_nonsense() -> None:
    assert parse_worker_frame({"type": "token_pool_report", "expired": 2, "dropped": 1}) == (
        TokenPoolReportFrame(2, 1))
    assert parse_worker_frame({"type": "token_pool_report", "expired": -3, "dropped": True,
                               }) == TokenPoolReportFrame(0, 0)
    assert parse_worker_frame({"type": "token_pool_report", "expired": 10**9}) == (
        TokenPoolReportFrame(1000, 0))


def test_the_frame_tells_the_tab_key_action_size_and_times_in_ms() -> None:
    assert token_pool_frame(site_key="k", action="chat_submit", size=1, max_age=90,
                            warm=120.5) == {
        "type": "token_pool", "site_key": "k", "action": "chat_submit", "size": 1,
        "max_age_ms": 90000, "warm_ms": 120500}


async def test_a_tab_keeps_tokens_for_its_pages_key_and_the_new_message_action() -> None:
    _, worker, _ = await tab()
    frame = pool_frame(Settings(), worker)
    assert (frame["site_key"], frame["action"], frame["size"]) == (PAGE_KEY, "chat_submit", 1)
    configured = pool_frame(Settings(recaptcha_site_key="6Lconfigured", token_pool_size=3,
                                     recaptcha_action="submit"), worker)
    assert (configured["site_key"], configured["action"], configured["size"]) == (
        "6Lconfigured", "submit", 3)
    # The legacy flow's requests carry no token for a new message: nothing to keep.
    assert pool_frame(Settings(arena_flow="legacy"), worker)["size"] == 0
    assert recaptcha_site_key("", None) == DEFAULT_RECAPTCHA_SITE_KEY


async def test_only_a_tab_that_offers_a_pool_is_told_about_it() -> None:
    pool, worker, link = await tab(token_pool=False)
    await configure_tab(Settings(), pool, worker)
    await pool.drop_tokens(worker)
    assert [f["type"] for f in link.sent] == ["welcome"]
    pool, worker, link = await tab()
    await configure_tab(Settings(), pool, worker)
    await pool.drop_tokens(worker)
    assert [f["type"] for f in link.sent] == ["welcome", "token_pool", "token_pool_drop"]


@pytest.mark.parametrize("setting", [
    {"token_pool_size": -1}, {"token_pool_size": 9}, {"token_pool_max_age_seconds": 0},
    {"token_pool_max_age_seconds": 111}, {"token_pool_warm_seconds": -1},
])
def test_pool_settings_are_checked(setting: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Settings(**setting)


async def test_hits_misses_and_reports_are_counted_in_metrics() -> None:
    pool, worker, _ = await tab()
    job = pool.start_job(worker)
    pool.on_frame(worker, StatusFrame(job.id, 200, {}, "hit"))
    pool.on_frame(worker, StatusFrame("other-job", 200, {}, "miss"))  # counted: the tab took
    pool.on_frame(worker, ErrorFrame("third", "reCAPTCHA could not be minted", None, "miss"))
    pool.on_frame(worker, StatusFrame("fourth", 200, {}))  # another action: neither
    pool.on_frame(worker, TokenPoolReportFrame(expired=2, dropped=1))
    pool.on_frame(worker, ChunkFrame(job.id, 0, "a0:\"x\"\n"))
    assert (pool.token_hits, pool.token_misses, pool.token_expired, pool.token_dropped) == (
        1, 2, 2, 1)

    metrics = Metrics(lambda: Live(0, 0, 0, 1, 0, 4, 0, 0, 0, 1.0, token_hits=pool.token_hits,
                                   token_misses=pool.token_misses,
                                   token_expired=pool.token_expired,
                                   token_dropped=pool.token_dropped)).render().decode()
    for name, value in (("hits", 1), ("misses", 2), ("expired", 2), ("dropped", 1)):
        assert f"lmarenarev_token_pool_{name}_total {value:.1f}" in metrics


CALL = CreateCall("model-1", "text", "hello", (), Recaptcha("site-key-0123456789abc", "submit"))


async def refused(status: int, body: str) -> list[str]:
    """The frames a tab got for a request LMArena refused once (no retry): their types."""
    pool, worker, link = await tab()
    config = RelayConfig(wait_for_worker=0, first_byte_timeout=5, chunk_timeout=5,
                         policy=RetryPolicy(recaptcha_retries=0))
    batches = Relay(pool, config, request_id="r").batches(CALL)
    first = asyncio.ensure_future(batches.__anext__())
    while not any(f["type"] == "fetch" for f in link.sent):
        await asyncio.sleep(0)
    job = next(f for f in link.sent if f["type"] == "fetch")["job"]
    pool.on_frame(worker, StatusFrame(job, status, {"content-type": "application/json"}, "hit"))
    pool.on_frame(worker, ChunkFrame(job, 0, body))
    pool.on_frame(worker, DoneFrame(job, 1))
    with pytest.raises(UpstreamFailure):
        await first
    return [f["type"] for f in link.sent]


async def test_a_recaptcha_refusal_empties_the_tabs_pool_other_refusals_do_not() -> None:
    sent = await refused(403, '{"error":"recaptcha validation failed"}')
    assert sent.count("token_pool_drop") == 1
    assert sent.index("token_pool_drop") > sent.index("fetch")
    assert "token_pool_drop" not in await refused(401, '{"error":"unauthorized"}')
