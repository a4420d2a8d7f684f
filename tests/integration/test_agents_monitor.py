"""Keys, limits, the request log, /monitor and /metrics cover the agent APIs as they cover chat
completions: each request's API is recorded and shown, and counted in /metrics."""

from __future__ import annotations

import anthropic
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import tool_call_text

from .conftest import Arena, StartGateway
from .test_monitor import logged

ADMIN = {"X-Admin-Key": "adm"}


async def test_each_request_is_logged_and_counted_with_its_api(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(admin_key="adm", log_bodies=True, retry_timeout_seconds=5)
    arena.fake.enqueue(Reply(), Reply(text=tool_call_text("note", {"text": "x"})), Reply())
    async with gateway.worker(arena):
        await gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "chat"}])
        message = await anthropic.AsyncAnthropic(
            base_url=gateway.url, api_key="any", max_retries=0).messages.create(
            model="fake-gpt", max_tokens=200, messages=[{"role": "user", "content": "messages"}],
            tools=[{"name": "note", "input_schema": {"type": "object"}}])
        response = await gateway.client().responses.create(model="fake-gpt", input="responses")
    rows = await logged(gateway, 3, headers=ADMIN)
    by_api = {row["api"]: row for row in rows}
    assert set(by_api) == {"chat", "messages", "responses"}
    assert by_api["messages"]["id"] == message.id
    assert by_api["messages"]["finish_reason"] == "stop"
    assert by_api["responses"]["id"] == response.id
    async with gateway.http() as http:
        detail = (await http.get(f"/api/request/{message.id}", headers=ADMIN)).json()
        only = (await http.get("/api/monitor/logs/requests", params={"q": "responses"},
                               headers=ADMIN)).json()
        metrics = (await http.get("/metrics", headers=ADMIN)).text
    assert detail["api"] == "messages"
    assert '{"name": "note", "arguments": {"text": "x"}}' in detail["bodies"]["reply"]
    assert [row["api"] for row in only["requests"]] == ["responses"]
    counted = {
        sample.labels["api"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples if sample.name == "lmarenarev_api_requests_total"
    }
    assert counted == {"chat": 1.0, "messages": 1.0, "responses": 1.0}


async def test_keys_and_their_limits_cover_the_agent_apis(
    start_gateway: StartGateway, arena: Arena
) -> None:
    keys = [{"name": "agent", "key": "sk-agent", "models": ["fake-gpt"], "rpm": 2}]
    gateway = start_gateway(api_keys=keys, retry_timeout_seconds=5)
    async with gateway.worker(arena):
        claude = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="sk-agent", max_retries=0)
        with pytest.raises(anthropic.PermissionDeniedError):
            await claude.messages.create(model="fake-claude", max_tokens=5,
                                         messages=[{"role": "user", "content": "x"}])
        await claude.messages.create(model="fake-gpt", max_tokens=5,
                                     messages=[{"role": "user", "content": "x"}])
        codex = gateway.client(api_key="sk-agent")
        with pytest.raises(openai.RateLimitError):
            await codex.responses.create(model="fake-gpt", input="over the limit")
        with pytest.raises(openai.AuthenticationError):
            await gateway.client(api_key="sk-wrong").responses.create(model="fake-gpt",
                                                                      input="x")


async def test_a_stored_response_belongs_to_the_key_that_made_it(
    start_gateway: StartGateway, arena: Arena
) -> None:
    keys = [{"name": "one", "key": "sk-one"}, {"name": "two", "key": "sk-two"}]
    gateway = start_gateway(api_keys=keys, retry_timeout_seconds=5)
    async with gateway.worker(arena):
        mine = gateway.client(api_key="sk-one")
        response = await mine.responses.create(model="fake-gpt", input="private")
        assert (await mine.responses.retrieve(response.id)).output_text == "Echo: private"
        other = gateway.client(api_key="sk-two")
        with pytest.raises(openai.NotFoundError):
            await other.responses.retrieve(response.id)
        with pytest.raises(openai.BadRequestError, match="not found"):
            await other.responses.create(model="fake-gpt", input="x",
                                         previous_response_id=response.id)
        with pytest.raises(openai.NotFoundError):
            await other.responses.delete(response.id)
        await mine.responses.delete(response.id)
