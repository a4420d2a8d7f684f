"""Every refused API request leaves a trace: a row of the request log with its reason (status,
error code, message), a line in the terminal and an entry of the recent errors; its body only
with log_bodies."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from .conftest import RunningGateway, StartGateway
from .test_monitor import get_json, logged

CHAT = "/v1/chat/completions"


async def refused_row(
    gateway: RunningGateway, send: Any, status: int, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    """Send one request (`send(http)`), check its status, return its one row of the log."""
    with caplog.at_level(logging.WARNING, logger="lmarenarev"):
        async with gateway.http() as http:
            response: httpx.Response = await send(http)
    assert response.status_code == status, response.text
    (row,) = await logged(gateway)
    assert (row["status"], row["http_status"]) == ("error", status)
    assert row["error_message"] == response.json()["error"]["message"]
    assert row["error_kind"] == response.json()["error"]["code"]
    terminal = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(terminal) == 1 and f"{status} {row['error_kind']}" in terminal[0]
    assert row["id"] in terminal[0]
    return row


def post(body: bytes | str, path: str = CHAT, **headers: str) -> Any:
    content = body.encode() if isinstance(body, str) else body
    return lambda http: http.post(path, content=content, headers=headers)


async def test_a_malformed_body_is_logged_without_the_body(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    row = await refused_row(gateway, post('{"model": "fake-gpt", "messages": ['), 400, caplog)
    assert row["error_kind"] == "invalid_request" and "not valid JSON" in row["error_message"]
    assert row["model"] == "" and row["has_bodies"] is False
    status = await get_json(gateway, "/api/admin/status")
    assert status["errors"][-1]["source"] == "chat"
    assert status["errors"][-1]["status"] == 400


async def test_a_missing_field_is_logged_under_the_model_it_names(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    row = await refused_row(gateway, post('{"model": "fake-gpt", "stream": true}'), 400, caplog)
    assert (row["model"], row["stream"]) == ("fake-gpt", True)
    assert row["error_message"].startswith("messages: Field required")


async def test_with_log_bodies_a_refused_body_is_kept_as_it_came(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(log_bodies=True)
    body = '{"model": "fake-gpt", "messages": "not a list"}'
    row = await refused_row(gateway, post(body), 400, caplog)
    detail = await get_json(gateway, f"/api/request/{row['id']}")
    assert detail["bodies"]["prompt"] == body


async def test_a_body_over_the_limit_is_a_413_naming_its_setting_and_logged(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(max_request_bytes=100)
    row = await refused_row(gateway, post("x" * 200), 413, caplog)
    assert row["error_kind"] == "request_too_large"
    assert "max_request_bytes" in row["error_message"]


@pytest.mark.parametrize(
    ("key", "code"), [("sk-wrong", "invalid_api_key"), ("sk-off", "api_key_disabled")]
)
async def test_a_refused_key_is_logged(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture, key: str, code: str
) -> None:
    keys = [{"name": "ok", "key": "sk-ok"}, {"name": "off", "key": "sk-off", "enabled": False}]
    gateway = start_gateway(api_keys=keys, admin_key="adm")
    body = '{"model": "fake-gpt", "messages": [{"role": "user", "content": "x"}]}'
    with caplog.at_level(logging.WARNING, logger="lmarenarev"):
        async with gateway.http() as http:
            response = await http.post(CHAT, content=body, headers=bearer(key))
    assert response.status_code == 401
    (row,) = await logged(gateway, headers={"X-Admin-Key": "adm"})
    assert (row["http_status"], row["error_kind"]) == (401, code)
    assert any(f"401 {code}" in r.getMessage() for r in caplog.records)


async def test_a_key_over_its_rate_is_logged_under_the_key(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway(api_keys=[{"name": "alice", "key": "sk-a", "rpm": 1}], admin_key="a")
    async with gateway.http() as http:
        first = await http.post(CHAT, content="{}", headers=bearer("sk-a"))
        second = await http.post(CHAT, content="{}", headers=bearer("sk-a"))
    assert (first.status_code, second.status_code) == (400, 429)
    rows = await logged(gateway, 2, headers={"X-Admin-Key": "a"})
    assert [(r["http_status"], r["key_name"]) for r in rows] == [(429, "alice"), (400, "alice")]


async def test_an_unknown_route_and_an_images_body_are_logged(gateway: RunningGateway) -> None:
    async with gateway.http() as http:
        assert (await http.get("/v1/nothing-here")).status_code == 404
        missing = await http.post("/v1/images/generations", json={"model": "fake-painter"})
    assert missing.status_code == 400
    rows = await logged(gateway, 2)
    assert [(r["http_status"], r["model"]) for r in rows] == [(400, "fake-painter"), (404, "")]
    status = await get_json(gateway, "/api/admin/status")
    assert [e["source"] for e in status["errors"][-2:]] == ["api", "images"]


async def test_a_request_the_engine_refused_is_logged_once(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    body = '{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}'
    row = await refused_row(gateway, post(body), 404, caplog)
    assert (row["model"], row["error_kind"]) == ("no-such-model", "model_not_found")
    await logged(gateway)
    page = await get_json(gateway, "/api/monitor/logs/requests")
    assert page["total"] == 1


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
