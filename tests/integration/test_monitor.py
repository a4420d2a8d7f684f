"""The request log, the monitor API and /metrics, with the fake worker and the fake LMArena."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
import tiktoken
from prometheus_client.parser import text_string_to_metric_families

from lmarenarev.store.tokens import ENCODING
from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway, StartGateway

ADMIN = {"X-Admin-Key": "adm"}


async def logged(
    gateway: RunningGateway,
    count: int = 1,
    path: str = "/api/monitor/logs/requests",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """The newest log rows once there are `count` of them (the writer is asynchronous)."""
    deadline = time.monotonic() + 10
    async with gateway.http() as http:
        while True:
            answer = await http.get(path, params=params, headers=headers or {})
            assert answer.status_code == 200, answer.text
            page = answer.json()
            if page["total"] >= count:
                rows: list[dict[str, Any]] = page["requests"]
                return rows
            assert time.monotonic() < deadline, f"the log has {page['total']} of {count} rows"
            await asyncio.sleep(0.02)


async def get_json(gateway: RunningGateway, path: str, **params: Any) -> Any:
    async with gateway.http() as http:
        answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "fake-gpt", "messages": [{"role": "user", "content": text}], **extra}


async def test_a_completed_request_is_logged_with_its_facts(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI
) -> None:
    completion = await client.chat.completions.create(**ask("hello there"))
    (row,) = await logged(gateway)
    assert completion.usage is not None
    (worker_id,) = gateway.gateway.pool.workers
    assert row["id"] == completion.id
    assert (row["model"], row["status"], row["http_status"]) == ("fake-gpt", "ok", 200)
    assert (row["stream"], row["flow"], row["call"], row["key_name"]) == (
        False, "modern", "create", None
    )
    assert row["worker_id"] == worker_id and row["finish_reason"] == "stop"
    assert row["prompt_tokens"] == completion.usage.prompt_tokens
    assert row["completion_tokens"] == completion.usage.completion_tokens
    assert row["tokens_source"] == "upstream"
    assert (row["attempts"], row["retries"], row["retry_kinds"]) == (1, 0, {})
    assert row["bytes_in"] > len("Echo: hello there")
    assert 0 < row["ttft_ms"] <= row["duration_ms"]
    assert row["error_kind"] is None and row["has_bodies"] is False
    detail = await get_json(gateway, f"/api/request/{completion.id}")
    assert detail["bodies"] is None and detail["id"] == completion.id


async def test_a_stream_is_logged_with_its_time_to_first_token(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="one two three", chunk_size=4, delay=0.05))
    stream = await client.chat.completions.create(**ask("stream it"), stream=True)
    chunks = [chunk async for chunk in stream]
    (row,) = await logged(gateway)
    assert row["id"] == chunks[0].id and row["stream"] is True and row["status"] == "ok"
    assert row["ttft_ms"] is not None and row["ttft_ms"] + 50 < row["duration_ms"]


async def test_without_upstream_usage_the_offline_tokenizer_counts(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="The answer is forty-two.", send_usage=False))
    completion = await client.chat.completions.create(**ask("What is the answer, please?"))
    assert completion.usage is None
    (row,) = await logged(gateway)
    encoding = tiktoken.get_encoding(ENCODING)
    assert row["tokens_source"] == "tokenizer"
    assert row["prompt_tokens"] == len(encoding.encode_ordinary("What is the answer, please?"))
    assert row["completion_tokens"] == len(encoding.encode_ordinary("The answer is forty-two."))


async def test_retries_and_upstream_errors_are_classified(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.recaptcha_failed(), Reply(text="fine"), Reply.unauthorized())
    await client.chat.completions.create(**ask("first"))
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(**ask("second"))
    failed, retried = await logged(gateway, 2)
    assert (retried["status"], retried["attempts"], retried["retries"]) == ("ok", 2, 1)
    assert retried["retry_kinds"] == {"recaptcha": 1} and retried["upstream_kind"] is None
    assert (failed["status"], failed["http_status"]) == ("error", 401)
    assert (failed["error_kind"], failed["upstream_kind"]) == ("lmarena_login_required", "auth")
    assert "log in to LMArena" in failed["error_message"]
    assert failed["prompt_tokens"] is None and failed["tokens_source"] is None
    (error,) = await logged(gateway, 1, "/api/monitor/logs/errors")
    assert error["id"] == failed["id"]


async def test_refused_requests_are_logged_under_their_error(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(**ask("x", model="no-such-model"))
    (row,) = await logged(gateway)
    assert (row["model"], row["status"], row["http_status"]) == ("no-such-model", "error", 404)
    assert (row["error_kind"], row["call"], row["worker_id"]) == ("model_not_found", "", None)


async def test_bodies_are_kept_only_with_log_bodies(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(log_bodies=True)
    async with gateway.worker(arena):
        client = gateway.client()
        completion = await client.chat.completions.create(
            model="fake-thinker",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "why is the sky blue"},
            ],
        )
    (row,) = await logged(gateway)
    assert row["has_bodies"] is True
    detail = await get_json(gateway, f"/api/request/{completion.id}")
    bodies = detail["bodies"]
    assert [m["content"] for m in json.loads(bodies["prompt"])] == [
        "Be brief.", "why is the sky blue"
    ]
    assert bodies["reply"] == completion.choices[0].message.content
    extra = completion.choices[0].message.model_extra or {}
    assert bodies["reasoning"] == extra["reasoning_content"] != ""
    found = await logged(gateway, 1, q="sky blue")  # the search reaches kept bodies
    assert [r["id"] for r in found] == [completion.id]


async def test_search_filters_and_pages(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    ids = []
    for index in range(4):
        model = "fake-thinker" if index == 2 else "fake-gpt"
        completion = await client.chat.completions.create(**ask(f"n{index}", model=model))
        ids.append(completion.id)
    arena.fake.enqueue(Reply.too_large())
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(**ask("too big"))
    rows = await logged(gateway, 5)
    newest_first = [row["id"] for row in rows]
    assert newest_first[1:] == ids[::-1]
    first_page = await logged(gateway, 5, limit=2, offset=0)
    second_page = await logged(gateway, 5, limit=2, offset=2)
    assert [r["id"] for r in first_page + second_page] == newest_first[:4]
    assert [r["id"] for r in await logged(gateway, 1, q=ids[1][-12:])] == [ids[1]]
    assert [r["id"] for r in await logged(gateway, 1, model="fake-thinker")] == [ids[2]]
    (error,) = await logged(gateway, 1, status="error")
    assert error["error_kind"] == "attachment_too_large"
    assert [r["id"] for r in await logged(gateway, 1, q="too large")] == [error["id"]]
    assert await logged(gateway, 0, q="100%_match") == []
    async with gateway.http() as http:
        assert (await http.get("/api/monitor/logs/requests?limit=0")).status_code == 400
        assert (await http.get("/api/monitor/logs/requests?status=odd")).status_code == 400
        assert (await http.get("/api/monitor/logs/requests?limt=5")).status_code == 400
        missing = await http.get("/api/request/chatcmpl-missing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "request_not_found"


async def test_stats_sum_up_the_log(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    for text in ("a", "b", "c"):
        await client.chat.completions.create(**ask(text))
    arena.fake.enqueue(Reply.unauthorized())
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(**ask("d", model="fake-thinker"))
    await logged(gateway, 4)
    stats = await get_json(gateway, "/api/monitor/stats")
    totals = stats["totals"]
    assert (totals["requests"], totals["ok"], totals["errors"]) == (4, 3, 1)
    assert totals["error_rate"] == 0.25 and totals["p95_ms"] >= totals["p50_ms"] > 0
    assert stats["workers"] == 1 and stats["active_requests"] == 0 and stats["uptime_seconds"] > 0
    by_model = {m["model"]: m for m in stats["models"]}
    assert by_model["fake-gpt"]["requests"] == 3 and by_model["fake-gpt"]["success_rate"] == 1
    assert by_model["fake-thinker"]["success_rate"] == 0
    assert stats["error_kinds"] == [{"kind": "lmarena_login_required", "count": 1}]


async def test_active_requests_and_the_live_channel(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="slow", first_byte_delay=1.0))
    async with gateway.http() as http, http.stream("GET", "/api/monitor/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        changes = _changes(events)
        assert (await anext(changes))["active"] == []
        task = asyncio.create_task(client.chat.completions.create(**ask("wait for it")))
        change = await anext(changes)
        while not change["active"]:
            change = await anext(changes)
        (active,) = change["active"]
        assert active["model"] == "fake-gpt" and active["phase"] in ("waiting", "running")
        listed = await get_json(gateway, "/api/monitor/active")
        assert [a["id"] for a in listed["requests"]] == [active["id"]]
        completion = await task
        assert completion.id == active["id"]
        while change["active"]:
            change = await anext(changes)
    assert gateway.gateway.sizes()["active_requests"] == 0


async def _changes(response: httpx.Response) -> Any:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "change":
            yield json.loads(line[5:])


async def test_a_client_that_leaves_is_logged_as_cancelled(
    gateway: RunningGateway, worker: FakeWorker, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="a long answer " * 50, chunk_size=8, delay=0.05))
    async with gateway.http() as http, http.stream(
        "POST", "/v1/chat/completions", json=ask("go", stream=True)
    ) as response:
        async for line in response.aiter_lines():
            if '"content"' in line:
                break
    (row,) = await logged(gateway)
    assert (row["status"], row["http_status"]) == ("cancelled", 499)
    assert row["error_kind"] == "client_gone"
    assert row["ttft_ms"] is not None and row["prompt_tokens"] is None
    assert gateway.gateway.sizes()["active_requests"] == 0


def samples(text: str) -> Callable[[str, dict[str, str]], float]:
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(name: str, labels: dict[str, str]) -> float:
        return values.get((name, frozenset(labels.items())), 0.0)

    return value


async def test_metrics_parse_and_count_the_requests(
    gateway: RunningGateway, worker: FakeWorker, client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply.recaptcha_failed(), Reply(), Reply(), Reply.unauthorized())
    for text in ("a", "b"):
        await client.chat.completions.create(**ask(text), stream=text == "b")
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(**ask("c"))
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(**ask("d", model="<script>"))
    async with gateway.http() as http:
        answer = await http.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    value = samples(answer.text)
    ok = {"model": "fake-gpt", "status": "ok", "error_kind": ""}
    assert value("lmarenarev_requests_total", ok) == 2
    failed = {"model": "fake-gpt", "status": "error", "error_kind": "lmarena_login_required"}
    assert value("lmarenarev_requests_total", failed) == 1
    unknown = {"model": "(unknown)", "status": "error", "error_kind": "model_not_found"}
    assert value("lmarenarev_requests_total", unknown) == 1
    duration = {"model": "fake-gpt", "status": "ok"}
    assert value("lmarenarev_request_duration_seconds_count", duration) == 2
    assert value("lmarenarev_time_to_first_token_seconds_count", {"model": "fake-gpt"}) == 2
    assert value("lmarenarev_retries_total", {"kind": "recaptcha"}) == 1
    prompt = {"model": "fake-gpt", "direction": "prompt", "source": "upstream"}
    assert value("lmarenarev_tokens_total", prompt) > 0
    assert value("lmarenarev_workers", {}) == 1
    assert value("lmarenarev_active_requests", {}) == 0
    assert value("lmarenarev_queue_depth", {}) == 0


async def test_ready_means_a_worker_is_connected(
    gateway: RunningGateway, arena: Arena
) -> None:
    async with gateway.http() as http:
        assert (await http.get("/health")).status_code == 200
        not_ready = await http.get("/ready")
        assert not_ready.status_code == 503
        assert not_ready.json() == {"status": "not_ready", "workers": 0}
        async with gateway.worker(arena):
            ready = await http.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "workers": 1})


async def test_the_monitor_needs_the_admin_key(start_gateway: StartGateway) -> None:
    gateway = start_gateway(admin_key="adm", api_key="sk-client")
    async with gateway.http() as http:
        for path in ("/api/monitor/stats", "/api/monitor/logs/requests", "/metrics",
                     "/api/monitor/events", "/api/request/x", "/api/monitor/performance"):
            refused = await http.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"]["code"] == "invalid_admin_key"
        assert (await http.get("/api/monitor/stats", headers=ADMIN)).status_code == 200
        page = await http.get("/monitor")  # the shell: no data, the script asks for the key
        script = await http.get("/static/monitor/monitor.js")
        dom = await http.get("/static/monitor/dom.js")
        performance = await http.get("/api/monitor/performance", headers=ADMIN)
    assert page.status_code == 200 and "key-input" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for js in (script, dom):
        assert js.status_code == 200 and "textContent" in js.text
        assert "innerHTML" not in js.text and "insertAdjacentHTML" not in js.text
    store = performance.json()["store"]
    assert store["path"].endswith("lmarenarev.sqlite3") and store["error"] is None


async def test_the_openapi_schema_documents_the_monitor_routes(gateway: RunningGateway) -> None:
    schema = await get_json(gateway, "/openapi.json")
    paths = schema["paths"]
    for path in (
        "/api/monitor/stats",
        "/api/monitor/active",
        "/api/monitor/workers",
        "/api/monitor/logs/requests",
        "/api/monitor/logs/errors",
        "/api/monitor/performance",
        "/api/request/{request_id}",
        "/metrics",
        "/ready",
    ):
        assert "get" in paths[path], path
    page = paths["/api/monitor/logs/requests"]["get"]
    assert {p["name"] for p in page["parameters"]} >= {"limit", "offset", "q"}
    assert "404" in paths["/api/request/{request_id}"]["get"]["responses"]
    assert "RequestPage" in schema["components"]["schemas"]

