"""Issue 7 on the real app over real sockets: client keys (rpm, models, usage), the admin guard,
browser checks, CORS, request limits, the worker endpoints' origin check and the userscript."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import APIRouter, Depends, FastAPI

from lmarenarev import __version__
from lmarenarev.api.access import require_admin
from lmarenarev.app import create_app
from lmarenarev.gateway import build_gateway
from testkit.fakes.serving import ServerThread
from testkit.fakes.worker import FakeWorker
from testkit.support import write_home

from .conftest import TOKEN, Arena, RunningGateway

ADMIN = "adm-Very-Secret-1"
ALICE, BOB, CAROL, SEED = "sk-alice-AAAA", "sk-bob-BBBB", "sk-carol-CCCC", "sk-seed-DDDD"
SECRETS = (ADMIN, ALICE, BOB, CAROL, SEED)
KEYS = [
    {"name": "alice", "key": ALICE, "rpm": 2, "models": ["fake-gpt"]},
    {"name": "bob", "sha256": hashlib.sha256(BOB.encode()).hexdigest()},
    {"name": "carol", "key": CAROL, "enabled": False},
]
CHAT = {"model": "fake-gpt", "messages": [{"role": "user", "content": "hello"}]}


def admin_router() -> APIRouter:
    """Stand-ins for the admin routes other issues add: one under a guarded prefix, one that
    uses the dependency."""
    router = APIRouter()

    @router.post("/api/admin/ping")
    async def guarded_by_prefix() -> dict[str, bool]:
        return {"pong": True}

    @router.post("/custom/reload", dependencies=[Depends(require_admin)])
    async def guarded_by_dependency() -> dict[str, bool]:
        return {"reloaded": True}

    return router


Start = Callable[..., RunningGateway]


@pytest.fixture
def start(tmp_path: Path, arena: Arena) -> Iterator[Start]:
    servers: list[ServerThread] = []

    def start_(**overrides: Any) -> RunningGateway:
        home = write_home(tmp_path / f"home{len(servers)}", arena.fake.models)
        gateway = build_gateway(
            home,
            overrides={"worker_token": TOKEN, "retry_timeout_seconds": 5,
                       "account_check_minutes": 0, **overrides},
        )
        app: FastAPI = create_app(gateway)
        app.include_router(admin_router())
        server = ServerThread(app).start()
        servers.append(server)
        return RunningGateway(gateway, server.url)

    yield start_
    for server in servers:
        server.stop()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


def chat_jobs(worker: FakeWorker) -> list[dict[str, Any]]:
    """The jobs that went to LMArena's stream routes (not page reads for the model list)."""
    return [job for job in worker.jobs_seen if "/stream/" in str(job.get("url"))]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- client keys ---------------------------------------------------------------------------------


@pytest.fixture
def keyed(start: Start) -> RunningGateway:
    return start(api_key=SEED, api_keys=KEYS, admin_key=ADMIN)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "invalid_api_key"),
        (bearer("sk-wrong"), "invalid_api_key"),
        ({"Authorization": ALICE}, "invalid_api_key"),
        (bearer(CAROL), "api_key_disabled"),
    ],
)
async def test_missing_wrong_or_disabled_keys_get_401_in_the_openai_envelope(
    keyed: RunningGateway, arena: Arena, headers: dict[str, str], code: str
) -> None:
    async with keyed.worker(arena) as worker, keyed.http() as http:
        response = await http.post("/v1/chat/completions", json=CHAT, headers=headers)
        models = await http.get("/v1/models", headers=headers)
    assert (response.status_code, models.status_code) == (401, 401)
    assert error_of(response)["type"] == "authentication_error"
    assert error_of(response)["code"] == code
    assert chat_jobs(worker) == []


@pytest.mark.parametrize("key", [SEED, BOB, ALICE])
async def test_each_configured_key_works_with_the_openai_client(
    keyed: RunningGateway, arena: Arena, key: str
) -> None:
    async with keyed.worker(arena):
        reply = await keyed.client(api_key=key).chat.completions.create(**CHAT)
    assert reply.choices[0].message.content == "Echo: hello"


async def test_a_key_limited_to_models_sees_and_uses_only_those(
    keyed: RunningGateway, arena: Arena
) -> None:
    alice = keyed.client(api_key=ALICE)
    assert [m.id for m in (await alice.models.list()).data] == ["fake-gpt"]
    assert len((await keyed.client(api_key=BOB).models.list()).data) > 1
    async with keyed.worker(arena) as worker:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await alice.chat.completions.create(
                model="fake-claude", messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.code == "model_not_allowed"
    assert chat_jobs(worker) == []


async def test_a_key_over_its_rpm_gets_429_with_retry_after(
    keyed: RunningGateway, arena: Arena
) -> None:
    async with keyed.worker(arena) as worker, keyed.http() as http:
        for _ in range(2):
            ok = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(ALICE))
            assert ok.status_code == 200
        limited = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(ALICE))
        other = await http.post("/v1/chat/completions", json=CHAT, headers=bearer(BOB))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert error_of(limited)["code"] == "rate_limit_exceeded"
    assert "alice" in error_of(limited)["message"]
    assert other.status_code == 200
    assert len(chat_jobs(worker)) == 3


async def test_usage_per_key_is_reported_to_the_admin_only(
    keyed: RunningGateway, arena: Arena
) -> None:
    async with keyed.worker(arena):
        await keyed.client(api_key=BOB).chat.completions.create(**CHAT)
        await keyed.client(api_key=BOB).chat.completions.create(**CHAT, stream=True)
    async with keyed.http() as http:
        refused = await http.get("/api/admin/keys", headers=bearer(BOB))
        report = await http.get("/api/admin/keys", headers={"X-Admin-Key": ADMIN})
    assert refused.status_code == 401
    rows = {row["name"]: row for row in report.json()["keys"]}
    assert set(rows) == {"default", "alice", "bob", "carol"}
    assert rows["bob"]["requests"] == 2
    assert rows["bob"]["prompt_tokens"] > 0 and rows["bob"]["completion_tokens"] > 0
    assert rows["bob"]["last_used"] is not None and rows["alice"]["requests"] == 0
    assert not any(secret in report.text for secret in SECRETS)
    assert hashlib.sha256(BOB.encode()).hexdigest() not in report.text


async def test_keys_never_reach_the_log(
    keyed: RunningGateway, arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with keyed.worker(arena), keyed.http() as http:
        for key in SECRETS:
            await http.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
            await http.get("/api/admin/keys", headers={"X-Admin-Key": key})
        await http.post("/v1/chat/completions", json=CHAT, headers=bearer(ALICE))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert text and not any(secret in text for secret in SECRETS)


async def test_health_shows_the_workers_to_the_admin_only(
    keyed: RunningGateway, arena: Arena
) -> None:
    async with keyed.worker(arena), keyed.http() as http:
        public = (await http.get("/health")).json()
        admin = (await http.get("/health", headers={"X-Admin-Key": ADMIN})).json()
    assert public == {"status": "ok", "version": __version__}
    assert len(admin["workers"]) == 1


# --- the admin guard -----------------------------------------------------------------------------


ADMIN_ROUTES = ["/api/admin/ping", "/custom/reload"]


@pytest.mark.parametrize("path", ADMIN_ROUTES)
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Admin-Key": "wrong"}, 401),
        (bearer(SEED), 401),
        ({"X-Admin-Key": ADMIN}, 200),
        (bearer(ADMIN), 200),
    ],
)
async def test_admin_routes_need_the_admin_key_in_a_header(
    keyed: RunningGateway, path: str, headers: dict[str, str], status: int
) -> None:
    async with keyed.http() as http:
        response = await http.post(path, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert error_of(response)["code"] == "invalid_admin_key"


@pytest.mark.parametrize("path", ADMIN_ROUTES)
async def test_a_cross_site_form_cannot_trigger_an_admin_route(
    keyed: RunningGateway, path: str
) -> None:
    """A form can send neither a header nor a key it does not know; the key in the form or
    the query does not count."""
    async with keyed.http() as http:
        response = await http.post(
            f"{path}?key={ADMIN}",
            data={"admin_key": ADMIN},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
    assert response.status_code == 401


@pytest.mark.parametrize("path", ADMIN_ROUTES)
async def test_api_keys_without_an_admin_key_close_the_admin_routes(
    start: Start, path: str
) -> None:
    gateway = start(api_key=SEED)
    async with gateway.http() as http:
        response = await http.post(path, headers=bearer(SEED))
    assert response.status_code == 403
    assert error_of(response)["code"] == "admin_key_required"


@pytest.mark.parametrize("path", ADMIN_ROUTES)
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "rebound.evil.example"}, 403),
    ],
)
async def test_without_keys_admin_routes_answer_this_machine_but_no_web_page(
    start: Start, path: str, headers: dict[str, str], status: int
) -> None:
    gateway = start()
    async with gateway.http() as http:
        response = await http.post(path, headers=headers)
    assert response.status_code == status


# --- /v1 from a browser --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "https://evil.example", "Content-Type": "text/plain"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Host": "rebound.evil.example"}, 403),
    ],
)
async def test_without_keys_no_web_page_can_use_the_login(
    start: Start, arena: Arena, headers: dict[str, str], status: int
) -> None:
    gateway = start()
    async with gateway.worker(arena) as worker, gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == status
    assert len(chat_jobs(worker)) == (1 if status == 200 else 0)


async def test_cors_is_off_by_default(start: Start) -> None:
    gateway = start()
    async with gateway.http() as http:
        preflight = await http.options(
            "/v1/chat/completions",
            headers={
                "Origin": "https://chat.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        simple = await http.get("/v1/models", headers={"Origin": "https://chat.example"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_configured_cors_origins_may_call_v1_but_not_admin_routes(start: Start) -> None:
    gateway = start(api_key=SEED, admin_key=ADMIN, cors_origins=["https://chat.example"])
    preflight_headers = {
        "Origin": "https://chat.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-admin-key",
    }
    async with gateway.http() as http:
        v1 = await http.options("/v1/chat/completions", headers=preflight_headers)
        admin = await http.options("/api/admin/keys", headers=preflight_headers)
        other = await http.options(
            "/v1/chat/completions", headers={**preflight_headers, "Origin": "https://evil.example"}
        )
        models = await http.get(
            "/v1/models", headers={"Origin": "https://chat.example", **bearer(SEED)}
        )
    assert v1.status_code == 200
    assert v1.headers["access-control-allow-origin"] == "https://chat.example"
    assert "access-control-allow-origin" not in admin.headers
    assert "access-control-allow-origin" not in other.headers
    assert models.headers["access-control-allow-origin"] == "https://chat.example"


# --- limits --------------------------------------------------------------------------------------


def image(size: int) -> dict[str, Any]:
    data = base64.b64encode(b"\x89PNG" + b"\0" * (size - 4)).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


@pytest.mark.parametrize(
    ("settings", "messages", "status", "code", "setting"),
    [
        (
            {"max_messages": 3},
            [{"role": "user", "content": str(i)} for i in range(4)],
            400,
            "too_many_messages",
            "max_messages",
        ),
        (
            {"max_prompt_chars": 50},
            [{"role": "user", "content": "x" * 51}],
            400,
            "context_length_exceeded",
            "max_prompt_chars",
        ),
        (
            {"max_prompt_chars": 50},
            [
                {"role": "system", "content": "s" * 30},
                {"role": "user", "content": "u" * 30},
            ],
            400,
            "context_length_exceeded",
            "max_prompt_chars",
        ),
        (
            {"max_attachment_bytes": 1000},
            [{"role": "user", "content": [{"type": "text", "text": "see"}, image(1001)]}],
            413,
            "attachments_too_large",
            "max_attachment_bytes",
        ),
    ],
)
async def test_limits_are_clear_errors_before_any_work(
    start: Start,
    arena: Arena,
    settings: dict[str, Any],
    messages: list[dict[str, Any]],
    status: int,
    code: str,
    setting: str,
) -> None:
    gateway = start(**settings)
    async with gateway.worker(arena) as worker, gateway.http() as http:
        response = await http.post(
            "/v1/chat/completions", json={"model": "fake-gpt", "messages": messages}
        )
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code and setting in error["message"]
    assert chat_jobs(worker) == []
    # Only the catalogue read a tab's connection starts reaches LMArena (route, then page).
    assert [r for r in arena.fake.requests if r.kind not in ("page", "catalog")] == []


async def test_requests_within_the_limits_go_through(start: Start, arena: Arena) -> None:
    gateway = start(max_messages=3, max_prompt_chars=50, max_attachment_bytes=1000)
    content = [{"type": "text", "text": "x" * 50}, image(1000)]
    async with gateway.worker(arena):
        reply = await gateway.client().chat.completions.create(
            model="fake-gpt",
            messages=[{"role": "user", "content": content}],
        )
    assert reply.choices[0].message.content == "Echo: " + "x" * 50


# --- the worker endpoints and the userscript -----------------------------------------------------


def hello() -> dict[str, Any]:
    return {"type": "hello", "protocol": 1, "page_url": "https://lmarena.ai/"}


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),
        ("chrome-extension://abcdefghijklmnop", 200),
        ("moz-extension://0f1e2d", 200),
        ("https://lmarena.ai", 200),
        ("https://beta.arena.ai", 200),
        ("https://evil.example", 403),
        ("http://lmarena.ai", 403),
        ("null", 403),
        ("http://127.0.0.1:9999", 403),
    ],
)
async def test_the_long_poll_transport_refuses_pages_of_other_origins_even_with_the_token(
    start: Start, origin: str | None, status: int
) -> None:
    gateway = start()
    headers = {"X-Worker-Token": TOKEN, **({"Origin": origin} if origin else {})}
    async with gateway.http() as http:
        connect = await http.post("/worker/connect", json=hello(), headers=headers)
        poll = await http.post("/worker/poll", json={"worker": "x"}, headers=headers)
        push = await http.post("/worker/push", json={"worker": "x", "frames": []}, headers=headers)
    assert connect.status_code == status
    assert (poll.status_code == 403, push.status_code == 403) == (status == 403,) * 2
    assert len(gateway.gateway.pool.workers) == (1 if status == 200 else 0)


async def test_a_page_with_the_token_cannot_read_a_real_workers_jobs(
    start: Start, arena: Arena
) -> None:
    gateway = start()
    evil = {"X-Worker-Token": TOKEN, "Origin": "https://evil.example"}
    async with gateway.worker(arena, transport="poll") as worker, gateway.http() as http:
        assert worker.worker_id is not None
        poll = await http.post("/worker/poll", json={"worker": worker.worker_id}, headers=evil)
        push = await http.post(
            "/worker/push",
            json={"worker": worker.worker_id, "frames": [{"type": "bye"}]},
            headers=evil,
        )
        reply = await gateway.client().chat.completions.create(**CHAT)
    assert (poll.status_code, push.status_code) == (403, 403)
    assert reply.choices[0].message.content == "Echo: hello"


async def test_the_userscript_refuses_another_sites_script_tag(start: Start) -> None:
    gateway = start()
    async with gateway.http() as http:
        as_script = await http.get(
            "/bridge.user.js",
            headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "script"},
        )
        installed = await http.get(
            "/bridge.user.js", headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"}
        )
    assert as_script.status_code == 403 and TOKEN not in as_script.text
    assert installed.status_code == 200 and TOKEN in installed.text
    assert installed.headers["cross-origin-resource-policy"] == "same-origin"
    assert "if (!onWorkerPage()) return;" in installed.text


async def test_with_an_admin_key_the_userscript_needs_it_or_the_worker_token(start: Start) -> None:
    gateway = start(admin_key=ADMIN)
    async with gateway.http() as http:
        bare = await http.get("/bridge.user.js")
        with_key = await http.get("/bridge.user.js", params={"key": ADMIN})
        update = await http.get("/bridge.user.js", params={"token": TOKEN})
    assert bare.status_code == 401 and TOKEN not in bare.text
    assert with_key.status_code == 200 and update.status_code == 200
    # said in a browser's terms: a page opened by hand cannot send a header
    message = bare.json()["error"]["message"]
    assert f"open {gateway.url}/bridge.user.js?key=<admin_key> in the browser" in message
    assert "header" not in message
    assert f"/bridge.user.js?token={TOKEN}" in with_key.text  # @updateURL works without the key
