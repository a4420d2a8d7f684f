"""Small pieces of the admin path: the `captured` frame, the loopback rule, the status text."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from lmarenarev.api.admin import NotThisMachine, local_or_admin
from lmarenarev.cli import render as admin_render
from lmarenarev.workers.protocol import (
    MAX_CAPTURED_BODY,
    CapturedFrame,
    FrameError,
    parse_worker_frame,
)


def test_a_captured_frame_is_parsed_and_bounded() -> None:
    frame = parse_worker_frame(
        {"type": "captured", "url": "https://lmarena.ai/x", "method": "put", "body": "b" * 2**21}
    )
    assert isinstance(frame, CapturedFrame)
    assert (frame.url, frame.method) == ("https://lmarena.ai/x", "PUT")
    assert frame.body is not None and len(frame.body) == MAX_CAPTURED_BODY
    assert parse_worker_frame({"type": "captured", "url": "/y", "body": 3}) == CapturedFrame(
        "/y", "GET", None
    )
    with pytest.raises(FrameError):
        parse_worker_frame({"type": "captured"})


def request_from(host: str, **settings: Any) -> Request:
    gateway = SimpleNamespace(settings=SimpleNamespace(**settings))
    app = SimpleNamespace(state=SimpleNamespace(gateway=gateway))
    return Request({"type": "http", "client": (host, 5000), "app": app, "headers": []})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "127.8.9.10"])
def test_this_machine_may_use_the_admin_routes(host: str) -> None:
    local_or_admin(request_from(host))


def test_another_machine_may_not_without_an_admin_key() -> None:
    with pytest.raises(NotThisMachine):
        local_or_admin(request_from("192.168.1.20"))
    local_or_admin(request_from("192.168.1.20", admin_key="checked by the admin guard"))


STATUS: dict[str, Any] = {
    "uptime_seconds": 3725,
    "version": "0.1.0",
    "pid": 42,
    "flow": "legacy",
    "home": "/home/you/lmarenarev",
    "workers": [
        {
            "id": "w1",
            "transport": "long-poll",
            "jobs": 1,
            "capacity": 6,
            "script_version": "0.0.9",
            "page_url": "https://lmarena.ai/",
            "script_outdated": True,
            "reloading": False,
        }
    ],
    "capture_armed": True,
    "ids": {"session_id": None, "message_id": None, "mode": "battle", "battle_target": "B"},
    "endpoint_map": {
        "strategy": "round_robin",
        "models": {
            "gpt": [{"session_id": "s1", "mode": "battle", "cooldown_seconds_left": 90.0}]
        },
    },
    "models": {
        "configured": ["gpt"],
        "offered": 1,
        "withdrawn": ["old"],
        "expose_available_models": True,
        "catalog": {"count": 0, "updated_at": None, "last_error": "no tab"},
    },
    "errors": [
        {"at": 990.0, "source": "chat", "model": "gpt", "status": 404, "code": "x", "message": "m"}
    ],
}


def test_status_text() -> None:
    text = "\n".join(admin_render.status(STATUS, "http://127.0.0.1:5102", now=1000.0))
    assert "up 1h 2m, lmarenarev 0.1.0, pid 42, flow legacy" in text
    assert "Workers   1 connected, capture armed 🎯" in text
    assert "script 0.0.9  https://lmarena.ai/ (older script" in text
    assert "Ids       none captured: the legacy flow needs them (lmarenarev capture-ids)" in text
    assert "gpt: session s1 (battle) cooling down 1m 30s" in text
    assert "no longer offered by LMArena: old" in text
    assert "read never; last error: no tab" in text
    assert "10s ago  chat gpt: 404 x: m" in text


def test_the_modern_flow_shows_no_ids_unless_some_were_captured() -> None:
    modern = {**STATUS, "flow": "modern"}
    assert not [line for line in admin_render.status(modern, "u", now=1000.0) if "Ids" in line]
    ids = {**STATUS["ids"], "session_id": "s", "message_id": "m"}
    lines = admin_render.status({**modern, "ids": ids}, "u", now=1000.0)
    used = "(battle, target B, used only by the legacy flow)"
    assert f"Ids       session s, message m {used}" in lines


@pytest.mark.parametrize(
    ("models", "line"),
    [
        ({"configured": [], "offered": 6, "automatic": 6},
         "Models    6 offered automatically: LMArena's list under their public names "
         "(no models.json; models.json overrides)"),
        ({"configured": [], "offered": 0, "automatic": 0},
         "Models    none yet: without models.json every model of LMArena's list is offered "
         "once a tab has connected and read it"),
        ({"configured": [], "offered": 0, "automatic": 0, "catalog_refresh_minutes": 0},
         "Models    none: no models.json, and LMArena's list is not read when a tab connects "
         "(model_catalog_refresh_minutes 0): lmarenarev update-models"),
        ({"configured": ["gpt"], "offered": 7, "automatic": 6},
         "Models    1 in models.json, 7 offered (6 automatically) (every available model is "
         "exposed)"),
    ],
)
def test_status_says_where_the_models_come_from(models: dict[str, Any], line: str) -> None:
    data = {**STATUS, "models": {**STATUS["models"], "withdrawn": [], **models}}
    assert line in admin_render.status(data, "u", now=1000.0)
