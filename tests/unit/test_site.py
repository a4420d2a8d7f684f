"""What the gateway learns per LMArena origin (arena/site.py) and what a relay does about each
2026 failure besides waiting (chat/recovery.py): pure or on a pool with null links."""

from __future__ import annotations

import pytest

from lmarenarev.arena.errors import Kind, UpstreamProblem, classify_http
from lmarenarev.arena.requests import CreateCall, Recaptcha
from lmarenarev.arena.site import SiteState, refused_field
from lmarenarev.chat.recovery import Move, Recovery
from lmarenarev.errors import UpstreamFailure
from lmarenarev.workers.pool import Worker, WorkerPool
from lmarenarev.workers.protocol import Hello
from tests.unit.test_workers import NullLink

ARENA = "https://arena.ai"
CALL = CreateCall("model-1", "text", "hi", (), Recaptcha("site-key-0123456789abc", "chat_submit"))


def refusal(text: str, status: int = 400) -> UpstreamProblem:
    problem = classify_http(status, {}, f'{{"error":"{text}"}}')
    assert problem is not None
    return problem


@pytest.mark.parametrize(
    ("text", "field"),
    [("Invalid mode", "mode"), ("invalid field: modality", "modality"),
     ("Invalid modality: chat", "modality"), ("duplicate ids", None),
     ("invalid field: modelBMessageId", None), ("model not found", None)],
)
def test_only_a_refusal_naming_the_value_is_one(text: str, field: str | None) -> None:
    assert refused_field(refusal(text)) == field


def test_the_defaults_are_2026s_and_what_worked_is_kept_per_origin() -> None:
    site = SiteState()
    assert site.choices(ARENA).mode == "direct-battle"
    assert site.choices(ARENA).modality("search") == "search"
    site.worked(ARENA, "mode", "direct")
    site.worked(ARENA, "modality:text", "text")
    assert (site.choices(ARENA).mode, site.choices(ARENA).modality("text")) == ("direct", "text")
    assert site.choices("https://lmarena.ai").mode == "direct-battle"  # another site
    site.configure("direct-battle", {"text": "chat"}, learn=True)  # a reload keeps what worked
    assert site.choices(ARENA).mode == "direct"


def test_learning_can_be_turned_off() -> None:
    assert SiteState(learn=False).alternative("mode", "direct-battle") is None
    assert SiteState().alternative("mode", "direct-battle") == "direct"
    assert SiteState().alternative("modality", "image") is None  # nothing else to try


async def tabs(count: int) -> tuple[WorkerPool, list[Worker]]:
    pool = WorkerPool(default_capacity=2, ping_interval=10, ping_timeout=30)
    workers = [await pool.add(Hello(type="hello", protocol=1, page_url=f"{ARENA}/text/direct"),
                              NullLink()) for _ in range(count)]
    return pool, workers


async def test_a_refused_mode_is_tried_once_with_its_alternative_then_final() -> None:
    pool, (worker,) = await tabs(1)
    site = SiteState()
    recovery = Recovery(pool, site)
    request = CALL.build(recovery.choices(worker))
    assert await recovery.handle(refusal("Invalid mode"), worker, request) is Move.RETRY_NOW
    again = CALL.build(recovery.choices(worker))
    assert again.body["mode"] == "direct"
    with pytest.raises(UpstreamFailure) as final:
        await recovery.handle(refusal("Invalid mode"), worker, again)
    assert "arena_chat_mode" in final.value.message and final.value.status == 400
    assert site.drift.refused == {"mode=direct-battle": 1, "mode=direct": 1}
    assert site.learned == {}  # nothing worked


async def test_an_alternative_that_works_is_remembered_for_the_site() -> None:
    pool, (worker,) = await tabs(1)
    site = SiteState()
    recovery = Recovery(pool, site)
    await recovery.handle(refusal("Invalid modality"), worker, CALL.build(recovery.choices(worker)))
    recovery.succeeded(worker, CALL.build(recovery.choices(worker)))
    assert site.learned == {ARENA: {"modality:text": "text"}}


async def test_a_used_quota_rests_the_tab_and_moves_the_job_then_is_a_429() -> None:
    pool, (first, second) = await tabs(2)
    recovery = Recovery(pool, SiteState(), quota_cooldown=600)
    quota = refusal("prompt failed", 429)
    assert quota.kind is Kind.QUOTA
    assert await recovery.handle(quota, first, None) is Move.RETRY_NOW
    assert pool.pick() is second  # the resting tab gets nothing
    with pytest.raises(UpstreamFailure) as used:
        await recovery.handle(quota, second, None)
    assert (used.value.status, used.value.code) == (429, "account_quota_exhausted")
    assert used.value.headers == {"Retry-After": "600"}
    assert pool.pick() is None


async def test_a_redirect_moves_the_tab_once_to_the_canonical_origin() -> None:
    pool = WorkerPool(default_capacity=2, ping_interval=10, ping_timeout=30)
    link = NullLink()
    worker = await pool.add(Hello(type="hello", protocol=1, navigate=True,
                                  page_url="https://lmarena.ai/?mode=direct"), link)
    recovery = Recovery(pool)
    redirect = classify_http(0, {}, "", "opaqueredirect")
    assert redirect is not None
    assert await recovery.handle(redirect, worker, None) is Move.RETRY_NOW
    assert link.sent[-1] == {"type": "navigate", "url": "https://arena.ai/text/direct"}
    assert worker.reloading
    with pytest.raises(UpstreamFailure) as stays:
        await recovery.handle(redirect, worker, None)
    assert "open https://arena.ai/text/direct" in stays.value.message


async def test_a_script_that_cannot_move_its_tab_is_reloaded_instead() -> None:
    """An older userscript ignores `navigate`: a reload follows the site's own redirect."""
    pool = WorkerPool(default_capacity=2, ping_interval=10, ping_timeout=30)
    link = NullLink()
    worker = await pool.add(
        Hello(type="hello", protocol=1, page_url="https://lmarena.ai/?mode=direct"), link)
    redirect = classify_http(405, {}, "")
    assert redirect is not None and redirect.kind is Kind.REDIRECT
    assert await Recovery(pool).handle(redirect, worker, None) is Move.RETRY_NOW
    assert link.sent[-1] == {"type": "reload"}
