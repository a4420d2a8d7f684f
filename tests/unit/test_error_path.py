"""One error path: whatever any route raises, its client gets the OpenAI error envelope with the
right status, and validation problems read the same whoever found them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from lmarenarev.app import create_app
from lmarenarev.errors import RateLimited
from lmarenarev.gateway import build_gateway
from testkit.fakes.arena import DEFAULT_MODELS
from testkit.support import write_home


def app_for(home: Path) -> FastAPI:
    write_home(home, DEFAULT_MODELS)
    return create_app(build_gateway(home, overrides={"worker_token": "t" * 24}))


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(tmp_path)

    async def bug() -> None:
        raise RuntimeError("a bug in a route")

    async def refusal() -> None:
        raise RateLimited("slow down", retry_after=7)

    app.add_api_route("/v1/a-route-with-a-bug", bug)  # any route, not only chat's
    app.add_api_route("/api/monitor/a-route-with-a-bug", bug)
    app.add_api_route("/v1/a-refusal", refusal)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


@pytest.mark.parametrize("path", ["/v1/a-route-with-a-bug", "/api/monitor/a-route-with-a-bug"])
async def test_a_bug_in_any_route_is_a_500_in_the_envelope(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert error(response) == {
        "message": "internal error", "type": "api_error", "param": None, "code": None
    }


async def test_a_gateway_error_keeps_its_status_and_headers(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/a-refusal")
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert error(response)["code"] == "rate_limit_exceeded"


async def test_unknown_paths_and_methods_answer_in_the_envelope(http: httpx.AsyncClient) -> None:
    missing = await http.get("/v1/no-such-route")
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"
    wrong = await http.get("/v1/chat/completions")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
    assert error(wrong)["type"] == "invalid_request_error"


async def test_validation_problems_read_the_same_for_bodies_and_parameters(
    http: httpx.AsyncClient,
) -> None:
    body = await http.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
    )
    query = await http.get("/api/images/list", params={"page": 0})
    assert body.status_code == query.status_code == 400
    assert error(body)["message"] == "model: Field required"
    assert error(body)["param"] == "model"
    assert error(query)["message"] == "query.page: Input should be greater than or equal to 1"
    assert error(query)["param"] == "query.page"
