"""The admin routes with the fake worker: id capture, the model catalogue, reload, status,
session pools and the idle restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from lmarenarev.arena.catalog import model_type
from lmarenarev.cli import render
from lmarenarev.config.jsonc import loads
from testkit.fakes.arena import DEFAULT_MODELS, ERA_2025, ERA_2026, model_id
from testkit.fakes.worker import FakeWorker
from testkit.support import wait_until_async

from .conftest import BOTH_ERAS, Arena, RunningGateway, StartGateway

RETRY = "/nextjs-api/stream/retry-evaluation-session-message/{}/messages/{}"
SESSION = "0199a1ce-70b8-70a1-bcc3-3f04b155b850"
MESSAGE = "0199a1ce-70b8-70a1-bcc3-3f04b155b851"

CONFIG = """\
{
  // the legacy flow, ids captured by `lmarenarev capture-ids`
  "arena_flow": "legacy",
  "session_id": "", // filled by capture
  /* kept as is */ "tavern_mode_enabled": true
}
"""


async def post(gateway: RunningGateway, path: str, body: dict[str, Any] | None = None,
               timeout: float = 30) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=timeout) as http:
        return await http.post(path, json=body if body is not None else {})


async def get(gateway: RunningGateway, path: str) -> httpx.Response:
    async with gateway.http() as http:
        return await http.get(path)


def message(response: httpx.Response) -> str:
    text: str = response.json()["error"]["message"]
    return text


async def armed(worker: FakeWorker) -> None:
    await worker.wait_until(lambda: worker.capture_pattern is not None)


# --- id capture ----------------------------------------------------------------------------------


async def test_captured_ids_go_into_config_jsonc_with_its_comments(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway()
    (gateway.gateway.home / "config.jsonc").write_text(CONFIG, "utf-8")
    async with gateway.worker(arena) as worker:
        answer = asyncio.ensure_future(post(gateway, "/api/admin/capture-ids", {"timeout": 10}))
        await armed(worker)
        assert await worker.page_request(RETRY.format(SESSION, MESSAGE))
        response = await answer
        assert response.status_code == 200, response.text
        await worker.wait_until(lambda: worker.capture_pattern is None)  # disarmed
    assert response.json()["session_id"] == SESSION and response.json()["route"] == "retry"
    text = (gateway.gateway.home / "config.jsonc").read_text("utf-8")
    assert "// the legacy flow, ids captured by `lmarenarev capture-ids`" in text
    assert '"session_id": "0199a1ce-70b8-70a1-bcc3-3f04b155b850", // filled by capture' in text
    assert "/* kept as is */" in text
    assert loads(text, source="config.jsonc")["message_id"] == MESSAGE
    settings = gateway.gateway.settings  # the running gateway uses them: no restart
    assert (settings.session_id, settings.message_id) == (SESSION, MESSAGE)
    assert settings.tavern_mode_enabled and settings.id_updater_last_mode == "direct_chat"


async def test_a_page_request_without_ids_is_not_captured(
    gateway: RunningGateway, worker: FakeWorker
) -> None:
    answer = asyncio.ensure_future(post(gateway, "/api/admin/capture-ids", {"timeout": 10}))
    await armed(worker)
    assert not await worker.page_request("/nextjs-api/sign-up", method="POST")
    assert await worker.page_request("/nextjs-api/stream/create-evaluation", body="{}")
    body = json.dumps({"id": SESSION, "modelAMessageId": "x", "modelBMessageId": MESSAGE})
    assert await worker.page_request("/nextjs-api/stream/create-evaluation", body=body)
    assert not answer.done()
    await worker.page_request(
        f"/nextjs-api/stream/post-to-evaluation/{SESSION}",
        method="POST",
        body=json.dumps({"id": SESSION, "modelAMessageId": MESSAGE}),
    )
    response = await answer
    assert response.json()["route"] == "post-to-evaluation"
    assert response.json()["message_id"] == MESSAGE


async def test_battle_mode_takes_the_chosen_side_into_the_model_map(
    gateway: RunningGateway, worker: FakeWorker
) -> None:
    body = {"mode": "battle", "target": "b", "model": "fake-gpt", "timeout": 10}
    answer = asyncio.ensure_future(post(gateway, "/api/admin/capture-ids", body))
    await armed(worker)
    other = "0199a1ce-70b8-70a1-bcc3-3f04b155b899"
    create = json.dumps({"id": SESSION, "modelAMessageId": other, "modelBMessageId": MESSAGE})
    await worker.page_request("/nextjs-api/stream/create-evaluation", method="POST", body=create)
    response = await answer
    assert response.status_code == 200 and response.json()["written"] == ["fake-gpt"]
    saved = json.loads((gateway.gateway.home / "model_endpoint_map.json").read_text("utf-8"))
    assert saved == {
        "fake-gpt": {
            "session_id": SESSION,
            "message_id": MESSAGE,
            "mode": "battle",
            "battle_target": "B",
        }
    }
    (mapping,) = gateway.gateway.chat.endpoint_map["fake-gpt"]
    assert (mapping.session_id, mapping.battle_target) == (SESSION, "B")


async def test_capture_with_no_tab_is_503(gateway: RunningGateway) -> None:
    response = await post(gateway, "/api/admin/capture-ids", {"timeout": 5})
    assert response.status_code == 503
    assert "no LMArena tab is connected" in message(response)


async def test_nothing_captured_in_time_is_408_and_disarms(
    gateway: RunningGateway, worker: FakeWorker
) -> None:
    response = await post(gateway, "/api/admin/capture-ids", {"timeout": 0.3})
    assert response.status_code == 408
    assert "nothing was captured within 0.3 s" in message(response)
    assert "click Retry" in message(response)
    await worker.wait_until(lambda: worker.capture_pattern is None)


async def test_a_tab_that_connects_while_armed_is_armed_too(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    answer = asyncio.ensure_future(post(gateway, "/api/admin/capture-ids", {"timeout": 10}))
    await armed(worker)
    async with gateway.worker(arena) as late:
        await armed(late)
        await late.page_request(RETRY.format(SESSION, MESSAGE))
        assert (await answer).json()["session_id"] == SESSION


# --- the catalogue -------------------------------------------------------------------------------


@pytest.mark.era(ERA_2025)  # the older site: the list is the page's, whole objects
async def test_update_models_writes_available_models_and_merges(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway()
    home = gateway.gateway.home
    mine = model_id("fake-gpt")
    (home / "models.json").write_text(f'{{\n  // mine\n  "fake-gpt": "{mine}"\n}}\n')
    async with gateway.worker(arena):
        response = await post(gateway, "/api/admin/update-models", {"merge_all": True})
    assert response.status_code == 200, response.text
    available = json.loads((home / "available_models.json").read_text("utf-8"))
    assert available == arena.fake.models  # the full objects, capabilities included
    merged = response.json()["merged"]
    assert merged["already_present"] == ["fake-gpt"]
    assert merged["added"]["fake-painter"] == model_id("fake-painter") + ":image"
    assert merged["added"]["fake-searcher"] == model_id("fake-searcher") + ":search"
    assert merged["added"]["fake-claude"] == model_id("fake-claude")
    models_text = (home / "models.json").read_text("utf-8")
    assert "// mine" in models_text
    assert set(loads(models_text, source="models.json")) == {m["publicName"] for m in available}
    assert gateway.gateway.chat.models["fake-painter"].type == "image"  # live, no restart


async def test_update_models_merges_only_what_is_named(
    gateway: RunningGateway, worker: FakeWorker
) -> None:
    (gateway.gateway.home / "models.json").write_text("{}")
    response = await post(gateway, "/api/admin/update-models", {"merge": ["fake-painter"]})
    assert response.json()["merged"]["added"] == {
        "fake-painter": model_id("fake-painter") + ":image"
    }
    unknown = await post(gateway, "/api/admin/update-models", {"merge": ["fake-paintr"]})
    assert unknown.status_code == 400 and "did you mean fake-painter" in message(unknown)


async def test_update_models_without_a_tab_is_503(gateway: RunningGateway) -> None:
    response = await post(gateway, "/api/admin/update-models")
    assert response.status_code == 503 and "no browser tab is connected" in message(response)


@BOTH_ERAS
async def test_the_catalogue_is_read_when_a_tab_connects(
    start_gateway: StartGateway, arena: Arena, era: str
) -> None:
    """The catalogue route first (§4.1 2026); the page only where the route has nothing."""
    gateway = start_gateway(model_catalog_refresh_minutes=30)
    offered = len(arena.fake.offered_models())
    async with gateway.worker(arena) as worker:
        await worker.wait_until(lambda: len(gateway.gateway.ops.catalog.models) == offered)
        urls = [job["url"] for job in worker.jobs_seen]
    if era == ERA_2026:
        assert urls == ["/nextjs-api/model-catalog"] and offered == 9
        assert gateway.gateway.ops.catalog.source == "catalogue"
    else:
        assert urls == ["/nextjs-api/model-catalog", "/?mode=direct"] and offered == 6
        assert gateway.gateway.ops.catalog.source == "page"
    assert (gateway.gateway.home / "available_models.json").exists()


async def test_exposed_catalogue_models_are_listed_and_usable(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(expose_available_models=True)
    home = gateway.gateway.home
    gone = "0198a4c1-0000-7000-8000-000000000000"
    (home / "models.json").write_text(json.dumps({"old-model": gone}))
    async with gateway.worker(arena):
        await post(gateway, "/api/admin/reload")
        await post(gateway, "/api/admin/update-models")
        client = gateway.client()
        listed = {m.id: m for m in (await client.models.list()).data}
        assert "old-model" not in listed
        assert listed["fake-painter"].type == "image"  # type: ignore[attr-defined]
        capabilities = listed["fake-painter"].capabilities  # type: ignore[attr-defined]
        assert capabilities["outputCapabilities"]["image"] == {"aspectRatios": ["1:1", "16:9"]}
        assert listed["fake-gpt"].owned_by == "openai"
        reply = await client.chat.completions.create(
            model="fake-claude", messages=[{"role": "user", "content": "from the catalogue"}]
        )
        assert reply.choices[0].message.content == "Echo: from the catalogue"
        with pytest.raises(openai.NotFoundError) as refused:
            await client.chat.completions.create(
                model="old-model", messages=[{"role": "user", "content": "x"}]
            )
    assert "LMArena no longer offers the model 'old-model'" in str(refused.value)
    assert refused.value.code == "model_not_available"


@BOTH_ERAS
@pytest.mark.parametrize("models_json", ["{}", None])
async def test_without_models_json_lmarenas_list_is_offered_once_a_tab_connects(
    start_gateway: StartGateway, arena: Arena, models_json: str | None
) -> None:
    """The page's list (2025) or the catalogue (2026, typed by its arenas): every model the
    gateway can serve."""
    arenas = arena.fake.model_arenas if arena.fake.era.catalog else {}
    served = {m["publicName"] for m in arena.fake.offered_models()
              if model_type({**m, "arenas": list(arenas.get(m["publicName"], ()))})}
    gateway = start_gateway(models=[], model_catalog_refresh_minutes=30)
    home = gateway.gateway.home
    if models_json is None:
        (home / "models.json").unlink()  # missing, not empty
    client = gateway.client()
    with pytest.raises(openai.NotFoundError) as refused:
        await client.chat.completions.create(
            model="fake-claude", messages=[{"role": "user", "content": "x"}]
        )
    assert "No model is offered yet" in refused.value.message
    assert "open https://arena.ai/text/direct" in refused.value.message
    async with gateway.worker(arena):
        await wait_until_async(lambda: len(gateway.gateway.chat.models) == len(served), 10,
                               "the list")
        listed = {m.id: m.model_dump() for m in (await client.models.list()).data}
        reply = await client.chat.completions.create(
            model="fake-claude", messages=[{"role": "user", "content": "automatic"}]
        )
        answer = (await get(gateway, "/api/admin/status")).json()
    assert reply.choices[0].message.content == "Echo: automatic"
    assert set(listed) == served
    assert all(card["automatic"] is True for card in listed.values())
    assert listed["fake-painter"]["type"] == "image"
    status = answer["models"]
    count = len(served)
    assert (status["configured"], status["offered"], status["automatic"]) == ([], count, count)
    lines = render.status(answer, gateway.url)
    assert any(line.startswith(f"Models    {count} offered automatically") for line in lines)
    # models.json overrides: once it names a model, it is the list again
    (home / "models.json").write_text(json.dumps({"mine": model_id("fake-gpt")}))
    assert (await post(gateway, "/api/admin/reload")).status_code == 200
    listed = {m.id: m.model_dump() for m in (await client.models.list()).data}
    assert list(listed) == ["mine"] and listed["mine"].get("automatic") is None


# --- reload and status ---------------------------------------------------------------------------


async def test_reload_applies_a_changed_config_and_rejects_a_broken_one(
    gateway: RunningGateway,
) -> None:
    path = gateway.gateway.home / "config.jsonc"
    path.write_text('{"tavern_mode_enabled": true, "port": 1}')
    response = await post(gateway, "/api/admin/reload")
    assert response.status_code == 200
    assert response.json()["changed"] == ["port", "tavern_mode_enabled"]
    assert response.json()["restart_needed"] == ["port"]
    assert gateway.gateway.settings.tavern_mode_enabled
    assert gateway.gateway.settings.retry_timeout_seconds == 5  # the start's overrides stay
    path.write_text('{"tavern_mode_enabled": false, "worker_capacity": 0}')
    rejected = await post(gateway, "/api/admin/reload")
    assert rejected.status_code == 400
    assert "worker_capacity" in message(rejected) and "old settings stay" in message(rejected)
    assert gateway.gateway.settings.tavern_mode_enabled  # unchanged
    status = (await get(gateway, "/api/admin/status")).json()
    assert status["errors"][-1]["source"] == "reload"


async def test_status_describes_the_gateway(gateway: RunningGateway, worker: FakeWorker) -> None:
    status = (await get(gateway, "/api/admin/status")).json()
    assert status["up"] and status["flow"] == "modern"
    (tab,) = status["workers"]
    assert tab["transport"] == "websocket" and tab["page_url"].endswith("/text/direct")
    assert tab["capacity"] == 6 and tab["script_outdated"] is False
    assert status["models"]["configured"] == sorted(m["publicName"] for m in worker_models())
    assert status["ids"]["session_id"] is None


def worker_models() -> list[dict[str, Any]]:
    return DEFAULT_MODELS


async def test_status_lists_recent_errors(gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError):
        await gateway.client().chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    (error,) = (await get(gateway, "/api/admin/status")).json()["errors"]
    assert (error["source"], error["status"], error["model"]) == ("chat", 404, "nope")


# --- session pools -------------------------------------------------------------------------------


def legacy_pool(arena: Arena, count: int) -> list[dict[str, str]]:
    return [
        dict(zip(("session_id", "message_id"), arena.fake.seed_session("fake-gpt"), strict=True))
        for _ in range(count)
    ]


async def ask(client: openai.AsyncOpenAI, text: str = "hi") -> str:
    reply = await client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content or ""


async def test_round_robin_uses_the_pool_in_order(
    start_gateway: StartGateway, arena: Arena
) -> None:
    pool = legacy_pool(arena, 3)
    gateway = start_gateway(
        endpoint_map={"fake-gpt": pool},
        arena_flow="legacy",
        endpoint_selection_strategy="round_robin",
    )
    async with gateway.worker(arena):
        for i in range(5):
            assert await ask(gateway.client(), f"turn {i}") == f"Echo: turn {i}"
    used = [r.session_id for r in arena.fake.requests if r.kind == "legacy"]
    order = [m["session_id"] for m in pool]
    assert used == [*order, *order[:2]]


async def test_a_failing_mapping_is_cooled_down(start_gateway: StartGateway, arena: Arena) -> None:
    good = legacy_pool(arena, 1)[0]
    bad = {"session_id": SESSION, "message_id": MESSAGE}  # unknown to LMArena: 404
    gateway = start_gateway(
        endpoint_map={"fake-gpt": [bad, good]},
        arena_flow="legacy",
        endpoint_selection_strategy="round_robin",
        endpoint_failure_threshold=1,
    )
    async with gateway.worker(arena):
        client = gateway.client()
        with pytest.raises(openai.NotFoundError):
            await ask(client)
        assert [await ask(client, f"again {i}") for i in range(3)] == [
            f"Echo: again {i}" for i in range(3)
        ]
        status = (await get(gateway, "/api/admin/status")).json()
    used = [r.session_id for r in arena.fake.requests if r.kind == "legacy"]
    assert used == [SESSION, good["session_id"], good["session_id"], good["session_id"]]
    bad_state, good_state = status["endpoint_map"]["models"]["fake-gpt"]
    assert bad_state["cooldown_seconds_left"] > 0
    assert "upstream_not_found" in bad_state["last_error"]
    assert good_state["cooldown_seconds_left"] == 0


async def test_image_generations_report_to_the_pools_and_the_recent_errors(
    start_gateway: StartGateway, arena: Arena
) -> None:
    """An image generation runs the chat path's completion: a failing mapping of an image
    model's pool is cooled down and its failure listed, as for a chat request."""
    good = dict(
        zip(("session_id", "message_id"), arena.fake.seed_session("fake-painter"), strict=True)
    )
    bad = {"session_id": SESSION, "message_id": MESSAGE}  # unknown to LMArena: 404
    gateway = start_gateway(
        endpoint_map={"fake-painter": [bad, good]},
        arena_flow="legacy",
        endpoint_selection_strategy="round_robin",
        endpoint_failure_threshold=1,
    )
    async with gateway.worker(arena):
        client = gateway.client()
        with pytest.raises(openai.NotFoundError):
            await client.images.generate(model="fake-painter", prompt="an owl")
        for _ in range(2):
            assert (await client.images.generate(model="fake-painter", prompt="an owl")).data
        status = (await get(gateway, "/api/admin/status")).json()
    used = [r.session_id for r in arena.fake.requests if r.kind == "legacy"]
    assert used == [SESSION, good["session_id"], good["session_id"]]
    bad_state, _ = status["endpoint_map"]["models"]["fake-painter"]
    assert bad_state["cooldown_seconds_left"] > 0
    (error,) = status["errors"]
    assert (error["source"], error["code"], error["model"]) == (
        "images", "upstream_not_found", "fake-painter"
    )


# --- idle restart --------------------------------------------------------------------------------


async def test_idle_tabs_are_reloaded(start_gateway: StartGateway, arena: Arena) -> None:
    gateway = start_gateway(idle_restart_timeout_seconds=0.3)
    async with gateway.worker(arena) as worker:
        await worker.wait_until(lambda: worker.reloads >= 1, timeout=5)


async def test_idle_restart_off_by_default(gateway: RunningGateway, worker: FakeWorker) -> None:
    await asyncio.sleep(0.5)  # "nothing happens": longer than the 0.3 s idle timeout above
    assert worker.reloads == 0
