"""Bad requests get the OpenAI error envelope and never reach a worker."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway


def envelope(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "code"} <= set(error)
    return error


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (b'{"model": "fake-gpt", "messages": []}', 400, "messages"),
        (b'{"model": "fake-gpt"}', 400, "messages"),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": '
            b'[{"type": "video", "x": 1}]}]}',
            400,
            "unsupported type 'video'",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], "n": 99}',
            400,
            "max_choices",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": 0}',
            400,
            "max_tokens",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], '
            b'"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}',
            400,
            "json_schema.schema",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], '
            b'"response_format": {"type": "json_schema", "json_schema": '
            b'{"name": "x", "schema": {"type": 12}}}}',
            400,
            "not a valid JSON Schema",
        ),
        (b'{"model": "fake-gtp", "messages": [{"role": "user", "content": "x"}]}', 404, "fake-gpt"),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": "hot"}',
            400,
            "temperature: Input should be a valid number",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": 3, "top_p": 0.5}',
            400,
            "temperature: Input should be less than or equal to 2",
        ),
        (
            b'{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}], "top_p": -1}',
            400,
            "top_p: Input should be greater than or equal to 0",
        ),
    ],
)
async def test_bad_requests(
    gateway: RunningGateway,
    arena: Arena,
    worker: FakeWorker,
    payload: bytes,
    status: int,
    fragment: str,
) -> None:
    async with gateway.http() as http:
        response = await http.post(
            "/v1/chat/completions", content=payload, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status
    assert fragment in envelope(response.json())["message"]
    assert worker.jobs_seen == []
    assert [r for r in arena.fake.requests if r.kind != "page"] == []


async def test_unknown_model_is_404_model_not_found_with_close_names(
    gateway: RunningGateway, worker: FakeWorker
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await gateway.client().chat.completions.create(
            model="fake-clade", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"
    assert "fake-claude" in caught.value.message


async def test_oversize_bodies_are_413(start_gateway, arena: Arena) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = start_gateway(max_request_bytes=2000)
    async with gateway.worker(arena) as worker, gateway.http() as http:
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "fake-gpt", "messages": [{"role": "user", "content": "x" * 5000}]},
        )
        assert response.status_code == 413
        assert "2000" in envelope(response.json())["message"]
        assert worker.jobs_seen == []


async def test_no_worker_is_a_503_that_says_what_to_do(start_gateway) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = start_gateway(enable_auto_retry=False)
    with pytest.raises(openai.InternalServerError) as caught:
        await gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 503
    assert "userscript" in caught.value.message


async def test_a_request_waits_for_a_worker_to_connect(
    start_gateway,
    arena: Arena,  # type: ignore[no-untyped-def]
) -> None:
    import asyncio

    gateway: RunningGateway = start_gateway(retry_timeout_seconds=10)
    pending = asyncio.create_task(
        gateway.client().chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "patience"}]
        )
    )
    async with gateway.worker(arena):
        completion = await asyncio.wait_for(pending, 10)
    assert completion.choices[0].message.content == "Echo: patience"


async def test_api_key_is_required_when_set(start_gateway, arena: Arena) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = start_gateway(api_key="sk-secret")
    async with gateway.worker(arena):
        with pytest.raises(openai.AuthenticationError):
            await gateway.client(api_key="sk-wrong").models.list()
        models = await gateway.client(api_key="sk-secret").models.list()
    assert "fake-gpt" in [m.id for m in models.data]


async def test_models_are_listed(gateway: RunningGateway) -> None:
    models = await gateway.client().models.list()
    ids = {m.id for m in models.data}
    assert {"fake-gpt", "fake-painter", "fake-searcher"} <= ids


async def test_unknown_routes_use_the_envelope(gateway: RunningGateway) -> None:
    async with gateway.http() as http:
        response = await http.get("/v1/nothing-here")
    assert response.status_code == 404
    envelope(response.json())


async def test_other_methods_on_the_chat_route_are_405_with_allow(gateway: RunningGateway) -> None:
    async with gateway.http() as http:
        response = await http.get("/v1/chat/completions")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    envelope(response.json())


async def test_a_bug_while_planning_is_a_500_in_the_envelope_and_the_gateway_goes_on(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = gateway.gateway.chat.plan
    calls = 0

    def broken_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return plan(*args, **kwargs)

    monkeypatch.setattr(gateway.gateway.chat, "plan", broken_once)
    body = {"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]}
    async with gateway.http() as http:
        failed = await http.post("/v1/chat/completions", json=body)
        answered = await http.post("/v1/chat/completions", json=body)
    assert failed.status_code == 500
    error = envelope(failed.json())
    assert error["message"] == "internal error" and "a bug" not in failed.text
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"]
