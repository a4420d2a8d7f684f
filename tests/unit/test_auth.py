"""The access rules, on hand-made requests (no server): who is this machine, who is a web page,
what the admin guard and the userscript route let through."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import HTTPConnection

from lmarenarev.api.access import (
    AccessPolicy,
    bearer,
    foreign_origin,
    insecure_bind,
    is_admin_path,
    is_loopback_address,
    is_loopback_name,
)
from lmarenarev.api.keys import KeyRing
from lmarenarev.config.keys import ApiKeyEntry
from lmarenarev.config.settings import Settings
from lmarenarev.errors import GatewayError

TOKEN = "worker-token"


def conn(
    headers: dict[str, str] | None = None,
    *,
    client: str = "127.0.0.1",
    query: str = "",
    path: str = "/api/admin/x",
) -> HTTPConnection:
    merged = {"host": "127.0.0.1:5102", **(headers or {})}
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in merged.items()],
        "client": (client, 40000),
    }
    return HTTPConnection(scope)


def policy(*, api_key: str = "", admin_key: str = "", cors: tuple[str, ...] = ()) -> AccessPolicy:
    entries = [ApiKeyEntry(name="alice", key="sk-alice")] if api_key == "named" else []
    keys = KeyRing.from_config("" if api_key == "named" else api_key, entries)
    return AccessPolicy(keys=keys, admin_key=admin_key, cors_origins=cors, bind_host="127.0.0.1")


def code(error: GatewayError | None) -> str | None:
    return None if error is None else f"{error.status} {error.code}"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback_address(host) is loopback


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("127.0.0.1:5102", True),
        ("localhost:5102", True),
        ("[::1]:5102", True),
        ("app.localhost", True),
        ("evil.example:5102", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_loopback_host_headers(header: str, ok: bool) -> None:
    assert is_loopback_name(header) is ok


@pytest.mark.parametrize(
    ("value", "token"),
    [("Bearer sk-1", "sk-1"), ("bearer  sk-1 ", "sk-1"), ("Basic sk-1", ""), (None, ""), ("", "")],
)
def test_bearer_tokens(value: str | None, token: str) -> None:
    assert bearer(value) == token


@pytest.mark.parametrize(
    ("headers", "foreign"),
    [
        ({}, None),
        ({"origin": "http://127.0.0.1:5102"}, None),
        ({"sec-fetch-site": "same-origin"}, None),
        ({"sec-fetch-site": "none"}, None),
        ({"origin": "https://evil.example"}, "https://evil.example"),
        ({"origin": "null"}, "null"),
        ({"origin": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({"sec-fetch-site": "cross-site"}, "a cross-site page"),
        ({"sec-fetch-site": "same-site"}, "a same-site page"),
    ],
)
def test_foreign_origins(headers: dict[str, str], foreign: str | None) -> None:
    assert foreign_origin(conn(headers)) == foreign


@pytest.mark.parametrize(
    ("path", "admin"),
    [
        ("/monitor", True),
        ("/monitor/static/app.js", True),
        ("/api/monitor/stats", True),
        ("/api/admin/keys", True),
        ("/api/request/1", True),
        ("/api/images/2026/a.png", True),
        ("/metrics", True),
        ("/v1/models", False),
        ("/health", False),
        ("/bridge.user.js", False),
    ],
)
def test_admin_paths(path: str, admin: bool) -> None:
    assert is_admin_path(path) is admin


# --- the admin rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "client", "expected"),
    [
        ({}, "127.0.0.1", None),
        ({"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1:5102"}, "127.0.0.1", None),
        ({}, "192.168.1.7", "403 not_local"),
        ({"host": "evil.example:5102"}, "127.0.0.1", "403 bad_host"),
        ({"origin": "https://evil.example"}, "127.0.0.1", "403 cross_site_request"),
        ({"sec-fetch-site": "cross-site"}, "127.0.0.1", "403 cross_site_request"),
        ({"origin": "null"}, "127.0.0.1", "403 cross_site_request"),
    ],
)
def test_without_any_key_admin_routes_answer_only_this_machine_and_no_web_page(
    headers: dict[str, str], client: str, expected: str | None
) -> None:
    assert code(policy().admin_refusal(conn(headers, client=client))) == expected


def test_cors_origins_do_not_open_admin_routes() -> None:
    allowed = policy(cors=("https://chat.example",))
    error = allowed.admin_refusal(conn({"origin": "https://chat.example"}))
    assert code(error) == "403 cross_site_request"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "401 invalid_admin_key"),
        ({"x-admin-key": "wrong"}, "401 invalid_admin_key"),
        ({"authorization": "Bearer wrong"}, "401 invalid_admin_key"),
        ({"x-admin-key": "adm-1"}, None),
        ({"authorization": "Bearer adm-1"}, None),
    ],
)
def test_with_an_admin_key_admin_routes_need_it_in_a_header(
    headers: dict[str, str], expected: str | None
) -> None:
    assert code(policy(admin_key="adm-1").admin_refusal(conn(headers, client="10.0.0.9"))) == (
        expected
    )


def test_the_admin_key_in_the_query_does_not_open_admin_routes() -> None:
    error = policy(admin_key="adm-1").admin_refusal(conn(query="key=adm-1"))
    assert code(error) == "401 invalid_admin_key"


@pytest.mark.parametrize("api_key", ["sk-seed", "named"])
def test_api_keys_without_an_admin_key_close_admin_routes(api_key: str) -> None:
    assert code(policy(api_key=api_key).admin_refusal(conn())) == "403 admin_key_required"


# --- /v1 without keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"origin": "http://127.0.0.1:5102"}, None),
        ({"origin": "https://chat.example"}, None),
        ({"origin": "https://evil.example"}, "403 cross_site_request"),
        ({"host": "rebound.evil.example:5102"}, "403 bad_host"),
    ],
)
def test_without_keys_v1_refuses_web_pages_but_configured_origins(
    headers: dict[str, str], expected: str | None
) -> None:
    allowed = policy(cors=("https://chat.example",))
    assert code(allowed.client_refusal(conn(headers, path="/v1/models"), "POST")) == expected


def test_with_keys_v1_needs_the_key_whatever_the_origin() -> None:
    keyed = policy(api_key="sk-seed")
    assert code(keyed.client_refusal(conn(path="/v1/models"), "GET")) == "401 invalid_api_key"
    request = conn({"authorization": "Bearer sk-seed", "origin": "https://x.example"})
    assert keyed.client_refusal(request, "GET") is None


# --- the userscript ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "admin_key", "expected"),
    [
        ({}, "", "", None),
        ({"sec-fetch-site": "none", "sec-fetch-dest": "document"}, "", "", None),
        ({"sec-fetch-site": "cross-site", "sec-fetch-dest": "document"}, "", "", None),
        ({"sec-fetch-site": "cross-site", "sec-fetch-dest": "script"}, "", "", "403"),
        ({"sec-fetch-site": "same-site", "sec-fetch-dest": "script"}, "", "", "403"),
        ({"sec-fetch-site": "cross-site", "sec-fetch-dest": "empty"}, "", "", "403"),
        ({"host": "evil.example"}, "", "", "403"),
        ({}, "", "adm", "401"),
        ({}, "key=adm", "adm", None),
        ({}, "key=nope", "adm", "401"),
        ({"x-admin-key": "adm"}, "", "adm", None),
        ({}, f"token={TOKEN}", "adm", None),
        ({}, "token=guess", "adm", "401"),
        (
            {"sec-fetch-site": "cross-site", "sec-fetch-dest": "script"},
            f"token={TOKEN}",
            "",
            "403",
        ),
    ],
)
def test_who_gets_the_userscript(
    headers: dict[str, str], query: str, admin_key: str, expected: str | None
) -> None:
    request = conn(headers, query=query, path="/bridge.user.js")
    error = policy(admin_key=admin_key).userscript_refusal(request, TOKEN)
    assert (None if error is None else str(error.status)) == expected


def test_the_userscript_never_goes_to_another_machine_without_a_key() -> None:
    request = conn(client="192.168.1.20", path="/bridge.user.js")
    assert code(policy().userscript_refusal(request, TOKEN)) == "403 not_local"


# --- binding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "insecure"),
    [
        ({}, False),
        ({"host": "localhost"}, False),
        ({"host": "::1"}, False),
        ({"host": "127.0.0.2"}, False),
        ({"host": "0.0.0.0"}, True),
        ({"host": "::"}, True),
        ({"host": "192.168.1.5"}, True),
        ({"host": "0.0.0.0", "api_key": "sk"}, False),
        ({"host": "0.0.0.0", "api_keys": [{"name": "a", "key": "k"}]}, False),
    ],
)
def test_binding_beyond_loopback_without_a_key_is_insecure(
    settings: dict[str, Any], insecure: bool
) -> None:
    assert insecure_bind(Settings.model_validate(settings)) is insecure
