"""Request validation of the fake LMArena's stream routes, each check toggleable.

Errors are raised as `ArenaHTTPError(status, error)` and rendered by the arena as JSON
`{"error": "<error>"}` (or as HTML for Cloudflare challenges). The error strings a client sees:

| status | error | when |
|---|---|---|
| 413 | `Request Entity Too Large` | body over `max_body_bytes` (§3.5, §5.2) |
| 401 | `unauthorized` | `arena-auth-prod-v1` missing, garbage, unknown or expired (§1.11) |
| 400 | `invalid json`, `missing field: X`, `invalid field: X`, `invalid uuid: X` | §1.2, §1.3 |
| 400 | `model not found` | unknown `modelAId` / `modelBId` / legacy `modelId` (§4.2) |
| 400 | `prompt too long` | user text over `max_prompt_chars` (§1.3) |
| 403 | `recaptcha validation failed` | token empty/unknown/reused/stale/other site key (§3.2) |
| 400 | `duplicate ids` | any id already seen (§1.3, §3.5) |
| 404 | `evaluation session not found` / `message not found` | unknown path ids (§1.4, §1.5) |

The era (arena_era.py) decides which `mode`/`modality` values pass (2025: `invalid field: mode`;
2026-10: `Invalid mode` / `Invalid modality`, the wording users of 2026 bridges report), whether
`modelBMessageId` is required in direct mode and `mode` on post-to-evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from testkit.fakes.arena_era import ERA_2025, ERAS, Era
from testkit.fakes.arena_ids import is_uuid

MODES = ERAS[ERA_2025].modes
TWO_SIDED_MODES = ("side-by-side", "battle")
MODALITIES = ERAS[ERA_2025].modalities
ROLES = ("system", "user", "assistant")


@dataclass
class Validation:
    """Which checks the stream routes apply (all on by default; settable at any time)."""

    json_body: bool = True
    required_fields: bool = True
    uuids: bool = True
    strict_uuid7: bool = True
    mode: bool = True
    known_model: bool = True
    duplicate_ids: bool = True
    auth: bool = True
    recaptcha: bool = True
    recaptcha_max_age: float = 120.0
    recaptcha_action: str | None = None
    legacy_messages: bool = True
    max_body_bytes: int | None = 5 * 1024 * 1024
    max_prompt_chars: int | None = 113_567


class ArenaHTTPError(Exception):
    """A rejection with its HTTP status; `html` replaces the JSON body when set."""

    def __init__(self, status: int, error: str, *, html: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.html = html
        self.headers = dict(headers or {})
        self.body = dict(body) if body is not None else None  # replaces {"error": error}


def check_size(raw: bytes, rules: Validation) -> None:
    if rules.max_body_bytes is not None and len(raw) > rules.max_body_bytes:
        raise ArenaHTTPError(413, "Request Entity Too Large")


def parse_body(raw: bytes, rules: Validation) -> dict[str, Any]:
    """The JSON object in `raw`, whatever the Content-Type (§1.2: text/plain;charset=UTF-8)."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    if rules.json_body:
        raise ArenaHTTPError(400, "invalid json")
    return {}


def check_modern(body: Mapping[str, Any], rules: Validation, *, creating: bool,
                 era: Era | None = None) -> None:
    """create-evaluation (§1.3) or post-to-evaluation (§1.4) body, as `era` wants it."""
    era = era or ERAS[ERA_2025]
    mode = body.get("mode")
    if rules.required_fields:
        for name in _modern_required(body, creating, era):
            _require(body, name)
        _check_user_message(body["userMessage"])
    wording = "invalid field: {}" if era.name == ERA_2025 else "Invalid {}"
    needs_mode = creating or mode is not None or era.mode_on_post
    if rules.mode and needs_mode and mode not in era.modes:
        raise ArenaHTTPError(400, wording.format("mode"))
    modality = body.get("modality")
    if rules.mode and (creating or modality is not None) and modality not in era.modalities:
        raise ArenaHTTPError(400, wording.format("modality"))
    if rules.uuids:
        for name in ("id", "userMessageId", "modelAMessageId", "modelBMessageId"):
            _check_uuid(body, name, v7_only=rules.strict_uuid7)
        for name in ("modelAId", "modelBId"):
            _check_uuid(body, name, v7_only=False)


def check_legacy(body: Mapping[str, Any], rules: Validation, session_id: str) -> None:
    """Legacy retry body `{messages, modelId}` (§1.2 table)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ArenaHTTPError(400, "invalid field: messages")
    model = body.get("modelId")
    if model is not None and not is_uuid(model):
        raise ArenaHTTPError(400, "invalid uuid: modelId")
    if not rules.legacy_messages:
        return
    previous: str | None = None
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        problem = _legacy_problem(message, session_id, previous, last)
        if problem:
            raise ArenaHTTPError(400, f"invalid field: messages[{index}].{problem}")
        previous = message["id"]


def modern_ids(body: Mapping[str, Any], *, creating: bool) -> list[str]:
    """The ids a modern request introduces (the session id only when creating)."""
    names: tuple[str, ...] = ("id",) if creating else ()
    names += ("userMessageId", "modelAMessageId", "modelBMessageId")
    return [body[name] for name in names if isinstance(body.get(name), str)]


def legacy_ids(body: Mapping[str, Any]) -> list[str]:
    return [message["id"] for message in body.get("messages", [])
            if isinstance(message, dict) and isinstance(message.get("id"), str)]


def user_text(body: Mapping[str, Any]) -> str:
    message = body.get("userMessage")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def attachments(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    message = body.get("userMessage")
    items = message.get("experimental_attachments") if isinstance(message, dict) else None
    return [dict(item) for item in items or [] if isinstance(item, dict)]


def last_user_content(body: Mapping[str, Any]) -> str:
    users = [message for message in body.get("messages", [])
             if isinstance(message, dict) and message.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else ""


def check_prompt(text: str, rules: Validation) -> None:
    if rules.max_prompt_chars is not None and len(text) > rules.max_prompt_chars:
        raise ArenaHTTPError(400, "prompt too long")


def _modern_required(body: Mapping[str, Any], creating: bool, era: Era) -> list[str]:
    names = ["id", "userMessageId", "modelAMessageId", "userMessage"]
    if era.model_b_message_id_always:
        names.append("modelBMessageId")
    if not creating:
        return names + (["mode"] if era.mode_on_post else [])
    names += ["mode", "modality"]
    mode = body.get("mode")
    if mode != "battle":
        names.append("modelAId")
    if mode == "side-by-side":
        names.append("modelBId")
    if mode in TWO_SIDED_MODES and "modelBMessageId" not in names:
        names.append("modelBMessageId")
    return names


def _require(body: Mapping[str, Any], name: str) -> None:
    if body.get(name) in (None, ""):
        raise ArenaHTTPError(400, f"missing field: {name}")


def _check_user_message(message: object) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise ArenaHTTPError(400, "invalid field: userMessage")
    items = message.get("experimental_attachments", [])
    if not isinstance(items, list) or not all(_is_attachment(item) for item in items):
        raise ArenaHTTPError(400, "invalid field: userMessage.experimental_attachments")


def _is_attachment(item: object) -> bool:
    """§5.1: `{name, contentType, url}`."""
    return isinstance(item, dict) and all(
        isinstance(item.get(key), str) for key in ("name", "contentType", "url")
    )


def _check_uuid(body: Mapping[str, Any], name: str, *, v7_only: bool) -> None:
    value = body.get(name)
    if value is not None and not is_uuid(value, v7_only=v7_only):
        raise ArenaHTTPError(400, f"invalid uuid: {name}")


def _legacy_problem(message: object, session_id: str, previous: str | None,
                    last: bool) -> str | None:
    """The first field of a legacy message that breaks the §1.2 table, or None."""
    if not isinstance(message, dict):
        return "message"
    expected_parents = [] if previous is None else [previous]
    checks = [
        ("role", message.get("role") in ROLES),
        ("content", isinstance(message.get("content"), str)),
        ("id", is_uuid(message.get("id"))),
        ("evaluationSessionId", message.get("evaluationSessionId") == session_id),
        ("parentMessageIds", message.get("parentMessageIds") == expected_parents),
        ("participantPosition", message.get("participantPosition") in ("a", "b")),
        ("status", message.get("status") in (("pending", "success") if last else ("success",))),
        ("experimental_attachments",
         isinstance(message.get("experimental_attachments", []), list)),
    ]
    return next((name for name, ok in checks if not ok), None)
