"""Today's arena.ai (lmarena-2026.md §1–§5) with default settings, on the fake's 2026-10 era (and
the 2025 era where the behaviour must hold on both): the model catalogue, direct-battle and the
values learned per site, chat_retry, object reasoning, gone models, the three 429s, redirects."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import openai
import pytest

from testkit.fakes.arena import ERA_2025, ERA_2026, Reply, model_id

from .conftest import BOTH_ERAS, Arena, RunningGateway, StartGateway

pytestmark = pytest.mark.era(ERA_2026)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def ask(client: openai.AsyncOpenAI, text: str, model: str = "fake-gpt") -> str:
    reply = await client.chat.completions.create(model=model, messages=user(text))
    return reply.choices[0].message.content or ""


async def logged_errors(gateway: RunningGateway, count: int = 1) -> list[tuple[str, str]]:
    """(error_kind, upstream_kind) of the request log's failed requests, once written."""
    def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        rows = conn.execute("SELECT error_kind, upstream_kind FROM requests "
                            "WHERE status = 'error' ORDER BY started_at").fetchall()
        return [(str(kind), str(upstream)) for kind, upstream in rows]

    found: list[tuple[str, str]] = []
    for _ in range(500):
        found = await gateway.gateway.monitoring.read(read, [])
        if len(found) >= count:
            break
        await asyncio.sleep(0.01)
    return found


async def status_of(gateway: RunningGateway) -> dict[str, object]:
    async with gateway.http() as http:
        answer: dict[str, object] = (await http.get("/api/admin/status")).json()
        return answer


@BOTH_ERAS
async def test_a_conversation_and_its_regenerate_work_with_default_settings(
    gateway: RunningGateway, arena: Arena, era: str
) -> None:
    """The issue's first finding: every chat refused ("Invalid mode"); a regenerate refused
    (its token must be minted for chat_retry). Defaults work on both eras."""
    client = gateway.client()
    async with gateway.worker(arena):
        first = await ask(client, "hello")
        history = [*user("hello"), {"role": "assistant", "content": first},
                   *user("and then?")]
        second = await client.chat.completions.create(model="fake-gpt", messages=history)
        again = await client.chat.completions.create(model="fake-gpt", messages=history)
    assert first == "Echo: hello"
    assert second.choices[0].message.content == "Echo: and then?"
    assert again.choices[0].message.content == "Echo (retry 1): and then?"
    create, post, retry = [r for r in arena.fake.requests if r.kind in ("create", "post", "retry")]
    assert create.body["mode"] == post.body["mode"] == "direct-battle"
    assert all(r.body.get("modelBMessageId") for r in (create, post))
    (token,) = [t for t in arena.fake.issued_tokens if t.token == retry.body["recaptchaV3Token"]]
    assert token.action == "chat_retry"


async def test_reasoning_sent_as_an_object_is_kept(gateway: RunningGateway, arena: Arena) -> None:
    """§2.2 2026: `ag:{"thinking": …}` reached the client as nothing before."""
    async with gateway.worker(arena):
        reply = await gateway.client().chat.completions.create(
            model="fake-thinker", messages=user("why?"))
    message = reply.choices[0].message
    assert message.content == "Echo: why?"
    assert "Thinking about: why?" in (getattr(message, "reasoning_content", None) or "")


async def test_a_refused_mode_is_swapped_once_remembered_and_shown(
    gateway: RunningGateway, arena: Arena
) -> None:
    """The site goes back to `direct` only: the gateway tries it after the refusal, keeps
    using it on that site without a refusal, and `status` shows what it learned."""
    arena.fake.use_era(ERA_2026, modes=("direct", "side-by-side", "battle"))
    client = gateway.client()
    async with gateway.worker(arena):
        assert await ask(client, "one") == "Echo: one"
        assert await ask(client, "two") == "Echo: two"
        status = await status_of(gateway)
    modes = [(r.body["mode"], r.status) for r in arena.fake.requests if r.kind == "create"]
    assert modes == [("direct-battle", 400), ("direct", 200), ("direct", 200)]
    site = status["site"]
    assert isinstance(site, dict)
    assert list(site["learned"].values()) == [{"mode": "direct"}]
    assert site["drift"]["refused_values"] == {"mode=direct-battle": 1}


async def test_a_refused_modality_is_swapped_for_the_alternative(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.use_era(ERA_2026, modalities=("text", "image", "search"))
    async with gateway.worker(arena):
        assert await ask(gateway.client(), "hi") == "Echo: hi"
    sent = [(r.body["modality"], r.status) for r in arena.fake.requests if r.kind == "create"]
    assert sent == [("chat", 400), ("text", 200)]


async def test_a_value_refused_twice_is_a_400_that_says_what_to_set(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.use_era(ERA_2026, modes=("battle",))
    async with gateway.worker(arena):
        with pytest.raises(openai.BadRequestError) as refused:
            await ask(gateway.client(), "hi")
    assert refused.value.code == "upstream_bad_request"
    assert "arena_chat_mode" in refused.value.message and "doctor" in refused.value.message
    assert [r.body["mode"] for r in arena.fake.requests if r.kind == "create"] == [
        "direct-battle", "direct"]


async def test_update_models_reads_the_catalogue_with_arenas_types_and_names(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(expose_available_models=True)
    async with gateway.worker(arena), gateway.http() as http:
        answer = (await http.post("/api/admin/update-models", json={})).json()
        listed = {m.id: m for m in (await gateway.client().models.list()).data}
        by_display = await ask(gateway.client(), "by display name", model="Fake GPT 5")
        by_name = await ask(gateway.client(), "by dated name", model="fake-gpt-2026-09-01")
        kiteki = await ask(gateway.client(), "three names",
                           model="fake-qwen3.5-max-preview")
        with pytest.raises(openai.BadRequestError) as video:
            await ask(gateway.client(), "a film", model="fake-director")
    assert answer["source"] == "catalogue"
    assert answer["arenas"]["text"] == 5 and answer["arenas"]["text-to-video"] == 1
    types = {row["name"]: row["type"] for row in answer["models"]}
    assert (types["fake-painter"], types["fake-director"], types["fake-coder"]) == (
        "image", "video", "code")
    assert listed["fake-gpt"].arenas == ["text", "code", "document"]  # type: ignore[attr-defined]
    assert listed["fake-director"].type == "video"  # type: ignore[attr-defined]
    assert listed["fake-coder"].type == "code"  # type: ignore[attr-defined]
    assert (by_display, by_name) == ("Echo: by display name", "Echo: by dated name")
    assert kiteki == "Echo: three names"
    assert video.value.code == "model_type_not_supported"


async def test_a_model_lmarena_dropped_is_a_404_naming_close_alternatives(
    gateway: RunningGateway, arena: Arena
) -> None:
    """§4.1 2026: models come and go; a 404 upstream is "gone", not a 502."""
    arena.fake.retire("fake-claude")
    client = gateway.client()
    async with gateway.worker(arena):
        with pytest.raises(openai.NotFoundError) as gone:
            await ask(client, "hi", model="fake-claude")
        with pytest.raises(openai.NotFoundError) as again:
            await ask(client, "hi", model="fake-claude")
    assert gone.value.code == again.value.code == "model_not_available"
    assert "Close alternatives:" in gone.value.message
    assert len([r for r in arena.fake.requests if r.kind == "create"]) == 1  # then refused here


async def test_a_cloudflare_429_is_handled_like_the_403(
    gateway: RunningGateway, arena: Arena
) -> None:
    """§3.1 2026: a challenge as 429 + cf-mitigated is not a rate limit: the tab reloads."""
    arena.fake.enqueue(Reply.cloudflare(status=429))
    async with gateway.worker(arena) as worker:
        assert await ask(gateway.client(), "past the check") == "Echo: past the check"
        assert worker.reloads == 1


async def test_an_ip_rate_limit_keeps_its_retry_after(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(rate_limit_max_wait_seconds=1)
    arena.fake.enqueue(*[Reply.rate_limited(30)] * 3)
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions",
                                   json={"model": "fake-gpt", "messages": user("x")})
    assert response.status_code == 429 and response.headers["retry-after"] == "30"
    assert response.json()["error"]["code"] == "rate_limited"


async def test_an_accounts_used_quota_moves_the_job_then_says_so(
    gateway: RunningGateway, arena: Arena
) -> None:
    """`429 prompt failed` (this account's quota): that tab rests, the job moves to another tab
    (account); with none left, a 429 that says the quota is used up."""
    arena.fake.prompt_quota = 1
    client = gateway.client()
    async with gateway.worker(arena) as first, gateway.worker(arena) as second:
        assert await ask(client, "one") == "Echo: one"
        assert await ask(client, "two") == "Echo: two"
        with pytest.raises(openai.RateLimitError) as used:
            await ask(client, "three")
        creates = len([r for r in arena.fake.requests if r.kind == "create"])
        with pytest.raises(openai.RateLimitError) as resting:  # every tab rests: no waiting
            await ask(client, "four")
        assert len([r for r in arena.fake.requests if r.kind == "create"]) == creates
        status = await status_of(gateway)
    assert used.value.code == resting.value.code == "account_quota_exhausted"
    assert "quota" in used.value.message
    ran_on = [job["url"] for job in first.jobs_seen] + [job["url"] for job in second.jobs_seen]
    assert len(ran_on) == 4  # one, two (refused on the first tab, then the second), three
    workers = status["workers"]
    assert isinstance(workers, list) and all(w["resting_seconds"] > 0 for w in workers)
    errors = await logged_errors(gateway, 2)
    assert errors[0] == ("account_quota_exhausted", "quota")
    assert errors[1][0] == "account_quota_exhausted"  # refused before any attempt


@pytest.mark.era(ERA_2025)
async def test_a_tab_on_an_origin_the_site_moved_is_moved_and_the_chat_goes_through(
    gateway: RunningGateway, arena: Arena
) -> None:
    """The 405 trap (§1.1 2026): the tab opened lmarena.ai (here: localhost) before the site
    moved. The stream POST meets a 301 the tab does not follow; the gateway moves the tab (a
    reload follows the site's redirect) and the retry goes through on the new origin."""
    alias = arena.url.replace("127.0.0.1", "localhost")
    async with gateway.worker(Arena(arena.fake, alias)) as worker:
        arena.fake.use_era(ERA_2026)  # the site moves under the open tab
        assert await ask(gateway.client(), "moved") == "Echo: moved"
        assert worker.navigations and worker.page_url.startswith(arena.url)
    kinds = [(r.kind, r.method, r.status) for r in arena.fake.requests]
    assert ("redirect", "POST", 301) in kinds
    assert not any(status == 405 for _, _, status in kinds)  # the POST never became a GET


async def test_a_redirect_that_stays_is_an_error_naming_the_origin_to_open(
    gateway: RunningGateway, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.redirect(), Reply.redirect())
    async with gateway.worker(arena) as worker, gateway.http() as http:
        response = await http.post("/v1/chat/completions",
                                   json={"model": "fake-gpt", "messages": user("x")})
        assert len(worker.navigations) == 1
    error = response.json()["error"]
    assert response.status_code == 502 and error["code"] == "upstream_redirect"
    assert "open" in error["message"] and "arena.ai" in error["message"]


async def test_each_tab_reports_its_account_in_status_and_metrics(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(account_check_minutes=60)
    async with gateway.worker(arena), gateway.worker(arena) as person:
        signed = await person.browse("POST", "/nextjs-api/sign-in/email",
                                     {"email": "me@example.com", "password": "pw"})
        assert signed.status_code == 200
        await person._reload()  # the page reloads after signing in: the tab connects again
        pool = gateway.gateway.pool
        await person.wait_until(lambda: sorted(
            str(w.account.logged_in) for w in pool.workers.values()) == ["False", "True"],
            timeout=10)
        status = await status_of(gateway)
        async with gateway.http() as http:
            metrics = (await http.get("/metrics")).text
    accounts = sorted((w["account"]["state"], w["account"]["pulse"])
                      for w in status["workers"])  # type: ignore[union-attr]
    assert accounts == [("anonymous", None), ("logged_in", 0)]
    assert 'lmarenarev_worker_accounts{state="logged_in"} 1.0' in metrics
    assert 'lmarenarev_worker_accounts{state="anonymous"} 1.0' in metrics
    assert "lmarenarev_worker_account_pulse{" in metrics


async def test_drift_is_counted_in_metrics_and_status(
    start_gateway: StartGateway, arena: Arena
) -> None:
    arena.fake.use_era(ERA_2026, extra_records=('ax:{"new":true}',),
                       catalog_renames={"rank": "leaderboardRank"})
    gateway = start_gateway()
    async with gateway.worker(arena), gateway.http() as http:
        assert await ask(gateway.client(), "hi") == "Echo: hi"
        await http.post("/api/admin/update-models", json={})
        metrics = (await http.get("/metrics")).text
        status = await status_of(gateway)
    assert 'lmarenarev_drift_unknown_records_total{prefix="ax"} 1.0' in metrics
    assert 'lmarenarev_drift_unknown_catalog_fields_total{field="leaderboardRank"} 1.0' in metrics
    drift = status["site"]["drift"]  # type: ignore[index]
    assert drift["unknown_record_prefixes"] == {"ax": 1}


async def test_the_catalogue_needs_no_cookie_but_a_browser(arena: Arena) -> None:
    """The fake's catalogue route as §4.1 2026 describes it (a tab's fetch qualifies)."""
    async with httpx.AsyncClient(base_url=arena.url) as plain:
        refused = await plain.get("/nextjs-api/model-catalog")
        browser = await plain.get("/nextjs-api/model-catalog",
                                  headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert refused.status_code == 403
    arenas = {item["arena"]: item for item in browser.json()}
    assert [m["id"] for m in arenas["search"]["models"]] == [model_id("fake-searcher")]
    assert arenas["text"]["complete"] is True
