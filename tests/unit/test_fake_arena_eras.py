"""The fake LMArena plays two eras (docs/fake-arena.md "Eras"): what changed between the site
bridges saw up to early 2026 and arena.ai in 2026-10 (protocol §10.4), as a client sees it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from testkit.fakes.arena import ERA_2025, ERA_2026, FakeArena, Reply, model_id
from testkit.fakes.arena_auth import AUTH_COOKIE
from testkit.fakes.arena_bodies import (
    CREATE_PATH,
    TEXT_PLAIN,
    create_body,
    post_path,
    retry_path,
)
from testkit.fakes.arena_replay import ReplayArena

CANONICAL = "https://arena.ai"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0"}


@pytest.fixture
def arena() -> FakeArena:
    return FakeArena(era=ERA_2026)


@pytest.fixture
async def client(arena: FakeArena) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=arena.app)
    cookies = {AUTH_COOKIE: arena.issue_auth_cookie()}
    async with httpx.AsyncClient(transport=transport, base_url=CANONICAL, cookies=cookies) as http:
        yield http


async def create(http: httpx.AsyncClient, arena: FakeArena, text: str = "hi",
                 model: str = "fake-gpt", token_action: str = "chat_submit",
                 **options: Any) -> tuple[dict[str, Any], httpx.Response]:
    options.setdefault("mode", "direct-battle")
    body = create_body(model_id(model, arena.models + arena.new_models), text,
                       token=arena.issue_token(token_action), **options)
    response = await http.post(CREATE_PATH, content=json.dumps(body), headers=TEXT_PLAIN)
    return body, response


async def test_the_chat_page_moved_and_holds_no_initial_models(client: httpx.AsyncClient) -> None:
    moved = await client.get("/?mode=direct")
    assert (moved.status_code, moved.headers["location"]) == (301, "/text/direct")
    page = await client.get("/text/direct")
    assert page.status_code == 200 and "initialModels" not in page.text
    assert "recaptcha/enterprise.js?render=" in page.text


async def test_the_old_host_redirects_everything_and_a_followed_post_is_a_405(
    arena: FakeArena,
) -> None:
    """§1.1 2026, the 405 trap: lmarena.ai 301s; a client following it sends a GET."""
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://lmarena.ai") as http:
        page = await http.get("/?mode=direct")
        stream = await http.post(CREATE_PATH, content="{}")
        followed = await http.post(CREATE_PATH, content="{}", follow_redirects=True)
    assert (page.status_code, page.headers["location"]) == (
        301, "https://arena.ai/?mode=direct")
    assert stream.status_code == 301 and stream.headers["location"].startswith(CANONICAL)
    assert followed.status_code == 405
    assert [r.kind for r in arena.requests][:2] == ["redirect", "redirect"]


async def test_legacy_stream_routes_are_refused(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/stream/create-evaluation", content="{}")
    assert refused.status_code == 403 and refused.json() == {"error": "Route not allowed"}


async def test_mode_direct_is_refused_and_model_b_message_id_required(
    client: httpx.AsyncClient, arena: FakeArena
) -> None:
    _, direct = await create(client, arena, mode="direct")
    assert (direct.status_code, direct.json()) == (400, {"error": "Invalid mode"})
    body = create_body(model_id("fake-gpt"), "x", token=arena.issue_token(), mode="direct-battle")
    del body["modelBMessageId"]
    missing = await client.post(CREATE_PATH, content=json.dumps(body))
    assert missing.json() == {"error": "missing field: modelBMessageId"}
    body, ok = await create(client, arena)
    assert ok.status_code == 200
    follow = create_body(None, "next", token=arena.issue_token(), session_id=body["id"])
    del follow["mode"]
    no_mode = await client.post(post_path(body["id"]), content=json.dumps(follow))
    assert no_mode.json() == {"error": "missing field: mode"}


async def test_tokens_are_checked_per_action_and_the_retry_needs_its_own(
    client: httpx.AsyncClient, arena: FakeArena
) -> None:
    _, wrong = await create(client, arena, token_action="chat_retry")
    assert wrong.status_code == 403
    body, ok = await create(client, arena)
    path = retry_path(body["id"], body["modelAMessageId"])
    empty = await client.put(path, content="{}")
    submit = await client.put(path, content=json.dumps(
        {"recaptchaV3Token": arena.issue_token("chat_submit")}))
    retry = await client.put(path, content=json.dumps(
        {"recaptchaV3Token": arena.issue_token("chat_retry")}))
    assert (ok.status_code, empty.status_code, submit.status_code, retry.status_code) == (
        200, 403, 403, 200)
    assert 'a0:"try 1): "' in retry.text  # "Echo (retry 1): hi", 8 characters a record


async def test_reasoning_comes_as_objects_and_cloudflare_as_429(
    client: httpx.AsyncClient, arena: FakeArena
) -> None:
    _, thinking = await create(client, arena, model="fake-thinker")
    assert 'ag:{"thinking":"Thinking' in thinking.text
    arena.challenge_streams = True
    _, challenged = await create(client, arena)
    assert challenged.status_code == 429
    assert challenged.headers["cf-mitigated"] == "challenge"


async def test_a_retired_model_answers_404_and_leaves_the_catalogue(
    client: httpx.AsyncClient, arena: FakeArena
) -> None:
    arena.retire("fake-claude")
    _, gone = await create(client, arena, model="fake-claude")
    catalogue = (await client.get("/nextjs-api/model-catalog", headers=BROWSER)).json()
    assert gone.status_code == 404 and "no longer available" in gone.text
    listed = {m["publicName"] for arena_ in catalogue for m in arena_["models"]}
    assert "fake-claude" not in listed and "kiteki" in listed


async def test_accounts_me_pulse_and_the_prompt_quota(
    client: httpx.AsyncClient, arena: FakeArena
) -> None:
    assert (await client.get("/api/me")).status_code == 401  # an anonymous session
    signed = await client.post("/nextjs-api/sign-in/email",
                               json={"email": "me@example.com", "password": "pw"})
    assert signed.status_code == 200
    client.cookies.set(AUTH_COOKIE, signed.cookies[AUTH_COOKIE])
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["email"] == "me@example.com"
    arena.prompt_quota = 2
    assert (await create(client, arena))[1].status_code == 200
    pulse = await client.get("/api/me/pulse")
    assert pulse.json()["pulse"] == 50
    assert (await client.get("/api/me/pulse")).status_code == 429  # polled too often
    assert (await create(client, arena))[1].status_code == 200
    _, used = await create(client, arena)
    assert used.status_code == 429 and "prompt failed" in used.text
    assert "retry-after" not in used.headers


async def test_the_2025_era_is_todays_fake() -> None:
    arena = FakeArena()
    transport = httpx.ASGITransport(app=arena.app)
    cookies = {AUTH_COOKIE: arena.issue_auth_cookie()}
    async with httpx.AsyncClient(transport=transport, base_url="https://lmarena.ai",
                                 cookies=cookies) as http:
        page = await http.get("/?mode=direct")
        catalogue = await http.get("/nextjs-api/model-catalog", headers=BROWSER)
        me = await http.get("/api/me")
        _, direct = await create(http, arena, mode="direct")
        assert arena.era.name == ERA_2025
    assert page.status_code == 200 and "initialModels" in page.text
    assert (catalogue.status_code, me.status_code, direct.status_code) == (404, 404, 200)


def test_an_era_change_must_name_real_fields() -> None:
    with pytest.raises(ValueError, match="unknown Era fields"):
        FakeArena().use_era(ERA_2026, modez=())
    with pytest.raises(KeyError, match="known: 2025, 2026-10"):
        FakeArena(era="2027")


async def test_a_replayed_bundle_answers_what_was_recorded() -> None:
    replay = ReplayArena({
        "page": {"status": 200, "title": "LMArena", "initial_models": False,
                 "script_srcs": ["https://arena.ai/x/recaptcha/enterprise.js?render=6Lkey0123"]},
        "account": {"logged_in": False},
        "catalog": {"status": 200, "body": [{"arena": "text", "models": []}]},
        "streams": [{"step": "chat", "status": 200, "headers": {},
                     "records": ['a0:"first"', "ax:{}", ""]},
                    {"step": "regenerate", "status": 403, "headers": {},
                     "records": ['{"error":"recaptcha validation failed"}']}],
    })
    transport = httpx.ASGITransport(app=replay.app)
    async with httpx.AsyncClient(transport=transport, base_url=CANONICAL) as http:
        page = (await http.get("/text/direct")).text
        me = await http.get("/api/me")
        chat = await http.post(CREATE_PATH, content="{}")
        regenerate = await http.put(retry_path("s", "m"), content="{}")
    assert "/__fake/recaptcha/enterprise.js?render=6Lkey0123" in page
    assert me.status_code == 401
    assert chat.text == 'a0:"first"\nax:{}\n'
    assert regenerate.status_code == 403 and "recaptcha" in regenerate.text
    assert len(replay.requests) == 4
    assert Reply.prompt_failed().status == 429  # the quota failure can be scripted too


async def test_the_era_is_set_from_another_process_through_the_admin_api() -> None:
    arena = FakeArena()
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        changed = await http.post("/__fake/era", json={"era": ERA_2026, "modes": ["direct"]})
        unknown = await http.post("/__fake/era", json={"era": "1999"})
        retired = await http.post("/__fake/retire", json={"name": "fake-claude"})
    assert changed.json()["name"] == ERA_2026 and changed.json()["modes"] == ["direct"]
    assert arena.era.modes == ("direct",)
    assert unknown.status_code == 400
    assert retired.json() == {"retired": model_id("fake-claude")}
